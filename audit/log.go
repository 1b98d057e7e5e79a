package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for Config.
const (
	DefaultMaxFileBytes       = 256 << 20
	DefaultMaxBatch           = 1024
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
)

// maxBatchBytes bounds the caller bytes of one batch (a single larger record
// still goes alone).
const maxBatchBytes = 8 << 20

// LockFileName is the file in the log directory that Open locks so that two
// processes never write the same log.
const LockFileName = "audit.lock"

// ErrClosed is returned by Append and Healthy after Close.
var ErrClosed = errors.New("audit: log closed")

// Config configures Open. Zero values take the defaults above.
type Config struct {
	// Dir holds the log files; it is created if missing.
	Dir string
	// MaxFileBytes: after a batch makes the current file at least this
	// large, the next batch starts a new file. Default 256 MiB.
	MaxFileBytes int64
	// MaxBatch is the most caller records written with one fsync; it is
	// also the capacity of the queue in front of the writer. Default 1024.
	MaxBatch int
	// SyncEveryRecord writes and fsyncs each caller record on its own
	// (no group commit). It exists as a baseline for benchmarks.
	SyncEveryRecord bool
	// Linger is how long the writer holds a batch made only of records
	// appended with AppendLater, waiting for another record to share its
	// fsync. Default DefaultLinger.
	Linger time.Duration
	// CheckpointKey signs checkpoints; nil writes none.
	CheckpointKey ed25519.PrivateKey
	// CheckpointEvery is the number of records between checkpoints.
	// Default 1000.
	CheckpointEvery int
	// CheckpointInterval is the longest time between the first record after
	// a checkpoint and the next checkpoint, even if the log goes idle.
	// Default 1m.
	CheckpointInterval time.Duration
	// Mirror, if set, receives every durable batch asynchronously. It can
	// never block or fail Append; see Sink.
	Mirror Sink
	// Logger receives operational warnings (never audit records).
	// Default slog.Default().
	Logger *slog.Logger
	// Observe, if set, is called on the writer goroutine after each batch,
	// before the batch's Appends return. It must be fast.
	Observe func(BatchStats)
	// Now is the clock for record times. Default time.Now.
	Now func() time.Time

	// Anchor, if set, receives every checkpoint once it is durable and
	// every file once it is sealed (rotated), asynchronously: it never
	// blocks or fails Append. Open first checks the local trail against it
	// and refuses a trail that does not match (see the package doc). It
	// needs CheckpointKey: without checkpoints there is nothing to anchor.
	Anchor AnchorStore
	// Instance names this log's chain in the anchor ([A-Za-z0-9._-]{1,64});
	// required with Anchor.
	Instance string
	// AnchorRequired makes an anchor that cannot be reached at Open a
	// refusal to open (otherwise Open logs it and checks later, and
	// AnchorHealthy reports it meanwhile).
	AnchorRequired bool
}

// BatchStats describes one batch: the lines it wrote (caller records plus
// the log's own start, checkpoint, recovery and recovered records), their
// bytes, the time spent in write and in fsync, and the error that failed it.
type BatchStats struct {
	Records int
	Bytes   int
	Write   time.Duration
	Sync    time.Duration
	Err     error
}

const (
	reqQueued int32 = iota
	reqTaken
	reqCancelled
)

type request struct {
	kind  string
	rec   []byte
	later bool // AppendLater: nobody is waiting on the client's side
	state atomic.Int32
	done  chan error // buffered: the writer never blocks on it
}

// DefaultLinger is Config.Linger's default: a few fsyncs' time.
const DefaultLinger = 5 * time.Millisecond

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	pid    int

	queue chan *request
	probe chan chan error
	stop  chan struct{}
	done  chan struct{}

	// closeMu orders Close after every Append that is still handing its
	// request to the queue, so that no request is queued after the writer's
	// final drain.
	closeMu  sync.RWMutex
	closed   bool
	closeErr error // set by the writer before done is closed

	failMu  sync.Mutex
	failErr error // published copy of w.lastErr for Healthy

	lock               *os.File
	head               *os.File // the head file, opened by the first batch
	mirror             *mirror
	mirrorFlushTimeout time.Duration

	mirrorDropped atomic.Uint64
	mirrorErrors  atomic.Uint64

	anchor *anchorer
	// fatal, once set, fails every later batch: the trail was found not to
	// match its anchor after Open.
	fatal atomic.Pointer[error]

	w writer // owned by the writer goroutine (and Open before it starts)
}

// logFile is the part of *os.File the writer uses; tests substitute one that
// fails on demand (an fsync EIO or a failing truncate cannot be provoked on a
// real device from a test).
type logFile interface {
	Write(b []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// wrapFile, when set by a test before Open, wraps every log file the writer
// opens.
var wrapFile func(logFile) logFile

func newLogFile(f *os.File) logFile {
	if wrapFile != nil {
		return wrapFile(f)
	}
	return f
}

// writer is the state of the writer goroutine.
type writer struct {
	f        logFile
	name     string // base name of the current file
	index    uint64
	size     int64 // durable size of the current file
	dirty    bool  // the file may hold bytes past size (a truncate failed)
	rotate   bool  // the next batch goes to a new file
	seq      uint64
	hash     string
	lastKind string
	lastTime time.Time

	needStart string // reason of the start record the next batch begins with
	prevFile  string // previous_file of that start record
	recovery  *RecoveryRecord

	firstErr    error // first failure of the current outage
	lastErr     error
	failedSince time.Time

	sinceCheckpoint int
	lastCheckpoint  time.Time
}

// Open opens the log in cfg.Dir, recovering from a crash if needed, writes a
// start record (and a recovery record if a torn tail was set aside) and
// starts the writer. It refuses to open a log whose files are corrupt
// anywhere but in a torn tail, or that ends before the seq its head file
// records, since that is tampering or data loss for an operator to
// investigate; the error then wraps a *VerifyError naming file and line.
func Open(cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, errors.New("audit: Config.Dir is required")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.CheckpointKey != nil && len(cfg.CheckpointKey) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: CheckpointKey is not an Ed25519 private key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Anchor != nil {
		if cfg.CheckpointKey == nil {
			return nil, errors.New("audit: an anchor needs a CheckpointKey: without checkpoints there is nothing to anchor")
		}
		if !ValidInstance(cfg.Instance) {
			return nil, fmt.Errorf("audit: instance %q: want 1 to 64 of [A-Za-z0-9._-]", cfg.Instance)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	var anc *anchorer
	if cfg.Anchor != nil {
		// Before anything is written, not even crash recovery: a trail
		// that does not match its anchor must not gain records, least of
		// all a checkpoint signing the forgery.
		anc = newAnchorer(cfg, nil)
		ctx, cancel := context.WithTimeout(context.Background(), AnchorCheckTimeout)
		err := anc.check(ctx)
		cancel()
		switch {
		case errors.Is(err, ErrAnchorMismatch):
			unlockDir(lock)
			return nil, fmt.Errorf("audit: refusing to open %s: %w", cfg.Dir, err)
		case err != nil && cfg.AnchorRequired:
			unlockDir(lock)
			return nil, fmt.Errorf("audit: refusing to open %s: the anchor is required and cannot be checked: %w", cfg.Dir, err)
		case err != nil:
			anc.setErr(err)
			cfg.Logger.Error("audit: cannot check the trail against its anchor; starting, and checking again until it answers (not ready meanwhile)", "error", err)
		}
	}
	l := &Log{
		cfg:    cfg,
		logger: cfg.Logger,
		now:    cfg.Now,
		pid:    os.Getpid(),
		queue:  make(chan *request, cfg.MaxBatch),
		probe:  make(chan chan error),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		lock:   lock,

		mirrorFlushTimeout: MirrorFlushTimeout,
		anchor:             anc,
	}
	if anc != nil {
		anc.fatal = l.setFatal
	}
	st, err := openDir(cfg.Dir, cfg.MaxFileBytes, cfg.Logger)
	if err != nil {
		unlockDir(lock)
		return nil, err
	}
	l.w = writer{
		f: newLogFile(st.f), name: st.name, index: st.index, size: st.size, rotate: st.rotate,
		seq: st.seq, hash: st.hash,
		needStart: StartReasonStart, prevFile: st.prevFile, recovery: st.recovery,
		lastCheckpoint: cfg.Now(), sinceCheckpoint: st.sinceCheckpoint,
	}
	if st.sinceCheckpoint == noCheckpointSeen || st.seq == 0 {
		// An existing chain whose last file has no checkpoint, or a new
		// chain: checkpoint at once, so that Verify's bound on unsigned
		// runs holds across restarts and a new chain's genesis is signed
		// (and anchored) from its first batch.
		l.w.sinceCheckpoint = cfg.CheckpointEvery
	}
	if cfg.Mirror != nil {
		l.mirror = newMirror(l, cfg.Mirror)
	}
	// Write the start record now, so that a log that cannot be written is
	// reported at startup rather than on the first request.
	if err := l.commit(nil, false); err != nil {
		l.w.f.Close()
		if l.head != nil {
			l.head.Close()
		}
		if l.mirror != nil {
			_ = l.mirror.close(MirrorFlushTimeout)
		}
		if anc != nil {
			_ = anc.close(0)
		}
		unlockDir(lock)
		return nil, err
	}
	if anc != nil {
		anc.start()
	}
	go l.run()
	return l, nil
}

// setFatal fails the log for good: every later batch fails with err.
func (l *Log) setFatal(err error) {
	l.fatal.CompareAndSwap(nil, &err)
}

// AnchorHealthy returns nil without an anchor, or while the anchor takes
// every checkpoint and sealed file in time. It returns an error while the
// anchor cannot be reached, the start-up check has not run, the backlog is
// not draining, or after the trail was found not to match the anchor.
func (l *Log) AnchorHealthy(ctx context.Context) error {
	if l.anchor == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.anchor.health()
}

// Anchored reports whether the log has an anchor.
func (l *Log) Anchored() bool { return l.anchor != nil }

// AnchorRequired reports whether the log was configured to refuse service
// while its anchor is not healthy.
func (l *Log) AnchorRequired() bool { return l.anchor != nil && l.cfg.AnchorRequired }

// AnchorStats reports the anchor's progress; zero without an anchor.
func (l *Log) AnchorStats() AnchorStats {
	if l.anchor == nil {
		return AnchorStats{}
	}
	return l.anchor.stats()
}

// Append writes rec (which must encode to a JSON object) as a record of the
// given kind and returns once it is durable: written and fsynced together
// with the other records of its batch. It returns an error if the batch
// could not be written; the record is then not in the log. If ctx ends
// before the writer takes the record, Append returns ctx.Err() and the record
// is never written; once taken, Append waits for the outcome. When the queue
// is full Append blocks (honouring ctx): records are never dropped.
func (l *Log) Append(ctx context.Context, kind string, rec any) error {
	return l.append(ctx, kind, rec, false)
}

// AppendLater is Append for a record nobody is waiting on (the gateway's
// record of a transfer that has ended): it returns once the record is durable
// too, but the writer may hold it for up to Config.Linger so that the next
// record, typically the decision of the next request on the same connection,
// shares its fsync instead of queueing behind it.
func (l *Log) AppendLater(ctx context.Context, kind string, rec any) error {
	return l.append(ctx, kind, rec, true)
}

func (l *Log) append(ctx context.Context, kind string, rec any, later bool) error {
	b, err := marshalRecord(rec)
	if err != nil {
		return err
	}
	return l.appendJSON(ctx, kind, b, later)
}

// appendJSON is append for a record already encoded by marshalRecord.
func (l *Log) appendJSON(ctx context.Context, kind string, b []byte, later bool) error {
	if err := validKind(kind); err != nil {
		return err
	}
	switch kind {
	case KindStart, KindCheckpoint, KindRecovery, KindRecovered:
		return fmt.Errorf("audit: kind %q is reserved for the log", kind)
	}
	if len(b) > MaxLineBytes-512 {
		return fmt.Errorf("audit: record of %d bytes exceeds the line limit", len(b))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{kind: kind, rec: b, later: later, done: make(chan error, 1)}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case l.queue <- r:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return ctx.Err()
		}
		// Already in a batch: its outcome is the truth.
		return <-r.done
	}
}

// Healthy returns nil if the log can be written. After a write failure it
// first tries to write a "recovered" record, so the log reports healthy again
// as soon as the disk accepts writes, even without traffic; while that fails
// it returns the failure.
func (l *Log) Healthy(ctx context.Context) error {
	l.closeMu.RLock()
	closed := l.closed
	l.closeMu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := l.fatal.Load(); err != nil {
		return *err
	}
	l.failMu.Lock()
	failed := l.failErr != nil
	l.failMu.Unlock()
	if !failed {
		return nil
	}
	ch := make(chan error, 1)
	select {
	case l.probe <- ch:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return ErrClosed
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MirrorDropped returns how many batches were dropped from the mirror
// because its queue was full. The log files hold every one of them.
func (l *Log) MirrorDropped() uint64 { return l.mirrorDropped.Load() }

// MirrorErrors returns how many batches the mirror failed to deliver.
func (l *Log) MirrorErrors() uint64 { return l.mirrorErrors.Load() }

// Close writes every queued record, a final checkpoint (with a key, unless
// the log already ends in one), and closes the file; then it flushes the
// mirror, waiting at most MirrorFlushTimeout. Appends after Close return
// ErrClosed.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.closeMu.Unlock()
	close(l.stop)
	<-l.done
	err := l.closeErr
	if l.mirror != nil {
		err = errors.Join(err, l.mirror.close(l.mirrorFlushTimeout))
	}
	if l.anchor != nil {
		if aerr := l.anchor.close(AnchorFlushTimeout); aerr != nil {
			l.logger.Warn("audit: anchor", "error", aerr)
		}
	}
	unlockDir(l.lock)
	return err
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	// One timer gives the log a checkpoint CheckpointInterval after the
	// last one, even when idle: a checkpoint over no new records still
	// proves, once anchored, that the log existed and ended there then, so
	// a gap between anchored checkpoints longer than the interval is a
	// trail that stopped or was cut.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	if l.cfg.CheckpointKey != nil {
		timer.Reset(max(l.cfg.CheckpointInterval-l.now().Sub(l.w.lastCheckpoint), time.Millisecond))
		armed = true
	}
	batch := make([]*request, 0, l.cfg.MaxBatch)
	for {
		select {
		case r := <-l.queue:
			batch = l.collect(batch[:0], r)
			if l.lingers(batch) {
				linger := time.NewTimer(l.cfg.Linger)
				select {
				case r := <-l.queue:
					batch = l.collect(batch, r)
				case <-linger.C:
				}
				linger.Stop()
			}
			if len(batch) > 0 {
				_ = l.commit(batch, false)
			}
			// The idle checkpoint is due an interval after the last
			// checkpoint by the log's clock (Config.Now): armed from an
			// earlier reading of that clock, the timer may be far off by
			// now, so it is armed again after every batch.
			armed = false
		case ch := <-l.probe:
			var err error
			if l.w.lastErr != nil {
				err = l.commit(nil, false)
			}
			ch <- err
		case <-timer.C:
			armed = false
			if l.now().Sub(l.w.lastCheckpoint) >= l.cfg.CheckpointInterval {
				_ = l.commit(nil, true)
			}
		case <-l.stop:
			timer.Stop()
			l.shutdown(batch)
			return
		}
		if l.cfg.CheckpointKey != nil && !armed {
			d := l.cfg.CheckpointInterval - l.now().Sub(l.w.lastCheckpoint)
			if l.w.lastErr != nil {
				// A failed log is retried by traffic and Healthy; the
				// timer only tries again an interval later.
				d = l.cfg.CheckpointInterval
			}
			timer.Reset(max(d, time.Millisecond))
			armed = true
		}
	}
}

// shutdown drains the queue, writes the final checkpoint and closes the file.
func (l *Log) shutdown(batch []*request) {
	var errs []error
	for {
		var r *request
		select {
		case r = <-l.queue:
		default:
		}
		if r == nil {
			break
		}
		batch = l.collect(batch[:0], r)
		if len(batch) > 0 {
			if err := l.commit(batch, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if l.cfg.CheckpointKey != nil && l.w.lastKind != KindCheckpoint {
		if err := l.commit(nil, true); err != nil {
			errs = append(errs, err)
		}
	}
	if l.w.dirty {
		// A failed batch could not be cut off: try once more, since a
		// refused request's record must not stay on disk as history.
		if err := l.w.f.Truncate(l.w.size); err != nil {
			errs = append(errs, fmt.Errorf("audit: %s holds bytes of a refused batch after offset %d that could not be cut off: %w", l.w.name, l.w.size, err))
		} else {
			l.w.dirty = false
		}
	}
	if l.w.lastErr != nil && len(errs) == 0 {
		errs = append(errs, l.w.lastErr)
	}
	if err := l.w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("audit: close: %w", err))
	}
	if l.head != nil {
		if err := l.head.Close(); err != nil {
			errs = append(errs, fmt.Errorf("audit: close head file: %w", err))
		}
	}
	l.closeErr = errors.Join(errs...)
}

// collect takes r and whatever else is queued, up to the batch size,
// skipping requests whose Append was cancelled.
// lingers reports whether batch is worth holding for company: it has room,
// and only AppendLater records, which nobody waits on.
func (l *Log) lingers(batch []*request) bool {
	if len(batch) == 0 || l.cfg.SyncEveryRecord || len(batch) >= l.cfg.MaxBatch {
		return false
	}
	for _, r := range batch {
		if !r.later {
			return false
		}
	}
	return true
}

func (l *Log) collect(batch []*request, r *request) []*request {
	limit := l.cfg.MaxBatch
	if l.cfg.SyncEveryRecord {
		limit = 1
	}
	size := 0
	if r.state.CompareAndSwap(reqQueued, reqTaken) {
		batch = append(batch, r)
		size += len(r.rec)
	}
	// The byte bound keeps a batch of large records from holding
	// MaxBatch × MaxLineBytes in memory.
	for len(batch) < limit && size < maxBatchBytes {
		select {
		case r = <-l.queue:
			if r.state.CompareAndSwap(reqQueued, reqTaken) {
				batch = append(batch, r)
				size += len(r.rec)
			}
			continue
		default:
		}
		break
	}
	return batch
}

// commit writes one batch: the log's own pending records, then the callers'
// records with checkpoints where due, in one write and one fsync. On failure
// it truncates the file back to its durable size, leaves seq and prev at the
// last durable record, and enters the failed state. It reports the outcome
// to every request of the batch.
func (l *Log) commit(reqs []*request, forceCheckpoint bool) (err error) {
	w := &l.w
	now := l.now()
	var stats BatchStats
	defer func() {
		stats.Err = err
		if err != nil {
			l.setFailed(err, now)
		}
		if l.cfg.Observe != nil && (stats.Records > 0 || err != nil) {
			l.cfg.Observe(stats)
		}
		for _, r := range reqs {
			r.done <- err
		}
	}()

	if f := l.fatal.Load(); f != nil {
		return *f
	}
	if w.rotate {
		if err := l.rotateFile(); err != nil {
			return err
		}
	}
	if w.dirty {
		// A failed batch could not be cut off: never write after it.
		if err := w.f.Truncate(w.size); err != nil {
			return fmt.Errorf("audit: %s is in an unknown state after a failed write: %w", w.name, err)
		}
		w.dirty = false
	}

	// Assemble the batch on copies of the chain state; they become the
	// state only once the batch is durable.
	seq, hash, lastKind := w.seq, w.hash, w.lastKind
	since, lastCP := w.sinceCheckpoint, w.lastCheckpoint
	key := l.cfg.CheckpointKey
	n := 0
	for _, r := range reqs {
		n += len(r.rec) + 256
	}
	buf := make([]byte, 0, n+1024)
	ends := make([]int, 0, len(reqs)+4)
	var cps []int // indexes in ends of checkpoint lines
	var add func(kind string, rec []byte)
	checkpoint := func() {
		cp := CheckpointRecord{
			HeadSeq:  seq,
			HeadHash: hash,
			KeyID:    KeyID(key.Public().(ed25519.PublicKey)),
			Sig:      ed25519.Sign(key, CheckpointMessage(seq, hash)),
		}
		add(KindCheckpoint, mustJSON(cp))
	}
	add = func(kind string, rec []byte) {
		seq++
		buf, hash = appendLine(buf, seq, now, kind, hash, rec)
		ends = append(ends, len(buf))
		lastKind = kind
		if kind == KindCheckpoint {
			cps = append(cps, len(ends)-1)
			since, lastCP = 0, now
			return
		}
		since++
		if key != nil && since >= l.cfg.CheckpointEvery {
			checkpoint()
		}
	}
	if w.needStart != "" {
		add(KindStart, mustJSON(StartRecord{Reason: w.needStart, File: w.name, PID: l.pid, PreviousFile: w.prevFile}))
		if w.recovery != nil {
			add(KindRecovery, mustJSON(w.recovery))
		}
	}
	if w.firstErr != nil {
		add(KindRecovered, mustJSON(RecoveredRecord{Error: w.firstErr.Error(), Since: w.failedSince.UTC()}))
	}
	for _, r := range reqs {
		add(r.kind, r.rec)
	}
	if key != nil && (since > 0 || forceCheckpoint) && (forceCheckpoint || now.Sub(lastCP) >= l.cfg.CheckpointInterval) {
		checkpoint()
	}
	if len(buf) == 0 {
		return nil
	}
	stats.Records, stats.Bytes = len(ends), len(buf)

	t0 := time.Now()
	_, err = w.f.Write(buf)
	t1 := time.Now()
	stats.Write = t1.Sub(t0)
	if err == nil {
		err = w.f.Sync()
		stats.Sync = time.Since(t1)
	}
	if err != nil {
		err = fmt.Errorf("audit: %w", err)
		if terr := w.f.Truncate(w.size); terr != nil {
			w.dirty = true
			err = errors.Join(err, fmt.Errorf("audit: truncate %s after failed write: %w", w.name, terr))
		}
		return err
	}

	w.size += int64(len(buf))
	w.seq, w.hash, w.lastKind, w.lastTime = seq, hash, lastKind, now
	w.sinceCheckpoint, w.lastCheckpoint = since, lastCP
	w.needStart, w.prevFile, w.recovery = "", "", nil
	if w.lastErr != nil {
		l.logger.Info("audit log writable again", "file", w.name, "failed_since", w.failedSince)
	}
	w.firstErr, w.lastErr = nil, nil
	l.failMu.Lock()
	l.failErr = nil
	l.failMu.Unlock()
	if w.size >= l.cfg.MaxFileBytes {
		w.rotate = true
	}
	l.writeHead()
	if l.anchor != nil {
		for _, i := range cps {
			start := 0
			if i > 0 {
				start = ends[i-1]
			}
			l.anchor.enqueue(anchorItem{seq: w.seq - uint64(len(ends)-1-i), line: bytes.Clone(buf[start:ends[i]])})
		}
	}
	if l.mirror != nil {
		lines := make([][]byte, len(ends))
		start := 0
		for i, end := range ends {
			lines[i] = buf[start:end:end]
			start = end
		}
		l.mirror.send(lines)
	}
	return nil
}

func (l *Log) setFailed(err error, now time.Time) {
	w := &l.w
	if w.firstErr == nil {
		w.firstErr, w.failedSince = err, now
		l.logger.Error("audit log write failed: appends fail until it can be written", "file", w.name, "error", err)
	}
	w.lastErr = err
	l.failMu.Lock()
	l.failErr = err
	l.failMu.Unlock()
}

// rotateFile starts the next file; the batch being assembled begins with
// its start record.
func (l *Log) rotateFile() error {
	w := &l.w
	name := fileName(w.index + 1)
	path := filepath.Join(l.cfg.Dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	// The directory entry must be durable before records in the file are
	// acknowledged.
	if err := syncDir(l.cfg.Dir); err != nil {
		f.Close()
		os.Remove(path) // empty, never acknowledged
		return fmt.Errorf("audit: rotate: %w", err)
	}
	if err := w.f.Close(); err != nil {
		l.logger.Warn("audit: closing rotated file", "file", w.name, "error", err)
	}
	if l.anchor != nil {
		// Sealed: it never changes again.
		l.anchor.enqueue(anchorItem{file: w.name})
	}
	if w.needStart == "" {
		w.needStart = StartReasonRotate
	}
	if w.prevFile == "" {
		w.prevFile = w.name
	}
	w.f, w.name, w.index, w.size, w.rotate = newLogFile(f), name, w.index+1, 0, false
	return nil
}

// headSize is the fixed size of the head file. Every update overwrites the
// same bytes in place (one pwrite, no rename, no fsync), so updating it after
// each batch costs one system call and never changes the file's size.
const headSize = 256

// writeHead records the last durable record in the head file. It runs only
// after the batch's fsync, so the head file never claims more than the log
// holds. A failure is logged, not returned: the batch is already durable.
func (l *Log) writeHead() {
	w := &l.w
	b := mustJSON(headState{Seq: w.seq, Hash: w.hash, File: w.name, Time: w.lastTime.UTC()})
	if len(b) >= headSize {
		l.logger.Warn("audit: head state too long", "bytes", len(b))
		return
	}
	buf := make([]byte, headSize)
	copy(buf, b)
	for i := len(b); i < headSize-1; i++ {
		buf[i] = ' '
	}
	buf[headSize-1] = '\n'
	if l.head == nil {
		f, err := l.openHead(buf)
		if err != nil {
			l.logger.Warn("audit: cannot update head file", "error", err)
			return
		}
		l.head = f
		return
	}
	if _, err := l.head.WriteAt(buf, 0); err != nil {
		l.logger.Warn("audit: cannot update head file", "error", err)
	}
}

// openHead opens the head file for in-place updates after writing buf to
// it. A head file of another size (absent, or written by hand) is replaced
// whole through a rename first, so that a crash never leaves a mix.
func (l *Log) openHead(buf []byte) (*os.File, error) {
	path := filepath.Join(l.cfg.Dir, HeadFileName)
	if fi, err := os.Stat(path); err != nil || fi.Size() != headSize {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, buf, 0o640); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("audit: " + err.Error())
	}
	return b
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockDir takes an exclusive lock on the log directory's lock file.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFileName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}
