package catalog

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/storage"
)

// gatedStore is a remote store of n models (three files each) whose
// export.yaml reads are counted and, until the test lets them, held.
type gatedStore struct {
	*CatalogFakeStore
	opens atomic.Int64
	gate  chan struct{} // one token per read; closed: every read passes
}

func newGatedStore(n int) *gatedStore {
	objs := make([]storage.ObjectInfo, 0, 3*n)
	for i := range n {
		id := fmt.Sprintf("org%d/model%d", i/100, i%100)
		for _, f := range []string{"config.json", "export.yaml", "model.safetensors"} {
			objs = append(objs, storage.ObjectInfo{Key: id + "/" + f, Size: 100, ETag: fmt.Sprintf("%x", i), ModTime: time.Unix(1, 0)})
		}
	}
	slices.SortFunc(objs, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	s := &gatedStore{gate: make(chan struct{})}
	s.CatalogFakeStore = &CatalogFakeStore{
		ListPageFn: func(_ context.Context, prefix, after, delim string, limit int) (storage.Page, error) {
			return storage.PageOf(objs, prefix, after, delim, limit), nil
		},
		OpenFn: func(ctx context.Context, key, _ string, _, _ int64) (io.ReadCloser, error) {
			select {
			case <-s.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			s.opens.Add(1)
			return io.NopCloser(strings.NewReader("weights: open\ntraining_compute_flop: 1.0e22\n")), nil
		},
	}
	return s
}

// waitWarm polls the catalog's warming until cond holds, for at most ten
// seconds (a bound, not a measurement).
func waitWarm(t *testing.T, c *Catalog, what string, cond func(check, detail string) bool) (string, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		check, detail := c.WarmState()
		if cond(check, detail) {
			return check, detail
		}
		if time.Now().After(deadline) {
			t.Fatalf("warming never reached %s; last %q %q", what, check, detail)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWarming: warming reports its progress while it reads, then "ok";
// a listing page after it reads no export.yaml; Forget starts it again and
// it reads every classification afresh.
func TestWarming(t *testing.T) {
	t.Parallel()
	const n = 3_000
	s := newGatedStore(n)
	c := NewCatalog(s, 64, time.Hour, nil)
	if check, _ := c.WarmState(); check != "" {
		t.Fatalf("WarmState before StartWarming = %q, want none", check)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.StartWarming(ctx)
	defer c.StopWarming()

	// Let the first page's reads (333 or 334 models) and a few more through.
	for i := range 400 {
		select {
		case s.gate <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("warming asked for %d reads, want at least 400", i)
		}
	}
	check, detail := waitWarm(t, c, "progress", func(_, d string) bool { m, _ := c.WarmProgress(); return m > 0 && d != "" })
	if m, done := c.WarmProgress(); check != "warming" || done || m >= n || !strings.HasPrefix(detail, "warming: ") {
		t.Fatalf("mid-way: %q %q (models %d, done %v), want warming with a partial count", check, detail, m, done)
	}
	close(s.gate)
	_, detail = waitWarm(t, c, "ok", func(c, _ string) bool { return c == "ok" })
	if !strings.HasPrefix(detail, "3,000 models classified") {
		t.Fatalf("done: detail %q, want 3,000 models classified", detail)
	}
	if got := s.opens.Load(); got != n {
		t.Fatalf("warming read %d export.yaml files, want %d (each once)", got, n)
	}

	// A page from the middle of the catalog reads nothing but the listing.
	before := s.opens.Load()
	models := 0
	_, _, err := c.Scan(ctx, "", "org15/model50/", DefaultScanLimits, func(g Group) (string, bool) {
		m, err := c.ModelOf(ctx, g.ID, g.Files)
		if err != nil || !m.Open() {
			t.Fatalf("ModelOf(%s) = %v, %v", g.ID, m, err)
		}
		models++
		return Past(g.ID + "/"), models == 333
	})
	if err != nil || models != 333 {
		t.Fatalf("page: %d models, err %v", models, err)
	}
	if got := s.opens.Load() - before; got != 0 {
		t.Fatalf("a page after warming read %d export.yaml files, want 0", got)
	}

	// Forget drops the classifications; warming reads them all again. (A
	// read ahead still under way at Forget may read a few of them again
	// too: wait for it.)
	c.pages.idle()
	c.Forget()
	waitWarm(t, c, "ok after Forget", func(c, _ string) bool { return c == "ok" })
	if got := s.opens.Load(); got != 2*n {
		t.Fatalf("after Forget, %d reads in all, want %d", got, 2*n)
	}
}

// TestWarming_Stopped: a stopped warming is not restarted by Forget.
func TestWarming_Stopped(t *testing.T) {
	t.Parallel()
	s := newGatedStore(10)
	close(s.gate)
	c := NewCatalog(s, 64, time.Hour, nil)
	c.StartWarming(context.Background())
	waitWarm(t, c, "ok", func(c, _ string) bool { return c == "ok" })
	c.StopWarming()
	c.Forget()
	// A restart would have begun a new pass (not done) before Forget
	// returned.
	if m, done := c.WarmProgress(); !done || m != 10 {
		t.Fatalf("after Forget: %d models, done %v: Forget restarted a stopped warming", m, done)
	}
}
