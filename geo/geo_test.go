package geo_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/internal/geotest"
)

// testNetworks is the country database most tests use. Documentation ranges
// stand in for public addresses.
var testNetworks = map[string]string{
	"192.0.2.0/24":    "DE",
	"192.0.2.128/25":  "fr", // lower case in the file, upper case from Country
	"198.51.100.0/24": "US",
	"203.0.113.0/24":  "CN",
	"2001:db8::/32":   "JP",
	"2001:db8:1::/48": "SG",
	// Non-public networks a database might map anyway; Country must not
	// answer for them.
	"10.0.0.0/8":     "GB",
	"100.64.0.0/10":  "GB",
	"127.0.0.0/8":    "GB",
	"169.254.0.0/16": "GB",
	"224.0.0.0/4":    "GB",
	"fc00::/7":       "GB",
	"fe80::/10":      "GB",
	"ff00::/8":       "GB",
	"::1":            "GB",
}

// MustOpenDB writes networks with geotest and opens the result.
func MustOpenDB(tb testing.TB, networks map[string]string) *geo.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "country.mmdb")
	if err := geotest.WriteCountryDB(path, networks); err != nil {
		tb.Fatal(err)
	}
	db, err := geo.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustWriteRaw writes a database of the given type with arbitrary records,
// for shapes geotest does not produce.
func MustWriteRaw(tb testing.TB, dbType string, records map[string]mmdbtype.DataType) string {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true})
	if err != nil {
		tb.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(tb.TempDir(), "raw.mmdb")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestCountry(t *testing.T) {
	db := MustOpenDB(t, testNetworks)
	tests := []struct {
		name string
		ip   string // "" = the zero Addr
		want string
	}{
		{"ipv4", "192.0.2.1", "DE"},
		{"more specific network wins", "192.0.2.200", "FR"},
		{"upper-cased", "192.0.2.128", "FR"},
		{"another ipv4", "198.51.100.42", "US"},
		{"ipv6", "2001:db8::1", "JP"},
		{"ipv6 more specific", "2001:db8:1::99", "SG"},
		{"ipv4-mapped ipv6 is looked up as ipv4", "::ffff:203.0.113.9", "CN"},
		{"zone ignored", "2001:db8::1%eth0", "JP"},
		{"not in database", "8.8.8.8", ""},
		{"ipv6 not in database", "2001:4860::8888", ""},
		{"zero Addr", "", ""},
		{"unspecified v4", "0.0.0.0", ""},
		{"unspecified v6", "::", ""},
		{"private", "10.1.2.3", ""},
		{"private mapped", "::ffff:10.1.2.3", ""},
		{"cgnat", "100.64.0.1", ""},
		{"cgnat end", "100.127.255.254", ""},
		{"loopback v4", "127.0.0.1", ""},
		{"loopback v6", "::1", ""},
		{"link-local v4", "169.254.1.1", ""},
		{"link-local v6", "fe80::1", ""},
		{"unique local v6", "fd00::1", ""},
		{"multicast v4", "224.0.0.1", ""},
		{"multicast v6", "ff02::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			if got, want := db.Country(ip), tt.want; got != want {
				t.Errorf("Country(%s) = %q, want %q", tt.ip, got, want)
			}
		})
	}
}

// Country falls back to registered_country, and answers only valid
// two-letter codes.
func TestCountryRecordShapes(t *testing.T) {
	country := func(code string) mmdbtype.Map {
		return mmdbtype.Map{"iso_code": mmdbtype.String(code)}
	}
	path := MustWriteRaw(t, "GeoIP2-Country", map[string]mmdbtype.DataType{
		"192.0.2.0/26":    mmdbtype.Map{"country": country("DE"), "registered_country": country("FR")},
		"192.0.2.64/26":   mmdbtype.Map{"registered_country": country("nl")},
		"192.0.2.128/26":  mmdbtype.Map{"country": country("EUR"), "registered_country": country("BE")},
		"192.0.2.192/26":  mmdbtype.Map{"country": country("1A")},
		"198.51.100.0/24": mmdbtype.Map{"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},
		"203.0.113.0/24":  mmdbtype.Map{"country": country("US"), "city": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("X")}}},
	})
	db, err := geo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name string
		ip   string
		want string
	}{
		{"country over registered", "192.0.2.1", "DE"},
		{"registered when no country", "192.0.2.65", "NL"},
		{"invalid country, registered used", "192.0.2.129", "BE"},
		{"invalid code only", "192.0.2.193", ""},
		{"record without countries", "198.51.100.1", ""},
		{"other fields ignored", "203.0.113.1", "US"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := db.Country(netip.MustParseAddr(tt.ip)), tt.want; got != want {
				t.Errorf("Country(%s) = %q, want %q", tt.ip, got, want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notMMDB := filepath.Join(dir, "not.mmdb")
	if err := os.WriteFile(notMMDB, []byte("this is not a MaxMind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mmdb")
	if err := geotest.WriteCountryDB(empty, nil); err != nil {
		t.Fatal(err)
	}
	asn := MustWriteRaw(t, "GeoLite2-ASN", map[string]mmdbtype.DataType{
		"192.0.2.0/24": mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64496)},
	})
	// A file that claims to be a country database but whose country is a
	// plain string, not a map.
	wrongShape := MustWriteRaw(t, "Example-Country", map[string]mmdbtype.DataType{
		"192.0.2.0/24": mmdbtype.Map{"country": mmdbtype.String("DE")},
	})
	noCodes := MustWriteRaw(t, "GeoLite2-City", map[string]mmdbtype.DataType{
		"192.0.2.0/24": mmdbtype.Map{"city": mmdbtype.Map{"geoname_id": mmdbtype.Uint32(1)}},
	})

	tests := []struct {
		name string
		path string
		want string // substring of the error, after the path
	}{
		{"missing file", filepath.Join(dir, "missing.mmdb"), "no such file"},
		{"not a database", notMMDB, "invalid MaxMind DB file"},
		{"no records", empty, "no records with a country iso_code"},
		{"asn database", asn, `database type "GeoLite2-ASN" has no country records`},
		{"wrong record shape", wrongShape, "record for 192.0.2.0/24"},
		{"no country codes", noCodes, "no records with a country iso_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geo.Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatal("no error")
			}
			got := err.Error()
			if !strings.HasPrefix(got, "geo: open "+tt.path+": ") {
				t.Errorf("error = %q, want it to name %s", got, tt.path)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("error = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// A nil DB (no database configured) knows no countries and closes cleanly.
func TestNilDB(t *testing.T) {
	var db *geo.DB
	if got := db.Country(netip.MustParseAddr("192.0.2.1")); got != "" {
		t.Errorf("Country = %q, want \"\"", got)
	}
	if err := db.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

// Run with -race: Country is called from every request goroutine.
func TestCountryConcurrent(t *testing.T) {
	db := MustOpenDB(t, testNetworks)
	ips := []struct {
		ip   netip.Addr
		want string
	}{
		{netip.MustParseAddr("192.0.2.1"), "DE"},
		{netip.MustParseAddr("192.0.2.200"), "FR"},
		{netip.MustParseAddr("2001:db8:1::1"), "SG"},
		{netip.MustParseAddr("8.8.8.8"), ""},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				tt := ips[(g+i)%len(ips)]
				if got := db.Country(tt.ip); got != tt.want {
					errs <- fmt.Errorf("Country(%s) = %q, want %q", tt.ip, got, tt.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkCountry(b *testing.B) {
	db := MustOpenDB(b, testNetworks)
	for _, bb := range []struct {
		name string
		ip   netip.Addr
		want string
	}{
		{"ipv4", netip.MustParseAddr("198.51.100.42"), "US"},
		{"ipv6", netip.MustParseAddr("2001:db8:1::99"), "SG"},
		{"not found", netip.MustParseAddr("8.8.8.8"), ""},
		{"private", netip.MustParseAddr("10.1.2.3"), ""},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := db.Country(bb.ip); got != bb.want {
					b.Fatalf("Country = %q, want %q", got, bb.want)
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		ip := netip.MustParseAddr("203.0.113.9")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if got := db.Country(ip); got != "CN" {
					b.Errorf("Country = %q, want CN", got)
					return
				}
			}
		})
	})
}

// TestCountrySubdivision: a City database's first subdivision makes the code
// an ISO 3166-2 one (Crimea, UA-43, is embargoed apart from Ukraine); only
// when the country itself is known, and only a well-formed subdivision.
func TestCountrySubdivision(t *testing.T) {
	code := func(c string) mmdbtype.Map { return mmdbtype.Map{"iso_code": mmdbtype.String(c)} }
	subs := func(cs ...string) mmdbtype.Slice {
		var s mmdbtype.Slice
		for _, c := range cs {
			s = append(s, code(c))
		}
		return s
	}
	path := MustWriteRaw(t, "GeoIP2-City", map[string]mmdbtype.DataType{
		"192.0.2.0/26":    mmdbtype.Map{"country": code("UA"), "subdivisions": subs("43")},
		"192.0.2.64/26":   mmdbtype.Map{"country": code("us"), "subdivisions": subs("ca", "x")},
		"192.0.2.128/26":  mmdbtype.Map{"country": code("UA"), "subdivisions": subs("")},
		"192.0.2.192/26":  mmdbtype.Map{"country": code("UA"), "subdivisions": subs("4-3")},
		"198.51.100.0/24": mmdbtype.Map{"registered_country": code("UA"), "subdivisions": subs("43")},
		"203.0.113.0/24":  mmdbtype.Map{"country": code("UA"), "subdivisions": subs("ABCD")},
	})
	db, err := geo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for ip, want := range map[string]string{
		"192.0.2.1":    "UA-43",
		"192.0.2.65":   "US-CA",
		"192.0.2.129":  "UA",
		"192.0.2.193":  "UA",
		"198.51.100.1": "UA", // registered country only: no subdivision
		"203.0.113.1":  "UA",
	} {
		if got := db.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q, want %q", ip, got, want)
		}
	}
}
