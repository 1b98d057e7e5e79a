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
