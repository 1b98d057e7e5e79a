package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/gateway/dirstore"
	"github.com/weightgate/weightgate/gateway/internal/s3test"
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

// TestDirSendfile: a download from the dir backend reaches the client's
// socket as a file (net/http's ReadFrom with an *os.File, which Go turns
// into sendfile(2)), whole and for a range; one from S3 cannot, and is
// copied. The listener's connections record what ReadFrom was given.
func TestDirSendfile(t *testing.T) {
	const size = 3<<20 + 12345 // several chunks, and a partial one
	for _, tc := range []struct {
		name     string
		store    func(t *testing.T) gateway.ObjectStore
		path     string
		sendfile bool
	}{
		{"dir", func(t *testing.T) gateway.ObjectStore { return openDirStore(t, bigModel(t, size)) }, "/big-lab/huge/resolve/main/model.safetensors", true},
		{"s3", func(t *testing.T) gateway.ObjectStore {
			cfg, _ := s3test.Start(t, bigModel(t, size), "models/")
			return s3Store(t, cfg)
		}, "/big-lab/huge/resolve/main/model.safetensors", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fileBytes atomic.Int64
			h := MustOpenHarness(t, tc.store(t), harnessOptions{Listener: func(l net.Listener) net.Listener {
				return fileWatchListener{l, &fileBytes}
			}})
			for _, rng := range []struct {
				header string
				want   int64
			}{{"", size}, {"bytes=1000-2099999", 2099000}} {
				fileBytes.Store(0)
				resp, body := h.do(t, http.MethodGet, tc.path, "", http.Header{"Range": {rng.header}})
				if resp.StatusCode/100 != 2 || int64(len(body)) != rng.want || bytes.ContainsFunc(body, func(r rune) bool { return r != 0 }) {
					t.Fatalf("Range %q: status %d, %d bytes, want %d zero bytes", rng.header, resp.StatusCode, len(body), rng.want)
				}
				// net/http writes the first 512 bytes itself (it may sniff
				// them), then hands the file to the connection.
				got := fileBytes.Load()
				if tc.sendfile && got < rng.want-512 || !tc.sendfile && got != 0 {
					t.Errorf("Range %q: %d of %d bytes went to the socket as a file; sendfile expected: %v", rng.header, got, rng.want, tc.sendfile)
				}
			}
		})
	}
}

// fileWatchListener's connections count the bytes ReadFrom sends from a file.
type fileWatchListener struct {
	net.Listener
	fileBytes *atomic.Int64
}

func (l fileWatchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		return fileWatchConn{tc, l.fileBytes}, nil
	}
	return c, err
}

type fileWatchConn struct {
	*net.TCPConn
	fileBytes *atomic.Int64
}

func (c fileWatchConn) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.TCPConn.ReadFrom(r)
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			c.fileBytes.Add(n)
		}
	}
	return n, err
}
