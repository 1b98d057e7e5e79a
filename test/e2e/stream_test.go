package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
	"github.com/weightgate/weightgate/storage/s3"
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
	h := gatewaytest.Start(t, st, gatewaytest.Options{})

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
	if tr := h.TransferFor(t, resp.Header.Get("X-Request-Id")); tr.Bytes != size {
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

// TestKernelCopy: a download reaches the client's socket from the kernel
// (net/http's ReadFrom with an *os.File, which Go turns into sendfile(2), or
// with the storage's *net.TCPConn, which it turns into splice(2)) rather
// than through the gateway's buffer: from the dir backend always, from S3
// for reads of at least s3.DirectMin bytes. The bytes are checked, and
// the listener's connections record what ReadFrom was given.
func TestKernelCopy(t *testing.T) {
	t.Parallel()
	const size = s3.DirectMin + 1<<20 + 12345 // several chunks, and a partial one
	big := fmt.Sprintf("bytes=1000-%d", 999+s3.DirectMin)
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) storage.ObjectStore
		// kernel: which reads must go by the kernel
		kernel map[string]bool
	}{
		{"dir", func(t *testing.T) storage.ObjectStore { return gatewaytest.OpenDirStore(t, bigModel(t, size)) },
			map[string]bool{"": true, big: true, "bytes=10-2000009": true}},
		{"s3", func(t *testing.T) storage.ObjectStore {
			cfg, _ := s3test.Start(t, bigModel(t, size), "models/")
			return gatewaytest.S3Store(t, cfg)
		}, map[string]bool{"": true, big: true, "bytes=10-2000009": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kernelBytes atomic.Int64
			h := gatewaytest.Start(t, tc.store(t), gatewaytest.Options{Listener: func(l net.Listener) net.Listener {
				return kernelWatchListener{l, &kernelBytes}
			}})
			for rng, kernel := range tc.kernel {
				want := int64(size)
				if rng != "" {
					var first, last int64
					fmt.Sscanf(rng, "bytes=%d-%d", &first, &last)
					want = last - first + 1
				}
				kernelBytes.Store(0)
				resp, body := h.Do(t, http.MethodGet, "/big-lab/huge/resolve/main/model.safetensors", "", http.Header{"Range": {rng}})
				if resp.StatusCode/100 != 2 || int64(len(body)) != want || bytes.ContainsFunc(body, func(r rune) bool { return r != 0 }) {
					t.Fatalf("Range %q: status %d, %d bytes, want %d zero bytes", rng, resp.StatusCode, len(body), want)
				}
				// net/http writes the first 512 bytes itself (it may sniff
				// them), and s3store those that came with the response
				// head (at most 4 KiB); the kernel sends the rest.
				got := kernelBytes.Load()
				if kernel && got < want-512-4096 || !kernel && got != 0 {
					t.Errorf("Range %q: the kernel sent %d of %d bytes; kernel copy expected: %v", rng, got, want, kernel)
				}
			}
		})
	}
}

// kernelWatchListener's connections count the bytes ReadFrom moves from a
// file or from another TCP connection.
type kernelWatchListener struct {
	net.Listener
	kernelBytes *atomic.Int64
}

func (l kernelWatchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		return kernelWatchConn{tc, l.kernelBytes}, nil
	}
	return c, err
}

type kernelWatchConn struct {
	*net.TCPConn
	kernelBytes *atomic.Int64
}

func (c kernelWatchConn) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.TCPConn.ReadFrom(r)
	if lr, ok := r.(*io.LimitedReader); ok {
		switch lr.R.(type) {
		case *os.File, *net.TCPConn:
			c.kernelBytes.Add(n)
		}
	}
	return n, err
}

// TestKernelCopyStorageDies: the storage dies while its connection is being
// spliced to the client: the client's download ends in an error, never a
// complete-looking short file, and the transfer record says how many bytes
// went out, short of the file.
func TestKernelCopyStorageDies(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	cfg, stop := s3test.Start(t, bigModel(t, size), "models/")
	h := gatewaytest.Start(t, gatewaytest.S3Store(t, cfg), gatewaytest.Options{})
	resp, err := http.Get(h.URL + "/big-lab/huge/resolve/main/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	stop() // socket buffers hold a few MiB; most of the file is still in storage
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || 1<<20+n >= size {
		t.Fatalf("after the storage died the client read %d more bytes, err %v; want an error short of %d", n, err, size)
	}
	tr := h.TransferFor(t, resp.Header.Get("X-Request-Id"))
	if tr.Outcome == audit.OutcomeComplete || tr.Bytes >= size || tr.Bytes < 1<<20+n {
		t.Errorf("transfer = %s, %d bytes; want not complete, at least the %d the client got, less than %d", tr.Outcome, tr.Bytes, 1<<20+n, size)
	}
	t.Logf("client got %d bytes; transfer %s, %d bytes: %s", 1<<20+n, tr.Outcome, tr.Bytes, tr.Error)
}
