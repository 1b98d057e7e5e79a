package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// requestTimeout bounds any one request, so that a stalled server fails
// the run instead of hanging it. A 1 GiB download shared by 64 clients on
// a slow machine still fits.
const requestTimeout = 10 * time.Minute

// newClient returns the one HTTP client shape every side is measured with:
// up to conc connections per host, all kept alive between batches, no
// compression (a gzip-capable server must not shortcut the bytes), no
// proxy from the environment (everything is on 127.0.0.1), HTTP/1.1.
func newClient(conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global limit; per host below
		MaxIdleConnsPerHost: conc,
		MaxConnsPerHost:     conc,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
}

// request is one request of a measurement and what its answer must be.
type request struct {
	side   string // for error messages
	method string
	url    string
	header http.Header
	status int   // expected status
	size   int64 // expected Content-Length and body length
}

// answers counts the responses received from each host, so that a case can
// tell how many requests a server has answered in a run.
var answers sync.Map // host:port -> *atomic.Int64

func answered(host string) {
	n, _ := answers.LoadOrStore(host, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

func answeredBy(host string) int64 {
	if n, ok := answers.Load(host); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// copyBufs are the 256 KiB buffers bodies are read through (the size the
// gateway copies through, and large enough that the client is not what
// limits throughput).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// discard is io.Discard without its ReadFrom, which would read through its
// own 8 KiB buffer instead of ours.
var discard = struct{ io.Writer }{io.Discard}

// do sends one request and checks the answer in full: status, the
// Content-Length header, and for a GET the number of bytes in the body.
// Anything else is an error: a wrong answer is never counted as speed.
// The body goes to sink, or is discarded when sink is nil.
func (r request) do(ctx context.Context, hc *http.Client, trace *httptrace.ClientTrace, sink io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if trace != nil {
		ctx = httptrace.WithClientTrace(ctx, trace)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.side, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %s %s: %w", r.side, r.method, redact(r.url), err)
	}
	answered(req.URL.Host)
	defer resp.Body.Close()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	if resp.StatusCode != r.status {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s: %s %s: status %s, want %d: %q", r.side, r.method, redact(r.url), resp.Status, r.status, b)
	}
	// For a HEAD, net/http reports the Content-Length header here too.
	if resp.ContentLength != r.size {
		return 0, fmt.Errorf("%s: %s %s: Content-Length %d, want %d", r.side, r.method, redact(r.url), resp.ContentLength, r.size)
	}
	if sink == nil {
		sink = discard
	}
	n, err := io.CopyBuffer(sink, resp.Body, *buf)
	if err != nil {
		return n, fmt.Errorf("%s: %s %s: after %d of %d bytes: %w", r.side, r.method, redact(r.url), n, r.size, err)
	}
	want := r.size
	if r.method == http.MethodHead {
		want = 0
	}
	if n != want {
		return n, fmt.Errorf("%s: %s %s: body of %d bytes, want %d", r.side, r.method, redact(r.url), n, want)
	}
	return n, nil
}

// redact drops a URL's query (a presigned URL's signature) from messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.RawQuery != "" {
		u.RawQuery = "<presigned>"
	}
	return u.String()
}

// batch sends all requests at once, one connection each, and returns the
// total bytes and the wall time from the first request to the last byte.
// The first error cancels the rest and is returned.
func batch(ctx context.Context, hc *http.Client, reqs []request) (int64, time.Duration, error) {
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := make(chan struct{})
	for _, r := range reqs {
		g.Go(func() error {
			<-start
			n, err := r.do(gctx, hc, nil, nil)
			total.Add(n)
			return err
		})
	}
	t0 := time.Now()
	close(start)
	err := g.Wait()
	return total.Load(), time.Since(t0), err
}

// throughput runs one batch and returns its aggregate rate in MB/s
// (10^6 bytes per second).
func throughput(ctx context.Context, hc *http.Client, reqs []request) (float64, error) {
	n, d, err := batch(ctx, hc, reqs)
	if err != nil {
		return 0, err
	}
	return float64(n) / d.Seconds() / 1e6, nil
}

// sequentialThroughput sends r n times, one after the other, and returns
// the rate over all of them in MB/s.
func sequentialThroughput(ctx context.Context, hc *http.Client, r request, n int) (float64, error) {
	var bytes int64
	var took time.Duration
	for range n {
		b, d, err := batch(ctx, hc, []request{r})
		if err != nil {
			return 0, err
		}
		bytes, took = bytes+b, took+d
	}
	return float64(bytes) / took.Seconds() / 1e6, nil
}

// requestRate sends r from conc workers, back to back, for warm then for
// dur, and returns the successful requests per second of the second phase.
// Any failure ends the run with its error.
func requestRate(ctx context.Context, hc *http.Client, r request, conc int, warm, dur time.Duration) (float64, error) {
	phase := func(d time.Duration) (int64, time.Duration, error) {
		var count atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		t0 := time.Now()
		end := t0.Add(d)
		for range conc {
			g.Go(func() error {
				for time.Now().Before(end) {
					if _, err := r.do(gctx, hc, nil, nil); err != nil {
						return err
					}
					count.Add(1)
				}
				return nil
			})
		}
		err := g.Wait()
		return count.Load(), time.Since(t0), err
	}
	if _, _, err := phase(warm); err != nil {
		return 0, err
	}
	n, d, err := phase(dur)
	if err != nil {
		return 0, err
	}
	return float64(n) / d.Seconds(), nil
}

// firstByteTimes sends r n times in sequence and returns, for each, the
// time from sending it to the first byte of the response, in microseconds.
func firstByteTimes(ctx context.Context, hc *http.Client, r request, n int) ([]float64, error) {
	out := make([]float64, 0, n)
	var t0, first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	for range n {
		first = time.Time{}
		t0 = time.Now()
		if _, err := r.do(ctx, hc, trace, nil); err != nil {
			return nil, err
		}
		if first.IsZero() {
			return nil, fmt.Errorf("%s: no first-byte time recorded", r.side)
		}
		out = append(out, float64(first.Sub(t0).Nanoseconds())/1e3)
	}
	return out, nil
}

// fetchSHA256 downloads r, checked as every request is, and returns the
// sha256 of the body.
func fetchSHA256(ctx context.Context, hc *http.Client, r request) (string, error) {
	h := sha256.New()
	if _, err := r.do(ctx, hc, nil, h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
