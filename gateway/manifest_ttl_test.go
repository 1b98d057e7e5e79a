package gateway_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// TestManifestChangeWithinTTL: a model's export.yaml rewritten while it is
// cached: within metadata.cache_ttl the old classification holds, after it
// the new one does; a manifest that turns invalid makes the model
// unclassified (refused), never open.
func TestManifestChangeWithinTTL(t *testing.T) {
	const ttl = 500 * time.Millisecond
	dir := gatewaytest.CopyStore(t)
	h := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{TTL: ttl})
	manifest := filepath.Join(dir, "frontier-lab", "frontier-x", "export.yaml")
	path := gatewaytest.Frontier + gatewaytest.Shard1
	// A Tier 2 requester: refused, but told why (not hidden).
	cn := h.Token(t, gatewaytest.Claims("IN"))
	status := func() (int, string) {
		t.Helper()
		resp, _ := h.Do(t, http.MethodGet, path, cn, http.Header{"Range": {"bytes=0-0"}})
		return resp.StatusCode, resp.Header.Get("X-Error-Message")
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(manifest, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := status(); st != http.StatusForbidden {
		t.Fatalf("closed frontier model to IN: %d, want 403", st)
	}
	write("weights: open\ntraining_compute_flop: 3.0e26\n")
	if st, _ := status(); st != http.StatusForbidden {
		t.Errorf("within the TTL after the manifest turned open: %d, want the cached 403", st)
	}
	time.Sleep(ttl + 200*time.Millisecond)
	if st, _ := status(); st != http.StatusPartialContent {
		t.Errorf("after the TTL: %d, want 206 (now open weights)", st)
	}
	write("weights: [not, a, classification\n")
	time.Sleep(ttl + 200*time.Millisecond)
	if st, msg := status(); st != http.StatusForbidden || !strings.Contains(msg, "no valid export classification") {
		t.Errorf("invalid manifest: %d %q; want 403 for an unclassified model", st, msg)
	}
}
