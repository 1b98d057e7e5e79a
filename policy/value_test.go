package policy

import (
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// inputValue must give Rego exactly what the JSON encoding of Input would:
// rego/README.md documents the input by its JSON names.
func TestInputValue_MatchesJSON(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"zero", Input{}},
		{"anonymous", Input{Subject: Subject{Anonymous: true}, Object: Object{Path: "a/b", Kind: KindOther, Size: 12}}},
		{"full", Input{
			Subject: Subject{
				ID: "alice", Country: "GB", Nationality: []string{"GB", "IE"},
				Entity: Entity{Name: "Acme", ID: "acme", HQ: "US", ParentHQ: "JP", VEU: "uveu"},
				Claims: map[string]any{
					"sub": "alice", "exp": 1.7e9, "n": json.Number("12"), "ok": true, "none": nil,
					"groups": []any{"a", 1.5, map[string]any{"x": []any{}}},
				},
			},
			Model: Model{
				ID: "lab/m", Classified: true, Weights: "closed",
				TrainingComputeFLOP: 3e26, ECCN: "4E091", Revision: "abc",
			},
			Object:  Object{Path: "m.safetensors", Kind: KindWeights, Size: 1 << 40},
			Request: Request{Method: "GET", API: "resolve", Range: "bytes=0-9", RemoteAddr: "[::1]:1", Time: "2026-01-02T03:04:05Z"},
		}},
		{"empty slices", Input{Subject: Subject{Nationality: []string{}, Claims: map[string]any{}}, Model: Model{TrainingComputeFLOP: 9.99e25}}},
		{"small float", Input{Model: Model{TrainingComputeFLOP: 1.25e-3}}},
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
