package geo_test

import (
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/geo"
)

func TestClientAddr(t *testing.T) {
	// The gateway's own proxies: a load balancer subnet and one IPv6 proxy.
	trusted, err := geo.ParsePrefixes([]string{"10.0.0.0/8", "2001:db8:ffff::1"})
	if err != nil {
		t.Fatal(err)
	}
	type header struct{ name, value string }
	tests := []struct {
		name    string
		remote  string
		headers []header
		want    string // "" = the zero Addr
		via     string
	}{
		// Untrusted peers: headers are ignored, whatever they say.
		{"untrusted peer, no headers", "192.0.2.1:4711", nil, "192.0.2.1", "peer"},
		{"untrusted peer, spoofed XFF", "192.0.2.1:4711",
			[]header{{"X-Forwarded-For", "203.0.113.9"}}, "192.0.2.1", "peer"},
		{"untrusted peer, spoofed Forwarded", "192.0.2.1:4711",
			[]header{{"Forwarded", "for=203.0.113.9"}}, "192.0.2.1", "peer"},
		{"untrusted peer, garbage headers", "192.0.2.1:4711",
			[]header{{"Forwarded", `for="`}, {"X-Forwarded-For", "garbage"}}, "192.0.2.1", "peer"},
		{"untrusted v6 peer", "[2001:db8::7]:443", nil, "2001:db8::7", "peer"},
		{"untrusted v6 peer with zone", "[fe80::1%eth0]:443", nil, "fe80::1", "peer"},
		{"mapped peer is unmapped", "[::ffff:192.0.2.1]:443", nil, "192.0.2.1", "peer"},
		{"peer without port", "192.0.2.1", nil, "192.0.2.1", "peer"},
		{"malformed peer", "not-an-address:80", nil, "", "malformed"},
		{"empty peer", "", nil, "", "malformed"},
		{"unbracketed v6 with port", "2001:db8::7:443:x", nil, "", "malformed"},

		// Trusted peer, no proxy headers: the peer.
		{"trusted peer, no headers", "10.0.0.1:80", nil, "10.0.0.1", "peer"},
		{"mapped trusted peer", "[::ffff:10.0.0.1]:80",
			[]header{{"X-Forwarded-For", "192.0.2.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"trusted peer, empty XFF", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", " , "}}, "10.0.0.1", "peer"},

		// X-Forwarded-For from a trusted peer.
		{"XFF single", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "192.0.2.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF client-supplied prefix is ignored", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "203.0.113.9, 192.0.2.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF trusted hops skipped", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "203.0.113.9, 192.0.2.1, 10.1.1.1, 10.2.2.2"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF trusted v6 hop skipped", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "192.0.2.1,2001:db8:ffff::1"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF multiple header lines", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "203.0.113.9, 198.51.100.2"}, {"X-Forwarded-For", "10.1.1.1"}},
			"198.51.100.2", "x-forwarded-for"},
		{"XFF multiple lines, client in last", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "198.51.100.2, 10.1.1.1"}},
			"198.51.100.2", "x-forwarded-for"},
		{"XFF header name case-insensitive", "10.0.0.1:80",
			[]header{{"x-forwarded-for", "192.0.2.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF all trusted: leftmost", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "10.3.3.3, 10.2.2.2"}, {"X-Forwarded-For", "10.1.1.1"}},
			"10.3.3.3", "x-forwarded-for"},
		{"XFF v6", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "2001:db8::1"}}, "2001:db8::1", "x-forwarded-for"},
		{"XFF with ports", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "[2001:db8::1]:5000, 198.51.100.2:6000"}}, "198.51.100.2", "x-forwarded-for"},
		{"XFF bracketed v6 without port", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "[2001:db8::1]"}}, "2001:db8::1", "x-forwarded-for"},
		{"XFF mapped and zoned", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "::ffff:192.0.2.1, fe80::1%eth0"}}, "fe80::1", "x-forwarded-for"},
		{"XFF empty elements skipped", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "192.0.2.1,, 10.1.1.1,"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF malformed hop", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "192.0.2.1, bogus, 10.1.1.1"}}, "", "malformed"},
		{"XFF unknown hop", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "unknown"}}, "", "malformed"},
		{"XFF malformed hop left of client is never read", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "bogus, 192.0.2.1, 10.1.1.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF malformed earlier line is never read", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "bogus"}, {"X-Forwarded-For", "192.0.2.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"XFF all trusted but leftmost malformed", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "bogus, 10.1.1.1"}}, "", "malformed"},

		// Forwarded from a trusted peer.
		{"Forwarded single", "10.0.0.1:80",
			[]header{{"Forwarded", "for=192.0.2.1"}}, "192.0.2.1", "forwarded"},
		{"Forwarded quoted v6 with port", "10.0.0.1:80",
			[]header{{"Forwarded", `for="[2001:db8::1]:4711"`}}, "2001:db8::1", "forwarded"},
		{"Forwarded quoted v6 without port", "10.0.0.1:80",
			[]header{{"Forwarded", `For="[2001:db8::1]"`}}, "2001:db8::1", "forwarded"},
		{"Forwarded quoted v4 with port", "10.0.0.1:80",
			[]header{{"Forwarded", `for="192.0.2.1:4711"`}}, "192.0.2.1", "forwarded"},
		{"Forwarded obfuscated port", "10.0.0.1:80",
			[]header{{"Forwarded", `for="192.0.2.1:_p1"`}}, "192.0.2.1", "forwarded"},
		{"Forwarded unquoted v6 (lenient)", "10.0.0.1:80",
			[]header{{"Forwarded", "for=[2001:db8::1]:4711"}}, "2001:db8::1", "forwarded"},
		{"Forwarded with other params", "10.0.0.1:80",
			[]header{{"Forwarded", `proto=https; for=192.0.2.1 ;by=10.1.1.1;host="example.com"`}}, "192.0.2.1", "forwarded"},
		{"Forwarded elements right to left", "10.0.0.1:80",
			[]header{{"Forwarded", "for=203.0.113.9, for=192.0.2.1;proto=https, for=10.1.1.1"}}, "192.0.2.1", "forwarded"},
		{"Forwarded quoted comma and semicolon in other params", "10.0.0.1:80",
			[]header{{"Forwarded", `for=192.0.2.1;host="a,b;c=d", for=10.1.1.1;ext="x\"y,z"`}}, "192.0.2.1", "forwarded"},
		{"Forwarded multiple header lines", "10.0.0.1:80",
			[]header{{"Forwarded", "for=203.0.113.9"}, {"forwarded", "for=198.51.100.2, for=10.1.1.1"}},
			"198.51.100.2", "forwarded"},
		{"Forwarded wins over XFF", "10.0.0.1:80",
			[]header{{"X-Forwarded-For", "203.0.113.9"}, {"Forwarded", "for=192.0.2.1"}}, "192.0.2.1", "forwarded"},
		{"Forwarded without for= defers to XFF", "10.0.0.1:80",
			[]header{{"Forwarded", "proto=https;host=example.com"}, {"X-Forwarded-For", "192.0.2.1"}}, "192.0.2.1", "x-forwarded-for"},
		{"Forwarded without for= and no XFF", "10.0.0.1:80",
			[]header{{"Forwarded", "proto=https"}}, "10.0.0.1", "peer"},
		{"Forwarded all trusted: leftmost", "10.0.0.1:80",
			[]header{{"Forwarded", `for=10.2.2.2, for="[2001:db8:ffff::1]"`}}, "10.2.2.2", "forwarded"},
		{"Forwarded empty elements skipped", "10.0.0.1:80",
			[]header{{"Forwarded", "for=192.0.2.1, , for=10.1.1.1,"}}, "192.0.2.1", "forwarded"},
		{"Forwarded unknown", "10.0.0.1:80",
			[]header{{"Forwarded", "for=192.0.2.1, for=unknown"}}, "", "malformed"},
		{"Forwarded obfuscated", "10.0.0.1:80",
			[]header{{"Forwarded", `for=192.0.2.1, for="_hidden", for=10.1.1.1`}}, "", "malformed"},
		{"Forwarded element without for= is an unknown hop", "10.0.0.1:80",
			[]header{{"Forwarded", "for=192.0.2.1, proto=https"}}, "", "malformed"},
		{"Forwarded unbracketed v6", "10.0.0.1:80",
			[]header{{"Forwarded", `for="2001:db8::1"`}}, "", "malformed"},
		{"Forwarded bracketed v4", "10.0.0.1:80",
			[]header{{"Forwarded", `for="[192.0.2.1]"`}}, "", "malformed"},
		{"Forwarded bad port", "10.0.0.1:80",
			[]header{{"Forwarded", `for="192.0.2.1:99999"`}}, "", "malformed"},
		{"Forwarded unterminated quote", "10.0.0.1:80",
			[]header{{"Forwarded", `for="192.0.2.1`}}, "", "malformed"},
		{"Forwarded pair without value", "10.0.0.1:80",
			[]header{{"Forwarded", "for="}}, "", "malformed"},
		{"Forwarded pair without =", "10.0.0.1:80",
			[]header{{"Forwarded", "for 192.0.2.1"}}, "", "malformed"},
		{"Forwarded repeated for=", "10.0.0.1:80",
			[]header{{"Forwarded", "for=203.0.113.9;for=192.0.2.1"}}, "", "malformed"},
		{"Forwarded malformed earlier line is never read", "10.0.0.1:80",
			[]header{{"Forwarded", `for="unterminated`}, {"Forwarded", "for=192.0.2.1"}}, "192.0.2.1", "forwarded"},
		{"Forwarded malformed hop left of client is never read", "10.0.0.1:80",
			[]header{{"Forwarded", "for=unknown, for=192.0.2.1"}}, "192.0.2.1", "forwarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.headers {
				r.Header.Add(h.name, h.value)
			}
			addr, via := geo.ClientAddr(r, trusted)
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got := addr; got != want {
				t.Errorf("addr = %v, want %v", got, want)
			}
			if got, want := via, tt.via; got != want {
				t.Errorf("via = %q, want %q", got, want)
			}
		})
	}
}

// With no trusted proxies, headers never matter.
func TestClientAddrNoTrusted(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:80"
	r.Header.Set("X-Forwarded-For", "192.0.2.1")
	r.Header.Set("Forwarded", "for=192.0.2.1")
	addr, via := geo.ClientAddr(r, nil)
	if got, want := addr, netip.MustParseAddr("10.0.0.1"); got != want {
		t.Errorf("addr = %v, want %v", got, want)
	}
	if got, want := via, geo.ViaPeer; got != want {
		t.Errorf("via = %q, want %q", got, want)
	}
}

func TestClientAddrNilRequest(t *testing.T) {
	addr, via := geo.ClientAddr(nil, nil)
	if addr.IsValid() || via != geo.ViaMalformed {
		t.Errorf("ClientAddr(nil) = %v, %q; want zero Addr, %q", addr, via, geo.ViaMalformed)
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		list    []string
		want    []string
		wantErr string // substring; "" = no error
	}{
		{"nil", nil, nil, ""},
		{"cidrs", []string{"10.0.0.0/8", "2001:db8::/32"}, []string{"10.0.0.0/8", "2001:db8::/32"}, ""},
		{"bare addresses", []string{"192.0.2.1", "2001:db8::1"}, []string{"192.0.2.1/32", "2001:db8::1/128"}, ""},
		{"spaces trimmed", []string{" 10.0.0.0/8 "}, []string{"10.0.0.0/8"}, ""},
		{"host bits masked", []string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}, ""},
		{"zone dropped", []string{"fe80::1%eth0"}, []string{"fe80::1/128"}, ""},
		{"mapped prefix unmapped", []string{"::ffff:10.0.0.0/104"}, []string{"10.0.0.0/8"}, ""},
		{"mapped address unmapped", []string{"::ffff:192.0.2.1"}, []string{"192.0.2.1/32"}, ""},
		{"bad entry named", []string{"10.0.0.0/8", "proxy.example"}, nil, `geo: entry 1 ("proxy.example"): not an IP address or CIDR prefix`},
		{"bad length", []string{"10.0.0.0/33"}, nil, `"10.0.0.0/33"`},
		{"empty entry", []string{""}, nil, `entry 0 (""): empty`},
		{"slash zero v4", []string{"0.0.0.0/0"}, nil, "matches every address"},
		{"slash zero v6", []string{"::/0"}, nil, "matches every address"},
		{"short mapped prefix", []string{"::ffff:0:0/90"}, nil, "shorter than /96"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := geo.ParsePrefixes(tt.list)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []netip.Prefix
			for _, s := range tt.want {
				want = append(want, netip.MustParsePrefix(s))
			}
			if !slices.Equal(got, want) {
				t.Errorf("ParsePrefixes = %v, want %v", got, want)
			}
		})
	}
}

func BenchmarkClientAddr(b *testing.B) {
	trusted, err := geo.ParsePrefixes([]string{"10.0.0.0/8"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct{ name, header, value string }{
		{"peer", "", ""},
		{"xff", "X-Forwarded-For", "203.0.113.9, 192.0.2.1, 10.1.1.1"},
		{"forwarded", "Forwarded", `for=203.0.113.9, for="[2001:db8::1]:4711";proto=https, for=10.1.1.1`},
	} {
		b.Run(bb.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "10.0.0.1:4711"
			if bb.header != "" {
				r.Header.Set(bb.header, bb.value)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, via := geo.ClientAddr(r, trusted); via == geo.ViaMalformed {
					b.Fatal("malformed")
				}
			}
		})
	}
}
