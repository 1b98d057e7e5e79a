package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Sink is a secondary destination for audit lines (stdout, a SIEM). Send
// receives the lines of one durable batch, in order, each ending in '\n'. The
// log calls Send from a single goroutine; the lines must not be modified.
type Sink interface {
	Send(lines [][]byte) error
}

// Mirror defaults.
const (
	// MirrorQueueBatches is how many batches may wait for a slow mirror
	// before further batches are dropped from the mirror (never from the log).
	MirrorQueueBatches = 64
	// MirrorFlushTimeout bounds how long Close waits for the mirror.
	MirrorFlushTimeout = 5 * time.Second
	// HTTPSinkAttempts is how often an HTTPSink tries to deliver a batch.
	HTTPSinkAttempts = 3
	// HTTPSinkTimeout is the timeout of the client NewHTTPSink uses when
	// given none.
	HTTPSinkTimeout = 10 * time.Second
)

type writerSink struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriterSink returns a Sink that writes each batch to w in one Write call
// (for example os.Stdout, for a log collector reading the process output).
func NewWriterSink(w io.Writer) Sink { return &writerSink{w: w} }

func (s *writerSink) Send(lines [][]byte) error {
	b := bytes.Join(lines, nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("audit mirror: %w", err)
	}
	return nil
}

type httpSink struct {
	url     string
	client  *http.Client
	backoff time.Duration
	sleep   func(time.Duration) // time.Sleep; a test records the waits instead
}

// NewHTTPSink returns a Sink that POSTs each batch to url as
// application/x-ndjson. A response other than 2xx is an error. Each batch is
// tried HTTPSinkAttempts times with a short, growing backoff. A nil client
// means a client with HTTPSinkTimeout.
func NewHTTPSink(url string, client *http.Client) Sink {
	if client == nil {
		client = &http.Client{Timeout: HTTPSinkTimeout}
	}
	return &httpSink{url: url, client: client, backoff: 100 * time.Millisecond, sleep: time.Sleep}
}

func (s *httpSink) Send(lines [][]byte) error {
	body := bytes.Join(lines, nil)
	var err error
	for attempt := 0; attempt < HTTPSinkAttempts; attempt++ {
		if attempt > 0 {
			s.sleep(s.backoff << (attempt - 1))
		}
		if err = s.post(body); err == nil {
			return nil
		}
	}
	return err
}

func (s *httpSink) post(body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("audit mirror: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("audit mirror: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("audit mirror: POST returned %s", resp.Status)
	}
	return nil
}

// mirror delivers durable batches to a Sink from its own goroutine.
type mirror struct {
	sink    Sink
	l       *Log
	queue   chan [][]byte
	done    chan struct{}
	lastLog time.Time // of the last drop warning; writer goroutine only
}

func newMirror(l *Log, sink Sink) *mirror {
	m := &mirror{sink: sink, l: l, queue: make(chan [][]byte, MirrorQueueBatches), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *mirror) run() {
	defer close(m.done)
	for lines := range m.queue {
		if err := m.sink.Send(lines); err != nil {
			m.l.mirrorErrors.Add(1)
			m.l.logger.Warn("audit mirror failed", "error", err, "records", len(lines))
		}
	}
}

// send queues lines without blocking; a full queue drops the batch from the
// mirror and counts it. Called from the writer goroutine only.
func (m *mirror) send(lines [][]byte) {
	select {
	case m.queue <- lines:
	default:
		n := m.l.mirrorDropped.Add(1)
		// Log at most once a second so a dead mirror cannot flood the log.
		if now := time.Now(); now.Sub(m.lastLog) >= time.Second {
			m.lastLog = now
			m.l.logger.Warn("audit mirror queue full: batch dropped from mirror (the log file has it)",
				"records", len(lines), "dropped_batches", n)
		}
	}
}

// close flushes the queue, waiting at most timeout.
func (m *mirror) close(timeout time.Duration) error {
	close(m.queue)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-m.done:
		return nil
	case <-t.C:
		return fmt.Errorf("audit: mirror did not flush within %s", timeout)
	}
}
