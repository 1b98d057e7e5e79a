package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSIGHUPReclassifies: a model reclassified from open to closed in
// storage is refused right after SIGHUP, although its classification is
// cached for an hour.
func TestServeSIGHUPReclassifies(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(store, os.DirFS(repoPath("testdata/store"))); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t)
	b, _ := os.ReadFile(cfg)
	root, _ := filepath.Abs(repoPath(""))
	b = []byte(strings.Replace(string(b), filepath.Join(root, "testdata/store"), store, 1))
	b = append(b, "metadata: {cache_ttl: 1h}\n"...)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	url, logs, cancel, done := startServe(t, cfg)
	defer cancel()
	get := func() int {
		t.Helper()
		resp, err := http.Head(url + "/open-lab/tiny-open/resolve/main/model.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(); got != http.StatusOK {
		t.Fatalf("open model, anonymous: status %d, want 200", got)
	}
	manifest := filepath.Join(store, "open-lab", "tiny-open", "export.yaml")
	if err := os.WriteFile(manifest, []byte("weights: closed\ntraining_compute_flop: 8.0e26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != http.StatusOK {
		t.Fatalf("before SIGHUP: status %d, want the cached open class (200)", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously; the bound is far below the
	// hour the classification is cached for.
	for deadline := time.Now().Add(10 * time.Second); get() == http.StatusOK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a model reclassified closed is still served after SIGHUP; log:\n%s", logs.String())
		}
	}
	if got := get(); got == http.StatusOK {
		t.Errorf("status %d after SIGHUP, want a refusal", got)
	}
	cancel()
	<-done
}
