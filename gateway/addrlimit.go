package gateway

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/weightgate/weightgate/config"
	"github.com/weightgate/weightgate/gateway/s3api"
)

// AddressLimit bounds how fast one client address may send requests of any
// kind, checked before the request's token or signature is: a requester
// with no valid credential (a flood of forged tokens, of STS exchanges, of
// bad signatures) is held to this rate, whatever it sends. The address is
// the one the location check uses (through trusted proxies only, so a
// client cannot pick it); IPv6 addresses count by their /64, which one
// client typically holds whole. Over the limit: 429 rate_limited with
// Retry-After (S3 API: 503 SlowDown).
type AddressLimit struct {
	// PerSecond is the sustained rate per address; 0 turns it off.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many requests an address may send at once (at least 1).
	Burst int `yaml:"burst"`
}

// Per-address defaults: twice the per-requester rate and burst, so that one
// requester (or two behind one NAT) at its own limit never meets this one,
// while a flood of forged tokens from one address is held to 100 a second
// and so to 100 verifications and at most a few records a second.
const (
	DefaultAddressPerSecond = 100
	DefaultAddressBurst     = 400
)

// Validate returns l's problems, each named under section
// ("rate_limit.per_address").
func (l AddressLimit) Validate(section string) config.Problems {
	var p config.Problems
	if r := l.PerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		p.Addf(section+".per_second", r, "must be 0 (off) or a positive number")
	}
	if l.PerSecond > 0 && l.Burst < 1 {
		p.Addf(section+".burst", l.Burst, "must be at least 1")
	}
	return p
}

// maxAddresses bounds how many addresses' buckets are kept (a few hundred
// bytes each): the least recently seen are forgotten and start again with
// a full bucket, which lets through at most a burst more from an address
// that had to be evicted by 100,000 others first.
const maxAddresses = 100_000

// refusalRecordEvery is how often, per address, a refusal of this limit is
// recorded on the audit trail. The refusals in between are answered the
// same way but not recorded one by one: a flood over the limit would
// otherwise write a record per request, which is the flood's purpose. The
// next recorded refusal of the address counts them (Record.Suppressed).
const refusalRecordEvery = time.Second

// addrLimiter holds the per-address buckets, in a bounded LRU
// (hashicorp/golang-lru, already used for the per-requester buckets).
type addrLimiter struct {
	cfg AddressLimit
	mu  sync.Mutex // guards creating a bucket per key
	lru *lru.Cache[netip.Prefix, *addrBucket]
}

// addrBucket is one address's token bucket, the limiter of its refusal
// records, and how many refusals went unrecorded since the last record.
type addrBucket struct {
	tokens     *rate.Limiter
	records    *rate.Limiter
	suppressed atomic.Int64
}

func newAddrLimiter(cfg AddressLimit, size int) *addrLimiter {
	if cfg.PerSecond <= 0 {
		return nil
	}
	c, err := lru.New[netip.Prefix, *addrBucket](size)
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return &addrLimiter{cfg: AddressLimit{PerSecond: cfg.PerSecond, Burst: max(cfg.Burst, 1)}, lru: c}
}

// bucket returns key's bucket, creating it full.
func (l *addrLimiter) bucket(key netip.Prefix) *addrBucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.lru.Get(key)
	if !ok {
		b = &addrBucket{
			tokens:  rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst),
			records: rate.NewLimiter(rate.Every(refusalRecordEvery), 1),
		}
		l.lru.Add(key, b)
	}
	return b
}

// addrKey is the bucket r's client address counts against: the address
// (through trusted proxies), an IPv6 one by its /64. When no address can be
// read (a trusted proxy's malformed header), the TCP peer's is used, so
// that such requests are limited too, together.
func (s *Server) addrKey(r *http.Request) netip.Prefix {
	addr, _ := s.opts.Locator.clientAddr(r)
	if !addr.IsValid() {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			addr = ap.Addr().Unmap()
		}
	}
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits) // the zero Prefix for an invalid addr: one shared bucket
	return p
}

// addressLimited is the per-address middleware, in front of
// authentication. A request over its address's rate is answered by refuse,
// in its API's terms, with record set when this refusal is to be recorded
// (at most one per address per refusalRecordEvery) and suppressed the
// number of its address's refusals answered unrecorded since the last
// recorded one. Requests skip says so (the operational endpoints) are never
// limited.
func (s *Server) addressLimited(next http.Handler, skip func(*http.Request) bool,
	refuse func(w http.ResponseWriter, r *http.Request, e *Error, record bool, suppressed int64)) http.Handler {
	l := s.addrLimiter
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if skip != nil && skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		b := l.bucket(s.addrKey(r))
		now := s.opts.Now()
		res := b.tokens.ReserveN(now, 1)
		wait := res.DelayFrom(now)
		if wait <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		res.CancelAt(now)
		secs := int(math.Ceil(wait.Seconds()))
		e := &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: secs,
			Message: fmt.Sprintf("Too many requests from this client address: at most %g a second (bursts of %d); retry in %d s.",
				l.cfg.PerSecond, l.cfg.Burst, secs)}
		if !b.records.AllowN(now, 1) {
			b.suppressed.Add(1)
			refuse(w, r, e, false, 0)
			return
		}
		refuse(w, r, e, true, b.suppressed.Swap(0))
	})
}

// hubAddressThrottled answers a Hub API request over its address's rate:
// 429 with Retry-After, recorded when record says so.
func (s *Server) hubAddressThrottled(w http.ResponseWriter, r *http.Request, e *Error, record bool, suppressed int64) {
	if !record {
		writeError(w, r, s.logger, e)
		return
	}
	rec := s.newRecord(r)
	rec.Suppressed = suppressed
	s.conclude(w, r, rec, refused(e), hubAPI{s}, func() { writeError(w, r, s.logger, e) })
}

// s3AddressThrottled answers an S3 or STS request over its address's rate
// with S3's SlowDown (in an STS ErrorResponse for STS, as stsThrottled),
// recorded when record says so.
func (s *Server) s3AddressThrottled(w http.ResponseWriter, r *http.Request, e *Error, record bool, suppressed int64) {
	se := &s3api.Error{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: e.Message}
	id := RequestID(r.Context())
	sts := isSTS(r)
	write := func() {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		if sts {
			w.Header().Set("x-amzn-RequestId", id)
			w.Header().Set("Cache-Control", "no-store")
			s3api.WriteSTSError(w, se, id)
			return
		}
		s3WriteError(w, r, se, r.URL.Path, id)
	}
	if !record {
		write()
		return
	}
	rec := s.newRecord(r)
	rec.Suppressed = suppressed
	// The record has the status sent; its code stays rate_limited.
	v := refused(e)
	v.status = se.Status
	if sts {
		rec.API = apiS3STS
		s.conclude(w, r, rec, v, stsAPI{}, write)
		return
	}
	rec.API = "s3"
	s.conclude(w, r, rec, v, s3API{r.URL.Path}, write)
}
