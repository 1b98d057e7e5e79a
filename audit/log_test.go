package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLineFormat checks the exact bytes of a line against the documented
// format, independently of the package's own reader.
func TestLineFormat(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 28, 21, 58, 54, 680000000, time.FixedZone("X", 3600))
	l := MustOpen(t, Config{Dir: dir, Now: func() time.Time { return clock }})
	if err := l.Append(t.Context(), "decision", json.RawMessage(`{ "b": 1, "a": "x" }`)); err != nil {
		t.Fatal(err)
	}
	MustClose(t, l)
	lines := readLines(t, filepath.Join(dir, "audit-000001.jsonl"))
	if got, want := len(lines), 2; got != want {
		t.Fatalf("lines: got %d, want %d", got, want)
	}
	re := regexp.MustCompile(`^\{"seq":(\d+),"time":"([^"]+)","kind":"([a-z]+)","prev":"([0-9a-f]{64})","record":(\{.*\}),"hash":"([0-9a-f]{64})"\}$`)
	prev := ZeroHash
	for i, line := range lines {
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d does not match the format: %s", i+1, line)
		}
		if got, want := m[1], fmt.Sprint(i+1); got != want {
			t.Errorf("line %d: seq %s, want %s", i+1, got, want)
		}
		if got, want := m[2], "2026-11-28T20:58:54.68Z"; got != want {
			t.Errorf("line %d: time %s, want %s", i+1, got, want)
		}
		if got, want := m[4], prev; got != want {
			t.Errorf("line %d: prev %s, want %s", i+1, got, want)
		}
		body := strings.TrimSuffix(line, `,"hash":"`+m[6]+`"}`) + "}"
		sum := sha256.Sum256([]byte(body))
		if got, want := m[6], hex.EncodeToString(sum[:]); got != want {
			t.Errorf("line %d: hash %s, want sha256(body) %s", i+1, got, want)
		}
		prev = m[6]
	}
	if got, want := lines[1][strings.Index(lines[1], `"record":`):strings.Index(lines[1], `,"hash"`)], `"record":{"b":1,"a":"x"}`; got != want {
		t.Errorf("record: got %s, want %s (compacted, order kept)", got, want)
	}
	var start StartRecord
	es := MustEntries(t, dir)
	if err := json.Unmarshal(es[0].Record, &start); err != nil {
		t.Fatal(err)
	}
	if got, want := start, (StartRecord{Reason: "start", File: "audit-000001.jsonl", PID: os.Getpid()}); got != want {
		t.Errorf("start record: got %+v, want %+v", got, want)
	}
	MustVerify(t, dir, VerifyOptions{})
}

func TestAppendRejects(t *testing.T) {
	l := MustOpen(t, Config{Dir: t.TempDir()})
	tests := []struct {
		name string
		kind string
		rec  any
		want string
	}{
		{"array record", "decision", []int{1}, "JSON object"},
		{"string record", "decision", "x", "JSON object"},
		{"nil record", "decision", nil, "JSON object"},
		{"nil map pointer", "decision", (*decisionRecord)(nil), "JSON object"},
		{"unencodable record", "decision", map[string]any{"f": func() {}}, "encode record"},
		{"empty kind", "", decision(1), "kind"},
		{"kind with quote", `a"b`, decision(1), "kind"},
		{"kind with space", "a b", decision(1), "kind"},
		{"reserved start", KindStart, decision(1), "reserved"},
		{"reserved checkpoint", KindCheckpoint, decision(1), "reserved"},
		{"reserved recovery", KindRecovery, decision(1), "reserved"},
		{"reserved recovered", KindRecovered, decision(1), "reserved"},
		{"record over the line limit", "decision", map[string]string{"x": strings.Repeat("x", MaxLineBytes)}, "line limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Append(t.Context(), tt.kind, tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRestartContinuesChain(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 3)
	MustClose(t, l)
	l = MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 4, 6)
	MustClose(t, l)

	s := MustVerify(t, dir, VerifyOptions{})
	if got, want := s.Records, 8; got != want {
		t.Errorf("records: got %d, want %d", got, want)
	}
	es := MustEntries(t, dir)
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	if got, want := strings.Join(kinds, ","), "start,decision,decision,decision,start,decision,decision,decision"; got != want {
		t.Errorf("kinds: got %s, want %s", got, want)
	}
	var st StartRecord
	if err := json.Unmarshal(es[4].Record, &st); err != nil {
		t.Fatal(err)
	}
	if got, want := st, (StartRecord{Reason: "start", File: "audit-000001.jsonl", PID: os.Getpid(), PreviousFile: "audit-000001.jsonl"}); got != want {
		t.Errorf("second start: got %+v, want %+v", got, want)
	}
	if got, want := len(MustFiles(t, dir)), 1; got != want {
		t.Errorf("files: got %d, want %d", got, want)
	}
}

// TestRestartFullFile: a restart whose last file is already full starts the
// next file.
func TestRestartFullFile(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, MaxFileBytes: 1 << 20})
	MustAppend(t, l, 1, 5)
	MustClose(t, l)
	l = MustOpen(t, Config{Dir: dir, MaxFileBytes: 1000})
	MustAppend(t, l, 6, 6)
	MustClose(t, l)
	files := MustFiles(t, dir)
	if got, want := len(files), 2; got != want {
		t.Fatalf("files: got %d, want %d", got, want)
	}
	es := MustEntries(t, dir)
	var st StartRecord
	for _, e := range es {
		if e.File == files[1] && e.Line == 1 {
			if err := json.Unmarshal(e.Record, &st); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := st, (StartRecord{Reason: "start", File: "audit-000002.jsonl", PID: os.Getpid(), PreviousFile: "audit-000001.jsonl"}); got != want {
		t.Errorf("start: got %+v, want %+v", got, want)
	}
	MustVerify(t, dir, VerifyOptions{})
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 1024
	l := MustOpen(t, Config{Dir: dir, MaxFileBytes: maxBytes})
	MustAppend(t, l, 1, 40)
	MustClose(t, l)
	files := MustFiles(t, dir)
	if len(files) < 4 {
		t.Fatalf("files: got %d, want at least 4", len(files))
	}
	for i, f := range files {
		if got, want := filepath.Base(f), fmt.Sprintf("audit-%06d.jsonl", i+1); got != want {
			t.Errorf("file %d: got %s, want %s", i, got, want)
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if i < len(files)-1 && fi.Size() < maxBytes {
			t.Errorf("%s: %d bytes, rotated before reaching %d", f, fi.Size(), maxBytes)
		}
		lines := readLines(t, f)
		var e struct {
			Kind   string      `json:"kind"`
			Record StartRecord `json:"record"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
			t.Fatal(err)
		}
		want := StartRecord{Reason: "rotate", File: filepath.Base(f), PID: os.Getpid()}
		if i == 0 {
			want.Reason = "start"
		} else {
			want.PreviousFile = filepath.Base(files[i-1])
		}
		if e.Kind != KindStart || e.Record != want {
			t.Errorf("%s: first record %s %+v, want start %+v", f, e.Kind, e.Record, want)
		}
	}
	s := MustVerify(t, dir, VerifyOptions{})
	if got, want := s.Records, 40+len(files); got != want {
		t.Errorf("records: got %d, want %d", got, want)
	}
	if got, want := s.Files, len(files); got != want {
		t.Errorf("Summary.Files: got %d, want %d", got, want)
	}
}

// TestGroupCommit: many concurrent Appends share fsyncs, and each Append
// returns only once its record is in the file.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	var batches, lines atomic.Int64
	l := MustOpen(t, Config{Dir: dir, Observe: func(s BatchStats) {
		if s.Err == nil {
			batches.Add(1)
			lines.Add(int64(s.Records))
		}
	}})
	const writers, each = 64, 30
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				marker := fmt.Sprintf("g%02d-i%02d", g, i)
				if err := l.Append(t.Context(), "decision", map[string]string{"marker": marker}); err != nil {
					errs <- err
					return
				}
				// A few writers check that the record is already in
				// the file when Append returns.
				if g%16 == 0 {
					b, err := os.ReadFile(filepath.Join(dir, "audit-000001.jsonl"))
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Contains(b, []byte(`"marker":"`+marker+`"`)) {
						errs <- fmt.Errorf("%s not in the file after Append returned", marker)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	MustClose(t, l)
	records := int64(writers*each) + 1
	if got := lines.Load(); got != records {
		t.Errorf("lines observed: got %d, want %d", got, records)
	}
	b := batches.Load()
	t.Logf("%d records in %d fsyncs (%.1f records/fsync)", records, b, float64(records)/float64(b))
	if b*4 > records {
		t.Errorf("fsyncs: got %d for %d records, want group commit (at most a quarter)", b, records)
	}
	if got, want := MustVerify(t, dir, VerifyOptions{}).Records, int(records); got != want {
		t.Errorf("records: got %d, want %d", got, want)
	}
}

func TestSyncEveryRecord(t *testing.T) {
	dir := t.TempDir()
	var batches atomic.Int64
	l := MustOpen(t, Config{Dir: dir, SyncEveryRecord: true, Observe: func(BatchStats) { batches.Add(1) }})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { MustAppend(t, l, 1, 5) })
	}
	wg.Wait()
	MustClose(t, l)
	if got, want := batches.Load(), int64(41); got != want {
		t.Errorf("fsyncs: got %d, want %d (one per record)", got, want)
	}
	MustVerify(t, dir, VerifyOptions{})
}

// TestContextCancel: a record whose Append gave up before the writer took it
// is never written; one already taken is waited for.
func TestContextCancel(t *testing.T) {
	dir := t.TempDir()
	var blocking atomic.Bool
	entered := make(chan struct{}, 16)
	gate := make(chan struct{})
	l := MustOpen(t, Config{Dir: dir, MaxBatch: 2, Observe: func(BatchStats) {
		if blocking.Load() {
			entered <- struct{}{}
			<-gate
		}
	}})
	blocking.Store(true)
	appendAsync := func(ctx context.Context, marker string) chan error {
		ch := make(chan error, 1)
		go func() { ch <- l.Append(ctx, "decision", map[string]string{"marker": marker}) }()
		return ch
	}
	// A is taken and written; the writer then stalls before answering.
	ctxA, cancelA := context.WithCancel(t.Context())
	errA := appendAsync(ctxA, "A")
	<-entered
	cancelA()
	// B and C fill the queue (capacity MaxBatch = 2).
	ctxB, cancelB := context.WithCancel(t.Context())
	errB := appendAsync(ctxB, "B")
	errC := appendAsync(t.Context(), "C")
	deadline := time.Now().Add(5 * time.Second)
	for len(l.queue) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("queue did not fill")
		}
		time.Sleep(time.Millisecond)
	}
	cancelB()
	select {
	case err := <-errB:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("B: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B did not return after cancel")
	}
	// D finds the queue full and gives up at its deadline.
	ctxD, cancelD := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancelD()
	if err := l.Append(ctxD, "decision", map[string]string{"marker": "D"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("D: got %v, want context.DeadlineExceeded", err)
	}
	// An already cancelled context never queues.
	if err := l.Append(ctxA, "decision", map[string]string{"marker": "E"}); !errors.Is(err, context.Canceled) {
		t.Errorf("E: got %v, want context.Canceled", err)
	}
	blocking.Store(false)
	close(gate)
	for name, ch := range map[string]chan error{"A": errA, "C": errC} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s: got %v, want nil (taken records are written)", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not return", name)
		}
	}
	MustClose(t, l)
	var markers []string
	for _, e := range MustEntries(t, dir) {
		var m struct{ Marker string }
		_ = json.Unmarshal(e.Record, &m)
		if m.Marker != "" {
			markers = append(markers, m.Marker)
		}
	}
	if got, want := strings.Join(markers, ","), "A,C"; got != want {
		t.Errorf("records written: got %s, want %s", got, want)
	}
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := l.Append(context.Background(), "decision", decision(i))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	MustClose(t, l)
	wg.Wait()
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: got %v, want ErrClosed", err)
	}
	if err := l.Healthy(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Healthy after Close: got %v, want ErrClosed", err)
	}
	// Every acknowledged record is in the log.
	if got, want := MustVerify(t, dir, VerifyOptions{}).Records, int(ok.Load())+1; got != want {
		t.Errorf("records: got %d, want %d acknowledged + start", got, want)
	}
}

func TestOpenLocksDir(t *testing.T) {
	dir := t.TempDir()
	MustOpen(t, Config{Dir: dir})
	if _, err := Open(Config{Dir: dir, Logger: discardLogger}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: got %v, want an in-use error", err)
	}
}

// TestAppendLater: a record appended with AppendLater waits up to Linger for
// company, so the next Append shares its fsync; alone it is written when
// Linger ends. Either way it returns once the record is in the file.
func TestAppendLater(t *testing.T) {
	dir := t.TempDir()
	batches := make(chan int, 16)
	const linger = 300 * time.Millisecond
	l := MustOpen(t, Config{Dir: dir, Linger: linger, Observe: func(s BatchStats) {
		if s.Err == nil {
			batches <- s.Records
		}
	}})
	if err := l.Append(t.Context(), "decision", map[string]string{"marker": "first"}); err != nil {
		t.Fatal(err)
	}
	for len(batches) > 0 { // the start record and this one
		<-batches
	}

	later := make(chan error, 1)
	go func() { later <- l.AppendLater(t.Context(), "transfer", map[string]string{"marker": "later"}) }()
	time.Sleep(linger / 6)
	if err := l.Append(t.Context(), "decision", map[string]string{"marker": "next"}); err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	if n := <-batches; n != 2 {
		t.Errorf("a transfer and the next decision: %d records in the batch, want both in one", n)
	}

	start := time.Now()
	if err := l.AppendLater(t.Context(), "transfer", map[string]string{"marker": "alone"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < linger/2 || d > 10*linger {
		t.Errorf("a lone AppendLater returned after %v, want about %v", d, linger)
	}
	b, err := os.ReadFile(filepath.Join(dir, "audit-000001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"first", "later", "next", "alone"} {
		if !bytes.Contains(b, []byte(`"marker":"`+m+`"`)) {
			t.Errorf("%s not in the file", m)
		}
	}
	MustClose(t, l)
}
