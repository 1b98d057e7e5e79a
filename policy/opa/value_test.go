package opa

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/weightgate/weightgate/policy"
)

// inputValue must give Rego exactly what the JSON encoding of Input would:
// docs/policies.md documents the input by its JSON names.
func TestInputValue_MatchesJSON(t *testing.T) {
	tests := []struct {
		name string
		in   policy.Input
	}{
		{"zero", policy.Input{}},
		{"anonymous", policy.Input{Subject: policy.Subject{Anonymous: true}, Object: policy.Object{Path: "a/b", Kind: policy.KindOther, Size: 12}}},
		{"full", policy.Input{
			Subject: policy.Subject{
				ID: "alice", Name: "Alice Example", Country: "GB", Nationality: []string{"GB", "IE"}, PermanentResidence: []string{"US"}, Employee: true,
				Entity: policy.Entity{Name: "Acme", ID: "acme", HQ: "US", ParentHQ: "JP", VEU: "uveu", SecurityAttested: true},
				Claims: map[string]any{
					"sub": "alice", "exp": 1.7e9, "n": json.Number("12"), "ok": true, "none": nil,
					"groups": []any{"a", 1.5, map[string]any{"x": []any{}}},
				},
				Screening: policy.Screening{Status: policy.ScreeningReview, List: "Entity List", Entry: "e1", Name: "ACME", Field: "entity.name", Score: 0.875},
			},
			Model: policy.Model{
				ID: "lab/m", Classified: true, Weights: "closed",
				TrainingComputeFLOP: 3e26, ECCN: "4E091", Revision: "abc",
				BaseModel: "lab/base", FineTuneComputeFLOP: 2.5e25,
				Base: &policy.BaseModel{ID: "lab/base", Found: true, Classified: true, Weights: "open", TrainingComputeFLOP: 1e26, ECCN: "EAR99"},
			},
			Frontier: policy.Frontier{FLOP: 2e26, Source: policy.FrontierCatalog, Model: "lab/open"},
			Object:   policy.Object{Path: "m.safetensors", Kind: policy.KindWeights, Size: 1 << 40},
			Request: policy.Request{Method: "GET", API: "resolve", Range: "bytes=0-9", RemoteAddr: "[::1]:1", Time: "2026-01-02T03:04:05Z",
				ClientIP: "203.0.113.9", ClientIPVia: "x-forwarded-for", IPCountry: "DE", IPTrustedNetwork: true},
		}},
		{"empty slices", policy.Input{Subject: policy.Subject{Nationality: []string{}, Claims: map[string]any{}}, Model: policy.Model{TrainingComputeFLOP: 9.99e25}}},
		{"small float", policy.Input{Model: policy.Model{TrainingComputeFLOP: 1.25e-3}}},
		{"base not found", policy.Input{Model: policy.Model{BaseModel: "a/b", Base: &policy.BaseModel{ID: "a/b"}}, Frontier: policy.Frontier{Source: policy.FrontierNone}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inputValue(&tt.in)
			if err != nil {
				t.Fatal(err)
			}
			bs, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := util.UnmarshalJSON(bs, &doc); err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Errorf("inputValue =\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// Every number of the input is refused when encoding/json would refuse it.
func TestInputValue_RejectsNonFinite(t *testing.T) {
	inf := math.Inf(1)
	for name, in := range map[string]policy.Input{
		"training":  {Model: policy.Model{TrainingComputeFLOP: math.NaN()}},
		"fine-tune": {Model: policy.Model{FineTuneComputeFLOP: inf}},
		"base":      {Model: policy.Model{Base: &policy.BaseModel{TrainingComputeFLOP: -inf}}},
		"frontier":  {Frontier: policy.Frontier{FLOP: math.NaN()}},
		"screening": {Subject: policy.Subject{Screening: policy.Screening{Score: math.NaN()}}},
	} {
		if _, err := inputValue(&in); err == nil {
			t.Errorf("%s: inputValue accepted a non-finite number", name)
		}
		if _, err := json.Marshal(in); err == nil {
			t.Errorf("%s: encoding/json accepted it; the two must agree", name)
		}
	}
}
