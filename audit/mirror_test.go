package audit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the mirror goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Sink is a fake Sink.
type fakeSink struct{ SendFn func(lines [][]byte) error }

func (s *fakeSink) Send(lines [][]byte) error { return s.SendFn(lines) }

var _ Sink = (*fakeSink)(nil)

// logBytes returns the concatenated files of the log in dir.
func logBytes(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	for _, f := range MustFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
	}
	return sb.String()
}

func TestWriterSink(t *testing.T) {
	dir := t.TempDir()
	var buf syncBuffer
	l := MustOpen(t, Config{Dir: dir, MaxFileBytes: 2048, CheckpointKey: testKey, CheckpointEvery: 7, Mirror: NewWriterSink(&buf)})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { MustAppend(t, l, 1, 10) })
	}
	wg.Wait()
	MustClose(t, l)
	if got, want := buf.String(), logBytes(t, dir); got != want {
		t.Errorf("mirror got %d bytes, log has %d; they differ", len(got), len(want))
	}
	if got := l.MirrorDropped(); got != 0 {
		t.Errorf("dropped: got %d, want 0", got)
	}
}

func TestHTTPSink(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var got bytes.Buffer
	var badType atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-ndjson" {
			badType.Add(1)
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got.Write(b)
		mu.Unlock()
	}))
	defer srv.Close()
	l := MustOpen(t, Config{Dir: dir, Mirror: NewHTTPSink(srv.URL, srv.Client())})
	MustAppend(t, l, 1, 20)
	MustClose(t, l)
	mu.Lock()
	defer mu.Unlock()
	if g, w := got.String(), logBytes(t, dir); g != w {
		t.Errorf("server got %q, log has %q", g, w)
	}
	if n := badType.Load(); n != 0 {
		t.Errorf("%d requests were not POST application/x-ndjson", n)
	}
}

func TestHTTPSinkRetries(t *testing.T) {
	tests := []struct {
		name     string
		failures int // responses with 503 before 204
		wantErr  bool
		wantReqs int64
	}{
		{"first try", 0, false, 1},
		{"retried", 2, false, 3},
		{"gives up", 100, true, HTTPSinkAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqs atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if reqs.Add(1) <= int64(tt.failures) {
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			s := NewHTTPSink(srv.URL, srv.Client()).(*httpSink)
			s.backoff = time.Millisecond
			err := s.Send([][]byte{[]byte("{}\n")})
			if got := err != nil; got != tt.wantErr {
				t.Errorf("err: got %v, want error=%v", err, tt.wantErr)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "503") {
				t.Errorf("error %v does not name the status", err)
			}
			if got, want := reqs.Load(), tt.wantReqs; got != want {
				t.Errorf("requests: got %d, want %d", got, want)
			}
		})
	}
}

// TestMirrorNeverBlocksAppend: a mirror that hangs neither blocks nor fails
// Append; batches it cannot take are dropped from the mirror and counted.
func TestMirrorNeverBlocksAppend(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var sent atomic.Int64
	sink := &fakeSink{SendFn: func(lines [][]byte) error {
		<-release
		sent.Add(1)
		return nil
	}}
	l := MustOpen(t, Config{Dir: dir, SyncEveryRecord: true, Mirror: sink})
	const n = 200
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for i := range n {
		if err := l.Append(ctx, "decision", decision(i)); err != nil {
			t.Fatalf("Append %d with a hung mirror: %v", i, err)
		}
	}
	dropped := l.MirrorDropped()
	// start + 200 batches: one is in Send (or about to be), and
	// MirrorQueueBatches are queued.
	if lo, hi := uint64(n+1-1-MirrorQueueBatches-1), uint64(n+1-MirrorQueueBatches); dropped < lo || dropped > hi {
		t.Errorf("dropped: got %d, want %d..%d", dropped, lo, hi)
	}
	close(release)
	MustClose(t, l)
	if got, want := uint64(sent.Load())+dropped, uint64(n+1); got != want {
		t.Errorf("sent+dropped: got %d, want %d batches", got, want)
	}
	if got, want := MustVerify(t, dir, VerifyOptions{}).Records, n+1; got != want {
		t.Errorf("log records: got %d, want %d (the file has them all)", got, want)
	}
}

// TestMirrorCloseBounded: Close does not wait forever for a hung mirror.
func TestMirrorCloseBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	l, err := Open(Config{Dir: t.TempDir(), Logger: discardLogger, Mirror: &fakeSink{SendFn: func([][]byte) error {
		<-release
		return nil
	}}})
	if err != nil {
		t.Fatal(err)
	}
	l.mirrorFlushTimeout = 100 * time.Millisecond
	start := time.Now()
	err = l.Close()
	if err == nil || !strings.Contains(err.Error(), "mirror did not flush") {
		t.Errorf("Close: got %v, want a mirror flush timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
}
