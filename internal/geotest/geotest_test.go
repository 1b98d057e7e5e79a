package geotest

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

// countryRecord is the part of a GeoLite2-Country record the tests read.
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
}

// MustWrite writes networks to a new file in a temporary directory.
func MustWrite(tb testing.TB, networks map[string]string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "country.mmdb")
	if err := WriteCountryDB(path, networks); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestWriteCountryDB(t *testing.T) {
	path := MustWrite(t, map[string]string{
		"192.0.2.0/24":    "DE",
		"192.0.2.128/25":  "fr", // more specific, and written as given
		"198.51.100.7":    "US", // bare address = /32
		"203.0.113.0/24":  "CN",
		"2001:db8::/32":   "JP",
		"2001:db8:1::/48": "SG",
		"10.0.0.0/8":      "GB", // reserved (private) networks are allowed
	})
	db, err := maxminddb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	if got, want := db.Metadata.DatabaseType, "GeoLite2-Country"; got != want {
		t.Errorf("DatabaseType = %q, want %q", got, want)
	}
	if got, want := db.Metadata.IPVersion, uint(6); got != want {
		t.Errorf("IPVersion = %d, want %d", got, want)
	}
	if err := db.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}

	tests := []struct {
		ip   string
		want string // "" = no record
	}{
		{"192.0.2.1", "DE"},
		{"192.0.2.127", "DE"},
		{"192.0.2.128", "fr"},
		{"192.0.2.255", "fr"},
		{"198.51.100.7", "US"},
		{"198.51.100.8", ""},
		{"203.0.113.200", "CN"},
		{"2001:db8::1", "JP"},
		{"2001:db8:1::1", "SG"},
		{"2001:db8:2::1", "JP"},
		{"10.1.2.3", "GB"},
		{"8.8.8.8", ""},
		{"2001:4860::8888", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			res := db.Lookup(netip.MustParseAddr(tt.ip))
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := res.Found(), tt.want != ""; got != want {
				t.Fatalf("Found = %v, want %v", got, want)
			}
			var rec countryRecord
			if err := res.Decode(&rec); err != nil {
				t.Fatal(err)
			}
			if got, want := rec.Country.ISOCode, tt.want; got != want {
				t.Errorf("iso_code = %q, want %q", got, want)
			}
		})
	}
}

// The same networks give the same bytes, whatever the map iteration order
// (Go randomises it, so several writes exercise several orders).
func TestWriteCountryDBDeterministic(t *testing.T) {
	networks := map[string]string{
		"192.0.2.0/24":    "DE",
		"192.0.2.0/26":    "AT",
		"198.51.100.0/24": "US",
		"203.0.113.0/24":  "CN",
		"2001:db8::/32":   "JP",
		"2001:db8:a::/48": "KR",
	}
	first, err := os.ReadFile(MustWrite(t, networks))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		again, err := os.ReadFile(MustWrite(t, networks))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("two writes of the same networks differ")
		}
	}
}

func TestWriteCountryDBErrors(t *testing.T) {
	tests := []struct {
		name     string
		networks map[string]string
		path     string // "" = a fresh temporary file
		want     string // substring of the error
	}{
		{"not a network", map[string]string{"example.com": "US"}, "", `network "example.com": not a CIDR prefix`},
		{"bad prefix length", map[string]string{"192.0.2.0/33": "US"}, "", `network "192.0.2.0/33"`},
		{"host bits", map[string]string{"192.0.2.1/24": "US"}, "", "did you mean 192.0.2.0/24"},
		{"zone", map[string]string{"fe80::1%eth0": "US"}, "", "zone"},
		{"empty code", map[string]string{"192.0.2.0/24": ""}, "", "empty country code"},
		{"ipv4-mapped", map[string]string{"::ffff:192.0.2.0/120": "US"}, "", "insert ::ffff:192.0.2.0/120"},
		{"unwritable path", map[string]string{"192.0.2.0/24": "US"}, filepath.Join(t.TempDir(), "missing", "x.mmdb"), "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "x.mmdb")
			}
			err := WriteCountryDB(path, tt.networks)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Errorf("error = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// An empty map is a valid database with no records.
func TestWriteCountryDBEmpty(t *testing.T) {
	db, err := maxminddb.Open(MustWrite(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Lookup(netip.MustParseAddr("192.0.2.1")).Found() {
		t.Error("empty database found a record")
	}
}
