package catalog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/storage"
)

// versionedStore is a store whose listing changes over a fake clock, and
// remembers every version of it, so that a page can be checked against
// what the store listed at any past time.
type versionedStore struct {
	mu       sync.Mutex
	now      time.Time
	keys     map[string]string // key -> ETag
	versions []storeVersion    // oldest first
	lists    int
	// after, when set, runs after each listing is taken (and before the
	// cache keeps it), outside the lock.
	after func()
}

type storeVersion struct {
	from time.Time
	objs []storage.ObjectInfo // sorted
}

func newVersionedStore(keys map[string]string) *versionedStore {
	s := &versionedStore{now: time.Unix(1_700_000_000, 0), keys: keys}
	s.snapshot()
	return s
}

// snapshot records the current keys as the version from now on (mu held
// or not yet shared).
func (s *versionedStore) snapshot() {
	objs := make([]storage.ObjectInfo, 0, len(s.keys))
	for k, e := range s.keys {
		objs = append(objs, storage.ObjectInfo{Key: k, ETag: e, Size: int64(len(k))})
	}
	slices.SortFunc(objs, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	s.versions = append(s.versions, storeVersion{from: s.now, objs: objs})
}

func (s *versionedStore) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *versionedStore) advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

func (s *versionedStore) mutate(rng *rand.Rand) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 1 + rng.IntN(4) {
		k := randomKey(rng)
		switch rng.IntN(3) {
		case 0:
			delete(s.keys, k)
		default:
			s.keys[k] = fmt.Sprint(rng.Uint32()) // new, or rewritten
		}
	}
	s.snapshot()
}

func (s *versionedStore) listPage(_ context.Context, prefix, after, delimiter string, limit int) (storage.Page, error) {
	s.mu.Lock()
	s.lists++
	p := storage.PageOf(s.versions[len(s.versions)-1].objs, prefix, after, delimiter, limit)
	hook := s.after
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return p, nil
}

// matches reports whether p is a listing of prefix from after, of at most
// limit entries, as some version the store had at a time within ttl before
// now gave it: its entries the first ones of that listing, every one of
// them when not truncated, and none only at the end. Versions before
// minVersion (those a purge dropped) do not count.
func (s *versionedStore) matches(p storage.Page, prefix, after string, limit int, ttl time.Duration, minVersion int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Len() > limit || len(p.Prefixes) > 0 || (p.Truncated && len(p.Objects) == 0) {
		return false
	}
	for i := len(s.versions) - 1; i >= minVersion; i-- {
		v := s.versions[i]
		if i+1 < len(s.versions) && s.now.Sub(s.versions[i+1].from) >= ttl {
			break // every older version ended more than a TTL ago
		}
		all := storage.PageOf(v.objs, prefix, after, "", len(v.objs)+1).Objects
		ok := len(p.Objects) <= len(all) && slices.EqualFunc(p.Objects, all[:len(p.Objects)], func(a, b storage.ObjectInfo) bool {
			return a.Key == b.Key && a.ETag == b.ETag
		}) && (p.Truncated || len(p.Objects) == len(all))
		if ok {
			return true
		}
	}
	return false
}

func randomKey(rng *rand.Rand) string {
	const alphabet = "ab/-0"
	b := make([]byte, 1+rng.IntN(5))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// TestPageCache_Property: over random stores, random mutations, random
// clock steps, purges and random page walks, every page the listing-page
// cache gives equals (a head of) what a fresh listing gave at most the TTL
// ago, a page right after a purge is the store's current listing, and the
// cache never holds more than its bounds in bytes or entries.
func TestPageCache_Property(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	prefixes := []string{"", "a", "a/", "b", "ab/", "-"}
	hits, aheads, aligned := 0, 0, 0
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		keys := map[string]string{}
		for range rng.IntN(60) {
			keys[randomKey(rng)] = fmt.Sprint(rng.Uint32())
		}
		st := newVersionedStore(keys)
		pc := newPageCache(&CatalogFakeStore{ListPageFn: st.listPage}, ttl, int64(500+rng.IntN(8000)))
		pc.maxEntries = 1 + rng.IntN(12)
		pc.pageSize = 1 + rng.IntN(6)
		pc.now = st.clock
		// Every page after a purge comes from a listing taken after it:
		// of version minVersion (the store's then) or a later one.
		minVersion := 0
		var purgedAt atomic.Int64 // a purge under a listing, at this version; -1 none
		purgedAt.Store(-1)
		for step := range 40 {
			switch op := rng.IntN(12); {
			case op < 2:
				st.mutate(rng)
			case op < 4:
				st.advance(time.Duration(rng.Int64N(int64(ttl))))
			case op == 4:
				// A change, then SIGHUP: what was cached is dropped.
				st.mutate(rng)
				pc.purge()
				minVersion = len(st.versions) - 1
				continue
			case op == 5:
				// A change and SIGHUP while a listing is under way: the
				// page it took is not kept.
				st.mu.Lock()
				st.after = func() {
					st.mu.Lock()
					st.after = nil
					st.mu.Unlock()
					st.mutate(rng)
					pc.purge()
					st.mu.Lock()
					purgedAt.Store(int64(len(st.versions) - 1))
					st.mu.Unlock()
				}
				st.mu.Unlock()
			case op == 6:
				// Warming: a walk of the whole listing notes where the
				// store's pages start.
				for after, more := "", true; more; {
					p, _ := st.listPage(t.Context(), "", after, "", pc.pageSize)
					pc.noteBounds("", after, p)
					more, after = p.Truncated && len(p.Objects) > 0, p.Last()
				}
			case op == 7:
				// Bounds that are stale or were never a page's start.
				pc.mu.Lock()
				for range 1 + rng.IntN(3) {
					pc.addBound(randomKey(rng))
				}
				pc.mu.Unlock()
			}
			prefix := prefixes[rng.IntN(len(prefixes))]
			after := ""
			if rng.IntN(2) == 0 {
				after = prefix + randomKey(rng)
			}
			for page := 0; page < 1+rng.IntN(6); page++ {
				p, err := pc.listPage(t.Context(), prefix, after)
				if err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
				pc.idle() // the read-ahead lists at this clock reading
				if !st.matches(p, prefix, after, pc.pageSize, ttl, minVersion) {
					t.Fatalf("seed %d step %d: page of %q after %q = %v, truncated %v: no listing within the TTL (and since version %d) gave it",
						seed, step, prefix, after, pageKeys(p), p.Truncated, minVersion)
				}
				// This page may have been listed before a purge under it;
				// the next ones may not.
				if v := purgedAt.Swap(-1); v >= 0 {
					minVersion = int(v)
				}
				if n, b := pc.size(); n > pc.maxEntries || b > pc.maxBytes {
					t.Fatalf("seed %d step %d: cache holds %d pages, %d bytes; bounds %d, %d", seed, step, n, b, pc.maxEntries, pc.maxBytes)
				}
				if !p.Truncated {
					break
				}
				after = p.Last()
			}
		}
		hits += pc.hits
		aheads += pc.aheads
		aligned += pc.aligned
	}
	// A cache that never answers would pass the checks above trivially.
	if hits == 0 || aheads == 0 || aligned == 0 {
		t.Errorf("%d cache hits, %d read-aheads and %d reads from a bound over every run; the cache was not exercised", hits, aheads, aligned)
	}
}

func pageKeys(p storage.Page) []string {
	var out []string
	for _, o := range p.Objects {
		out = append(out, o.Key)
	}
	return out
}

// TestCatalog_ListingCache: a catalog over a remote store answers a
// listing it just made from the listing-page cache, lists the store again
// after Forget (what SIGHUP calls), and always with the cache off; a
// LocalStore's catalog has none.
func TestCatalog_ListingCache(t *testing.T) {
	t.Parallel()
	st := newVersionedStore(map[string]string{"org/m/a": "1", "org/m/export.yaml": "2", "org/n/b": "3"})
	scan := func(c *Catalog) []string {
		t.Helper()
		var ids []string
		if _, _, err := c.Scan(t.Context(), "", "", DefaultScanLimits, func(g Group) (string, bool) {
			ids = append(ids, g.ID)
			return "", false
		}); err != nil {
			t.Fatal(err)
		}
		if c.pages != nil {
			c.pages.idle()
		}
		return ids
	}
	lists := func() int { st.mu.Lock(); defer st.mu.Unlock(); return st.lists }

	c := NewCatalog(&CatalogFakeStore{ListPageFn: st.listPage}, 8, time.Hour, nil)
	scan(c)
	before := lists()
	if got := scan(c); lists() != before || !slices.Equal(got, []string{"org/m", "org/n"}) {
		t.Errorf("second scan: %q after %d more listings; want both models from the cache", got, lists()-before)
	}
	st.mu.Lock()
	st.keys["org/o/c"] = "4"
	st.snapshot()
	st.mu.Unlock()
	c.Forget()
	if got := scan(c); lists() == before || !slices.Equal(got, []string{"org/m", "org/n", "org/o"}) {
		t.Errorf("scan after Forget: %q; want the store listed again, with org/o", got)
	}

	off := NewCatalog(&CatalogFakeStore{ListPageFn: st.listPage}, 8, time.Hour, nil)
	off.SetListingCacheBytes(0)
	scan(off)
	before = lists()
	if scan(off); lists() == before {
		t.Error("with the cache off, a scan did not list the store")
	}
}

// TestPageCache_ColdReadFromBounds: with the store's page starts known (as
// warming notes them), a cold read lists the page at the last bound before
// its position and the page after it at the same time (the store holds
// each listing until the other has arrived: run in series, they would
// wait out the deadline), answers the first with its tail, and the next
// read, where that tail ends, with the second.
func TestPageCache_ColdReadFromBounds(t *testing.T) {
	t.Parallel()
	const n, size = 10_000, storage.MaxPageSize
	objs := make([]storage.ObjectInfo, n)
	for i := range objs {
		objs[i] = storage.ObjectInfo{Key: fmt.Sprintf("org%04d/m/f", i), ETag: "e"}
	}
	var (
		mu      sync.Mutex
		calls   []string
		waiting int
		both    = make(chan struct{})
		alone   atomic.Bool
	)
	store := &CatalogFakeStore{ListPageFn: func(_ context.Context, prefix, after, delim string, limit int) (storage.Page, error) {
		mu.Lock()
		calls = append(calls, after)
		if waiting++; waiting == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
		case <-time.After(5 * time.Second):
			alone.Store(true)
		}
		return storage.PageOf(objs, prefix, after, delim, limit), nil
	}}
	pc := newPageCache(store, time.Hour, DefaultListingCacheBytes)
	for after, more := "", true; more; { // warming's walk
		p := storage.PageOf(objs, "", after, "", size)
		pc.noteBounds("", after, p)
		more, after = p.Truncated, p.Last()
	}
	if got, want := len(pc.bounds), 2*(n/size-1); got != want {
		t.Fatalf("%d bounds noted, want %d (a full page's half and end, but the last page's): %q", got, want, pc.bounds)
	}

	key := func(i int) string { return objs[i].Key }
	p, err := pc.listPage(t.Context(), "", key(4300))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Objects) != 699 || p.Objects[0].Key != key(4301) || p.Last() != key(4999) || !p.Truncated {
		t.Fatalf("cold read = %d keys %s..%s, want the 699 after %s, to %s", len(p.Objects), p.Objects[0].Key, p.Last(), key(4300), key(4999))
	}
	mu.Lock()
	first := slices.Sorted(slices.Values(calls))
	mu.Unlock()
	if !slices.Equal(first[:2], []string{key(3999), key(4999)}) || alone.Load() {
		t.Fatalf("store listed from %q (one alone: %v), want from %s and %s at once", first, alone.Load(), key(3999), key(4999))
	}
	q, err := pc.listPage(t.Context(), "", p.Last())
	if err != nil {
		t.Fatal(err)
	}
	pc.idle()
	if len(q.Objects) != size || q.Objects[0].Key != key(5000) {
		t.Fatalf("next read = %d keys from %s, want %d from %s", len(q.Objects), q.Objects[0].Key, size, key(5000))
	}
	mu.Lock()
	defer mu.Unlock()
	// Then only the read ahead of the page after it.
	if want := []string{key(5999)}; !slices.Equal(calls[2:], want) {
		t.Fatalf("after the cold read the store listed from %q, want %q", calls[2:], want)
	}
}

// TestPageCache_BoundsBounded: past MaxPageBounds, every other bound is
// dropped; the rest stay sorted, whatever order they came in.
func TestPageCache_BoundsBounded(t *testing.T) {
	t.Parallel()
	pc := newPageCache(&CatalogFakeStore{}, time.Hour, DefaultListingCacheBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 * MaxPageBounds {
		pc.addBound(fmt.Sprintf("k%08d", rng.IntN(1<<30)))
		if len(pc.bounds) > MaxPageBounds {
			t.Fatalf("%d bounds kept, more than %d", len(pc.bounds), MaxPageBounds)
		}
	}
	if len(pc.bounds) < MaxPageBounds/2 || !slices.IsSorted(pc.bounds) || len(slices.Compact(slices.Clone(pc.bounds))) != len(pc.bounds) {
		t.Fatalf("%d bounds kept, sorted %v: want at least %d, sorted, each once", len(pc.bounds), slices.IsSorted(pc.bounds), MaxPageBounds/2)
	}
}
