package gateway_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway/dirstore"
)

// bigModel writes an open model whose weight file is a sparse file of size
// bytes (no disk used), returning the store's root directory.
func bigModel(tb testing.TB, size int64) string {
	tb.Helper()
	root := tb.TempDir()
	dir := filepath.Join(root, "big-lab", "huge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "export.yaml"), []byte("weights: open\ntraining_compute_flop: 1.0e20\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return root
}

// TestMemoryStaysFlat streams a 1 GiB file through the gateway and checks
// that the process's heap does not grow with it: the gateway copies through a
// fixed buffer and never holds an object in memory.
func TestMemoryStaysFlat(t *testing.T) {
	const size = 1 << 30
	st, err := dirstore.Open(bigModel(t, size))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := MustOpenHarness(t, st, harnessOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var resp *http.Response
	var n int64
	before, peak := heapPeak(func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/big-lab/huge/resolve/main/model.safetensors", nil)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return
		}
		n, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	if err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	growth := int64(peak) - int64(before)
	t.Logf("heap in use: %d MiB before, peak %d MiB while streaming 1 GiB", before>>20, peak>>20)
	// The file is 1024 MiB; anything that buffered even a tenth of it
	// would show. 32 MiB leaves room for the test client's own buffers.
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB while streaming a 1 GiB file", growth>>20)
	}
	if tr := h.transferFor(t, resp.Header.Get("X-Request-Id")); tr.Bytes != size {
		t.Errorf("transfer record: %d bytes, want %d", tr.Bytes, size)
	}
}

// heapPeak runs fn after a GC and returns the heap in use before it and the
// peak sampled (every 10 ms) while it ran.
func heapPeak(fn func()) (before, peak uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before = m.HeapInuse
	var max atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > max.Load() {
				max.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-sampled
	return before, max.Load()
}
