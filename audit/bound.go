package audit

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/weightgate/weightgate/policy"
)

// MaxRecordBytes is the most bytes a Record takes on the trail as JSON (the
// line's "record" member). A request can put strings of up to a megabyte
// (the path, header-borne claims, a Range header) into its record, several
// times over; bounding the record bounds the disk an anonymous requester can
// fill per request. 16 KiB keeps a decision with a large identity provider's
// claims (a few hundred groups) whole; an ordinary decision is 1 to 3 KiB.
const MaxRecordBytes = 16 << 10

// Per-field bounds, in bytes of the field's JSON encoding (escapes
// included), so that the sum over all fields is bounded whatever the input.
const (
	maxLongField  = 1024 // paths, reasons, error messages
	maxShortField = 256  // names, ids, addresses, codes
	maxTinyField  = 64   // country codes, enumerations, times
	maxListItems  = 16   // entries of nationality and permanent_residence
	// maxClaimsBytes bounds the verified claims copied into the policy
	// input, as JSON.
	maxClaimsBytes = 8 << 10
	// maxClaimString and maxClaimItems bound each string and each array
	// inside claims that are over maxClaimsBytes; maxClaimDepth their
	// nesting.
	maxClaimString = 256
	maxClaimItems  = 32
	maxClaimDepth  = 4
)

// truncMark ends a string that was cut.
const truncMark = "…"

// Truncation names a field of a Record that was cut to keep the record
// within its bounds, and the field's length before: bytes for a string,
// entries for a list, bytes of JSON for input.subject.claims and input.
type Truncation struct {
	Field  string `json:"field"`
	Length int    `json:"length"`
}

// bound returns rec as JSON of at most MaxRecordBytes. Every string a
// request can influence is cut to its field's bound (marked with "…" and
// listed in Truncated); if the record is still too large, the claims and
// then the whole policy input are left out, and listed too. rec itself is
// never changed: the gateway goes on using it. A record within every bound
// encodes exactly as json.Marshal encodes it.
func bound(rec *Record) ([]byte, error) {
	c, changed := boundFields(rec)
	b, err := marshalRecord(c)
	if err != nil || len(b) <= MaxRecordBytes {
		return b, err
	}
	if !changed {
		cc := *c
		cc.Truncated = slices.Clone(cc.Truncated)
		c = &cc
	}
	// Still too large: many fields near their bounds. Drop the largest
	// parts of the input, the claims first (they are also in the token's
	// issuer's logs), then the input itself.
	if c.Input != nil && c.Input.Subject.Claims != nil {
		in := *c.Input
		in.Subject.Claims = nil
		c.Truncated = append(c.Truncated, Truncation{Field: "input.subject.claims", Length: jsonLen(c.Input.Subject.Claims)})
		c.Input = &in
		if b, err = marshalRecord(c); err != nil || len(b) <= MaxRecordBytes {
			return b, err
		}
	}
	if c.Input != nil {
		c.Truncated = append(c.Truncated, Truncation{Field: "input", Length: jsonLen(c.Input)})
		c.Input = nil
		if b, err = marshalRecord(c); err != nil || len(b) <= MaxRecordBytes {
			return b, err
		}
	}
	// The remaining fields are bounded so that this cannot happen; refuse
	// rather than write an unbounded record.
	return nil, fmt.Errorf("audit: record of %d bytes exceeds %d after truncation", len(b), MaxRecordBytes)
}

// boundFields returns rec with every field within its bound: rec itself
// (and false) when nothing needed cutting, else a copy (and true) whose
// Truncated lists the cut fields.
func boundFields(rec *Record) (*Record, bool) {
	var t truncator
	c := *rec
	c.Truncated = nil
	for _, f := range []struct {
		name string
		s    *string
		max  int
	}{
		{"type", &c.Type, maxTinyField},
		{"request_id", &c.RequestID, maxTinyField},
		{"api", &c.API, maxTinyField},
		{"method", &c.Method, maxTinyField},
		{"path", &c.Path, maxLongField},
		{"remote_addr", &c.RemoteAddr, maxShortField},
		{"subject", &c.Subject, maxShortField},
		{"entity", &c.Entity, maxShortField},
		{"entity_id", &c.EntityID, maxShortField},
		{"country", &c.Country, maxTinyField},
		{"model", &c.Model, maxShortField},
		{"object", &c.Object, maxLongField},
		{"client_ip", &c.ClientIP, maxTinyField},
		{"ip_country", &c.IPCountry, maxTinyField},
		{"screening", &c.Screening, maxTinyField},
		{"decision", &c.Decision, maxTinyField},
		{"code", &c.Code, maxShortField},
		{"reason", &c.Reason, maxLongField},
		{"model_error", &c.ModelError, maxLongField},
		{"outcome", &c.Outcome, maxTinyField},
		{"error", &c.Error, maxLongField},
	} {
		t.cut(f.name, f.s, f.max)
	}
	if rec.Input != nil {
		in := *rec.Input
		t.input(&in)
		c.Input = &in
	}
	if rec.Policy != nil {
		p := *rec.Policy
		t.policy(&p)
		c.Policy = &p
	}
	if len(t.cuts) == 0 {
		return rec, false
	}
	c.Truncated = t.cuts
	return &c, true
}

// truncator cuts fields and remembers which.
type truncator struct{ cuts []Truncation }

func (t *truncator) input(in *policy.Input) {
	s := &in.Subject
	t.cut("input.subject.id", &s.ID, maxShortField)
	t.cut("input.subject.name", &s.Name, maxShortField)
	t.cut("input.subject.country", &s.Country, maxTinyField)
	s.Nationality = t.list("input.subject.nationality", s.Nationality)
	s.PermanentResidence = t.list("input.subject.permanent_residence", s.PermanentResidence)
	e := &s.Entity
	t.cut("input.subject.entity.name", &e.Name, maxShortField)
	t.cut("input.subject.entity.id", &e.ID, maxShortField)
	t.cut("input.subject.entity.hq", &e.HQ, maxTinyField)
	t.cut("input.subject.entity.parent_hq", &e.ParentHQ, maxTinyField)
	t.cut("input.subject.entity.veu", &e.VEU, maxTinyField)
	sc := &s.Screening
	t.cut("input.subject.screening.status", &sc.Status, maxTinyField)
	t.cut("input.subject.screening.list", &sc.List, maxShortField)
	t.cut("input.subject.screening.entry", &sc.Entry, maxShortField)
	t.cut("input.subject.screening.name", &sc.Name, maxShortField)
	t.cut("input.subject.screening.field", &sc.Field, maxTinyField)
	if n := jsonLen(s.Claims); n > maxClaimsBytes {
		s.Claims = boundClaims(s.Claims)
		t.cuts = append(t.cuts, Truncation{Field: "input.subject.claims", Length: n})
	}

	m := &in.Model
	t.cut("input.model.id", &m.ID, maxShortField)
	t.cut("input.model.weights", &m.Weights, maxTinyField)
	t.cut("input.model.eccn", &m.ECCN, maxTinyField)
	t.cut("input.model.revision", &m.Revision, maxShortField)
	t.cut("input.model.base_model", &m.BaseModel, maxShortField)
	t.cut("input.model.classified_by", &m.ClassifiedBy, maxShortField)
	t.cut("input.model.classified_at", &m.ClassifiedAt, maxTinyField)
	t.cut("input.model.classification_basis", &m.ClassificationBasis, maxShortField)
	if m.Base != nil {
		b := *m.Base
		t.cut("input.model.base.id", &b.ID, maxShortField)
		t.cut("input.model.base.weights", &b.Weights, maxTinyField)
		t.cut("input.model.base.eccn", &b.ECCN, maxTinyField)
		m.Base = &b
	}
	t.cut("input.object.path", &in.Object.Path, maxLongField)
	t.cut("input.object.kind", &in.Object.Kind, maxTinyField)
	r := &in.Request
	t.cut("input.request.method", &r.Method, maxTinyField)
	t.cut("input.request.api", &r.API, maxTinyField)
	t.cut("input.request.range", &r.Range, maxShortField)
	t.cut("input.request.remote_addr", &r.RemoteAddr, maxShortField)
	t.cut("input.request.time", &r.Time, maxTinyField)
	t.cut("input.request.client_ip", &r.ClientIP, maxTinyField)
	t.cut("input.request.client_ip_via", &r.ClientIPVia, maxTinyField)
	t.cut("input.request.ip_country", &r.IPCountry, maxTinyField)
	t.cut("input.frontier.source", &in.Frontier.Source, maxTinyField)
	t.cut("input.frontier.model", &in.Frontier.Model, maxShortField)
}

func (t *truncator) policy(p *policy.Decision) {
	t.cut("policy.code", &p.Code, maxShortField)
	// A policy's reason may quote the input (a model id, a country).
	t.cut("policy.reason", &p.Reason, maxLongField)
	t.cut("policy.basis", &p.Basis, maxLongField)
	t.cut("policy.bundle", &p.Bundle, maxShortField)
	t.cut("policy.version", &p.Version, maxShortField)
	t.cut("policy.revision", &p.Revision, maxShortField)
}

// cut shortens *s so that its JSON encoding takes at most max bytes,
// ending it with truncMark, and notes it under name.
func (t *truncator) cut(name string, s *string, max int) {
	if over(*s, max) {
		t.cuts = append(t.cuts, Truncation{Field: name, Length: len(*s)})
		*s = cutString(*s, max)
	}
}

// over reports whether s encodes in more than max bytes of JSON, without
// encoding a string that is certainly short enough (no escape is longer
// than 6 bytes) or certainly too long (an encoding is never shorter than
// the string plus its quotes).
func over(s string, max int) bool {
	switch {
	case 6*len(s)+2 <= max:
		return false
	case len(s)+2 > max:
		return true
	}
	return jsonLen(s) > max
}

// list keeps at most maxListItems entries of l, each cut to a country
// code's bound; it returns l itself when nothing is cut.
func (t *truncator) list(name string, l []string) []string {
	cut := len(l) > maxListItems
	for _, v := range l {
		cut = cut || over(v, maxTinyField)
	}
	if !cut {
		return l
	}
	out := slices.Clone(l[:min(len(l), maxListItems)])
	for i := range out {
		if over(out[i], maxTinyField) {
			out[i] = cutString(out[i], maxTinyField)
		}
	}
	t.cuts = append(t.cuts, Truncation{Field: name, Length: len(l)})
	return out
}

// cutString is the longest prefix of s, at a rune boundary, that encodes
// in at most max bytes of JSON with truncMark appended. It measures with
// encoding/json itself, so that every escape it applies (control
// characters, <, >, &, invalid UTF-8, U+2028) is counted as written.
func cutString(s string, limit int) string {
	budget := limit - jsonLen(truncMark)
	// A string's encoding is never shorter than the string itself, so the
	// answer is within the first budget bytes; search that prefix.
	s = s[:min(len(s), max(budget-2, 0))]
	lo, hi := 0, len(s) // the longest good prefix is in [lo, hi]
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if jsonLen(s[:mid]) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for lo > 0 && lo < len(s) && !utf8.RuneStart(s[lo]) {
		lo--
	}
	return s[:lo] + truncMark
}

// boundClaims is a copy of claims within maxClaimsBytes: strings cut to
// maxClaimString, arrays to maxClaimItems, nesting to maxClaimDepth, and,
// if still too large, only the claims that fit, in the order of their
// names.
func boundClaims(claims map[string]any) map[string]any {
	out := make(map[string]any, len(claims))
	size := 2 // {}
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		key := k
		if over(k, maxClaimString) {
			key = cutString(k, maxClaimString)
		}
		v := boundClaim(claims[k], 1)
		n := jsonLen(key) + 1 + jsonLen(v) + 1 // "key":value,
		if size+n > maxClaimsBytes {
			continue
		}
		out[key] = v
		size += n
	}
	return out
}

func boundClaim(v any, depth int) any {
	switch v := v.(type) {
	case string:
		if over(v, maxClaimString) {
			return cutString(v, maxClaimString)
		}
		return v
	case []any:
		if depth >= maxClaimDepth {
			return nil
		}
		out := make([]any, 0, min(len(v), maxClaimItems))
		for _, e := range v[:min(len(v), maxClaimItems)] {
			out = append(out, boundClaim(e, depth+1))
		}
		return out
	case map[string]any:
		if depth >= maxClaimDepth {
			return nil
		}
		out := make(map[string]any, min(len(v), maxClaimItems))
		for _, k := range slices.Sorted(maps.Keys(v))[:min(len(v), maxClaimItems)] {
			key := k
			if over(k, maxClaimString) {
				key = cutString(k, maxClaimString)
			}
			out[key] = boundClaim(v[k], depth+1)
		}
		return out
	default:
		return v // numbers, booleans, null
	}
}

// jsonLen is the length of v's JSON encoding (0 if it has none).
func jsonLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}
