package opa

import (
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/weightgate/weightgate/policy"
)

// parseDecisionTerm reads a decision straight from the AST; it must accept,
// refuse and report exactly as parseDecision does on the value rego would
// have converted it to.
func TestParseDecisionTerm_AgreesWithParseDecision(t *testing.T) {
	for _, src := range []string{
		`{"allow": true, "code": "x", "reason": "r", "basis": "b"}`,
		`{"allow": false, "code": "x", "reason": "r", "basis": "b", "extra": [1, {"a": null}]}`,
		`{"allow": true, "code": "x"}`,
		`{"allow": false, "code": "x", "reason": "r"}`,
		`{"allow": true, "code": "x", "basis": ""}`,
		`{"allow": true, "code": ""}`,
		`{"allow": true, "code": "policy_error"}`,
		`{"allow": false, "code": "policy_error", "reason": "r"}`,
		`{"allow": "true", "code": "x"}`,
		`{"allow": null, "code": "x"}`,
		`{"code": "x"}`,
		`{"allow": true}`,
		`{"allow": true, "code": 1}`,
		`{"allow": true, "code": "x", "reason": ["a"]}`,
		`{"allow": true, "code": "x", "basis": null}`,
		`{"allow": true, "code": "x", "reason": 7}`,
		`{"allow": false, "code": "x", "visible": true}`,
		`{"allow": false, "code": "x", "visible": false}`,
		`{"allow": true, "code": "x", "visible": "true"}`,
		`{"allow": false, "code": "x", "visible": null}`,
		`{"allow": false, "code": "x", "visible": 1}`,
		`{"allow": true, "code": "x", "releases": [{"licence": "L", "max_releases": 2}]}`,
		`{"allow": true, "code": "x", "releases": []}`,
		`{"allow": true, "code": "x", "releases": [{"licence": "L", "max_releases": 0}]}`,
		`{"allow": true, "code": "x", "releases": [{"licence": "L", "max_releases": 1.5}]}`,
		`{"allow": true, "code": "x", "releases": [{"licence": "L", "max_releases": "2"}]}`,
		`{"allow": true, "code": "x", "releases": [{"licence": "", "max_releases": 2}]}`,
		`{"allow": true, "code": "x", "releases": [{"max_releases": 2}]}`,
		`{"allow": true, "code": "x", "releases": ["L"]}`,
		`{"allow": true, "code": "x", "releases": {"licence": "L", "max_releases": 2}}`,
		`{"allow": true, "code": "x", "releases": null}`,
		`{}`,
		`"allow"`,
		`true`,
		`null`,
		`1`,
		`[{"allow": true, "code": "x"}]`,
		`{{"allow": true, "code": "x"}}`,
	} {
		term := ast.MustParseTerm(src)
		want, werr := func() (policy.Decision, error) {
			x, err := ast.JSON(term.Value)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			return parseDecision(x)
		}()
		got, gerr := parseDecisionTerm(term)
		if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Errorf("%s: parseDecisionTerm = %+v, %v; parseDecision = %+v, %v", src, got, gerr, want, werr)
		}
	}
}

// A decision's releases are read exactly; any malformed one fails the
// decision (a release the gateway cannot count must not pass uncounted).
func TestParseDecision_Releases(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want []policy.Release
		ok   bool
	}{
		{`{"allow": true, "code": "licensed", "releases": [{"licence": "L", "max_releases": 2}, {"licence": "M", "max_releases": 1}]}`,
			[]policy.Release{{Licence: "L", MaxReleases: 2}, {Licence: "M", MaxReleases: 1}}, true},
		{`{"allow": true, "code": "licensed"}`, nil, true},
		{`{"allow": true, "code": "licensed", "releases": [{"licence": "L", "max_releases": 0}]}`, nil, false},
		{`{"allow": true, "code": "licensed", "releases": [{"licence": "L", "max_releases": 1e12}]}`, nil, false},
		{`{"allow": true, "code": "licensed", "releases": [{"licence": "L"}]}`, nil, false},
		{`{"allow": true, "code": "licensed", "releases": "L"}`, nil, false},
	} {
		d, err := parseDecisionTerm(ast.MustParseTerm(tt.src))
		if (err == nil) != tt.ok || (tt.ok && !reflect.DeepEqual(d.Releases, tt.want)) {
			t.Errorf("%s: releases %+v, err %v; want %+v, ok %v", tt.src, d.Releases, err, tt.want, tt.ok)
		}
	}
}
