package gateway

import (
	"testing"
	"time"
)

// TestLimiterTake: a bucket lets Burst requests through at once, then one
// per 1/PerSecond, and says how long to wait; buckets are per key.
func TestLimiterTake(t *testing.T) {
	if newLimiter(RateLimit{}) != nil {
		t.Fatal("a zero RateLimit limits")
	}
	l := newLimiter(RateLimit{PerSecond: 2, Burst: 3})
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if ok, _ := l.take("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.take("a", t0)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: ok %v, wait %v; want refused, wait up to 500ms", ok, wait)
	}
	if ok, _ := l.take("b", t0); !ok {
		t.Error("another key shares the first one's bucket")
	}
	if ok, _ := l.take("a", t0.Add(wait)); !ok {
		t.Errorf("refused again after waiting the %v it said", wait)
	}
	// A refusal spends nothing: refused at t0 many times, one token is
	// still back after 500ms.
	for range 10 {
		l.take("c", t0)
	}
	if ok, _ := l.take("c", t0.Add(time.Second)); !ok {
		t.Error("refused requests spent tokens")
	}
}
