package audit

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeClock is a Config.Now the test sets by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}

func (c *fakeClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// batchRecorder is a Config.Observe that records every batch and, while
// held, stops the writer goroutine inside the next batch's Observe call, so
// that a test can arrange the queue before the writer looks at it.
type batchRecorder struct {
	mu      sync.Mutex
	batches []BatchStats
	hold    atomic.Bool
	held    chan struct{} // receives once the writer is stopped
	release chan struct{}
}

func newBatchRecorder() *batchRecorder {
	return &batchRecorder{held: make(chan struct{}, 1), release: make(chan struct{})}
}

func (b *batchRecorder) observe(s BatchStats) {
	b.mu.Lock()
	b.batches = append(b.batches, s)
	b.mu.Unlock()
	if b.hold.CompareAndSwap(true, false) {
		b.held <- struct{}{}
		<-b.release
	}
}

func (b *batchRecorder) snapshot() []BatchStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BatchStats(nil), b.batches...)
}

// holdWriter appends a record and returns once the writer is stopped in
// that record's batch; the record's Append returns on the returned channel
// after the test closes b.release.
func (b *batchRecorder) holdWriter(tb testing.TB, l *Log) <-chan error {
	tb.Helper()
	b.hold.Store(true)
	errc := make(chan error, 1)
	go func() { errc <- l.Append(context.Background(), "decision", decision(0)) }()
	select {
	case <-b.held:
	case <-time.After(10 * time.Second):
		tb.Fatal("the writer never reached the held batch")
	}
	return errc
}

// waitFor polls cond until it holds, failing the test after a bound.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// failingSync makes every log file the writer opens fail its fsync (and,
// with failTruncate, its truncate) while the flags are set. Tests using it
// cannot run in parallel: the hook is package state.
func failingSync(tb testing.TB) (failSync, failTruncate *atomic.Bool) {
	failSync, failTruncate = new(atomic.Bool), new(atomic.Bool)
	wrapFile = func(f logFile) logFile { return &faultyFile{f, failSync, failTruncate} }
	tb.Cleanup(func() { wrapFile = nil })
	return failSync, failTruncate
}

func kindsOf(tb testing.TB, dir string) string {
	tb.Helper()
	var kinds []string
	for _, e := range MustEntries(tb, dir) {
		kinds = append(kinds, e.Kind)
	}
	return strings.Join(kinds, ",")
}

// TestOpenDefaults: zero and negative tuning options both take the
// documented defaults.
func TestOpenDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    int
	}{
		{"zero", 0},
		{"negative", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := MustOpen(t, Config{
				Dir:                t.TempDir(),
				MaxFileBytes:       int64(tt.v),
				MaxBatch:           tt.v,
				Linger:             time.Duration(tt.v),
				CheckpointEvery:    tt.v,
				CheckpointInterval: time.Duration(tt.v),
			})
			cfg := l.cfg
			if got, want := cfg.MaxFileBytes, int64(DefaultMaxFileBytes); got != want {
				t.Errorf("MaxFileBytes: got %d, want %d", got, want)
			}
			if got, want := cfg.MaxBatch, DefaultMaxBatch; got != want {
				t.Errorf("MaxBatch: got %d, want %d", got, want)
			}
			if got, want := cfg.Linger, DefaultLinger; got != want {
				t.Errorf("Linger: got %v, want %v", got, want)
			}
			if got, want := cfg.CheckpointEvery, DefaultCheckpointEvery; got != want {
				t.Errorf("CheckpointEvery: got %d, want %d", got, want)
			}
			if got, want := cfg.CheckpointInterval, DefaultCheckpointInterval; got != want {
				t.Errorf("CheckpointInterval: got %v, want %v", got, want)
			}
		})
	}
}

// TestCheckpointEveryZeroTakesDefault: a zero CheckpointEvery does not mean
// "checkpoint after every record".
func TestCheckpointEveryZeroTakesDefault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 0})
	MustAppend(t, l, 1, 3)
	MustClose(t, l)
	if got, want := kindsOf(t, dir), "start,checkpoint,decision,decision,decision,checkpoint"; got != want {
		t.Errorf("kinds: got %s, want %s", got, want)
	}
}

// TestCheckpointAtOpen: a new chain has nothing to checkpoint at its start
// record, while a chain continued from a last file without any checkpoint
// is checkpointed in the first batch.
func TestCheckpointAtOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		unsigned  int // records appended in a first session without a key; -1: an empty first file
		wantKinds string
	}{
		{"new chain", 0, "start,checkpoint,decision,checkpoint"},
		// A crash right after the first file was created leaves it empty:
		// still a chain without records.
		{"empty first file", -1, "start,checkpoint,decision,checkpoint"},
		{"continued unsigned chain", 2, "start,decision,decision,start,checkpoint,decision,checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.unsigned < 0 {
				if err := os.WriteFile(filepath.Join(dir, "audit-000001.jsonl"), nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			if tt.unsigned > 0 {
				l := MustOpen(t, Config{Dir: dir})
				MustAppend(t, l, 1, tt.unsigned)
				MustClose(t, l)
			}
			l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 10})
			MustAppend(t, l, 100, 100)
			MustClose(t, l)
			if got := kindsOf(t, dir); got != tt.wantKinds {
				t.Errorf("kinds: got %s, want %s", got, tt.wantKinds)
			}
			MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
		})
	}
}

// TestAppendRecordSizeLimit: the largest accepted record is MaxLineBytes-512
// bytes, and its line still verifies.
func TestAppendRecordSizeLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	const overhead = len(`{"x":""}`)
	limit := MaxLineBytes - 512
	if err := l.Append(t.Context(), "decision", map[string]string{"x": strings.Repeat("x", limit-overhead)}); err != nil {
		t.Fatalf("Append of a %d-byte record: %v", limit, err)
	}
	err := l.Append(t.Context(), "decision", map[string]string{"x": strings.Repeat("x", limit-overhead+1)})
	if err == nil || !strings.Contains(err.Error(), "line limit") {
		t.Fatalf("Append of a %d-byte record: got %v, want a line limit error", limit+1, err)
	}
	MustClose(t, l)
	if got, want := MustVerify(t, dir, VerifyOptions{}).Records, 2; got != want {
		t.Errorf("records: got %d, want %d", got, want)
	}
}

// TestLoggerMessages: a healthy log that rotates logs nothing; a failure is
// logged once to the configured logger, and so is the recovery.
func TestLoggerMessages(t *testing.T) {
	failSync, _ := failingSync(t)
	var out syncBuffer
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, MaxFileBytes: 1, Logger: slog.New(slog.NewTextHandler(&out, nil))})
	MustAppend(t, l, 1, 3)
	if got, want := len(MustFiles(t, dir)), 4; got != want {
		t.Fatalf("files: got %d, want %d (one per batch)", got, want)
	}
	if got := out.String(); got != "" {
		t.Fatalf("a healthy log logged:\n%s", got)
	}

	failSync.Store(true)
	if err := l.Append(t.Context(), "decision", decision(4)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync: got %v, want EIO", err)
	}
	failSync.Store(false)
	MustAppend(t, l, 5, 6)
	MustClose(t, l)
	got := out.String()
	if n := strings.Count(got, "audit log write failed"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, got)
	}
	if n := strings.Count(got, "audit log writable again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, got)
	}
	if n := strings.Count(got, "\n"); n != 2 {
		t.Errorf("logged %d lines, want 2:\n%s", n, got)
	}
}

// TestCloseReportsUnrecoveredFailure: Close of a log still failing returns
// the failure, so that shutdown does not report a clean trail.
func TestCloseReportsUnrecoveredFailure(t *testing.T) {
	failSync, _ := failingSync(t)
	l := MustOpen(t, Config{Dir: t.TempDir()})
	MustAppend(t, l, 1, 1)
	failSync.Store(true)
	if err := l.Append(t.Context(), "decision", decision(2)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync: got %v, want EIO", err)
	}
	if err := l.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Close of a failed log: got %v, want EIO", err)
	}
}

// TestCloseAfterRecoveryCheckpointsOnce: Close of a log whose failure has
// cleared writes the recovered record and a single final checkpoint, even
// when the recovered record itself completes a checkpoint run.
func TestCloseAfterRecoveryCheckpointsOnce(t *testing.T) {
	failSync, _ := failingSync(t)
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 3})
	MustAppend(t, l, 1, 1)
	failSync.Store(true)
	if err := l.Append(t.Context(), "decision", decision(2)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync: got %v, want EIO", err)
	}
	failSync.Store(false)
	MustClose(t, l)
	if got, want := kindsOf(t, dir), "start,checkpoint,decision,recovered,checkpoint"; got != want {
		t.Errorf("kinds: got %s, want %s", got, want)
	}
	MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
}

// TestObserveSeesFailureBeforeWrite: a batch refused before anything is
// written (the file could not be cut back after an earlier failure) is
// still reported to Observe, with its error.
func TestObserveSeesFailureBeforeWrite(t *testing.T) {
	failSync, failTruncate := failingSync(t)
	rec := newBatchRecorder()
	l := MustOpen(t, Config{Dir: t.TempDir(), Observe: rec.observe})
	failSync.Store(true)
	failTruncate.Store(true)
	if err := l.Append(t.Context(), "decision", decision(1)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync and truncate: got %v, want EIO", err)
	}
	before := len(rec.snapshot())
	if err := l.Append(t.Context(), "decision", decision(2)); err == nil {
		t.Fatal("Append wrote behind a batch that could not be cut off")
	}
	bs := rec.snapshot()
	if got, want := len(bs), before+1; got != want {
		t.Fatalf("batches observed: got %d, want %d", got, want)
	}
	last := bs[len(bs)-1]
	if last.Err == nil || last.Records != 0 {
		t.Errorf("refused batch observed as %+v, want an error and no records", last)
	}
	failSync.Store(false)
	failTruncate.Store(false)
	if err := l.Close(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Close: got %v, want the outage's EIO", err)
	}
}

// TestCancelledRequestWritesNothing: a record whose Append was cancelled
// before the writer took it leaves the writer idle: in particular a failed
// log does not retry its recovery on it.
func TestCancelledRequestWritesNothing(t *testing.T) {
	failSync, _ := failingSync(t)
	rec := newBatchRecorder()
	l := MustOpen(t, Config{Dir: t.TempDir(), Observe: rec.observe})
	failSync.Store(true)
	held := rec.holdWriter(t, l)

	ctx, cancel := context.WithCancel(t.Context())
	cancelled := make(chan error, 1)
	go func() { cancelled <- l.Append(ctx, "decision", decision(1)) }()
	waitFor(t, "the record to be queued", func() bool { return len(l.queue) == 1 })
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Append: got %v, want context.Canceled", err)
	}
	before := len(rec.snapshot())
	close(rec.release)
	if err := <-held; !errors.Is(err, syscall.EIO) {
		t.Fatalf("held Append: got %v, want EIO", err)
	}
	waitFor(t, "the writer to take the cancelled record", func() bool { return len(l.queue) == 0 })
	// Healthy's probe reaches the writer only once it is done with the
	// cancelled record; it makes exactly one (failing) attempt.
	if err := l.Healthy(t.Context()); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Healthy: got %v, want EIO", err)
	}
	if got, want := len(rec.snapshot()), before+1; got != want {
		t.Errorf("batches attempted: got %d, want %d (the probe only)", got, want)
	}
	failSync.Store(false)
	if err := l.Healthy(t.Context()); err != nil {
		t.Fatalf("Healthy after the fault cleared: %v", err)
	}
}

// TestFullBatchDoesNotLinger: a batch that is already MaxBatch records long
// is written at once, even if made only of AppendLater records, and the next
// record goes to its own batch.
func TestFullBatchDoesNotLinger(t *testing.T) {
	rec := newBatchRecorder()
	l := MustOpen(t, Config{Dir: t.TempDir(), MaxBatch: 1, Linger: time.Hour, Observe: rec.observe})
	held := rec.holdWriter(t, l)

	later := make(chan error, 1)
	go func() { later <- l.AppendLater(context.Background(), "transfer", decision(1)) }()
	waitFor(t, "the AppendLater record to be queued", func() bool { return len(l.queue) == 1 })
	next := make(chan error, 1)
	go func() { next <- l.Append(context.Background(), "decision", decision(2)) }()
	before := len(rec.snapshot())
	close(rec.release)
	for _, c := range []chan error{later, next} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	bs := rec.snapshot()[before:]
	if got, want := len(bs), 2; got != want {
		t.Fatalf("batches: got %d, want %d: %+v", got, want, bs)
	}
	for i, b := range bs {
		if got, want := b.Records, 1; got != want {
			t.Errorf("batch %d: %d records, want %d", i, got, want)
		}
	}
}

// TestIdleCheckpointAtInterval: an idle log is checkpointed when exactly
// CheckpointInterval has passed since the last checkpoint (not an interval
// after its last batch), by the log's clock, however far that clock moved
// since the writer last looked at it.
func TestIdleCheckpointAtInterval(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := newFakeClock(t0)
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, Now: clock.now, CheckpointKey: testKey,
		CheckpointEvery: 1 << 20, CheckpointInterval: time.Hour})
	// A batch at t0: the writer has run, and so has armed its timer an
	// hour (real time) ahead, before the clock moves.
	MustAppend(t, l, 1, 1)
	// The next batch comes 10ms (real time, as the timer runs) before the
	// checkpoint is due; then the clock stands exactly at the due time.
	clock.set(t0.Add(time.Hour - 10*time.Millisecond))
	MustAppend(t, l, 2, 2)
	clock.set(t0.Add(time.Hour))
	waitFor(t, "the idle checkpoint", func() bool {
		return strings.HasSuffix(kindsOf(t, dir), ",checkpoint")
	})
	if got, want := kindsOf(t, dir), "start,checkpoint,decision,decision,checkpoint"; got != want {
		t.Errorf("kinds: got %s, want %s", got, want)
	}
	MustClose(t, l)
	MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
}

// TestBatchCheckpointAtInterval: a batch written exactly CheckpointInterval
// after the last checkpoint ends with a checkpoint.
func TestBatchCheckpointAtInterval(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := newFakeClock(t0)
	rec := newBatchRecorder()
	l := MustOpen(t, Config{Dir: t.TempDir(), Now: clock.now, CheckpointKey: testKey,
		CheckpointEvery: 1 << 20, CheckpointInterval: time.Hour, Observe: rec.observe})
	clock.add(time.Hour)
	MustAppend(t, l, 1, 1)
	bs := rec.snapshot()
	if got, want := len(bs), 2; got < want {
		t.Fatalf("batches: got %d, want at least %d", got, want)
	}
	if got, want := bs[1].Records, 2; got != want {
		t.Errorf("records in the batch at the interval: got %d, want %d (record and checkpoint)", got, want)
	}
}

// openFilesUnder returns the names of the files in dir (and "." for dir
// itself) that this process holds open.
func openFilesUnder(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot list open files: %v", err)
	}
	var paths []string
	for _, e := range ents {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		switch {
		case err != nil:
		case p == dir:
			paths = append(paths, ".")
		case strings.HasPrefix(p, dir+string(filepath.Separator)):
			paths = append(paths, filepath.Base(p))
		}
	}
	return paths
}

func countString(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// TestHeadFileHeldOpen: the head file is opened once, at the first batch,
// updated in place through that one descriptor, and closed by Close with
// everything else in the directory; syncing the directory for new files
// leaves no descriptor behind.
func TestHeadFileHeldOpen(t *testing.T) {
	t.Parallel()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Every batch rotates, so the directory is synced for each new file.
	l := MustOpen(t, Config{Dir: dir, MaxFileBytes: 1})
	if got, want := countString(openFilesUnder(t, dir), HeadFileName), 1; got != want {
		t.Fatalf("head file descriptors after Open: got %d, want %d", got, want)
	}
	MustAppend(t, l, 1, 3)
	if got, want := countString(openFilesUnder(t, dir), HeadFileName), 1; got != want {
		t.Fatalf("head file descriptors after three batches: got %d, want %d", got, want)
	}
	MustClose(t, l)
	if got := openFilesUnder(t, dir); len(got) != 0 {
		t.Errorf("files still open after Close: %v", got)
	}
}

// TestCloseWithoutHeadFile: a log whose head file could never be written
// still closes cleanly: the head file is a hint, not part of the trail.
func TestCloseWithoutHeadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A non-empty directory where the head file's temporary copy goes
	// makes every head update fail.
	if err := os.MkdirAll(filepath.Join(dir, HeadFileName+".tmp", "x"), 0o750); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	l := MustOpen(t, Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&out, nil))})
	MustAppend(t, l, 1, 1)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !strings.Contains(out.String(), "cannot update head file") {
		t.Errorf("head file failure not logged:\n%s", out.String())
	}
	MustVerify(t, dir, VerifyOptions{})
}

// TestHeadFileOfOtherSizeReplaced: a head file of another size (written by
// hand) is replaced whole, never overwritten in part.
func TestHeadFileOfOtherSizeReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 2)
	MustClose(t, l)
	path := filepath.Join(dir, HeadFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.TrimRight(string(b), " \n") + strings.Repeat(" ", 2*headSize) + "\n"
	if err := os.WriteFile(path, []byte(long), 0o640); err != nil {
		t.Fatal(err)
	}
	l = MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 3, 3)
	MustClose(t, l)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Size(), int64(headSize); got != want {
		t.Errorf("head file size: got %d, want %d", got, want)
	}
	h, err := readHead(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Seq, uint64(5); got != want {
		t.Errorf("head seq: got %d, want %d", got, want)
	}
}

// TestCloseReportsFinalCheckpointFailure: when Close's final checkpoint
// cannot be written, nor cut off, Close names both failures.
func TestCloseReportsFinalCheckpointFailure(t *testing.T) {
	failSync, failTruncate := failingSync(t)
	l := MustOpen(t, Config{Dir: t.TempDir(), CheckpointKey: testKey})
	MustAppend(t, l, 1, 1)
	failSync.Store(true)
	failTruncate.Store(true)
	err := l.Close()
	if err == nil {
		t.Fatal("Close: got nil, want the final checkpoint's failure")
	}
	for _, want := range []string{"sync audit", "could not be cut off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Close: got %q, want it to contain %q", err, want)
		}
	}
}

// TestRotationAtExactSize: a batch that brings the file to exactly
// MaxFileBytes makes the next batch start a new file.
func TestRotationAtExactSize(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	// The start record's bytes depend only on the clock, the file name
	// and the pid, so a first log measures them.
	probe := t.TempDir()
	MustClose(t, MustOpen(t, Config{Dir: probe, Now: now}))
	fi, err := os.Stat(filepath.Join(probe, "audit-000001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		max       int64
		wantFiles int
	}{
		{"exactly full", fi.Size(), 2},
		{"one byte short of full", fi.Size() + 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := MustOpen(t, Config{Dir: dir, Now: now, MaxFileBytes: tt.max})
			MustAppend(t, l, 1, 1)
			MustClose(t, l)
			if got := len(MustFiles(t, dir)); got != tt.wantFiles {
				t.Errorf("files: got %d, want %d", got, tt.wantFiles)
			}
			MustVerify(t, dir, VerifyOptions{})
		})
	}
}

// TestBatchByteBound: a batch stops taking queued records once they add up
// to maxBatchBytes; the record after them goes to the next batch.
func TestBatchByteBound(t *testing.T) {
	rec := newBatchRecorder()
	l := MustOpen(t, Config{Dir: t.TempDir(), Observe: rec.observe})
	const recBytes = 512 << 10
	const fill = maxBatchBytes / recBytes // records that reach the bound exactly
	body := map[string]string{"x": strings.Repeat("x", recBytes-len(`{"x":""}`))}
	held := rec.holdWriter(t, l)
	errc := make(chan error, fill+1)
	for range fill + 1 {
		go func() { errc <- l.Append(context.Background(), "decision", body) }()
	}
	waitFor(t, "the records to be queued", func() bool { return len(l.queue) == fill+1 })
	before := len(rec.snapshot())
	close(rec.release)
	for range fill + 1 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, b := range rec.snapshot()[before:] {
		got = append(got, b.Records)
	}
	if len(got) != 2 || got[0] != fill || got[1] != 1 {
		t.Errorf("records per batch: got %v, want [%d 1]", got, fill)
	}
}
