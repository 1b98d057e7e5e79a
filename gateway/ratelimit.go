package gateway

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/weightgate/weightgate/config"
)

// RateLimit bounds how fast one requester may send requests, so that one
// credential cannot hammer the store: a token bucket per subject (per
// client address for anonymous requests) that refills at PerSecond and holds
// Burst requests. A request over the limit is refused with 429, code
// rate_limited, and Retry-After, on the record like any refusal.
type RateLimit struct {
	// PerSecond is the sustained rate per requester; 0 turns limiting off.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many requests a requester may send at once (at least 1).
	Burst int `yaml:"burst"`
	// PerAddress bounds each client address, before authentication.
	PerAddress AddressLimit `yaml:"per_address"`
}

// Rate limit defaults: generous for a Hub client fetching a model with many
// workers and range requests, low enough that one credential cannot keep a
// store busy alone.
const (
	DefaultRatePerSecond = 50
	DefaultRateBurst     = 200
)

// DefaultRateLimit is the rate_limit section's value for every key a file
// omits.
func DefaultRateLimit() RateLimit {
	return RateLimit{PerSecond: DefaultRatePerSecond, Burst: DefaultRateBurst,
		PerAddress: AddressLimit{PerSecond: DefaultAddressPerSecond, Burst: DefaultAddressBurst}}
}

// Validate returns l's problems, each named under section ("rate_limit").
func (l RateLimit) Validate(section string) config.Problems {
	var p config.Problems
	if r := l.PerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		p.Addf(section+".per_second", r, "must be 0 (off) or a positive number")
	}
	if l.PerSecond > 0 && l.Burst < 1 {
		p.Addf(section+".burst", l.Burst, "must be at least 1")
	}
	p = append(p, l.PerAddress.Validate(section+".per_address")...)
	return p
}

// CodeRateLimited is the error code of a request over its requester's rate.
const CodeRateLimited = "rate_limited"

// maxLimited bounds how many requesters' buckets are kept; the least
// recently seen are forgotten (and start again with a full bucket).
const maxLimited = 100_000

// limiter holds the buckets.
type limiter struct {
	cfg RateLimit
	mu  sync.Mutex // rate.Limiter is safe for concurrent use; mu guards creating one per key
	lru *lru.Cache[string, *rate.Limiter]
}

func newLimiter(cfg RateLimit) *limiter {
	if cfg.PerSecond <= 0 {
		return nil
	}
	c, err := lru.New[string, *rate.Limiter](maxLimited)
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return &limiter{cfg: RateLimit{PerSecond: cfg.PerSecond, Burst: max(cfg.Burst, 1)}, lru: c}
}

// take spends one request of key's bucket at now. When the bucket is empty
// it spends nothing and says how long until a request would be allowed.
func (l *limiter) take(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	lim, found := l.lru.Get(key)
	if !found {
		lim = rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)
		l.lru.Add(key, lim)
	}
	l.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimited is the rate-limiting middleware, after authentication (it
// knows the requester): a request over its requester's rate is refused,
// on the record, by refuse, in its API's terms; the rest go on to next.
// Requests skip says so (the Hub API's operational endpoints) are never
// limited.
func (s *Server) rateLimited(next http.Handler, skip func(*http.Request) bool, refuse func(http.ResponseWriter, *http.Request, *Error)) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if skip != nil && skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		if e := s.overLimit(r); e != nil {
			refuse(w, r, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hubThrottled answers a Hub API request over its requester's rate: 429,
// with Retry-After.
func (s *Server) hubThrottled(w http.ResponseWriter, r *http.Request, e *Error) {
	s.conclude(w, r, s.newRecord(r), refused(e), hubAPI{s}, func() { writeError(w, r, s.logger, e) })
}

// overLimit spends one request of r's requester. Over the limit, it returns
// the refusal, its RetryAfter set.
func (s *Server) overLimit(r *http.Request) *Error {
	if s.limiter == nil {
		return nil
	}
	ok, wait := s.limiter.take(s.limitKey(r), s.opts.Now())
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	e := &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: secs,
		Message: fmt.Sprintf("Too many requests from this requester: at most %g a second (bursts of %d); retry in %d s.",
			s.limiter.cfg.PerSecond, s.limiter.cfg.Burst, secs)}
	return e
}

// limitKey names r's requester: the token's issuer and subject, or, for an
// anonymous request, the client address (through trusted proxies).
func (s *Server) limitKey(r *http.Request) string {
	sub := scopeFrom(r.Context()).Subject
	if !sub.Anonymous && sub.ID != "" {
		iss, _ := sub.Claims["iss"].(string)
		return "sub\x00" + iss + "\x00" + sub.ID
	}
	addr, _ := s.opts.Locator.clientAddr(r)
	return "ip\x00" + addr.String()
}
