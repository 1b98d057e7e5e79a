package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/testenv"
)

// MustTmpfs mounts a tmpfs of the given size option ("1m") on a new
// directory and unmounts it at cleanup. It skips when not root (fails under
// WEIGHTGATE_TEST_ROOT_REQUIRED=1); as root a mount failure fails the test.
func MustTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	testenv.RequireRoot(tb, "mounting a tmpfs")
	dir := filepath.Join(tb.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o750); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		tb.Fatalf("mount tmpfs: %v", err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDevice writes path until the device is full and returns the error
// that stopped it, which must be ENOSPC.
func fillDevice(tb testing.TB, path string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		tb.Fatalf("filling the device: got %v, want ENOSPC", err)
	}
}

// TestFailClosedENOSPC fills a real (tmpfs) device: Append fails and leaves
// no partial line, Healthy reports the failure, and once space is freed
// Healthy writes a recovered record and Appends work again.
func TestFailClosedENOSPC(t *testing.T) {
	mnt := MustTmpfs(t, "1m")
	dir := filepath.Join(mnt, "log")
	var failed []error
	clock := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	l := MustOpen(t, Config{Dir: dir, Now: func() time.Time { return clock }, Observe: func(s BatchStats) {
		if s.Err != nil {
			failed = append(failed, s.Err) // writer goroutine only; read after Close
		}
	}})
	MustAppend(t, l, 1, 3)
	file := filepath.Join(dir, "audit-000001.jsonl")
	size := func() int64 {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Pad the file to a page boundary, so that no slack in its last page
	// can take a small record once the device is full: measure a line with
	// an empty payload, then size the next one to end on the boundary.
	s0 := size()
	if err := l.Append(t.Context(), "pad", map[string]string{"p": ""}); err != nil {
		t.Fatal(err)
	}
	grow := size() - s0
	pad := (4096 - (size()+grow)%4096) % 4096
	if err := l.Append(t.Context(), "pad", map[string]string{"p": strings.Repeat("x", int(pad))}); err != nil {
		t.Fatal(err)
	}
	if got := size() % 4096; got != 0 {
		t.Fatalf("padding: file size %d is not page aligned", size())
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(mnt, "filler")
	fillDevice(t, filler)
	// Larger than any slack left in the file's last page.
	big := map[string]string{"payload": strings.Repeat("x", 32<<10)}
	for i := range 3 { // each Append is a retry, and each fails
		err = l.Append(t.Context(), "decision", big)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append %d on a full device: got %v, want ENOSPC", i, err)
		}
	}
	if err := l.Healthy(t.Context()); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Healthy on a full device: got %v, want ENOSPC", err)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Errorf("file changed by failed appends: %d bytes, was %d", len(after), len(before))
	}
	MustVerify(t, dir, VerifyOptions{})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// No Append in between: Healthy itself writes the recovered record.
	if err := l.Healthy(t.Context()); err != nil {
		t.Fatalf("Healthy after freeing space: %v", err)
	}
	if err := l.Healthy(t.Context()); err != nil {
		t.Fatalf("Healthy again: %v", err)
	}
	if err := l.Append(t.Context(), "decision", big); err != nil {
		t.Fatalf("Append after freeing space: %v", err)
	}
	MustAppend(t, l, 4, 5)
	MustClose(t, l)

	if got, want := len(failed), 4; got != want {
		t.Errorf("failed batches observed: got %d, want %d", got, want)
	}
	es := MustEntries(t, dir)
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	if got, want := strings.Join(kinds, ","), "start,decision,decision,decision,pad,pad,recovered,decision,decision,decision"; got != want {
		t.Errorf("kinds: got %s, want %s", got, want)
	}
	var rec RecoveredRecord
	if err := json.Unmarshal(es[6].Record, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Error, "no space left on device") || rec.Since.IsZero() {
		t.Errorf("recovered record: %+v", rec)
	}
	if got, want := es[6].Seq, uint64(7); got != want {
		t.Errorf("recovered seq: got %d, want %d (failed batches take no seq)", got, want)
	}
	MustVerify(t, dir, VerifyOptions{})
}

// TestFailClosedOpen: a directory that cannot be written fails Open.
func TestFailClosedOpen(t *testing.T) {
	mnt := MustTmpfs(t, "64k")
	fillDevice(t, filepath.Join(mnt, "filler"))
	_, err := Open(Config{Dir: mnt, Logger: discardLogger})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Open on a full device: got %v, want ENOSPC", err)
	}
}

// TestFailClosedPartialWrite: on a full device a batch larger than the slack
// in the file's last page is written in part; the writer cuts the file back
// so that no partial line stays in the log.
func TestFailClosedPartialWrite(t *testing.T) {
	mnt := MustTmpfs(t, "1m")
	dir := filepath.Join(mnt, "log")
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 3)
	appended := 3
	file := filepath.Join(dir, "audit-000001.jsonl")
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// A file that ends on a page boundary leaves no slack for the partial
	// write. A record is shorter than a page, so one more moves the end off
	// the boundary.
	if len(before)%os.Getpagesize() == 0 {
		MustAppend(t, l, 4, 4)
		appended++
		if before, err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
	}
	if len(before)%os.Getpagesize() == 0 {
		t.Fatalf("the file is %d bytes, still page aligned", len(before))
	}
	filler := filepath.Join(mnt, "filler")
	fillDevice(t, filler)
	err = l.Append(t.Context(), "decision", map[string]string{"payload": strings.Repeat("y", 16<<10)})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append: got %v, want ENOSPC", err)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Fatalf("file after a failed partial write: %d bytes, want %d", len(after), len(before))
	}
	MustVerify(t, dir, VerifyOptions{})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	MustAppend(t, l, appended+1, appended+1)
	MustClose(t, l)
	s := MustVerify(t, dir, VerifyOptions{})
	if got, want := s.Records, appended+3; got != want { // start, appended, recovered, 1
		t.Errorf("records: got %d, want %d", got, want)
	}
}

// faultyFile fails Sync or Truncate on demand.
type faultyFile struct {
	logFile
	failSync, failTruncate *atomic.Bool
}

func (f *faultyFile) Sync() error {
	if f.failSync.Load() {
		return &os.PathError{Op: "sync", Path: "audit", Err: syscall.EIO}
	}
	return f.logFile.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if f.failTruncate.Load() {
		return &os.PathError{Op: "truncate", Path: "audit", Err: syscall.EIO}
	}
	return f.logFile.Truncate(size)
}

// TestFailClosedFaults covers failures a test cannot cause on a real device:
// fsync returning EIO after a successful write, and a truncate that fails
// too, after which nothing may be written behind the garbage.
func TestFailClosedFaults(t *testing.T) {
	var failSync, failTruncate atomic.Bool
	wrapFile = func(f logFile) logFile { return &faultyFile{f, &failSync, &failTruncate} }
	t.Cleanup(func() { wrapFile = nil })

	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 2)
	file := filepath.Join(dir, "audit-000001.jsonl")
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fileIs := func(want []byte, why string) {
		t.Helper()
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: file has %d bytes, want %d", why, len(got), len(want))
		}
	}

	// fsync fails: the batch is cut off, Appends and Healthy fail.
	failSync.Store(true)
	if err := l.Append(t.Context(), "decision", decision(3)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync: got %v, want EIO", err)
	}
	fileIs(good, "after a failed fsync")
	if err := l.Healthy(t.Context()); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Healthy: got %v, want EIO", err)
	}

	// fsync and truncate fail: the written bytes stay, and from now on
	// nothing is written after them, even once fsync works again.
	failTruncate.Store(true)
	if err := l.Append(t.Context(), "decision", decision(4)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing truncate: got %v, want EIO", err)
	}
	garbage, _ := os.ReadFile(file)
	if len(garbage) <= len(good) {
		t.Fatal("expected the failed batch's bytes to remain")
	}
	failSync.Store(false)
	for range 2 {
		if err := l.Append(t.Context(), "decision", decision(5)); err == nil {
			t.Fatal("Append wrote behind a batch that could not be cut off")
		}
		fileIs(garbage, "while the truncate keeps failing")
	}
	if err := l.Healthy(t.Context()); err == nil {
		t.Fatal("Healthy while the file holds garbage")
	}

	// The truncate works again: the garbage goes, the log recovers.
	failTruncate.Store(false)
	if err := l.Healthy(t.Context()); err != nil {
		t.Fatalf("Healthy after the fault cleared: %v", err)
	}
	MustAppend(t, l, 6, 6)
	MustClose(t, l)
	es := MustEntries(t, dir)
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	if got, want := strings.Join(kinds, ","), "start,decision,decision,recovered,decision"; got != want {
		t.Errorf("kinds: got %s, want %s", got, want)
	}
	var rec RecoveredRecord
	if err := json.Unmarshal(es[3].Record, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Error, "input/output error") {
		t.Errorf("recovered record names %q, want the first failure (EIO on sync)", rec.Error)
	}
	MustVerify(t, dir, VerifyOptions{})
}
