// Package geo answers two questions about a request: which address did it
// come from, and which country is that address in.
//
// # Client address
//
// ClientAddr starts from the TCP peer, the one address the client cannot
// choose (short of owning the route). Forwarded and X-Forwarded-For are
// written by whoever sent the request, so they are read only when the peer is
// one of the operator's trusted proxies. Otherwise a client could put any
// address in a header and pick the country the location check sees.
//
// Even from a trusted proxy, the headers are a list that each hop appends
// to. The leftmost entries come from the client or from proxies we know
// nothing about. The rightmost entry was added by the proxy that connected to
// us, and each step to the left was reported by the hop to its right. So the
// walk goes right to left and only trusts an entry as far as the chain of
// trusted proxies vouches for it. Trusted hops are skipped, and the first
// untrusted hop is the client: it is the last address a trusted proxy actually
// saw. Anything further left was written by that client and may be invented.
// Taking the leftmost entry, as naive code does, would let a client spoof its
// location by sending its own X-Forwarded-For.
//
// A hop that cannot be parsed, or one that hides its address ("unknown",
// "_hidden" in Forwarded), stops the walk with the zero address and
// ViaMalformed: the client's address is unknown, and we never guess it from a
// neighbouring entry. Callers should handle that as they handle an unknown
// country. Junk to the left of the first untrusted hop is never looked at, so
// a client cannot make an honest chain malformed by prefixing junk to
// X-Forwarded-For. (In Forwarded, a client's own unbalanced quote can swallow
// what a proxy appends to the same header line; the client then only makes its
// own address unknown.)
//
// Forwarded (RFC 7239) is preferred over X-Forwarded-For when it carries any
// for= parameter. A trusted proxy that writes only X-Forwarded-For must
// therefore remove Forwarded headers sent by clients, or they will be read.
//
// # Country
//
// DB reads a MaxMind-format country database: GeoIP2/GeoLite2 Country or
// City, or the DB-IP lite databases, which share the record shape. Addresses
// that are not on the public internet (private, loopback, link-local,
// unspecified, CGNAT 100.64.0.0/10, multicast) have no country; a database
// may still map them, but a private address says nothing about where a
// client is.
package geo

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is a MaxMind-format country database. Its methods are safe for
// concurrent use, except Close, which must not run while other calls are in
// flight.
type DB struct {
	r *maxminddb.Reader
}

// probeRecords bounds how many records Open decodes to check the record
// shape. The first records of a real database settle the question; the
// bound keeps Open fast on a large database that has no country data at all.
const probeRecords = 64

// MaxDBSize bounds the database file Open reads: a country database is a few
// MB and a city one under 100 MB.
const MaxDBSize = 512 << 20

// Open reads the database at path into memory. It returns an error naming
// the file if the file cannot be read or is larger than MaxDBSize, is not a
// MaxMind DB, has a database type without country records (for example an
// ASN database), or has records that do not carry country.iso_code.
//
// The file is read, not memory-mapped: an operator who overwrites it in
// place (cp, or a download into the same path) would otherwise change the
// database in use under its lookups, and a half-written file would answer
// them. What is in use changes only when Open (or a reload) succeeds.
func Open(path string) (*DB, error) {
	buf, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	if err := checkCountryDB(r); err != nil {
		r.Close()
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// checkCountryDB checks that r looks like a country database. The metadata
// type is the documented contract (GeoIP2-Country, GeoLite2-City,
// DBIP-Country-Lite, ...); the probe catches a file whose type says country
// but whose records have another shape, which would otherwise make every
// lookup silently answer "".
func checkCountryDB(r *maxminddb.Reader) error {
	typ := r.Metadata.DatabaseType
	lower := strings.ToLower(typ)
	if !strings.Contains(lower, "country") && !strings.Contains(lower, "city") && !strings.Contains(lower, "enterprise") {
		return fmt.Errorf("database type %q has no country records (want a Country, City or Enterprise database)", typ)
	}
	n := 0
	for res := range r.Networks() {
		var rec countryRecord
		if err := res.Decode(&rec); err != nil {
			return fmt.Errorf("record for %s: %w", res.Prefix(), err)
		}
		if rec.code() != "" {
			return nil
		}
		if n++; n == probeRecords {
			break
		}
	}
	return errors.New("no records with a country iso_code")
}

// countryRecord is the part of a country record that Country decodes. Naming
// only these fields lets the decoder skip names, geoname IDs and the rest.
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	// Subdivisions, most general first, are in City and Enterprise
	// databases: a region the EAR embargoes apart from its country (Crimea,
	// ISO 3166-2 UA-43) is told from the rest of the country only by them.
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
}

// code returns the country (where the address is used), else the registered
// country (who holds the block), normalised; "" if neither is a valid code.
//
// When the record places the address in the country (not only by the
// registered country) and names its first-level subdivision, the code is the
// ISO 3166-2 subdivision code, "UA-43": the policy judges a subdivision as
// its country unless it lists the subdivision itself.
func (rec *countryRecord) code() string {
	if c := normCode(rec.Country.ISOCode); c != "" {
		if len(rec.Subdivisions) > 0 {
			if sub := normSubdivision(rec.Subdivisions[0].ISOCode); sub != "" {
				return c + "-" + sub
			}
		}
		return c
	}
	return normCode(rec.RegisteredCountry.ISOCode)
}

// normSubdivision upper-cases the part of an ISO 3166-2 code after the
// country ("43" of UA-43: one to three ASCII letters or digits, as the
// standard writes them) and returns "" for anything else.
func normSubdivision(s string) string {
	if len(s) < 1 || len(s) > 3 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isASCIILetter(c) && !('0' <= c && c <= '9') {
			return ""
		}
	}
	return strings.ToUpper(s)
}

// normCode upper-cases an ISO 3166-1 alpha-2 code and returns "" for anything
// that is not two ASCII letters, so callers can compare codes directly.
func normCode(s string) string {
	if len(s) != 2 || !isASCIILetter(s[0]) || !isASCIILetter(s[1]) {
		return ""
	}
	return strings.ToUpper(s) // no allocation when s is already upper case
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// cgnat is the shared address space of RFC 6598, used behind carrier-grade
// NAT. netip does not count it as private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Country returns the upper-case ISO 3166-1 alpha-2 code of ip's country
// (its ISO 3166-2 subdivision code when the database has one, see
// countryRecord.code), falling back to the registered country. It returns "" when the database has
// no record, when the record has no valid code, when the lookup fails, and
// for addresses that are not public: invalid, unspecified, loopback, private
// (RFC 1918, fc00::/7), link-local, CGNAT (100.64.0.0/10) or multicast.
// IPv4-mapped IPv6 addresses are looked up as IPv4. A nil DB knows no
// countries.
func (db *DB) Country(ip netip.Addr) string {
	if db == nil || !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	if !isPublic(ip) {
		return ""
	}
	res := db.r.Lookup(ip)
	if !res.Found() {
		return ""
	}
	var rec countryRecord
	if err := res.Decode(&rec); err != nil {
		// Open checked the shape, so this is a damaged record. There is
		// nothing better to say about the address than "unknown".
		return ""
	}
	return rec.code()
}

func isPublic(ip netip.Addr) bool {
	return !ip.IsUnspecified() &&
		!ip.IsLoopback() &&
		!ip.IsPrivate() &&
		!ip.IsLinkLocalUnicast() &&
		!ip.IsMulticast() && // includes link-local and interface-local multicast
		!cgnat.Contains(ip)
}

// Close releases the database. A nil DB closes without error.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	return db.r.Close()
}

// readFile reads path, refusing one larger than MaxDBSize.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, MaxDBSize+1))
	if err != nil {
		return nil, err
	}
	if len(buf) > MaxDBSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxDBSize>>20)
	}
	return buf, nil
}
