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

// NormalizeCountry returns s as an upper-case ISO 3166-1 alpha-2 code, or as
// an upper-case ISO 3166-2 subdivision code ("UA-43", the Crimea region,
// which the EAR embargoes apart from Ukraine), or "" when s (after trimming
// surrounding spaces) is neither an officially assigned country code nor a
// subdivision code of the ISO 3166-2 table. It never guesses: "usa", "U S",
// "XX", "UK" and "UA-99" all give "".
func NormalizeCountry(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 6 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			// ToUpper maps some non-ASCII letters to ASCII ones ("ſ" to
			// "S"): only ASCII input can be a code.
			return ""
		}
	}
	s = strings.ToUpper(s)
	if len(s) != 2 {
		if _, ok := iso3166Subdivisions[s]; ok {
			return s
		}
		return ""
	}
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

// InvalidCode stands in for a headquarters, nationality or permanent
// residence that is present in a token but is not an assigned ISO code
// ("CHN", "China", 156, ["CN"]). It is deliberately not two letters, so the
// policy reads it as an unknown destination.
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

// NormalizeNationality turns a nationality or permanent_residence claim into
// a sorted, de-duplicated list of upper-case ISO 3166-1 alpha-2 codes. The
// result is never nil.
//
// v may be a JSON array of strings or one comma-separated string. Blank
// entries ("US,,DE", "US, ", or "" in an array) carry nothing and are
// ignored, so an absent, null or empty claim gives an empty list. Every
// other entry that is not an assigned code ("USA", "XX", 840, null inside an
// array) becomes InvalidCode rather than disappearing, and a claim of any
// other type (number, boolean, object) gives []string{InvalidCode}. These
// claims name deemed-export destinations: dropping "CHN" would make a
// Chinese national look like one with no other nationality, whereas
// InvalidCode makes the policy treat the destination as unknown and deny.
func NormalizeNationality(v any) []string {
	var raw []any
	switch t := v.(type) {
	case nil:
	case string:
		for _, s := range strings.Split(t, ",") {
			raw = append(raw, s)
		}
	case []string:
		for _, s := range t {
			raw = append(raw, s)
		}
	case []any:
		raw = t
	default:
		return []string{InvalidCode}
	}
	out := []string{}
	for _, e := range raw {
		s, ok := e.(string)
		switch {
		case !ok:
			out = append(out, InvalidCode)
		case strings.TrimSpace(s) == "":
			// A blank entry names no country.
		case NormalizeCountry(s) == "":
			out = append(out, InvalidCode)
		default:
			out = append(out, NormalizeCountry(s))
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

// isTrue reports whether v is the JSON boolean true. Anything else ("true",
// 1, null, absent) is false: these claims widen what a requester may
// receive, so only an unambiguous value counts.
func isTrue(v any) bool {
	b, ok := v.(bool)
	return ok && b
}

// subjectFromClaims maps verified claims into a policy.Subject using the
// claim names of cfg, which must have its defaults applied. Entity.VEU and
// Entity.SecurityAttested are read only when cfg trusts those claims (see
// Config.TrustedClaims). It fails only when the subject claim is missing,
// empty or not a string.
func subjectFromClaims(claims map[string]any, cfg Config) (policy.Subject, error) {
	names := cfg.Claims
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
	entity := policy.Entity{
		Name:     str(names.Entity),
		ID:       str(names.EntityID),
		HQ:       normalizeHQ(claims[names.EntityHQ]),
		ParentHQ: normalizeHQ(claims[names.ParentHQ]),
	}
	if cfg.trusts(TrustVEU) {
		entity.VEU = normalizeVEU(claims[names.VEU])
	}
	if cfg.trusts(TrustSecurityAttested) {
		entity.SecurityAttested = isTrue(claims[names.SecurityAttested])
	}
	return policy.Subject{
		Anonymous:          false,
		ID:                 id,
		Name:               strings.TrimSpace(str(names.Name)),
		Country:            NormalizeCountry(str(names.Country)),
		Nationality:        NormalizeNationality(claims[names.Nationality]),
		PermanentResidence: NormalizeNationality(claims[names.PermanentResidence]),
		Employee:           isTrue(claims[names.Employee]),
		USPerson:           isTrue(claims[names.USPerson]),
		Entity:             entity,
		Claims:             rest,
	}, nil
}
