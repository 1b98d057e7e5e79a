package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/testenv"
)

// mountTinyFS mounts a 1 MiB tmpfs at a new directory: a real device that
// fills up. Root only (CI runs as root); elsewhere the test skips, unless
// WEIGHTGATE_TEST_ROOT_REQUIRED=1 makes it fail.
func mountTinyFS(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t, "mounting a tmpfs")
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes to dir until the device is full and returns the filler's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for i := 0; i < 64; i++ { // 4 MiB at most on a 1 MiB device
		if _, err := f.Write(chunk); err != nil {
			return p
		}
	}
	t.Fatal("the 1 MiB device never filled")
	return ""
}

// TestAuditDeviceFull: with the audit trail on a full device, downloads get
// 503 audit_unavailable, storage is never read, /readyz fails; once space is
// freed, /readyz recovers without any download and downloads flow again, and
// the trail still verifies.
func TestAuditDeviceFull(t *testing.T) {
	dev := mountTinyFS(t)
	cs := &countingStore{ObjectStore: gatewaytest.DirStore(t)}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{Audit: gatewaytest.OpenTrail(t, filepath.Join(dev, "audit")), AuditDir: filepath.Join(dev, "audit")})
	us := h.Token(t, gatewaytest.Claims("US"))
	if resp, _ := h.Do(t, http.MethodGet, gatewaytest.Frontier+"config.json", us, nil); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	// Hash the weights file below now: the first request for a file whose
	// sha256 is unknown reads it to hash it before its record is written,
	// and the request that first finds the trail full would count that read.
	// (Once the trail reports failure, nothing is hashed: TestAuditUnavailable.)
	if resp, _ := h.Do(t, http.MethodHead, gatewaytest.Open+"model.safetensors", us, nil); resp.StatusCode != 200 {
		t.Fatalf("before: HEAD %d", resp.StatusCode)
	}
	filler := fill(t, dev)
	// The device is full, but the audit file's last page may still have
	// room for a record or two (a filesystem allocates whole pages). Use it
	// up: keep asking until a download is refused and /readyz, which tries
	// to write a small "recovered" record, fails too.
	opensBefore, served := cs.opens.Load(), int64(0)
	full := false
	for i := 0; i < 200 && !full; i++ {
		resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", us, nil)
		switch {
		case resp.StatusCode == 200:
			served++
		case resp.StatusCode != http.StatusServiceUnavailable || gatewaytest.DecodeError(t, body).Code != "audit_unavailable":
			t.Fatalf("with the device full: %d %s, want 200 or 503 audit_unavailable", resp.StatusCode, body)
		}
		ready, _ := h.Do(t, http.MethodGet, "/readyz", "", nil)
		full = resp.StatusCode == http.StatusServiceUnavailable && ready.StatusCode == http.StatusServiceUnavailable
	}
	if !full {
		t.Fatal("the audit trail never ran out of room on a full device")
	}
	for _, path := range []string{gatewaytest.Open + "model.safetensors", gatewaytest.Frontier + gatewaytest.Shard1, "/api/models"} {
		resp, body := h.Do(t, http.MethodGet, path, us, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || gatewaytest.DecodeError(t, body).Code != "audit_unavailable" {
			t.Errorf("%s with the trail full: %d %s, want 503 audit_unavailable", path, resp.StatusCode, body)
		}
	}
	if n := cs.opens.Load() - opensBefore; n != served {
		t.Errorf("storage read %d times for %d downloads served: a refused request read storage", n, served)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := h.Do(t, http.MethodGet, "/readyz", "", nil)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d 10s after space was freed", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, us, nil)
	if resp.StatusCode != 200 || len(body) != len(gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)) {
		t.Fatalf("after recovery: %d, %d bytes", resp.StatusCode, len(body))
	}
	// records() verifies the whole chain; the refused requests are not in it.
	for _, r := range h.Records(t) {
		if r.Status == http.StatusServiceUnavailable {
			t.Errorf("a refused request has a record: %+v", r)
		}
	}
}
