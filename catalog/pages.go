package catalog

import (
	"container/list"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/weightgate/weightgate/storage"
)

// The listing-page cache: pages of a remote store's ordered listing
// (ListPage, no delimiter, full pages) remembered for the metadata TTL, and
// read one page ahead. A remote store (S3) takes about as long to list a
// page as the gateway takes to do everything else with it, and a page of
// the gateway's needs the store's pages around it: the one its cursor falls
// in (whose tail the previous page left unread) and the next. Keeping the
// first and fetching the second while the client reads the previous page
// makes a walk through the listing cost the store's time once, in
// parallel with the client, rather than once more in series.
//
// Why not an in-memory index of every key, built at start-up: at 100,000
// models (300,000 keys) a full listing of VersityGW takes longer than the
// default TTL, so an index could not be both complete and fresh, and it
// would hold every key whatever is being read. The page cache holds what
// is being read, bounded in bytes and entries, and is never more than the
// TTL behind the store.
//
// A page read cold waits for the store, and a page of the gateway's often
// needs more than one of the store's (a third more keys than it returns
// when a model in four is hidden). So that it waits for one store page's
// time rather than two in series, the cache knows where the store's pages
// start: bounds, the keys at every half page of the pages read from the
// start of the listing (warming reads them all) or from a bound. A cold
// read from after fetches the page at the last bound at or before it,
// which holds between half a page and a page past after, and at the same
// time the page a page further on: between one and a half and two pages
// from after, in parallel. Bounds are hints: a stale one (keys added or
// deleted since) only makes a read shorter or a read ahead unused, as any
// key is a sound place to list from, and a page that does not cover after
// is followed by a read from after itself.
//
// Soundness: an entry is the answer a fresh ListPage gave, stamped with
// the time the request was sent, and is served only until that time plus
// the TTL; so what the cache gives is what the store listed at most a TTL
// ago. A position inside a cached page is answered with the page's tail
// after it (which is what a listing from that position gave then, as the
// listing is ordered), a short page whose Truncated is the page's.
// Forget (SIGHUP) drops every entry and every fetch under way.

// Listing-page cache defaults.
const (
	// DefaultListingCacheBytes bounds the cached pages' size (keys,
	// ETags, and each entry's fixed cost counted; see pageBytes).
	DefaultListingCacheBytes = 16 << 20
	// MaxListingCachePages bounds the number of cached pages, whatever
	// their size.
	MaxListingCachePages = 1024
	// MaxReadAhead is how many read-ahead fetches may be under way at
	// once: past it, a page is not read ahead (a client asks for it in
	// time anyway).
	MaxReadAhead = 4
	// pageFetchTimeout bounds one detached fetch, which requests share.
	pageFetchTimeout = 30 * time.Second
	// MaxPageBounds bounds the bounds kept (a few MiB of keys): past it,
	// every other one is dropped, which leaves them a page apart.
	MaxPageBounds = 1 << 16
)

type cachedPage struct {
	prefix, after string
	page          storage.Page
	at            time.Time // when the request that listed it was sent
	bytes         int64
	elem          *list.Element
}

// covers reports whether the page answers a listing of its prefix from
// after: from its own start, or from inside it.
func (p *cachedPage) covers(after string) bool {
	if after == p.after {
		return true
	}
	if after < p.after {
		return false
	}
	return !p.page.Truncated || after < p.page.Last()
}

// tail is the page's answer from after (covered): its entries past it.
func (p *cachedPage) tail(after string) storage.Page {
	if after == p.after {
		return p.page
	}
	i, _ := slices.BinarySearchFunc(p.page.Objects, after, func(o storage.ObjectInfo, k string) int {
		if o.Key <= k {
			return -1
		}
		return 1
	})
	return storage.Page{Objects: p.page.Objects[i:], Truncated: p.page.Truncated}
}

// pageCache is the listing-page cache of one Catalog.
type pageCache struct {
	store      storage.ObjectStore
	ttl        time.Duration
	maxBytes   int64
	maxEntries int
	pageSize   int // the store's page, storage.MaxPageSize (smaller in tests)
	now        func() time.Time

	mu       sync.Mutex
	gen      uint64                   // raised by purge: older fetches are not kept
	byPrefix map[string][]*cachedPage // sorted by after
	lru      list.List                // of *cachedPage, most recent first
	bytes    int64

	// bounds are keys at which the store's pages start (sorted): hints
	// for cold reads, never content.
	bounds []string
	// flying counts the fetches under way, by prefix and position.
	flying map[pagePos]int

	flight singleflight.Group
	ahead  chan struct{} // read-ahead slots
	// onPage, when set, is given each page listed from the store (the
	// catalog warms its classifications); what it starts joins wg.
	onPage func(storage.Page, *sync.WaitGroup)
	wg     sync.WaitGroup
	// hits, misses, aheads and aligned count lookups answered, fetches,
	// read-aheads started, and cold reads from a bound (tests and
	// benchmarks).
	hits, misses, aheads, aligned int
}

// pagePos is where a listing is read from.
type pagePos struct{ prefix, after string }

func newPageCache(store storage.ObjectStore, ttl time.Duration, maxBytes int64) *pageCache {
	return &pageCache{
		store: store, ttl: ttl, maxBytes: maxBytes, maxEntries: MaxListingCachePages, pageSize: storage.MaxPageSize, now: time.Now,
		byPrefix: map[string][]*cachedPage{}, ahead: make(chan struct{}, MaxReadAhead), flying: map[pagePos]int{},
	}
}

// pageBytes is what a page is counted as: its strings and a fixed cost
// per entry for the structure around them.
func pageBytes(prefix, after string, p storage.Page) int64 {
	const perObject = 96 // ObjectInfo's words and the strings' headers
	n := int64(256 + len(prefix) + len(after))
	for _, o := range p.Objects {
		n += perObject + int64(len(o.Key)+len(o.ETag)+len(o.SHA256))
	}
	for _, cp := range p.Prefixes {
		n += 16 + int64(len(cp))
	}
	return n
}

// lookup returns the cached answer to a listing of prefix from after.
func (pc *pageCache) lookup(prefix, after string) (storage.Page, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pages := pc.byPrefix[prefix]
	i := candidates(pages, after)
	now := pc.now()
	for j := i - 1; j >= 0 && j >= i-2; j-- {
		p := pages[j]
		if now.Sub(p.at) >= pc.ttl {
			pc.remove(p)
			return storage.Page{}, false // the slice moved; a miss is sound
		}
		if p.covers(after) {
			pc.lru.MoveToFront(p.elem)
			pc.hits++
			return p.tail(after), true
		}
	}
	return storage.Page{}, false
}

// candidates returns i such that pages[i-1], and the one before it, are
// the pages that can cover a listing from after: the last page starting at
// or before after, and the one before it (a shorter page may start later
// and end sooner). pages is sorted by where each starts.
func candidates(pages []*cachedPage, after string) int {
	i, found := slices.BinarySearchFunc(pages, after, func(p *cachedPage, k string) int { return strings.Compare(p.after, k) })
	if found {
		i++
	}
	return i
}

// has reports whether a listing from after is cached, without touching
// the order of eviction.
func (pc *pageCache) has(prefix, after string) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pages := pc.byPrefix[prefix]
	i := candidates(pages, after)
	now := pc.now()
	for j := i - 1; j >= 0 && j >= i-2; j-- {
		if p := pages[j]; now.Sub(p.at) < pc.ttl && p.covers(after) {
			return true
		}
	}
	return false
}

// add keeps a page listed at time at, unless a purge came since gen.
func (pc *pageCache) add(gen uint64, at time.Time, prefix, after string, p storage.Page) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if gen != pc.gen {
		return
	}
	cp := &cachedPage{prefix: prefix, after: after, page: p, at: at, bytes: pageBytes(prefix, after, p)}
	if cp.bytes > pc.maxBytes {
		return
	}
	pages := pc.byPrefix[prefix]
	i, found := slices.BinarySearchFunc(pages, after, func(p *cachedPage, k string) int { return strings.Compare(p.after, k) })
	if found {
		pc.remove(pages[i])
		pages = pc.byPrefix[prefix]
	}
	pc.byPrefix[prefix] = slices.Insert(pages, i, cp)
	cp.elem = pc.lru.PushFront(cp)
	pc.bytes += cp.bytes
	for pc.bytes > pc.maxBytes || pc.lru.Len() > pc.maxEntries {
		pc.remove(pc.lru.Back().Value.(*cachedPage))
	}
}

// remove drops p (mu held).
func (pc *pageCache) remove(p *cachedPage) {
	pages := pc.byPrefix[p.prefix]
	if i := slices.Index(pages, p); i >= 0 {
		pages = slices.Delete(pages, i, i+1)
	}
	if len(pages) == 0 {
		delete(pc.byPrefix, p.prefix)
	} else {
		pc.byPrefix[p.prefix] = pages
	}
	pc.lru.Remove(p.elem)
	pc.bytes -= p.bytes
}

// purge drops every page, and the results of fetches under way.
func (pc *pageCache) purge() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.gen++
	clear(pc.byPrefix)
	pc.lru.Init()
	pc.bytes = 0
}

// size is the cache's entries and bytes.
func (pc *pageCache) size() (int, int64) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.lru.Len(), pc.bytes
}

// fetch lists one page from the store, shared by concurrent askers of
// the same page (a client's request and a read-ahead among them), and
// keeps it. The request is detached from ctx, so that one asker leaving
// does not fail the others, and bounded in time.
func (pc *pageCache) fetch(ctx context.Context, prefix, after string) (storage.Page, error) {
	pc.mu.Lock()
	gen := pc.gen
	pc.misses++
	pc.mu.Unlock()
	key := strconv.FormatUint(gen, 10) + "\x00" + prefix + "\x00" + after
	ch := pc.flight.DoChan(key, func() (any, error) {
		pos := pagePos{prefix, after}
		pc.mu.Lock()
		pc.flying[pos]++
		pc.mu.Unlock()
		defer func() {
			pc.mu.Lock()
			if pc.flying[pos]--; pc.flying[pos] <= 0 {
				delete(pc.flying, pos)
			}
			pc.mu.Unlock()
		}()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pageFetchTimeout)
		defer cancel()
		at := pc.now()
		p, err := pc.store.ListPage(fctx, prefix, after, "", pc.pageSize)
		if err != nil {
			return storage.Page{}, err
		}
		pc.noteBounds(prefix, after, p)
		pc.add(gen, at, prefix, after, p)
		if pc.onPage != nil {
			pc.onPage(p, &pc.wg)
		}
		return p, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return storage.Page{}, res.Err
		}
		return res.Val.(storage.Page), nil
	case <-ctx.Done():
		return storage.Page{}, ctx.Err()
	}
}

// readAhead starts fetching the page after p (a page of prefix) unless
// it is cached, being fetched, or every read-ahead slot is taken.
func (pc *pageCache) readAhead(prefix string, p storage.Page) {
	if !p.Truncated || len(p.Objects) == 0 {
		return
	}
	pc.readAheadFrom(prefix, p.Last())
}

// readAheadFrom starts fetching the page of prefix from after, unless a
// page cached or under way holds it, or every read-ahead slot is taken.
func (pc *pageCache) readAheadFrom(prefix, after string) {
	if pc.has(prefix, after) {
		return
	}
	if _, ok := pc.underway(prefix, after); ok {
		return
	}
	select {
	case pc.ahead <- struct{}{}:
	default:
		return
	}
	pc.mu.Lock()
	pc.aheads++
	pc.mu.Unlock()
	pc.wg.Add(1)
	go func() {
		defer pc.wg.Done()
		defer func() { <-pc.ahead }()
		// Errors are not kept: the client's own request meets them.
		_, _ = pc.fetch(context.Background(), prefix, after)
	}()
}

// listPage answers a listing of prefix from after (no delimiter, full
// pages) from the cache, or from the store, and reads the next page ahead.
func (pc *pageCache) listPage(ctx context.Context, prefix, after string) (storage.Page, error) {
	p, ok := pc.lookup(prefix, after)
	if !ok {
		var err error
		if p, err = pc.read(ctx, prefix, after); err != nil {
			return storage.Page{}, err
		}
	}
	pc.readAhead(prefix, p)
	return p, nil
}

// read answers a listing the cache does not hold: from a fetch under way
// that should hold it, or from the store, reading from the last bound
// at or before after and a page further on at once.
func (pc *pageCache) read(ctx context.Context, prefix, after string) (storage.Page, error) {
	if from, ok := pc.underway(prefix, after); ok && from != after {
		_, err := pc.fetch(ctx, prefix, from) // joins it
		if err := ctx.Err(); err != nil {
			return storage.Page{}, err
		}
		if err == nil {
			if p, ok := pc.lookup(prefix, after); ok {
				return p, nil
			}
		}
	}
	from, next := pc.align(prefix, after)
	if next != "" {
		pc.readAheadFrom(prefix, next)
	}
	p, err := pc.fetch(ctx, prefix, from)
	if err != nil || from == after {
		return p, err
	}
	pc.mu.Lock()
	pc.aligned++
	pc.mu.Unlock()
	if cp := (&cachedPage{after: from, page: p}); cp.covers(after) {
		return cp.tail(after), nil
	}
	return pc.fetch(ctx, prefix, after) // the bound was stale
}

// align returns where a cold read of prefix from after starts: the last
// bound at or before after that is below prefix, or after itself; and
// next, the bound a page further on (two bounds past where the read
// starts, or past after), "" when none is known.
func (pc *pageCache) align(prefix, after string) (from, next string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	// i is the first bound past after, and past the start of prefix (a
	// listing from before it starts there).
	i, found := slices.BinarySearch(pc.bounds, max(after, prefix))
	if found {
		i++
	}
	from = after
	if i > 0 && pc.bounds[i-1] <= after && strings.HasPrefix(pc.bounds[i-1], prefix) {
		from = pc.bounds[i-1]
	}
	if j := i + 1; j < len(pc.bounds) && strings.HasPrefix(pc.bounds[j], prefix) {
		next = pc.bounds[j]
	}
	return from, next
}

// underway returns the position of a fetch under way of prefix that
// should hold a listing from after: the last one at or before after with
// no bound between them (a page holds at least half a page past where it
// starts, as far as the bounds know). Waiting for it is a guess, and only
// costs time when wrong.
func (pc *pageCache) underway(prefix, after string) (string, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	best, found := "", false
	for pos := range pc.flying {
		if pos.prefix == prefix && pos.after <= after && (!found || pos.after > best) {
			best, found = pos.after, true
		}
	}
	if !found || best == after {
		return best, found
	}
	i, ok := slices.BinarySearch(pc.bounds, best)
	if ok {
		i++
	}
	if i < len(pc.bounds) && pc.bounds[i] <= after {
		return "", false
	}
	return best, true
}

// noteBounds keeps where the store's pages start, from p, a full page of
// prefix listed from after: the keys at its half and at its end, when it
// starts at a bound or at the start of the whole listing (so that the
// bounds stay half a page apart).
func (pc *pageCache) noteBounds(prefix, after string, p storage.Page) {
	half := pc.pageSize / 2
	if half == 0 || !p.Truncated || len(p.Objects) != pc.pageSize {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if _, ok := slices.BinarySearch(pc.bounds, after); !ok && (after != "" || prefix != "") {
		return
	}
	pc.addBound(p.Objects[half-1].Key)
	pc.addBound(p.Last())
}

// addBound keeps bound b (mu held).
func (pc *pageCache) addBound(b string) {
	n := len(pc.bounds)
	if n > 0 && pc.bounds[n-1] < b {
		pc.bounds = append(pc.bounds, b) // the common case: a walk forward
	} else if i, ok := slices.BinarySearch(pc.bounds, b); !ok {
		pc.bounds = slices.Insert(pc.bounds, i, b)
	}
	if len(pc.bounds) > MaxPageBounds {
		kept := pc.bounds[:0]
		for i, b := range pc.bounds {
			if i%2 == 0 {
				kept = append(kept, b)
			}
		}
		clear(pc.bounds[len(kept):])
		pc.bounds = kept
	}
}

// idle waits for the read-aheads under way.
func (pc *pageCache) idle() { pc.wg.Wait() }
