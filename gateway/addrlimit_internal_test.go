package gateway

import (
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
)

// TestAddrLimiterBounded: however many addresses send requests, the
// limiter keeps at most its size of buckets, and memory stays flat.
func TestAddrLimiterBounded(t *testing.T) {
	const size = 1000
	l := newAddrLimiter(AddressLimit{PerSecond: 1, Burst: 1}, size)
	var before, after runtime.MemStats
	fill := func(from int) {
		for i := range 200_000 {
			n := uint32(from + i)
			a := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
			l.bucket(netip.PrefixFrom(a, 32))
		}
	}
	fill(0)
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill(1 << 24)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := l.lru.Len(); got > size {
		t.Errorf("%d buckets kept, want at most %d", got, size)
	}
	// 200,000 more addresses: the heap does not grow with them (a bucket
	// is a few hundred bytes, so 200,000 kept would be tens of MiB).
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 4<<20 {
		t.Errorf("heap grew by %d bytes over 200,000 new addresses", grew)
	}
}

// TestAddrKey: the key is the client address through trusted proxies only,
// an IPv6 one by its /64.
func TestAddrKey(t *testing.T) {
	trusted := &Locator{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, tt := range []struct {
		name    string
		locator *Locator
		peer    string
		xff     string
		want    string
	}{
		{"peer", nil, "192.0.2.1:1234", "", "192.0.2.1/32"},
		{"forwarded by an untrusted peer is ignored", nil, "192.0.2.1:1234", "203.0.113.9", "192.0.2.1/32"},
		{"forwarded by a trusted proxy", trusted, "10.1.2.3:1234", "203.0.113.9", "203.0.113.9/32"},
		{"malformed from a trusted proxy: the peer", trusted, "10.1.2.3:1234", "not-an-ip", "10.1.2.3/32"},
		{"IPv6 by its /64", nil, "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 as IPv4", nil, "[::ffff:192.0.2.7]:443", "", "192.0.2.7/32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{opts: Options{Locator: tt.locator}}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := s.addrKey(r).String(); got != tt.want {
				t.Errorf("key = %s, want %s", got, tt.want)
			}
		})
	}
}
