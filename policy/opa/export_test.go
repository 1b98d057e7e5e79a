package opa_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
)

// TestExport loads an exported regime with OPA's own loader, as `opa run
// --server DIR` does, and checks that stock OPA decides exactly what the
// engine decides, with the input sent as JSON (as the OPA server gets it).
func TestExport(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		bundle string
		// existing: export into a directory that exists and is empty
		// (made by the operator beforehand), rather than one Export makes.
		existing bool
	}{
		{"ai-diffusion-2025", false},
		{"embargo-only", true},
	} {
		bundle := tt.bundle
		t.Run(bundle, func(t *testing.T) {
			e := MustNew(t, opa.Options{Bundle: bundle, Settings: map[string]string{"location_unknown": "deny"}})
			dir := t.TempDir()
			if !tt.existing {
				dir = filepath.Join(dir, "export")
			}
			now := time.Now()
			if err := e.Export(dir, now); err != nil {
				t.Fatal(err)
			}
			if err := e.Export(dir, now); err == nil {
				t.Fatal("Export into a non-empty directory succeeded")
			}
			pq, err := rego.New(rego.Query(opa.Query), rego.Load([]string{dir}, nil)).PrepareForEval(ctx)
			if err != nil {
				t.Fatal(err)
			}
			aia := closedInput()
			aia.Subject.Country, aia.Subject.Entity = "GB", policy.Entity{Name: "Acme", ID: "acme", HQ: "US", ParentHQ: "US"}
			aia.Request.ClientIP, aia.Request.IPCountry = "198.51.100.7", "GB"
			concern := aia
			concern.Subject.Country, concern.Request.IPCountry = "CN", "CN"
			embargoed := aia
			embargoed.Subject.Country, embargoed.Request.IPCountry = "IR", "IR"
			open := aia
			open.Model.Weights = "open"
			unknownIP := aia
			unknownIP.Request.IPCountry = ""
			codes := map[string]bool{}
			for _, in := range []policy.Input{aia, concern, embargoed, open, unknownIP} {
				want, err := e.Decide(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				codes[want.Code] = true
				bs, err := json.Marshal(in)
				if err != nil {
					t.Fatal(err)
				}
				var doc any
				if err := json.Unmarshal(bs, &doc); err != nil {
					t.Fatal(err)
				}
				rs, err := pq.Eval(ctx, rego.EvalInput(doc))
				if err != nil || len(rs) != 1 {
					t.Fatalf("stock OPA: %v, %d results", err, len(rs))
				}
				got := rs[0].Expressions[0].Value.(map[string]any)
				if got["allow"] != want.Allow || got["code"] != want.Code || got["reason"] != want.Reason || got["basis"] != want.Basis {
					t.Errorf("stock OPA decided %v; the engine %+v", got, want)
				}
			}
			if len(codes) < 3 {
				t.Errorf("inputs gave only codes %v: the comparison is too narrow", codes)
			}
		})
	}
}
