package identity

import (
	"reflect"
	"testing"
)

func TestISO3166Count(t *testing.T) {
	if got, want := len(iso3166Alpha2), 249; got != want {
		t.Errorf("len(iso3166Alpha2) = %d, want %d officially assigned codes", got, want)
	}
	for code := range iso3166Alpha2 {
		if NormalizeCountry(code) != code {
			t.Errorf("table entry %q does not normalise to itself", code)
		}
	}
}

// TestISO3166SubdivisionCount pins the size of the ISO 3166-2 table and
// checks that it holds the regions the EAR embargoes (15 CFR 746.6).
func TestISO3166SubdivisionCount(t *testing.T) {
	if got, want := len(iso3166Subdivisions), 5127; got != want {
		t.Errorf("len(iso3166Subdivisions) = %d, want %d (Debian iso-codes 4.15.0)", got, want)
	}
	for code := range iso3166Subdivisions {
		if NormalizeCountry(code) != code {
			t.Errorf("table entry %q does not normalise to itself", code)
		}
	}
	for _, code := range []string{"UA-43", "UA-40", "UA-14", "UA-09"} {
		if _, ok := iso3166Subdivisions[code]; !ok {
			t.Errorf("%s missing", code)
		}
	}
}

func TestNormalizeCountry(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"US", "US"},
		{"us", "US"},
		{"uS", "US"},
		{" de ", "DE"},
		{"GB", "GB"},
		{"CN", "CN"},
		{"TW", "TW"},
		{"AX", "AX"},
		{"", ""},
		{"usa", ""},
		{"USA", ""},
		{"U S", ""},
		{"U.S.", ""},
		{"u", ""},
		{"XX", ""}, // user-assigned
		{"ZZ", ""}, // user-assigned
		{"AA", ""}, // user-assigned
		{"XK", ""}, // Kosovo: in use, not officially assigned
		{"UK", ""}, // exceptionally reserved; the code is GB
		{"EU", ""}, // exceptionally reserved
		{"SU", ""}, // transitionally reserved (former USSR)
		{"1A", ""},
		{"ÜS", ""},
		{"U\x00", ""},
		{"United States", ""},
		// ISO 3166-2 subdivisions: Crimea, Sevastopol, Donetsk, Luhansk.
		{"UA-43", "UA-43"},
		{" ua-40 ", "UA-40"},
		{"UA-14", "UA-14"},
		{"ua-09", "UA-09"},
		{"US-CA", "US-CA"},
		{"UA-99", ""}, // not assigned
		{"UA43", ""},
		{"UA-", ""},
		{"-43", ""},
		{"XX-43", ""},
		{"UA-043", ""},
		{"ſA-43", ""}, // ToUpper would make it SA-43
		{"UA-43-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := NormalizeCountry(tt.in); got != tt.want {
				t.Errorf("NormalizeCountry(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestNormalizeNationality also covers permanent_residence, which uses the
// same function. A present but malformed entry is InvalidCode, never
// dropped: dropping it would hide a deemed-export destination.
func TestNormalizeNationality(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{"array", []any{"us", "DE"}, []string{"DE", "US"}},
		{"array with duplicates and junk", []any{"fr", "FR", "xx", 3.0, nil, "usa", " jp"}, []string{"FR", "JP", InvalidCode}},
		{"array with blank entries", []any{"US", "", " "}, []string{"US"}},
		{"array entry with a comma", []any{"US,DE"}, []string{InvalidCode}},
		{"nested array", []any{[]any{"CN"}}, []string{InvalidCode}},
		{"empty array", []any{}, []string{}},
		{"string slice", []string{"CA", "ca"}, []string{"CA"}},
		{"string slice with invalid", []string{"CA", "CHN"}, []string{"CA", InvalidCode}},
		{"comma-separated", "us, de,FR", []string{"DE", "FR", "US"}},
		{"comma-separated with empties", ",us,,", []string{"US"}},
		{"comma-separated with empty middle", "US,,DE", []string{"DE", "US"}},
		{"comma-separated with trailing blank", "US, ", []string{"US"}},
		{"comma-separated with invalid", "US,China", []string{"US", InvalidCode}},
		{"single", "in", []string{"IN"}},
		{"single invalid", "CHN", []string{InvalidCode}},
		{"reserved codes", "UK,EU", []string{InvalidCode}},
		{"empty string", "", []string{}},
		{"blank string", "  ", []string{}},
		{"missing", nil, []string{}},
		{"number", 840.0, []string{InvalidCode}},
		{"bool", true, []string{InvalidCode}},
		{"object", map[string]any{"a": "US"}, []string{InvalidCode}},
		{"all invalid", []any{"XX", "EU"}, []string{InvalidCode}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NormalizeNationality(tt.in)
			if got == nil {
				t.Fatalf("NormalizeNationality(%#v) = nil, want non-nil", tt.in)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NormalizeNationality(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeVEU(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"uveu", "uveu", "uveu"},
		{"UVEU", "UVEU", "uveu"},
		{"NVeu", "NVeu", "nveu"},
		{"veu", "veu", ""},
		{"yes", "yes", ""},
		{"bool", true, ""},
		{"missing", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizeVEU(tt.in); got != tt.want {
				t.Errorf("normalizeVEU(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSubjectFromClaimsTypes(t *testing.T) {
	// Non-string values for string fields are treated as missing.
	claims := map[string]any{
		"sub": "s", "country": 840.0, "entity": []any{"x"}, "entity_id": 12.0,
		"entity_hq": true, "parent_hq": "usa", "exp": 1.0, "nbf": 1.0, "iat": 1.0,
	}
	got, err := subjectFromClaims(claims, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got.Country != "" || got.Entity.Name != "" || got.Entity.ID != "" {
		t.Errorf("Subject = %+v, want country, entity name and id empty", got)
	}
	// A headquarters that is present but malformed is not "missing" (which
	// would mean "same as the requester's country").
	if got.Entity.HQ != InvalidCode || got.Entity.ParentHQ != InvalidCode {
		t.Errorf("HQ = %q, parent HQ = %q, want both %q", got.Entity.HQ, got.Entity.ParentHQ, InvalidCode)
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		if _, ok := got.Claims[k]; ok {
			t.Errorf("Claims has %q", k)
		}
	}
	if _, ok := claims["exp"]; !ok {
		t.Errorf("subjectFromClaims modified its input")
	}
}

// TestNormalizeHQ: an absent or empty headquarters claim is "" (the policy
// then uses the requester's country); a present but malformed one is
// InvalidCode, never "", so it cannot pass as the requester's own country.
func TestNormalizeHQ(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""},
		{"", ""},
		{"  ", ""},
		{"cn", "CN"},
		{" US ", "US"},
		{"CHN", InvalidCode},
		{"China", InvalidCode},
		{"PRC", InvalidCode},
		{"XX", InvalidCode},
		{"cn.", InvalidCode},
		{156.0, InvalidCode},
		{[]any{"CN"}, InvalidCode},
		{true, InvalidCode},
	}
	for _, tt := range tests {
		if got := normalizeHQ(tt.in); got != tt.want {
			t.Errorf("normalizeHQ(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSubjectFromClaimsFlags: employee and security_attested count only as
// the JSON boolean true, and security_attested only when trusted.
func TestSubjectFromClaimsFlags(t *testing.T) {
	trusted := DefaultConfig()
	trusted.TrustedClaims = []string{TrustSecurityAttested}
	tests := []struct {
		name string
		in   any // nil: claim absent
		want bool
	}{
		{"true", true, true},
		{"false", false, false},
		{"absent", nil, false},
		{"string true", "true", false},
		{"number 1", 1.0, false},
		{"array", []any{true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := map[string]any{"sub": "s"}
			if tt.in != nil {
				claims["employee"] = tt.in
				claims["security_attested"] = tt.in
			}
			got, err := subjectFromClaims(claims, trusted)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := got.Employee, tt.want; got != want {
				t.Errorf("Employee = %v, want %v", got, want)
			}
			if got, want := got.Entity.SecurityAttested, tt.want; got != want {
				t.Errorf("Entity.SecurityAttested = %v, want %v", got, want)
			}
		})
	}
}

// TestSubjectFromClaimsTrust: veu and security_attested are taken from a
// token only when Config.TrustedClaims lists them; the raw claims stay in
// Subject.Claims either way.
func TestSubjectFromClaimsTrust(t *testing.T) {
	claims := map[string]any{"sub": "s", "veu": "UVEU", "security_attested": true, "employee": true}
	tests := []struct {
		name     string
		trusted  []string
		veu      string
		attested bool
	}{
		{"none trusted", nil, "", false},
		{"empty list", []string{}, "", false},
		{"veu only", []string{TrustVEU}, VEUUniversal, false},
		{"security_attested only", []string{TrustSecurityAttested}, "", true},
		{"both", []string{TrustSecurityAttested, TrustVEU}, VEUUniversal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TrustedClaims = tt.trusted
			got, err := subjectFromClaims(claims, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := got.Entity.VEU, tt.veu; got != want {
				t.Errorf("Entity.VEU = %q, want %q", got, want)
			}
			if got, want := got.Entity.SecurityAttested, tt.attested; got != want {
				t.Errorf("Entity.SecurityAttested = %v, want %v", got, want)
			}
			// employee is not an entity status and needs no trust.
			if !got.Employee {
				t.Errorf("Employee = false, want true")
			}
			if got.Claims["veu"] != "UVEU" || got.Claims["security_attested"] != true {
				t.Errorf("Claims = %v, want the raw veu and security_attested", got.Claims)
			}
		})
	}
}
