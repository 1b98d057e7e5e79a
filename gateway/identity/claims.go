package identity

import (
	"maps"
	"slices"
	"strings"

	"github.com/weightgate/weightgate/policy"
)

// VEU values a token may carry (compared case-insensitively).
const (
	VEUUniversal = "uveu"
	VEUNational  = "nveu"
)

// excludedClaims are left out of Subject.Claims. The time claims differ on
// every token and say nothing about who the requester is; keeping them out
// keeps policy input and audit records stable across token renewals, and
// stops policies from reasoning about token age (the verifier already did).
var excludedClaims = []string{"exp", "nbf", "iat"}

// NormalizeCountry returns s as an upper-case ISO 3166-1 alpha-2 code, or ""
// when s (after trimming surrounding spaces) is not exactly two ASCII letters
// forming an officially assigned code. It never guesses: "usa", "U S",
// "XX" and "UK" all give "".
func NormalizeCountry(s string) string {
	s = strings.TrimSpace(s)
	if len(s) != 2 {
		return ""
	}
	s = strings.ToUpper(s)
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return ""
		}
	}
	if _, ok := iso3166Alpha2[s]; !ok {
		return ""
	}
	return s
}

// InvalidCode stands in for a headquarters claim that is present but is not
// an assigned ISO code ("CHN", "China", 156, ["CN"]). It is deliberately not
// two letters, so the policy reads it as an unknown destination.
const InvalidCode = "invalid"

// normalizeHQ normalises an entity_hq or parent_hq claim. Unlike a missing
// country, a missing headquarters is not unknown: the policy takes it to be
// the requester's own country. So an absent or empty claim gives "", and a
// present but malformed one gives InvalidCode, never "": an IdP that writes
// "CHN" must not make a Chinese entity look like a local one.
func normalizeHQ(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		if strings.TrimSpace(s) == "" {
			return ""
		}
		if c := NormalizeCountry(s); c != "" {
			return c
		}
	}
	return InvalidCode
}

// NormalizeNationality turns a nationality claim into a sorted, de-duplicated
// list of ISO 3166-1 alpha-2 codes. v may be a JSON array of strings or one
// comma-separated string; invalid entries are dropped, and any other type
// gives an empty list. The result is never nil.
func NormalizeNationality(v any) []string {
	var raw []string
	switch t := v.(type) {
	case string:
		raw = strings.Split(t, ",")
	case []string:
		raw = t
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				raw = append(raw, s)
			}
		}
	}
	out := []string{}
	for _, s := range raw {
		if c := NormalizeCountry(s); c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// normalizeVEU returns "uveu" or "nveu" for those values in any case, else "".
func normalizeVEU(v any) string {
	s, _ := v.(string)
	switch s = strings.ToLower(strings.TrimSpace(s)); s {
	case VEUUniversal, VEUNational:
		return s
	}
	return ""
}

// subjectFromClaims maps verified claims into a policy.Subject using names.
// It fails only when the subject claim is missing, empty or not a string.
func subjectFromClaims(claims map[string]any, names ClaimNames) (policy.Subject, error) {
	id, _ := claims[names.Subject].(string)
	if id == "" {
		return policy.Subject{}, newError(ReasonMissingSubject, nil)
	}
	str := func(name string) string {
		s, _ := claims[name].(string)
		return s
	}
	rest := maps.Clone(claims)
	for _, k := range excludedClaims {
		delete(rest, k)
	}
	if rest == nil {
		rest = map[string]any{}
	}
	return policy.Subject{
		Anonymous:   false,
		ID:          id,
		Country:     NormalizeCountry(str(names.Country)),
		Nationality: NormalizeNationality(claims[names.Nationality]),
		Entity: policy.Entity{
			Name:     str(names.Entity),
			ID:       str(names.EntityID),
			HQ:       normalizeHQ(claims[names.EntityHQ]),
			ParentHQ: normalizeHQ(claims[names.ParentHQ]),
			VEU:      normalizeVEU(claims[names.VEU]),
		},
		Claims: rest,
	}, nil
}
