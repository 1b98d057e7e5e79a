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
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := NormalizeCountry(tt.in); got != tt.want {
				t.Errorf("NormalizeCountry(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeNationality(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{"array", []any{"us", "DE"}, []string{"DE", "US"}},
		{"array with duplicates and junk", []any{"fr", "FR", "xx", 3, nil, "usa", " jp"}, []string{"FR", "JP"}},
		{"string slice", []string{"CA", "ca"}, []string{"CA"}},
		{"comma-separated", "us, de,FR", []string{"DE", "FR", "US"}},
		{"comma-separated with empties", ",us,,", []string{"US"}},
		{"single", "in", []string{"IN"}},
		{"empty string", "", []string{}},
		{"missing", nil, []string{}},
		{"number", 840.0, []string{}},
		{"object", map[string]any{"a": "US"}, []string{}},
		{"all invalid", []any{"XX", "EU"}, []string{}},
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
	got, err := subjectFromClaims(claims, DefaultClaimNames())
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
