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
	hits, aheads := 0, 0
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
			switch op := rng.IntN(10); {
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
	}
	// A cache that never answers would pass the checks above trivially.
	if hits == 0 || aheads == 0 {
		t.Errorf("%d cache hits and %d read-aheads over every run; the cache was not exercised", hits, aheads)
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
