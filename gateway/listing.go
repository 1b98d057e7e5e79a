package gateway

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway/s3api"
	"github.com/weightgate/weightgate/storage"
)

// How listings scale: a page reads the store forward from where the last
// one ended (catalog.Scan), one storage page at a time, and stops when it
// is full or when it has read catalog.DefaultScanLimits (4,000 keys, 64
// storage requests), whichever comes first. Models the requester may not
// see are passed over (a model hidden from the requester is skipped with
// one storage request, never read through), so a page that meets many of
// them may come back short, or empty, with a cursor to go on: S3 says
// IsTruncated, the Hub API sends a Link to the next page. The cursor is
// sealed (cursor.go): it carries the position, which may be among hidden
// models, but nobody can read it. What a short page tells its reader is
// documented in docs/http-api.md.

// scanLimits are the bounds of one listing page.
func (s *Server) scanLimits() catalog.ScanLimits {
	if s.opts.ScanLimits == (catalog.ScanLimits{}) {
		return catalog.DefaultScanLimits
	}
	return s.opts.ScanLimits
}

// visibleGroup reports whether the requester may see the model g is of,
// with the model: assembled from the files the scan read when they are
// all of them, else loaded (and cached) as a download would load it. A
// storage failure is returned (the page fails, 503); a policy failure
// hides the model (a listing fails closed by omission, as before).
func (s *Server) visibleGroup(ctx context.Context, view *viewer, g catalog.Group) (*catalog.Model, bool, error) {
	var m *catalog.Model
	var err error
	if g.Complete {
		m, err = s.opts.Catalog.ModelOf(ctx, g.ID, g.Files)
	} else {
		m, err = s.opts.Catalog.Model(ctx, g.ID)
	}
	if errors.Is(err, catalog.ErrModelNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ok, e := view.visible(m)
	if e != nil {
		return nil, false, e
	}
	if !ok {
		return nil, false, nil
	}
	return m, true, nil
}

// A named requester's listing asks the policy about every closed model it
// meets. A full decision takes 0.2 to 0.8 ms, and no decision cache helps
// (its keys name the model), which made a US requester's full listing
// 0.43x VersityGW's at 100,000 models. A policy that is a Lister answers
// most of them from memory instead (viewer.visible), but still evaluates
// some: the first model of each kind, and those its visible rule does not
// declare visible. The answers are independent of one another, so a
// listing takes them ahead, GOMAXPROCS at a time, as soon as a storage
// page shows the models (catalog.ScanAhead), and the page is still built
// in order by the scan's callback, which waits for each model's answer:
// the same page, the same bound on what is read, the same errors, as
// deciding one after another. Work on models past the page's end is
// bounded by what the scan has read, and abandoned when the page is done.

// listingWorkers is how many visibility decisions one listing takes at
// once: GOMAXPROCS, and at least two so that the path is the same (and
// tested) on every machine; 1 would decide each in the scan's callback.
var listingWorkers = max(runtime.GOMAXPROCS(0), 2)

// lookahead decides visibility ahead of a scan's callback.
type lookahead struct {
	s       *Server
	view    *viewer
	want    func(id string) bool
	ctx     context.Context
	cancel  context.CancelFunc
	slots   chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	pending map[string]*visAnswer
}

// visAnswer is visibleGroup's answer for g, once done is closed.
type visAnswer struct {
	g    catalog.Group
	done chan struct{}
	m    *catalog.Model
	ok   bool
	err  error
}

// newLookahead returns a lookahead that decides nothing ahead (off) when
// that gains nothing: an anonymous requester sees open models only, and
// asks the policy nothing.
// want, when not nil, says which models the callback will ask about (a
// search filter), so that no other is decided ahead.
func (s *Server) newLookahead(ctx context.Context, view *viewer, on bool, want func(id string) bool) *lookahead {
	if !on || view.anon || listingWorkers <= 1 {
		return &lookahead{s: s, view: view}
	}
	ctx, cancel := context.WithCancel(ctx)
	return &lookahead{s: s, view: view, want: want, ctx: ctx, cancel: cancel, slots: make(chan struct{}, listingWorkers), pending: map[string]*visAnswer{}}
}

// ahead is catalog.ScanAhead's: it starts deciding g. A model the scan
// did not read whole is left to the callback, which loads it.
func (l *lookahead) ahead(g catalog.Group) {
	if !g.Complete || (l.want != nil && !l.want(g.ID)) {
		return
	}
	a := &visAnswer{g: g, done: make(chan struct{})}
	l.mu.Lock()
	l.pending[g.ID] = a
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(a.done)
		select {
		case l.slots <- struct{}{}:
		case <-l.ctx.Done():
			a.err = l.ctx.Err()
			return
		}
		defer func() { <-l.slots }()
		a.m, a.ok, a.err = l.s.visibleGroup(l.ctx, l.view, g)
	}()
}

// visible is visibleGroup(g), taken from the answer decided ahead when it
// was for this very group, else decided now.
func (l *lookahead) visible(ctx context.Context, g catalog.Group) (*catalog.Model, bool, error) {
	if l.slots == nil {
		return l.s.visibleGroup(ctx, l.view, g)
	}
	l.mu.Lock()
	a := l.pending[g.ID]
	delete(l.pending, g.ID)
	l.mu.Unlock()
	if a == nil || !sameGroup(a.g, g) {
		return l.s.visibleGroup(ctx, l.view, g)
	}
	<-a.done
	return a.m, a.ok, a.err
}

// scan is the catalog's ScanAhead with this lookahead, which it stops
// (waiting for its decisions in flight) before it returns.
func (l *lookahead) scan(ctx context.Context, c *catalog.Catalog, prefix, after string, lim catalog.ScanLimits, fn func(catalog.Group) (string, bool)) (string, bool, error) {
	if l.slots == nil {
		return c.Scan(ctx, prefix, after, lim, fn)
	}
	defer l.wg.Wait()
	defer l.cancel()
	return c.ScanAhead(ctx, prefix, after, lim, l.ahead, fn)
}

func sameGroup(a, b catalog.Group) bool {
	return a.ID == b.ID && a.Complete == b.Complete && slices.EqualFunc(a.Files, b.Files, func(x, y storage.ObjectInfo) bool {
		return x.Key == y.Key && x.ETag == y.ETag && x.Size == y.Size && x.ModTime.Equal(y.ModTime) && x.SHA256 == y.SHA256
	})
}

// s3Page lists one page of the bucket for an S3 ListObjects(V2) request:
// the keys ORG/NAME/PATH of the models the requester may see, by S3's
// rules for prefix, delimiter, start-after and max-keys.
func (s *Server) s3Page(ctx context.Context, view *viewer, q s3api.ListQuery, after string) (s3api.ListPage, string, error) {
	var page s3api.ListPage
	limit := min(q.MaxKeys, s3api.MaxKeys)
	if limit <= 0 {
		return page, "", nil
	}
	n := 0
	last := ""    // the last entry of the page
	lastCP := ""  // the last common prefix added
	full := false // another entry follows the page's last
	var err error // a storage failure, which fails the page
	// With a delimiter, a common prefix stands for many models and the
	// scan skips past all but the first: deciding ahead would mostly be
	// wasted.
	look := s.newLookahead(ctx, view, q.Delimiter == "", nil)
	pos, done, scanErr := look.scan(ctx, s.opts.Catalog, q.Prefix, after, s.scanLimits(), func(g catalog.Group) (string, bool) {
		_, ok, verr := look.visible(ctx, g)
		if verr != nil {
			err = verr
			return "", true
		}
		if !ok {
			return catalog.Past(g.ID + "/"), false
		}
		for _, f := range g.Files {
			key := g.ID + "/" + f.Key
			if key <= after {
				continue
			}
			if q.Delimiter != "" {
				if j := strings.Index(key[len(q.Prefix):], q.Delimiter); j >= 0 {
					cp := key[:len(q.Prefix)+j+len(q.Delimiter)]
					if cp == lastCP || cp <= after {
						continue
					}
					if n == limit {
						full = true
						return "", true
					}
					page.CommonPrefixes = append(page.CommonPrefixes, cp)
					lastCP, last = cp, cp
					n++
					if len(cp) <= len(g.ID)+1 {
						// The common prefix holds this model and perhaps
						// others: skip the rest of what it stands for.
						return pastPrefix(cp), false
					}
					// A "directory" inside the model: the model's other
					// files are in hand, and those below it are passed
					// over by comparing with lastCP.
					continue
				}
			}
			if n == limit {
				full = true
				return "", true
			}
			page.Objects = append(page.Objects, s3api.ObjectInfo{Key: key, Size: f.Size, ETag: f.ETag, LastModified: f.ModTime})
			last = key
			n++
		}
		return "", false
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return s3api.ListPage{}, "", err
	}
	switch {
	case full:
		page.IsTruncated = true
		if last == lastCP {
			// Resume past everything the common prefix stands for,
			// rather than read through it again.
			return page, pastPrefix(last), nil
		}
		return page, last, nil
	case !done:
		// A limit ended the scan: a short page, which resumes where the
		// scan stopped (past the last entry, perhaps past hidden models).
		page.IsTruncated = true
		return page, max(pos, last), nil
	}
	return page, "", nil
}

// pastPrefix is a position after every key below the common prefix cp.
func pastPrefix(cp string) string {
	if strings.HasSuffix(cp, "/") {
		return catalog.Past(cp)
	}
	// Any other delimiter: the largest code point after cp stands above
	// every key of cp but those that continue with it, which the page
	// skips by comparing with its last common prefix.
	return cp + string(utf8.MaxRune)
}
