package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the anchor, wrapped by Open's refusal and by AnchorHealthy.
var (
	// ErrAnchorMismatch: the local trail does not hold what the anchor
	// holds (records rewritten, deleted or replaced).
	ErrAnchorMismatch = errors.New("audit: the trail does not match its anchor")
	// ErrAnchorUnavailable: the anchor could not be read or written.
	ErrAnchorUnavailable = errors.New("audit: anchor unavailable")
)

// Anchoring bounds.
const (
	// AnchorCheckTimeout bounds Open's start-up check against the anchor.
	AnchorCheckTimeout = 30 * time.Second
	// AnchorFlushTimeout bounds how long Close waits for the anchor to take
	// the final checkpoint and the backlog.
	AnchorFlushTimeout = 10 * time.Second
	// AnchorQueueMax bounds the backlog held in memory. Beyond it items are
	// dropped from memory only: the local files still hold them, and the
	// anchorer finds them there again (a full check) once the anchor takes
	// writes.
	AnchorQueueMax = 4096

	anchorCallTimeout = 30 * time.Second
	anchorBackoffMin  = 100 * time.Millisecond
	anchorBackoffMax  = 30 * time.Second
)

var instanceRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidInstance reports whether id can name an instance in an anchor: it is
// a path segment of every object the instance writes.
func ValidInstance(id string) bool { return instanceRE.MatchString(id) && id != "." && id != ".." }

// AnchorStats describes the anchor's progress since Open.
type AnchorStats struct {
	Checkpoints uint64 // checkpoints anchored
	Files       uint64 // sealed files anchored
	Backlog     int    // items waiting for the anchor
}

type anchorItem struct {
	seq    uint64 // a checkpoint's seq, or 0 for a sealed file
	line   []byte
	file   string
	queued time.Time
}

func (it anchorItem) key() string {
	if it.file != "" {
		return "file " + it.file
	}
	return fmt.Sprintf("checkpoint %d", it.seq)
}

// anchorer hands checkpoints and sealed files to the anchor on a goroutine
// of its own, so that a slow or unreachable anchor never delays Append.
type anchorer struct {
	store    AnchorStore
	instance string
	dir      string
	logger   *slog.Logger
	now      func() time.Time
	stall    time.Duration // a backlog item older than this makes the anchor unhealthy
	fatal    func(error)   // fails the log for good (a mismatch found after Open)

	mu      sync.Mutex
	items   []anchorItem
	resync  bool  // items were dropped: find them again in the files
	checked bool  // the start-up check passed
	lastErr error // the last failure; nil after a success
	failed  error // a mismatch: nothing more is anchored

	wake    chan struct{}
	flush   chan struct{} // closed by close: drain, then return
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	started bool

	checkpoints atomic.Uint64
	files       atomic.Uint64
}

func newAnchorer(cfg Config, fatal func(error)) *anchorer {
	ctx, cancel := context.WithCancel(context.Background())
	return &anchorer{
		store: cfg.Anchor, instance: cfg.Instance, dir: cfg.Dir, logger: cfg.Logger, now: cfg.Now,
		stall: max(cfg.CheckpointInterval, time.Minute), fatal: fatal,
		wake: make(chan struct{}, 1), flush: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
}

// enqueue adds it to the backlog. It never blocks: past AnchorQueueMax the
// item is dropped from memory and found again in the files later.
func (a *anchorer) enqueue(it anchorItem) {
	it.queued = a.now()
	a.mu.Lock()
	if len(a.items) >= AnchorQueueMax {
		if !a.resync {
			a.logger.Warn("audit: anchor backlog full; later checkpoints are anchored from the files once the anchor takes writes",
				"backlog", len(a.items))
		}
		a.resync = true
	} else {
		a.items = append(a.items, it)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// health returns nil while the anchor keeps up.
func (a *anchorer) health() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.failed != nil:
		return a.failed
	case !a.checked:
		return fmt.Errorf("%w: the start-up check against the anchor has not run yet: %v", ErrAnchorUnavailable, a.lastErr)
	case a.lastErr != nil:
		return a.lastErr
	case len(a.items) > 0 && a.now().Sub(a.items[0].queued) > a.stall:
		return fmt.Errorf("%w: backlog of %d items not draining (oldest queued %s ago)", ErrAnchorUnavailable,
			len(a.items), a.now().Sub(a.items[0].queued).Round(time.Second))
	}
	return nil
}

func (a *anchorer) stats() AnchorStats {
	a.mu.Lock()
	n := len(a.items)
	a.mu.Unlock()
	return AnchorStats{Checkpoints: a.checkpoints.Load(), Files: a.files.Load(), Backlog: n}
}

func (a *anchorer) setErr(err error) {
	a.mu.Lock()
	first := a.lastErr == nil
	a.lastErr = err
	a.mu.Unlock()
	if first {
		a.logger.Error("audit: anchor unreachable; retrying", "error", err)
	}
}

// start runs the anchorer's goroutine.
func (a *anchorer) start() {
	a.started = true
	go a.run()
}

// close drains the backlog for at most timeout, then stops.
func (a *anchorer) close(timeout time.Duration) error {
	if !a.started {
		a.cancel()
		return nil
	}
	close(a.flush)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done:
	case <-t.C:
		a.cancel()
		<-a.done
	}
	a.cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.items); n > 0 || a.resync {
		return fmt.Errorf("%w: %d items not anchored at close (they stay in the local files and are anchored at the next start)", ErrAnchorUnavailable, n)
	}
	return nil
}

func (a *anchorer) run() {
	defer close(a.done)
	backoff := anchorBackoffMin
	flushing := false
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-a.ctx.Done():
			return false
		}
	}
	for {
		if a.ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		checked, resync, failed := a.checked, a.resync, a.failed != nil
		a.mu.Unlock()
		if failed {
			return
		}
		if !checked || resync {
			ctx, cancel := context.WithTimeout(a.ctx, AnchorCheckTimeout)
			err := a.check(ctx)
			cancel()
			if errors.Is(err, ErrAnchorMismatch) {
				a.mu.Lock()
				a.failed, a.items = err, nil
				a.mu.Unlock()
				a.logger.Error("audit: THE TRAIL DOES NOT MATCH ITS ANCHOR: the log is failed and takes no more records", "error", err)
				a.fatal(err)
				return
			}
			if err != nil {
				a.setErr(err)
				if !wait(backoff) {
					return
				}
				backoff = min(backoff*2, anchorBackoffMax)
				continue
			}
			a.recovered()
			backoff = anchorBackoffMin
			continue
		}
		a.mu.Lock()
		var it anchorItem
		have := len(a.items) > 0
		if have {
			it = a.items[0]
		}
		a.mu.Unlock()
		if !have {
			if flushing {
				return
			}
			select {
			case <-a.wake:
			case <-a.flush:
				flushing = true
			case <-a.ctx.Done():
				return
			}
			continue
		}
		if err := a.put(it); err != nil {
			a.setErr(err)
			if !wait(backoff) {
				return
			}
			backoff = min(backoff*2, anchorBackoffMax)
			continue
		}
		backoff = anchorBackoffMin
		a.mu.Lock()
		a.items = a.items[1:]
		a.mu.Unlock()
		a.recovered()
	}
}

func (a *anchorer) recovered() {
	a.mu.Lock()
	was := a.lastErr
	a.lastErr = nil
	a.mu.Unlock()
	if was != nil {
		a.logger.Info("audit: anchor reachable again", "was", was)
	}
}

func (a *anchorer) put(it anchorItem) error {
	ctx, cancel := context.WithTimeout(a.ctx, anchorCallTimeout)
	defer cancel()
	if it.file != "" {
		f, err := os.Open(filepath.Join(a.dir, it.file))
		if err != nil {
			return fmt.Errorf("%w: sealed file %s: %v", ErrAnchorUnavailable, it.file, err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("%w: sealed file %s: %v", ErrAnchorUnavailable, it.file, err)
		}
		if err := a.store.PutFile(ctx, a.instance, it.file, f, fi.Size()); err != nil {
			return fmt.Errorf("%w: anchoring %s: %v", ErrAnchorUnavailable, it.file, err)
		}
		a.files.Add(1)
		return nil
	}
	if err := a.store.PutCheckpoint(ctx, a.instance, it.seq, it.line); err != nil {
		return fmt.Errorf("%w: anchoring checkpoint %d: %v", ErrAnchorUnavailable, it.seq, err)
	}
	a.checkpoints.Add(1)
	return nil
}

// check compares the local trail with what the anchor holds for this
// instance and, when they match, queues what the anchor lacks (checkpoints
// after its newest one, files sealed but not anchored). It only reads. A
// mismatch wraps ErrAnchorMismatch (and a *VerifyError naming the first
// record found to differ); an anchor that cannot be read wraps
// ErrAnchorUnavailable.
func (a *anchorer) check(ctx context.Context) error {
	cps, err := a.store.Checkpoints(ctx, a.instance)
	if err != nil {
		return fmt.Errorf("%w: listing checkpoints: %v", ErrAnchorUnavailable, err)
	}
	afiles, err := a.store.Files(ctx, a.instance)
	if err != nil {
		return fmt.Errorf("%w: listing sealed files: %v", ErrAnchorUnavailable, err)
	}
	mismatch := func(err error) error { return fmt.Errorf("%w: %w", ErrAnchorMismatch, err) }
	for _, c := range cps {
		if c.Versions != 1 {
			return mismatch(fmt.Errorf("the anchor holds %d versions of checkpoint seq %d: it was written again", c.Versions, c.Seq))
		}
	}
	for _, f := range afiles {
		if f.Versions != 1 {
			return mismatch(fmt.Errorf("the anchor holds %d versions of sealed file %s: it was written again", f.Versions, f.Name))
		}
	}
	local, err := Files(a.dir)
	if err != nil {
		return mismatch(err)
	}
	if len(local) == 0 && (len(cps) > 0 || len(afiles) > 0) {
		return mismatch(&VerifyError{File: filepath.Join(a.dir, fileName(1)), Line: 1, Seq: 1,
			Reason: fmt.Sprintf("no local audit files, but the anchor holds %d checkpoints and %d sealed files of instance %s: the trail was removed or replaced",
				len(cps), len(afiles), a.instance)})
	}

	// Sealed files: each must be here with its anchored size, and the newest
	// byte for byte (the others are covered by the chain up to the
	// anchored checkpoints; reading every sealed file back at each start
	// would cost the whole history's download).
	have := map[string]bool{}
	for _, p := range local {
		have[filepath.Base(p)] = true
	}
	for i, f := range afiles {
		path := filepath.Join(a.dir, f.Name)
		fi, err := os.Stat(path)
		if err != nil {
			return mismatch(&VerifyError{File: path, Line: 1, Reason: fmt.Sprintf("sealed file %s, held by the anchor, is missing locally: %v", f.Name, err)})
		}
		if fi.Size() != f.Size {
			if err := a.compareFile(ctx, f, path); err != nil {
				return err
			}
			return mismatch(&VerifyError{File: path, Line: 1, Reason: fmt.Sprintf("sealed file %s is %d bytes, the anchor holds %d", f.Name, fi.Size(), f.Size)})
		}
		if i == len(afiles)-1 {
			if err := a.compareFile(ctx, f, path); err != nil {
				return err
			}
		}
	}

	// The chain, from genesis, through the newest anchored checkpoint: every
	// anchored checkpoint line must be in it, byte for byte. Past it, the
	// local checkpoints are collected for the anchor.
	want := map[uint64][]byte{}
	var newest uint64
	for _, c := range cps {
		want[c.Seq] = c.Line
		newest = max(newest, c.Seq)
	}
	var pending []anchorItem
	var c chain
	var lastMatch uint64
	found := 0
	lastPath, lastLine := "", 0
scan:
	for fi, path := range local {
		f, err := os.Open(path)
		if err != nil {
			return mismatch(err)
		}
		lr := newLineReader(f)
		for {
			line, complete, _, err := lr.next()
			if err == io.EOF {
				break
			}
			bad := func(seq uint64, reason string) error {
				return &VerifyError{File: path, Line: lr.line, Seq: seq, Reason: reason}
			}
			var reason string
			var p parsedLine
			switch {
			case err != nil:
				reason = "unreadable: " + err.Error()
			case !complete:
				reason = "torn/incomplete line"
			default:
				var lerr *lineError
				if p, lerr = checkLine(line); lerr != nil {
					reason = lerr.reason
				} else if lr.line == 1 && p.Kind != KindStart {
					reason = fmt.Sprintf("file does not begin with a start record (kind %q)", p.Kind)
				} else if !c.started && p.Seq != 1 {
					reason = fmt.Sprintf("the chain begins at seq %d, not 1: its first records were removed", p.Seq)
				} else {
					reason = c.next(p)
				}
			}
			if reason != "" {
				f.Close()
				if c.seq < newest {
					return mismatch(bad(c.seq+1, reason+fmt.Sprintf(" (before seq %d, the newest checkpoint the anchor holds)", newest)))
				}
				// Past the anchored history: Open's recovery, or
				// verification, deals with it; nothing past it is anchored.
				break scan
			}
			if w, ok := want[p.Seq]; ok {
				if !bytes.Equal(w, append(line, '\n')) {
					f.Close()
					after := "from genesis"
					if lastMatch > 0 {
						after = fmt.Sprintf("after seq %d (the last anchored checkpoint that matches)", lastMatch)
					}
					return mismatch(bad(p.Seq, fmt.Sprintf("differs from the checkpoint the anchor holds for seq %d: records %s were altered, deleted, inserted or replaced", p.Seq, after)))
				}
				lastMatch = p.Seq
				found++
			} else if p.Seq > newest && p.Kind == KindCheckpoint {
				pending = append(pending, anchorItem{seq: p.Seq, line: append(bytes.Clone(line), '\n')})
			}
			lastPath, lastLine = path, lr.line
		}
		f.Close()
		if fi < len(local)-1 {
			if name := filepath.Base(path); !containsFile(afiles, name) {
				pending = append(pending, anchorItem{file: name})
			}
		}
	}
	if found < len(cps) {
		if lastPath == "" && len(local) > 0 {
			lastPath, lastLine = local[len(local)-1], 1
		}
		return mismatch(&VerifyError{File: lastPath, Line: lastLine, Seq: c.seq + 1,
			Reason: fmt.Sprintf("the local trail ends at seq %d, but the anchor holds checkpoints up to seq %d: records were deleted", c.seq, newest)})
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	// Keep what was queued in memory and not found by the scan (written
	// since), after the scan's items; drop duplicates.
	seen := map[string]bool{}
	var items []anchorItem
	for _, it := range append(pending, a.items...) {
		if k := it.key(); !seen[k] {
			seen[k] = true
			if it.queued.IsZero() {
				it.queued = a.now()
			}
			items = append(items, it)
		}
	}
	a.resync = false
	if len(items) > AnchorQueueMax {
		items, a.resync = items[:AnchorQueueMax], true
	}
	a.items, a.checked = items, true
	return nil
}

// compareFile compares a local sealed file with the anchor's copy line by
// line and returns a mismatch naming the first line that differs.
func (a *anchorer) compareFile(ctx context.Context, f AnchoredFile, path string) error {
	rc, err := a.store.OpenFile(ctx, a.instance, f.Name)
	if err != nil {
		return fmt.Errorf("%w: reading sealed file %s: %v", ErrAnchorUnavailable, f.Name, err)
	}
	defer rc.Close()
	lf, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAnchorMismatch, err)
	}
	defer lf.Close()
	ar, lr := newLineReader(rc), newLineReader(lf)
	for {
		al, acomplete, _, aerr := ar.next()
		al = bytes.Clone(al)
		ll, lcomplete, _, lerr := lr.next()
		if aerr == io.EOF && lerr == io.EOF {
			return nil
		}
		if aerr != nil && aerr != io.EOF {
			return fmt.Errorf("%w: reading sealed file %s: %v", ErrAnchorUnavailable, f.Name, aerr)
		}
		if aerr == nil && lerr == nil && acomplete == lcomplete && bytes.Equal(al, ll) {
			continue
		}
		var seq uint64
		if p, e := decodeLine(al); e == nil {
			seq = p.Seq
		} else if p, e := decodeLine(ll); e == nil {
			seq = p.Seq
		}
		reason := "differs from the sealed copy the anchor holds"
		switch {
		case lerr == io.EOF:
			reason = "is missing: the local file ends here, the sealed copy the anchor holds goes on"
		case aerr == io.EOF:
			reason = "is not in the sealed copy the anchor holds: lines were added"
		}
		return fmt.Errorf("%w: %w", ErrAnchorMismatch, &VerifyError{File: path, Line: max(ar.line, lr.line), Seq: seq,
			Reason: fmt.Sprintf("%s: line %s", f.Name, reason)})
	}
}

func containsFile(fs []AnchoredFile, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}
