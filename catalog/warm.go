package catalog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/weightgate/weightgate/storage"
)

// Warming reads every model's export.yaml once, from start-up, so that the
// first listing of a large catalog on a remote store does not wait for a
// few hundred classification reads per page (the cold page measured 190 ms
// at 100,000 models, the warm one 11 ms). It reads the store's listing
// forward, page by page, and each version of export.yaml not yet
// remembered, MaxClassReads at a time; what it reads goes into the
// classification cache, whose size bounds it. Nothing waits for it:
// requests classify what they meet as before, and join a read under way.
// Forget restarts it, since it drops what it read. A rewritten export.yaml
// is read again when a listing shows its new ETag, as without warming.

// warmState is warming's progress, for /readyz and the metrics.
type warmState struct {
	mu      sync.Mutex
	started bool
	parent  context.Context // StartWarming's, which a restart runs under
	cancel  context.CancelFunc
	gen     int       // bumped by each (re)start, so an old pass stops reporting
	models  int       // export.yaml files seen by the pass under way or last
	done    bool      // the last pass reached the end of the listing
	err     string    // the last listing error, while retrying
	at      time.Time // when the pass under way started
	doneIn  time.Duration
	release chan struct{} // the warm pass's own read slots
}

// warmRetry is how long warming waits after a listing error before it
// lists again from where it was.
var warmRetry = 5 * time.Second

// StartWarming starts warming in the background; it returns at once. ctx
// ends it. Calling it again restarts the pass.
func (c *Catalog) StartWarming(ctx context.Context) {
	w := &c.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
	if w.release == nil {
		w.release = make(chan struct{}, MaxClassReads)
	}
	pass, cancel := context.WithCancel(ctx)
	w.started, w.cancel, w.parent = true, cancel, ctx
	w.gen++
	w.models, w.done, w.err, w.at, w.doneIn = 0, false, "", time.Now(), 0
	go c.warmPass(pass, w.gen)
}

// restartWarming is Forget's: a pass that had started is begun again over
// the emptied cache.
func (c *Catalog) restartWarming() {
	w := &c.warm
	w.mu.Lock()
	parent := w.parent
	if !w.started || parent.Err() != nil {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	c.StartWarming(parent)
}

// StopWarming ends the pass under way, if any, and keeps Forget from
// starting another.
func (c *Catalog) StopWarming() {
	w := &c.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
	w.started, w.cancel = false, nil
}

// WarmState says, for the admin /readyz, where warming is: "ok" once a
// pass has read the whole catalog, else "warming"; "" when it was never
// started. detail is a sentence with the count. It never makes the
// gateway unready: requests classify what warming has not reached.
func (c *Catalog) WarmState() (check, detail string) {
	w := &c.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.started && w.gen == 0:
		return "", ""
	case w.done:
		return "ok", fmt.Sprintf("%s models classified in %s", thousands(w.models), w.doneIn.Round(time.Millisecond))
	case w.err != "":
		return "warming", fmt.Sprintf("warming: %s models classified so far; listing failed (%s), retrying", thousands(w.models), w.err)
	default:
		return "warming", fmt.Sprintf("warming: %s models classified so far", thousands(w.models))
	}
}

// WarmProgress is the count of export.yaml files the pass under way (or
// the last) has seen, and whether it is done: the metrics' view.
func (c *Catalog) WarmProgress() (models int, done bool) {
	w := &c.warm
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.models, w.done
}

// warmPass lists the whole store forward and classifies each export.yaml
// it shows. It ends at the end of the listing or when ctx does.
func (c *Catalog) warmPass(ctx context.Context, gen int) {
	w := &c.warm
	report := func(f func()) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.gen != gen {
			return false
		}
		f()
		return true
	}
	after := ""
	var reads sync.WaitGroup
	defer reads.Wait()
	for {
		lctx, cancel := context.WithTimeout(ctx, pageFetchTimeout)
		p, err := c.store.ListPage(lctx, "", after, "", storage.MaxPageSize)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.logger.Warn("catalog warming: listing failed; retrying", "after", after, "err", err)
			report(func() { w.err = err.Error() })
			select {
			case <-ctx.Done():
				return
			case <-time.After(warmRetry):
			}
			continue
		}
		if c.pages != nil {
			// Where the store's pages start, for cold reads (pages.go).
			c.pages.noteBounds("", after, p)
		}
		seen := 0
		for _, o := range p.Objects {
			id, ok := modelOfKey(o.Key)
			if !ok || o.Key != id+"/"+ManifestName {
				continue
			}
			seen++
			if o.ETag == "" || o.Size > MaxManifestSize || c.classes.Contains(classKey{id: id, etag: o.ETag, size: o.Size}) {
				continue
			}
			select {
			case w.release <- struct{}{}:
			case <-ctx.Done():
				return
			}
			reads.Add(1)
			go func() {
				defer reads.Done()
				defer func() { <-w.release }()
				rctx, cancel := context.WithTimeout(ctx, pageFetchTimeout)
				defer cancel()
				// An error is left for the request that meets the model.
				_, _ = c.classify(rctx, id, o, true)
			}()
		}
		if !report(func() { w.models += seen; w.err = "" }) {
			return
		}
		if !p.Truncated || len(p.Objects) == 0 {
			reads.Wait()
			report(func() {
				w.done, w.doneIn = true, time.Since(w.at)
				c.logger.Info("catalog warmed", "models", w.models, "took", w.doneIn.Round(time.Millisecond))
			})
			return
		}
		after = p.Objects[len(p.Objects)-1].Key
	}
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
