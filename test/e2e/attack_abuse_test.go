package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// ------------------------------------------------ filling the audit disk

// trailBytes is the size of the whole audit trail.
func trailBytes(tb testing.TB, h *gatewaytest.Harness) int64 {
	tb.Helper()
	files, err := audit.Files(h.AuditDir)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			tb.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestAttackAuditFlood: a request that carries a megabyte (a path, a
// header the record copies, a claim of a validly signed token) adds one
// decision record of at most audit.MaxRecordBytes to the trail, which says
// which fields were cut. Before, a 900 KB path was stored four times over.
func TestAttackAuditFlood(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	huge := strings.Repeat("a", 900<<10)
	cn := h.Token(t, gatewaytest.Claims("CN"))
	bigClaim := gatewaytest.Claims("CN")
	// Verify refuses tokens over identity.MaxTokenSize; this one is just
	// under it.
	bigClaim.Name = strings.Repeat("N", 11<<10)
	bigToken := h.Token(t, bigClaim)
	for _, tt := range []struct {
		name, target, token, extra string
		cut                        []string // fields the record must list as cut
	}{
		{"900 KB path, anonymous", gatewaytest.Frontier + huge, "", "", []string{"path", "object"}},
		{"900 KB path, with a token", gatewaytest.Frontier + huge, cn, "", []string{"path", "object"}},
		{"900 KB Range header", gatewaytest.Frontier + gatewaytest.Shard1, cn, "Range: bytes=0-0" + strings.Repeat(",0-0", 200<<10) + "\r\n", []string{"input.request.range"}},
		{"11 KB name claim", gatewaytest.Frontier + gatewaytest.Shard1, bigToken, "", []string{"input.subject.name", "input.subject.claims"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := trailBytes(t, h)
			resp, body := rawGet(t, h, "GET", tt.target, tt.token, tt.extra)
			assertNoClosedBytes(t, "response body", body)
			id := resp.Header.Get("X-Request-Id")
			if id == "" {
				t.Fatalf("status %d without a request id: the request was refused before the gateway, so the test proves nothing; body %.200s", resp.StatusCode, body)
			}
			decisions, transfers := h.RecordsFor(t, id)
			if len(decisions) != 1 || len(transfers) != 0 {
				t.Fatalf("records: %d decisions, %d transfers; want one decision", len(decisions), len(transfers))
			}
			// The trail grew by one line: the record and its frame (seq,
			// time, kind, prev, hash: under 300 bytes).
			if grew := trailBytes(t, h) - before; grew > audit.MaxRecordBytes+512 {
				t.Errorf("the trail grew by %d bytes for one request; want at most %d", grew, audit.MaxRecordBytes+512)
			}
			var cut []string
			for _, c := range decisions[0].Truncated {
				cut = append(cut, c.Field)
				if c.Length < 10<<10 {
					t.Errorf("truncated %s: length %d, want the original length", c.Field, c.Length)
				}
			}
			for _, f := range tt.cut {
				if !slices.Contains(cut, f) {
					t.Errorf("truncated = %v, want %s among them", cut, f)
				}
			}
		})
	}
}

// ------------------------------------------ floods of bad credentials

// frozenClock is a gateway clock that moves only when the test says, so
// that token buckets refill only then (token verification keeps the real
// clock).
type frozenClock struct{ ns atomic.Int64 }

func newFrozenClock() *frozenClock {
	c := &frozenClock{}
	c.ns.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *frozenClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *frozenClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// flood sends n requests made by mk from 8 concurrent clients and returns
// how many got each status, and one answer of each status.
func flood(tb testing.TB, n int, mk func() *http.Request) (counts map[int]int, sample map[int]*http.Response) {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	counts, sample = map[int]int{}, map[int]*http.Response{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				resp, err := client.Do(mk())
				if err != nil {
					tb.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assertNoClosedBytes(tb, "flood answer", body)
				mu.Lock()
				counts[resp.StatusCode]++
				if sample[resp.StatusCode] == nil {
					resp.Body = io.NopCloser(strings.NewReader(string(body)))
					sample[resp.StatusCode] = resp
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts, sample
}

// rateLimitedRecords returns the decision records of per-address refusals.
func rateLimitedRecords(tb testing.TB, h *gatewaytest.Harness) []audit.Record {
	tb.Helper()
	var out []audit.Record
	for _, r := range h.Records(tb) {
		if r.Type == audit.RecordDecision && r.Code == gateway.CodeRateLimited {
			out = append(out, r)
		}
	}
	return out
}

// TestAttackForgedTokenFlood: 2,000 forged tokens from one client address
// get 401 for the address's burst, then 429 rate_limited with Retry-After
// before any verification; another address behind the same trusted proxy
// is unaffected; the refusals are recorded at most once per address and
// second, the next record counting those answered in between. Before, every
// forged token was verified, answered 401 and recorded.
func TestAttackForgedTokenFlood(t *testing.T) {
	t.Parallel()
	const burst, n = 50, 2000
	clock := newFrozenClock()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{
		Now:       clock.Now,
		RateLimit: gateway.RateLimit{PerAddress: gateway.AddressLimit{PerSecond: 0.001, Burst: burst}},
		Locator:   &gateway.Locator{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	})
	forged := h.Token(t, gatewaytest.Claims("DE")) + "x"
	req := func(client string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, h.URL+gatewaytest.Frontier+gatewaytest.Shard1, nil)
			r.Header.Set("Authorization", "Bearer "+forged)
			r.Header.Set("X-Forwarded-For", client)
			return r
		}
	}
	counts, sample := flood(t, n, req("203.0.113.7"))
	if got, want := counts[http.StatusUnauthorized], burst; got != want {
		t.Errorf("401 answers = %d, want the burst, %d (all: %v)", got, want, counts)
	}
	if got, want := counts[http.StatusTooManyRequests], n-burst; got != want {
		t.Errorf("429 answers = %d, want %d (all: %v)", got, want, counts)
	}
	if r := sample[http.StatusTooManyRequests]; r != nil {
		body, _ := io.ReadAll(r.Body)
		if got := gatewaytest.DecodeError(t, body).Code; got != gateway.CodeRateLimited {
			t.Errorf("429 code = %q, want %q", got, gateway.CodeRateLimited)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}

	// Another client behind the same proxy: served as usual.
	other := h.Token(t, gatewaytest.Claims("DE"))
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, other, http.Header{"X-Forwarded-For": {"203.0.113.8"}})
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Errorf("another address: status %d, want 200", resp.StatusCode)
	}
	// The same client with a valid token: still over its address's rate.
	resp, _ = h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, other, http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("flooding address with a valid token: status %d, want 429", resp.StatusCode)
	}

	// One refusal recorded (the first); the rest wait to be counted by the
	// next recorded one, a second later.
	if recs := rateLimitedRecords(t, h); len(recs) != 1 || recs[0].Suppressed != 0 || recs[0].Status != 429 {
		t.Fatalf("rate_limited records = %+v, want one, the first refusal", recs)
	}
	clock.Advance(time.Second)
	resp, _ = h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, forged, http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
	recs := rateLimitedRecords(t, h)
	if len(recs) != 2 {
		t.Fatalf("%d rate_limited records, want 2", len(recs))
	}
	// n-burst refusals in the flood, plus the valid token's: one recorded.
	if got, want := recs[1].Suppressed, int64(n-burst+1-1); got != want {
		t.Errorf("suppressed = %d, want %d", got, want)
	}
	// Nothing else was verified or recorded: the burst's 401s, the other
	// client's download, and the two refusals.
	var decisions int
	for _, r := range h.Records(t) {
		if r.Type == audit.RecordDecision {
			decisions++
		}
	}
	if got, want := decisions, burst+1+2; got != want {
		t.Errorf("%d decision records, want %d", got, want)
	}
}

// TestAttackSpoofedForwardedFlood: without a trusted proxy, a flood that
// sends a new X-Forwarded-For each time still counts against its TCP peer.
func TestAttackSpoofedForwardedFlood(t *testing.T) {
	t.Parallel()
	const burst, n = 20, 300
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{
		Now:       newFrozenClock().Now,
		RateLimit: gateway.RateLimit{PerAddress: gateway.AddressLimit{PerSecond: 0.001, Burst: burst}},
	})
	var i atomic.Int64
	counts, _ := flood(t, n, func() *http.Request {
		r, _ := http.NewRequest(http.MethodGet, h.URL+gatewaytest.Frontier+gatewaytest.Shard1, nil)
		r.Header.Set("Authorization", "Bearer forged")
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i.Add(1))})
		r.Header.Set("X-Forwarded-For", ip.String())
		return r
	})
	if got, want := counts[http.StatusTooManyRequests], n-burst; got != want {
		t.Errorf("429 answers = %d, want %d (all: %v)", got, want, counts)
	}
}

// TestAttackSTSFlood: a flood of STS exchanges of forged tokens on the S3
// listener meets the same per-address limit, answered with S3's SlowDown.
func TestAttackSTSFlood(t *testing.T) {
	t.Parallel()
	const burst, n = 20, 500
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{
		Now:       newFrozenClock().Now,
		RateLimit: gateway.RateLimit{PerAddress: gateway.AddressLimit{PerSecond: 0.001, Burst: burst}},
		S3:        &gateway.S3Options{},
	})
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {"forged.token.here"}}.Encode()
	counts, sample := flood(t, n, func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, h.S3URL+"/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	})
	if got, want := counts[http.StatusServiceUnavailable], n-burst; got != want {
		t.Errorf("503 answers = %d, want %d (all: %v)", got, want, counts)
	}
	if r := sample[http.StatusServiceUnavailable]; r != nil {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "<Code>SlowDown</Code>") || !strings.Contains(string(body), "<ErrorResponse") || r.Header.Get("Retry-After") == "" {
			t.Errorf("503 answer: %s, Retry-After %q; want SlowDown with Retry-After", body, r.Header.Get("Retry-After"))
		}
	}
	recs := rateLimitedRecords(t, h)
	if len(recs) != 1 || recs[0].API != "s3_sts" {
		t.Errorf("rate_limited records = %+v, want one, of api s3_sts", recs)
	}
}

// ------------------------------------------------ slow and large bodies

// slowRequest writes head, then a body of bodyLen bytes one byte every
// 100 ms, and reads the answer, giving up after 15 s; it returns the answer
// (nil if none came) and how long it took.
func slowRequest(tb testing.TB, addr, head string, bodyLen int) (*http.Response, []byte, time.Duration) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, head+fmt.Sprintf("Content-Length: %d\r\n\r\n", bodyLen)); err != nil {
		tb.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range bodyLen {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, time.Since(start)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, time.Since(start)
}

// TestAttackSlowBody: a body trickled at one byte a second-tenth, to STS,
// to paths-info, or to an S3 write that is refused unread, is cut off after
// the body read timeout (1 s here) and the refusal recorded, so it cannot
// hold a connection (and a file descriptor) for longer. Before, the answer
// waited for the whole body: here, 100 s.
func TestAttackSlowBody(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{BodyReadTimeout: timeout, S3: &gateway.S3Options{Anonymous: true}})
	s3Addr := strings.TrimPrefix(h.S3URL, "http://")
	for _, tt := range []struct {
		name, addr, head string
		status           int
		code             string // the record's
	}{
		{"STS form", s3Addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n", 400, "RequestTimeout"},
		{"Hub paths-info", addr(h), "POST /api/models/open-lab/tiny-open/paths-info/main HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n", 408, gateway.CodeBodyTimeout},
		{"S3 write, refused unread", s3Addr, "PUT /models/open-lab/tiny-open/new.bin HTTP/1.1\r\nHost: x\r\n", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body, took := slowRequest(t, tt.addr, tt.head, 1000)
			if resp == nil {
				t.Fatalf("no answer within %v to a body trickled for 100 s", took)
			}
			// The bound: the timeout, and time to spare on a loaded machine;
			// the whole body would take 100 s.
			if took > timeout+7*time.Second {
				t.Errorf("answered after %v, want about %v", took, timeout)
			}
			if tt.status == 0 {
				return
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			decisions, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(decisions) != 1 || decisions[0].Code != tt.code || decisions[0].Decision != "deny" {
				t.Errorf("records = %+v, want one deny with code %s", decisions, tt.code)
			}
		})
	}
}

// TestAttackLargeBody: a body over max_body_bytes is refused, on the
// record: 413 body_too_large on the Hub API, EntityTooLarge on STS.
func TestAttackLargeBody(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{MaxBodyBytes: limit, S3: &gateway.S3Options{}})
	big := "paths=" + strings.Repeat("a", 2*limit)
	for _, tt := range []struct {
		name, url string
		status    int
		code      string
	}{
		{"Hub paths-info", h.URL + "/api/models/open-lab/tiny-open/paths-info/main", 413, gateway.CodeBodyTooLarge},
		{"STS form", h.S3URL + "/", 400, "EntityTooLarge"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(tt.url, "application/x-www-form-urlencoded", strings.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.code) {
				t.Errorf("status %d, body %s; want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			decisions, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(decisions) != 1 || decisions[0].Code != tt.code || decisions[0].Status != tt.status {
				t.Errorf("records = %+v, want one with code %s, status %d", decisions, tt.code, tt.status)
			}
		})
	}
}
