package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/weightgate/weightgate/audit/index"
)

// maxFilterField bounds each filter value: longer ones name nothing the
// trail holds (its own fields are bounded).
const maxFilterField = 512

// filterFields are the filter's fields as form and query parameters, in
// the order the forms show them.
var filterFields = []struct{ Key, Label string }{
	{"subject", "Subject"}, {"entity", "Entity (name or id)"}, {"country", "Country"},
	{"ip_country", "Address country"}, {"model", "Model"}, {"file", "File"},
	{"code", "Code"}, {"screening", "Screening"}, {"instance", "Instance"},
}

// timeLayouts are what a time field accepts: the browser's datetime-local,
// a date, or RFC 3339. Times without a zone are UTC, as the pages show them.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseFilter reads the filter of `audit query` from a query or form.
func parseFilter(v url.Values) (index.Filter, *Error) {
	bad := func(field, msg string) (index.Filter, *Error) {
		return index.Filter{}, &Error{Status: http.StatusBadRequest, Code: "invalid_filter", Message: field + ": " + msg}
	}
	var f index.Filter
	for _, k := range []string{"since", "until"} {
		s := strings.TrimSpace(v.Get(k))
		if s == "" {
			continue
		}
		t, ok := parseTime(s)
		if !ok {
			return bad(k, "not a time (YYYY-MM-DDTHH:MM, a date, or RFC 3339)")
		}
		if k == "since" {
			f.Since = t
		} else {
			f.Until = t
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return bad("since", "must be before until")
	}
	set := map[string]*string{
		"subject": &f.Subject, "entity": &f.Entity, "country": &f.Country, "ip_country": &f.IPCountry,
		"model": &f.Model, "file": &f.File, "code": &f.Code, "screening": &f.Screening, "instance": &f.Instance,
		"decision": &f.Decision, "kind": &f.Kind,
	}
	for k, p := range set {
		s := strings.TrimSpace(v.Get(k))
		if len(s) > maxFilterField {
			return bad(k, "too long")
		}
		*p = s
	}
	f.Country, f.IPCountry = strings.ToUpper(f.Country), strings.ToUpper(f.IPCountry)
	switch f.Decision {
	case "", "allow", "deny":
	default:
		return bad("decision", `must be "allow" or "deny"`)
	}
	switch f.Kind {
	case "", index.KindDecision, index.KindTransfer, index.KindAny:
	default:
		return bad("kind", `must be "decision", "transfer" or "any"`)
	}
	return f, nil
}

// filterValues is f as query parameters (for links that keep the filter).
func filterValues(f index.Filter) url.Values {
	v := url.Values{}
	if !f.Since.IsZero() {
		v.Set("since", f.Since.Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		v.Set("until", f.Until.Format(time.RFC3339))
	}
	for k, s := range map[string]string{
		"subject": f.Subject, "entity": f.Entity, "country": f.Country, "ip_country": f.IPCountry,
		"model": f.Model, "file": f.File, "code": f.Code, "screening": f.Screening, "instance": f.Instance,
		"decision": f.Decision, "kind": f.Kind,
	} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// describeFilter is f in words, for the audit record and the pages.
func describeFilter(f index.Filter) string {
	s := filterValues(f).Encode()
	if s == "" {
		return "everything"
	}
	return s
}

// matches reports whether a row published by the index passes f, for the
// live tail (the index filters queries itself). Fields compare exactly, as
// the index's do; an entity matches its name or its id.
func matches(f index.Filter, r index.Row) bool {
	kind := f.Kind
	if kind == "" {
		kind = index.KindDecision
	}
	if kind != index.KindAny && r.Kind != kind {
		return false
	}
	if !f.Since.IsZero() && r.Time.Before(f.Since) || !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	eq := func(want, got string) bool { return want == "" || want == got }
	return eq(f.Instance, r.Instance) && eq(f.Subject, r.Subject) && eq(f.Country, r.Country) &&
		eq(f.IPCountry, r.IPCountry) && eq(f.Model, r.Model) && eq(f.File, r.File) && eq(f.Decision, r.Decision) &&
		eq(f.Code, r.Code) && eq(f.Screening, r.Screening) &&
		(f.Entity == "" || f.Entity == r.EntityName || f.Entity == r.EntityID)
}
