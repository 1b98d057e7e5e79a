package identity

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Fuzz targets of claims mapping and bearer parsing.

// validCode reports whether c is an upper-case assigned ISO 3166-1 alpha-2
// code or an ISO 3166-2 subdivision code.
func validCode(c string) bool {
	if _, ok := iso3166Subdivisions[c]; ok {
		return true
	}
	_, ok := iso3166Alpha2[c]
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' && ok
}

// FuzzNormalizeCountry: the result is "" or an assigned upper-case code, and
// a code is only ever the input itself, trimmed and upper-cased: never a
// guess.
func FuzzNormalizeCountry(f *testing.F) {
	for _, s := range []string{"US", "us", " de ", "usa", "U S", "XX", "UK", "GB", "", "  ", "c\xffn", "ſt", "ı", "\u00a0US\u00a0", "AA", "ZZ", "eu", "UA-43", "ua-40 ", "UA-99", "US-", "-43", "ſA-43"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := NormalizeCountry(s)
		if got == "" {
			return
		}
		if !validCode(got) {
			t.Fatalf("NormalizeCountry(%q) = %q: not an assigned upper-case code", s, got)
		}
		if want := strings.ToUpper(strings.TrimSpace(s)); got != want {
			t.Fatalf("NormalizeCountry(%q) = %q, not the input upper-cased (%q)", s, got, want)
		}
	})
}

// FuzzNormalizeNationality: for a claim decoded from any JSON value the
// result is a non-nil, sorted, duplicate-free list of assigned codes and
// InvalidCode; a claim that holds a non-blank entry never maps to an empty
// list, an invalid entry always shows as InvalidCode, and every valid entry
// is kept.
func FuzzNormalizeNationality(f *testing.F) {
	for _, s := range []string{
		`"US"`, `"US,DE"`, `"us, de ,US"`, `"US,,DE"`, `""`, `" "`, `null`, `["CN"]`, `["CN","cn","US"]`,
		`["CHN"]`, `[null]`, `[840]`, `840`, `true`, `{"a":"US"}`, `[]`, `["", " "]`, `"USA"`, `[["US"]]`, `"U\u0053"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		got := NormalizeNationality(v)
		if got == nil {
			t.Fatalf("NormalizeNationality(%s) = nil", b)
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("NormalizeNationality(%s) = %q: not sorted and unique", b, got)
		}
		for _, c := range got {
			if c != InvalidCode && !validCode(c) {
				t.Fatalf("NormalizeNationality(%s) = %q: %q", b, got, c)
			}
		}
		// The expected set, computed independently.
		var entries []any
		switch t := v.(type) {
		case nil:
		case string:
			for _, s := range strings.Split(t, ",") {
				entries = append(entries, s)
			}
		case []any:
			entries = t
		default:
			entries = []any{v} // one invalid entry
		}
		want := map[string]bool{}
		for _, e := range entries {
			s, ok := e.(string)
			switch {
			case !ok:
				want[InvalidCode] = true
			case strings.TrimSpace(s) == "":
			case NormalizeCountry(s) == "":
				want[InvalidCode] = true
			default:
				want[strings.ToUpper(strings.TrimSpace(s))] = true
			}
		}
		if len(want) != len(got) {
			t.Fatalf("NormalizeNationality(%s) = %q, want the set %v", b, got, want)
		}
		for _, c := range got {
			if !want[c] {
				t.Fatalf("NormalizeNationality(%s) = %q, want the set %v", b, got, want)
			}
		}
	})
}

// FuzzSubjectFromClaims: for any JSON object of claims, subjectFromClaims
// does not panic or modify its input; it fails exactly when "sub" is not a
// non-empty string, with ReasonMissingSubject; VEU and security attestation
// are taken only when trusted (a VEU is then "uveu" or "nveu"), employee only
// from the boolean true; countries are assigned codes or empty, headquarters
// also InvalidCode; and the time claims are left out of Subject.Claims.
func FuzzSubjectFromClaims(f *testing.F) {
	for _, s := range []string{
		`{"sub":"alice","country":"US","nationality":["US","DE"],"employee":true}`,
		`{"sub":"s","country":840,"entity":["x"],"entity_id":12,"entity_hq":true,"parent_hq":"usa","exp":1,"nbf":1,"iat":1}`,
		`{"sub":"s","veu":"UVEU","security_attested":true,"employee":true}`,
		`{"sub":"s","veu":" nveu ","security_attested":"true","employee":1}`,
		`{"sub":"s","veu":["uveu"],"entity_hq":"CHN","permanent_residence":"US,,CN"}`,
		`{"sub":""}`, `{"sub":null}`, `{"sub":5}`, `{}`, `{"name":"  Bob  ","entity":"Acme","entity_id":"E1"}`,
		`{"sub":"s","nationality":{"a":1},"permanent_residence":[null,""]}`,
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, trustVEU, trustAttested bool) {
		var claims map[string]any
		if json.Unmarshal(b, &claims) != nil {
			return
		}
		var orig map[string]any
		if err := json.Unmarshal(b, &orig); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		if trustVEU {
			cfg.TrustedClaims = append(cfg.TrustedClaims, TrustVEU)
		}
		if trustAttested {
			cfg.TrustedClaims = append(cfg.TrustedClaims, TrustSecurityAttested)
		}
		sub, err := subjectFromClaims(claims, cfg)
		if !reflect.DeepEqual(claims, orig) {
			t.Fatalf("subjectFromClaims modified its input: %v, was %v", claims, orig)
		}
		id, _ := claims["sub"].(string)
		if err != nil {
			var e *Error
			if id != "" || !errors.As(err, &e) || e.Reason != ReasonMissingSubject {
				t.Fatalf("subjectFromClaims(%s): %v", b, err)
			}
			return
		}
		if id == "" || sub.ID != id || sub.Anonymous {
			t.Fatalf("subjectFromClaims(%s): ID %q, anonymous %v", b, sub.ID, sub.Anonymous)
		}
		switch {
		case !trustVEU && sub.Entity.VEU != "":
			t.Fatalf("subjectFromClaims(%s): VEU %q taken from an untrusted claim", b, sub.Entity.VEU)
		case sub.Entity.VEU != "" && sub.Entity.VEU != VEUUniversal && sub.Entity.VEU != VEUNational:
			t.Fatalf("subjectFromClaims(%s): VEU %q", b, sub.Entity.VEU)
		case !trustAttested && sub.Entity.SecurityAttested:
			t.Fatalf("subjectFromClaims(%s): security attestation taken from an untrusted claim", b)
		case sub.Entity.SecurityAttested && claims["security_attested"] != true:
			t.Fatalf("subjectFromClaims(%s): security attestation from %#v", b, claims["security_attested"])
		case sub.Employee != (claims["employee"] == true):
			t.Fatalf("subjectFromClaims(%s): employee %v from %#v", b, sub.Employee, claims["employee"])
		case sub.Country != "" && !validCode(sub.Country):
			t.Fatalf("subjectFromClaims(%s): country %q", b, sub.Country)
		}
		for _, hq := range []string{sub.Entity.HQ, sub.Entity.ParentHQ} {
			if hq != "" && hq != InvalidCode && !validCode(hq) {
				t.Fatalf("subjectFromClaims(%s): headquarters %q", b, hq)
			}
		}
		for _, l := range [][]string{sub.Nationality, sub.PermanentResidence} {
			if l == nil {
				t.Fatalf("subjectFromClaims(%s): nil nationality list", b)
			}
		}
		if sub.Claims == nil {
			t.Fatalf("subjectFromClaims(%s): nil Claims", b)
		}
		for k, v := range claims {
			_, kept := sub.Claims[k]
			if excluded := slices.Contains(excludedClaims, k); kept == excluded {
				t.Fatalf("subjectFromClaims(%s): claim %q kept=%v", b, k, kept)
			}
			if !slices.Contains(excludedClaims, k) && !reflect.DeepEqual(sub.Claims[k], v) {
				t.Fatalf("subjectFromClaims(%s): claim %q changed", b, k)
			}
		}
	})
}

// FuzzParseBearer: an empty header is anonymous; anything else is present,
// and is either "Bearer" (any case), one or more spaces and a token68 that
// is returned exactly, or a malformed_authorization *Error.
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{
		"Bearer abc.def.ghi", "bearer  abc", "BEARER a==", "Bearer", "Bearer ", "Bearer a b", "Basic dXNlcjpw",
		"Bearer =", "Bearer a=b", "Bearer\tabc", " Bearer abc", "Bearer abc ", "Bearer a+/~_-.", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, present, err := ParseBearer(h)
		if h == "" {
			if present || err != nil || tok != "" {
				t.Fatalf("ParseBearer(\"\") = %q, %v, %v", tok, present, err)
			}
			return
		}
		if !present {
			t.Fatalf("ParseBearer(%q): not present", h)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonMalformedAuthorization || tok != "" {
				t.Fatalf("ParseBearer(%q) = %q, %v", h, tok, err)
			}
			return
		}
		if len(h) < 8 || !strings.EqualFold(h[:7], "Bearer ") {
			t.Fatalf("ParseBearer(%q) accepted another scheme", h)
		}
		if rest := strings.TrimLeft(h[7:], " "); rest != tok || tok == "" {
			t.Fatalf("ParseBearer(%q) = %q, want %q", h, tok, rest)
		}
		body := strings.TrimRight(tok, "=")
		if body == "" || strings.ContainsFunc(body, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/", c))
		}) {
			t.Fatalf("ParseBearer(%q) = %q: not token68", h, tok)
		}
	})
}
