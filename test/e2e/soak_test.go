package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
)

// TestSoak is a bounded load run against the real S3 backend: 20,000 mixed
// requests (allowed and denied downloads, ranges, HEADs, anonymous, missing
// files) from 200 concurrent clients, while 32 clients download a large file
// each. It asserts no 5xx, every request recorded exactly once (and every
// streamed GET's transfer once), and goroutines, open files and heap back to
// where they started. It runs when WEIGHTGATE_SOAK=1 (scripts/test.sh sets
// it, without the race detector, which would make it a CPU test).
func TestSoak(t *testing.T) {
	if os.Getenv("WEIGHTGATE_SOAK") != "1" {
		t.Skip("WEIGHTGATE_SOAK=1 runs the soak")
	}
	const (
		requests    = 20_000
		concurrency = 200
		large       = 32
		largeSize   = 32 << 20
	)
	seed := gatewaytest.CopyStore(t)
	big := filepath.Join(seed, "big-lab", "huge")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "export.yaml"), []byte("weights: open\ntraining_compute_flop: 1.0e20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "model.safetensors"), make([]byte, largeSize), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := s3test.Start(t, seed, "models/")
	store := gatewaytest.S3Store(t, cfg)
	h := gatewaytest.Start(t, store, gatewaytest.Options{})
	us, cn := h.Token(t, gatewaytest.Claims("US")), h.Token(t, gatewaytest.Claims("CN"))

	type shot struct {
		method, path, token, rng string
	}
	mix := []shot{
		{"GET", gatewaytest.Frontier + gatewaytest.Shard1, us, ""},
		{"GET", gatewaytest.Frontier + gatewaytest.Shard1, us, "bytes=10-99"},
		{"HEAD", gatewaytest.Frontier + gatewaytest.Shard1, us, ""},
		{"GET", gatewaytest.Frontier + gatewaytest.Shard1, cn, ""},
		{"GET", gatewaytest.Frontier + gatewaytest.Shard1, "", ""},
		{"GET", gatewaytest.Open + "model.safetensors", "", ""},
		{"GET", gatewaytest.Open + "config.json", "", "bytes=0-0"},
		{"HEAD", gatewaytest.Open + "nope.bin", "", ""},
		{"GET", "/nobody/nothing/resolve/main/x", us, ""},
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency + large}}
	settle := func() (goroutines, fds int, heap uint64) {
		client.CloseIdleConnections()
		// The gateway keeps idle storage connections for the next
		// requests: a pool, not a leak.
		store.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		entries, _ := os.ReadDir("/proc/self/fd")
		return runtime.NumGoroutine(), len(entries), m.HeapInuse
	}
	// A first round, so that lazily started goroutines and caches exist
	// before the baseline.
	for _, s := range mix {
		req, _ := http.NewRequest(s.method, h.URL+s.path, nil)
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	g0, fd0, heap0 := settle()

	var (
		mu        sync.Mutex
		ids       = map[string]string{} // request id -> method, for the audit check
		status5xx []string
		next      atomic.Int64
		wg        sync.WaitGroup
		errs      = make(chan error, concurrency+large)
	)
	do := func(s shot) error {
		req, _ := http.NewRequest(s.method, h.URL+s.path, nil)
		if s.token != "" {
			req.Header.Set("Authorization", "Bearer "+s.token)
		}
		if s.rng != "" {
			req.Header.Set("Range", s.rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.method, s.path, err)
		}
		mu.Lock()
		defer mu.Unlock()
		ids[resp.Header.Get("X-Request-Id")] = fmt.Sprintf("%s %d", s.method, resp.StatusCode)
		if resp.StatusCode >= 500 {
			status5xx = append(status5xx, fmt.Sprintf("%s %s: %d", s.method, s.path, resp.StatusCode))
		}
		return nil
	}
	start := time.Now()
	var peak uint64
	_, peak = heapPeak(func() {
		for range large {
			wg.Go(func() {
				if err := do(shot{"GET", "/big-lab/huge/resolve/main/model.safetensors", "", ""}); err != nil {
					errs <- err
				}
			})
		}
		for range concurrency {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > requests {
						return
					}
					if err := do(mix[int(i)%len(mix)]); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
	})
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(status5xx) > 0 {
		t.Errorf("%d responses were 5xx, first: %s", len(status5xx), status5xx[0])
	}

	// Every request recorded exactly once; every GET that streamed (2xx)
	// has exactly one transfer record.
	time.Sleep(100 * time.Millisecond) // transfer records trail their responses by up to 5 ms
	decisions, transfers := map[string]int{}, map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		clear(decisions)
		clear(transfers)
		for _, r := range h.Records(t) {
			if r.Type == "decision" {
				decisions[r.RequestID]++
			} else {
				transfers[r.RequestID]++
			}
		}
		streamed := 0
		for _, v := range ids {
			var method string
			var status int
			fmt.Sscanf(v, "%s %d", &method, &status)
			if method == "GET" && status/100 == 2 {
				streamed++
			}
		}
		if len(transfers) >= streamed || time.Now().After(deadline) {
			break
		}
	}
	for id, v := range ids {
		var method string
		var status int
		fmt.Sscanf(v, "%s %d", &method, &status)
		wantTransfers := 0
		if method == "GET" && status/100 == 2 {
			wantTransfers = 1
		}
		if status >= 500 {
			if _, tr := h.RecordsFor(t, id); len(tr) > 0 {
				t.Logf("request %s (%s): transfer %s: %s", id, v, tr[0].Outcome, tr[0].Error)
			}
		}
		if decisions[id] != 1 || transfers[id] != wantTransfers {
			t.Errorf("request %s (%s): %d decision and %d transfer records, want 1 and %d", id, v, decisions[id], transfers[id], wantTransfers)
			break
		}
	}

	g1, fd1, heap1 := settle()
	for deadline := time.Now().Add(5 * time.Second); (g1 > g0+5 || fd1 > fd0+5) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		g1, fd1, heap1 = settle()
	}
	if g1 > g0+5 {
		t.Errorf("goroutines: %d before, %d after", g0, g1)
	}
	if fd1 > fd0+5 {
		t.Errorf("open files: %d before, %d after", fd0, fd1)
	}
	if heap1 > heap0+32<<20 {
		t.Errorf("heap in use: %d MiB before, %d MiB after", heap0>>20, heap1>>20)
	}
	if peak > heap0+256<<20 {
		t.Errorf("heap peaked at %d MiB during the soak (baseline %d MiB): not flat", peak>>20, heap0>>20)
	}
	t.Logf("%d requests + %d × %d MiB downloads in %v (%.0f req/s); 5xx: %d; goroutines %d -> %d, open files %d -> %d, heap in use %d -> %d MiB, peak %d MiB",
		len(ids)-large, large, largeSize>>20, elapsed.Round(time.Millisecond), float64(len(ids)-large)/elapsed.Seconds(),
		len(status5xx), g0, g1, fd0, fd1, heap0>>20, heap1>>20, peak>>20)
}
