// Package geotest writes small MaxMind-format country databases for tests,
// so that nothing under test needs a real (licensed, changing) GeoIP file or
// the network.
//
// It deliberately does not import geo: geo's own tests read these
// databases back, and an import the other way would be a cycle.
package geotest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// DatabaseType is the metadata database_type of the files WriteCountryDB
// writes. It is the type of MaxMind's free country database, so readers that
// check the type accept the test files as they would the real one.
const DatabaseType = "GeoLite2-Country"

// buildEpoch is a fixed build time (2024-01-01T00:00:00Z). mmdbwriter would
// otherwise stamp the current time into the metadata, and the same input
// would not give the same bytes.
const buildEpoch = 1704067200

// WriteCountryDB writes a GeoLite2-Country-shaped .mmdb to path, mapping each
// network to an ISO country code. Every record is {"country":{"iso_code":code}}.
//
// Keys are CIDR prefixes ("192.0.2.0/24", "2001:db8::/32") or bare addresses
// (a /32 or /128). Prefixes must be canonical (no host bits set), so that two
// spellings of one network cannot race for it. Where networks overlap the more
// specific one wins, whatever the map order. Codes are written as given (not
// upper-cased), so callers can test how a reader normalises them; an empty
// code is an error.
//
// Reserved networks are allowed (IncludeReservedNetworks), so the
// documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
// 2001:db8::/32 can stand in for real addresses. IPv4-mapped IPv6 prefixes
// (::ffff:0:0/96) are rejected by the writer: IPv4 networks are stored once
// and aliased there.
//
// The output is deterministic: the same networks give the same bytes. An
// empty map writes a valid database with no records. WriteCountryDB returns
// errors rather than taking a *testing.T so that any test (or tool) can use it.
func WriteCountryDB(path string, networks map[string]string) error {
	type record struct {
		prefix netip.Prefix
		code   string
	}
	records := make([]record, 0, len(networks))
	for key, code := range networks {
		prefix, err := parseNetwork(key)
		if err != nil {
			return fmt.Errorf("geotest: network %q: %w", key, err)
		}
		if code == "" {
			return fmt.Errorf("geotest: network %q: empty country code", key)
		}
		records = append(records, record{prefix, code})
	}
	// Broader networks first: with the default ReplaceWith inserter a later
	// insert overwrites the part of an earlier one it covers, so this order
	// makes the most specific network win. The rest of the key only fixes the
	// order for determinism (prefixes are unique after parseNetwork).
	slices.SortFunc(records, func(a, b record) int {
		return cmp.Or(
			cmp.Compare(a.prefix.Bits(), b.prefix.Bits()),
			a.prefix.Addr().Compare(b.prefix.Addr()),
		)
	})

	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:              buildEpoch,
		DatabaseType:            DatabaseType,
		Description:             map[string]string{"en": "weightgate test country database"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              24,
	})
	if err != nil {
		return fmt.Errorf("geotest: new tree: %w", err)
	}
	for _, rec := range records {
		addr := rec.prefix.Addr()
		network := &net.IPNet{
			IP:   addr.AsSlice(), // 4 bytes for IPv4: mmdbwriter places it in the IPv4 subtree
			Mask: net.CIDRMask(rec.prefix.Bits(), addr.BitLen()),
		}
		value := mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(rec.code)},
		}
		if err := tree.Insert(network, value); err != nil {
			return fmt.Errorf("geotest: insert %s: %w", rec.prefix, err)
		}
	}

	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return fmt.Errorf("geotest: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("geotest: %w", err)
	}
	return nil
}

// parseNetwork parses a canonical CIDR prefix or a bare address.
func parseNetwork(s string) (netip.Prefix, error) {
	if addr, err := netip.ParseAddr(s); err == nil {
		if addr.Zone() != "" {
			return netip.Prefix{}, errors.New("address has a zone")
		}
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	prefix, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not a CIDR prefix or IP address")
	}
	if masked := prefix.Masked(); masked != prefix {
		return netip.Prefix{}, fmt.Errorf("host bits set (did you mean %s?)", masked)
	}
	return prefix, nil
}
