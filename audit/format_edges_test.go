package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// edgeTime is a fixed record time for hand-built lines.
var edgeTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// buildLines returns a file of hand-built lines: a start record at seq 1
// followed by one decision record per entry of records, chained.
func buildLines(tb testing.TB, records ...[]byte) []byte {
	tb.Helper()
	start, err := json.Marshal(StartRecord{Reason: StartReasonStart, File: "audit-000001.jsonl", PID: 1})
	if err != nil {
		tb.Fatal(err)
	}
	buf, prev := appendLine(nil, 1, edgeTime, KindStart, ZeroHash, start)
	for i, rec := range records {
		buf, prev = appendLine(buf, uint64(i+2), edgeTime, "decision", prev, rec)
	}
	return buf
}

// paddedRecord returns a record whose line (seq 2, after buildLines' start
// record) is exactly n bytes long without its '\n'.
func paddedRecord(tb testing.TB, n int) []byte {
	tb.Helper()
	empty := []byte(`{"pad":""}`)
	line, _ := appendLine(nil, 2, edgeTime, "decision", ZeroHash, empty)
	pad := n - (len(line) - 1)
	if pad < 0 {
		tb.Fatalf("line of %d bytes is too short for a record", n)
	}
	return []byte(`{"pad":"` + strings.Repeat("x", pad) + `"}`)
}

// TestVerifyLineLengthLimit: a line of exactly MaxLineBytes (without its
// '\n') is a record; one byte more is refused as unreadable, so a reader
// never buffers an unbounded line.
func TestVerifyLineLengthLimit(t *testing.T) {
	tests := []struct {
		name    string
		lineLen int
		wantErr string
	}{
		{"exactly the limit", MaxLineBytes, ""},
		{"one byte over", MaxLineBytes + 1, "line longer than 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit-000001.jsonl")
			b := buildLines(t, paddedRecord(t, tt.lineLen))
			if got, want := len(b)-len(buildLines(t)), tt.lineLen+1; got != want {
				t.Fatalf("built a line of %d bytes, want %d", got, want)
			}
			if err := os.WriteFile(path, b, 0o640); err != nil {
				t.Fatal(err)
			}
			s, err := Verify([]string{path}, VerifyOptions{HeadFile: NoHeadFile})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got, want := s.Records, 2; got != want {
					t.Errorf("records: got %d, want %d", got, want)
				}
				return
			}
			wantVerifyError(t, err, "audit-000001.jsonl", 2, tt.wantErr)
		})
	}
}

// TestVerifyTornLineNumber: a torn line at the end of a file that is not the
// last is reported at its own line number.
func TestVerifyTornLineNumber(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 2)
	MustClose(t, l)
	first := filepath.Join(dir, "audit-000001.jsonl")
	lines := readLines(t, first)
	torn := strings.Join(lines, "\n") + "\n" + `{"seq":4,"time":"2026`
	if err := os.WriteFile(first, []byte(torn), 0o640); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "audit-000002.jsonl")
	if err := os.WriteFile(second, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := Verify([]string{first, second}, VerifyOptions{HeadFile: NoHeadFile})
	wantVerifyError(t, err, "audit-000001.jsonl", len(lines)+1, "torn/incomplete line")
}

// TestVerifySeqBreakReasons: a deleted or duplicated record is named with the
// seq the chain expected there.
func TestVerifySeqBreakReasons(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	l := MustOpen(t, Config{Dir: src})
	MustAppend(t, l, 1, 4) // seq 1 start, seq 2..5 decisions
	MustClose(t, l)
	tests := []struct {
		name string
		edit func([]string) []string
		line int
		want string
	}{
		{"record deleted", func(ls []string) []string { return append(ls[:2:2], ls[3:]...) }, 3,
			"seq gap: expected seq 3, found 4"},
		{"record duplicated", func(ls []string) []string { return append(ls[:3:3], ls[2:]...) }, 4,
			"seq goes backwards: expected seq 4, found 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, src)
			file := filepath.Join(dir, "audit-000001.jsonl")
			writeLines(t, file, tt.edit(readLines(t, file)))
			_, err := Verify([]string{file}, VerifyOptions{HeadFile: NoHeadFile})
			wantVerifyError(t, err, "audit-000001.jsonl", tt.line, tt.want)
			_, err = Open(Config{Dir: dir, Logger: discardLogger})
			wantVerifyError(t, err, "audit-000001.jsonl", tt.line, tt.want)
		})
	}
}

// TestVerifyErrorText: the seq is part of the message only when known.
func TestVerifyErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  VerifyError
		want string
	}{
		{"seq unknown", VerifyError{File: "a.jsonl", Line: 3, Reason: "bad"}, "a.jsonl:3: bad"},
		{"seq known", VerifyError{File: "a.jsonl", Line: 3, Seq: 7, Reason: "bad"}, "a.jsonl:3: seq 7: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.err.Error(), tt.want; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestValidKind: kinds are 1 to 64 bytes of [A-Za-z0-9_.:-], with every end
// of every range included and the bytes next to them excluded.
func TestValidKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind string
		ok   bool
	}{
		{"a", true}, {"z", true}, {"A", true}, {"M", true}, {"Z", true},
		{"0", true}, {"5", true}, {"9", true}, {"_", true}, {".", true}, {":", true}, {"-", true},
		{strings.Repeat("k", maxKindLen), true},
		{"", false}, {strings.Repeat("k", maxKindLen+1), false},
		{"`", false}, {"{", false}, {"@", false}, {"[", false}, {"/", false},
		{";", false}, {"?", false}, {" ", false}, {`"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if got, want := validKind(tt.kind) == nil, tt.ok; got != want {
				t.Errorf("validKind(%q) accepted: got %v, want %v", tt.kind, got, want)
			}
		})
	}
}

// TestSplitHash: the shortest line with a hash field has two bytes of body
// before it; shorter ones are not lines.
func TestSplitHash(t *testing.T) {
	t.Parallel()
	suffix := hashPrefix + strings.Repeat("a", 64) + `"}`
	tests := []struct {
		name     string
		line     string
		ok       bool
		wantBody string
	}{
		{"suffix only", suffix, false, ""},
		{"one byte of body", "{" + suffix, false, ""},
		{"two bytes of body", `{"` + suffix, true, `{"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, h, ok := splitHash([]byte(tt.line))
			if got, want := ok, tt.ok; got != want {
				t.Fatalf("ok: got %v, want %v", got, want)
			}
			if !ok {
				return
			}
			if got, want := string(body), tt.wantBody; got != want {
				t.Errorf("body: got %q, want %q", got, want)
			}
			if got, want := h, strings.Repeat("a", 64); got != want {
				t.Errorf("hash: got %q, want %q", got, want)
			}
		})
	}
}

// TestSplitHashAllocations: the verifier splits every line of the log, so the
// body is allocated once at its final size (plus the hash string).
func TestSplitHashAllocations(t *testing.T) {
	line, _ := appendLine(nil, 1, edgeTime, "decision", ZeroHash, []byte(`{"a":1}`))
	line = line[:len(line)-1]
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, ok := splitHash(line); !ok {
			t.Fatal("line not split")
		}
	})
	if allocs > 2 {
		t.Errorf("splitHash: %v allocations per line, want at most 2", allocs)
	}
}

// errWriter fails every write.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestWriterSinkResult: Send reports a failed write and nothing else.
func TestWriterSinkResult(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := NewWriterSink(&buf).Send([][]byte{[]byte("a\n"), []byte("b\n")}); err != nil {
		t.Errorf("Send to a working writer: %v", err)
	}
	if got, want := buf.String(), "a\nb\n"; got != want {
		t.Errorf("written: got %q, want %q", got, want)
	}
	err := NewWriterSink(errWriter{}).Send([][]byte{[]byte("a\n")})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Send to a failing writer: got %v, want the write error", err)
	}
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHTTPSinkClient: a given client is the one used; nil means a default one.
func TestHTTPSinkClient(t *testing.T) {
	t.Parallel()
	t.Run("given client", func(t *testing.T) {
		t.Parallel()
		var calls int
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content",
				Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
		// The host does not resolve: only the given transport can deliver.
		if err := NewHTTPSink("http://audit-sink.invalid/ingest", client).Send([][]byte{[]byte("{}\n")}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got, want := calls, 1; got != want {
			t.Errorf("requests through the given client: got %d, want %d", got, want)
		}
	})
	t.Run("nil client", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		if err := NewHTTPSink(srv.URL, nil).Send([][]byte{[]byte("{}\n")}); err != nil {
			t.Errorf("Send: %v", err)
		}
	})
}

// TestHTTPSinkStatusRange: every 2xx status is a delivery, and only those.
func TestHTTPSinkStatusRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status  int
		wantErr bool
	}{
		{200, false}, {204, false}, {299, false}, {300, true}, {404, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			s := NewHTTPSink(srv.URL, srv.Client()).(*httpSink)
			s.backoff = time.Millisecond
			err := s.Send([][]byte{[]byte("{}\n")})
			if got, want := err != nil, tt.wantErr; got != want {
				t.Errorf("status %d: got error %v, want error=%v", tt.status, err, want)
			}
		})
	}
}

// TestHTTPSinkBackoff: retries wait 100ms, then 200ms: long enough for a
// struggling collector, short enough not to hold the mirror back.
func TestHTTPSinkBackoff(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	sink := NewHTTPSink(srv.URL, srv.Client()).(*httpSink)
	var waits []time.Duration
	sink.sleep = func(d time.Duration) { waits = append(waits, d) }
	if err := sink.Send([][]byte{[]byte("{}\n")}); err == nil {
		t.Fatal("Send to a failing collector succeeded")
	}
	if got, want := int(attempts.Load()), HTTPSinkAttempts; got != want {
		t.Fatalf("attempts: got %d, want %d", got, want)
	}
	if got, want := waits, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits between attempts: got %v, want %v", got, want)
	}
}

// TestMirrorErrorsCounted: only failed deliveries count as mirror errors.
func TestMirrorErrorsCounted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sendErr error
		wantErr bool
	}{
		{"delivered", nil, false},
		{"refused", errors.New("collector down"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := &fakeSink{SendFn: func([][]byte) error { return tt.sendErr }}
			l := MustOpen(t, Config{Dir: t.TempDir(), Mirror: sink})
			MustAppend(t, l, 1, 3)
			MustClose(t, l)
			if got, want := l.MirrorErrors() > 0, tt.wantErr; got != want {
				t.Errorf("mirror errors: got %d, want some=%v", l.MirrorErrors(), want)
			}
		})
	}
}

// TestMirrorDropWarning: the first dropped batch is logged at once, further
// drops within a second are only counted.
func TestMirrorDropWarning(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	l := &Log{logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
	// An unbuffered queue nobody reads: every batch is dropped.
	m := &mirror{l: l, queue: make(chan [][]byte)}
	for range 3 {
		m.send([][]byte{[]byte("{}\n")})
	}
	if got, want := l.MirrorDropped(), uint64(3); got != want {
		t.Errorf("dropped: got %d, want %d", got, want)
	}
	if got, want := strings.Count(logBuf.String(), "audit mirror queue full"), 1; got != want {
		t.Errorf("warnings: got %d, want %d\n%s", got, want, logBuf.String())
	}
}

// TestOpenBadLineSeq: a bad line followed by a good one is corruption; the
// error names the bad line's seq, or the seq expected there when the line
// does not say.
func TestOpenBadLineSeq(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	l := MustOpen(t, Config{Dir: src})
	MustAppend(t, l, 1, 3) // seq 1 start, seq 2..4 decisions
	MustClose(t, l)
	tests := []struct {
		name    string
		from    string
		to      string
		wantSeq uint64
	}{
		{"seq unreadable", `{"seq":3,`, `{"seq":x,`, 3},
		{"seq altered", `{"seq":3,`, `{"seq":9,`, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, src)
			file := filepath.Join(dir, "audit-000001.jsonl")
			lines := readLines(t, file)
			lines[2] = strings.Replace(lines[2], tt.from, tt.to, 1)
			writeLines(t, file, lines)
			_, err := Open(Config{Dir: dir, Logger: discardLogger})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Open: got %v, want a *VerifyError", err)
			}
			if got, want := ve.Line, 3; got != want {
				t.Errorf("line: got %d, want %d (%v)", got, want, err)
			}
			if got, want := ve.Seq, tt.wantSeq; got != want {
				t.Errorf("seq: got %d, want %d (%v)", got, want, err)
			}
		})
	}
}

// TestOpenHeadWithoutFiles: a head file in a directory without log files
// means the trail was removed; the refusal says what the head file claims,
// or why it cannot be read.
func TestOpenHeadWithoutFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head string
		want string
	}{
		{"head file intact", `{"seq":5,"hash":"` + strings.Repeat("b", 64) + `","file":"audit-000002.jsonl"}`,
			"audit.head records seq 5 in audit-000002.jsonl, but the directory holds no audit files"},
		{"head file garbage", `{"seq":`, "audit: head file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, HeadFileName), []byte(tt.head), 0o640); err != nil {
				t.Fatal(err)
			}
			_, err := Open(Config{Dir: dir, Logger: discardLogger})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: got %v, want an error containing %q", err, tt.want)
			}
			if fs := MustFiles(t, dir); len(fs) != 0 {
				t.Errorf("Open created %v", fs)
			}
		})
	}
}

// TestOpenSeveralEmptyLastFiles: when the last files hold no record, Open
// resumes the chain from the last file that has one, however far back.
func TestOpenSeveralEmptyLastFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 3)
	MustClose(t, l)
	for _, name := range []string{"audit-000002.jsonl", "audit-000003.jsonl"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	l = MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 4, 4)
	MustClose(t, l)
	es := MustEntries(t, dir)
	for i, e := range es {
		if got, want := e.Seq, uint64(i+1); got != want {
			t.Fatalf("entry %d: seq got %d, want %d", i, got, want)
		}
		if i > 0 && e.Prev != es[i-1].Hash {
			t.Fatalf("entry %d (seq %d): prev does not chain", i, e.Seq)
		}
	}
	resumed := es[4]
	if got, want := filepath.Base(resumed.File), "audit-000003.jsonl"; got != want {
		t.Errorf("resumed in %s, want %s", got, want)
	}
	if !strings.Contains(string(resumed.Record), `"previous_file":"audit-000001.jsonl"`) {
		t.Errorf("start record after the empty files: %s", resumed.Record)
	}
}

// TestOpenLogsTornBytes: the warning about a torn tail gives its size.
func TestOpenLogsTornBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 2)
	MustClose(t, l)
	f, err := os.OpenFile(filepath.Join(dir, "audit-000001.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"seq":4,"ti`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var logBuf syncBuffer
	l = MustOpen(t, Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	MustClose(t, l)
	if out := logBuf.String(); !strings.Contains(out, "torn tail set aside") || !strings.Contains(out, "torn_bytes=12 ") {
		t.Errorf("log does not report 12 torn bytes:\n%s", out)
	}
}

// TestOpenRotatesFullFile: a last file exactly MaxFileBytes long is full, so
// the restart begins a new file rather than growing it.
func TestOpenRotatesFullFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 2)
	MustClose(t, l)
	first := filepath.Join(dir, "audit-000001.jsonl")
	fi, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	l = MustOpen(t, Config{Dir: dir, MaxFileBytes: fi.Size()})
	MustClose(t, l)
	after, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := after.Size(), fi.Size(); got != want {
		t.Errorf("%s grew from %d to %d bytes", filepath.Base(first), want, got)
	}
	if got, want := len(MustFiles(t, dir)), 2; got != want {
		t.Errorf("files: got %d, want %d", got, want)
	}
}

// TestOpenTornTailNoSpace: when the torn tail cannot be kept aside (device
// full), Open fails and leaves the log file as it was: the torn bytes are
// never lost.
func TestOpenTornTailNoSpace(t *testing.T) {
	dir := MustTmpfs(t, "1m")
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 2)
	MustClose(t, l)
	file := filepath.Join(dir, "audit-000001.jsonl")
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"seq":4,"ti`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fillDevice(t, filepath.Join(dir, "filler"))
	l, err = Open(Config{Dir: dir, Logger: discardLogger})
	if err == nil {
		l.Close()
		t.Fatal("Open succeeded on a full device")
	}
	if !strings.Contains(err.Error(), "keep torn tail aside") {
		t.Errorf("Open: got %v, want it to fail keeping the torn tail aside", err)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Errorf("log file changed from %d to %d bytes", len(before), len(after))
	}
}
