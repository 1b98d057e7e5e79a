package policy

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"
)

// Decide takes shortcuts of its own: the input built without JSON, its own
// evaluation cache with the regime's constant rules evaluated beforehand, the
// decision read from the AST. Over many generated requests, for both built-in
// bundles, with and without the example registry and settings, it must
// decide exactly as a plain OPA evaluation of the same prepared query on the
// JSON form of the input does; and so must a decision Decide remembers, for
// the same request and for one that differs only in what no rule reads.
func TestDecide_SameAsPlainEvaluation(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 60
	}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"default+registry", Options{Registry: "../testdata/registry", Settings: map[string]string{"location_unknown": "deny"}}},
		{"default+extension", Options{Registry: "../testdata/registry", Extensions: []string{"../rego/examples/employees_only"}}},
		{"embargo-only+registry", Options{Bundle: "embargo-only", Registry: "../testdata/registry", Settings: map[string]string{"screening_open_weights": "deny"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := New(context.Background(), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			rnd := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			codes := map[string]int{}
			plain := func(in Input) (Decision, error) {
				bs, err := json.Marshal(in)
				if err != nil {
					t.Fatal(err)
				}
				var doc any
				if err := util.UnmarshalJSON(bs, &doc); err != nil {
					t.Fatal(err)
				}
				v, err := ast.InterfaceToValue(doc)
				if err != nil {
					t.Fatal(err)
				}
				rs, err := r.pq.Eval(context.Background(), rego.EvalParsedInput(v))
				var want Decision
				switch {
				case err != nil:
				case len(rs) != 1:
					err = errors.New("undefined")
				default:
					want, err = parseDecision(rs[0].Expressions[0].Value)
				}
				if err != nil {
					return policyError(r), err
				}
				want.Bundle, want.Version, want.Revision = r.Name, r.Version, r.Revision
				return want, nil
			}
			remembered := 0
			for i := range n {
				in := randomInput(rnd)
				// The request, again (its decision now remembered), and
				// a twin differing only in what no rule reads.
				twin := in
				twin.Object.Size, twin.Model.Revision = 12345, "another-commit"
				twin.Request.RemoteAddr, twin.Request.Method, twin.Request.Range = "198.51.100.7:40000", "HEAD", "bytes=0-99"
				for j, in := range []Input{in, in, twin} {
					before := r.decisions.Len()
					got, gerr := e.Decide(context.Background(), in)
					want, werr := plain(in)
					if got != want || (gerr == nil) != (werr == nil) {
						bs, _ := json.Marshal(in)
						t.Fatalf("#%d.%d %s\nDecide:          %+v (%v)\nplain evaluation: %+v (%v)", i, j, bs, got, gerr, want, werr)
					}
					if j > 0 && gerr == nil && r.decisions.Len() == before {
						remembered++
					}
					codes[got.Code]++
				}
			}
			if remembered == 0 {
				t.Error("no decision came from memory: the decision cache is not exercised")
			}
			t.Logf("codes: %v", codes)
			if len(codes) < 10 {
				t.Errorf("only %d decision codes reached; the generated requests should reach more", len(codes))
			}
		})
	}
}

// randomInput draws a request from values that reach every row of the
// built-in bundles, malformed ones included.
func randomInput(r *rand.Rand) Input {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	country := func() string {
		return pick("US", "GB", "DE", "JP", "IN", "BR", "AE", "SG", "IL", "CN", "HK", "MO", "KH", "IR", "CU", "", "invalid", " gb ", "XX")
	}
	list := func() []string {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		out := make([]string, 1+r.IntN(2))
		for i := range out {
			out[i] = country()
		}
		return out
	}
	flop := func() float64 {
		return []float64{0, 1e25, 2.5e25, 3e25, 9.9e25, 1e26, 2e26, 3e26, 1.5e27, 1.25e26}[r.IntN(10)]
	}
	var in Input
	if r.IntN(10) == 0 {
		in.Subject.Anonymous = true
	} else {
		in.Subject = Subject{ID: pick("alice", "alice", "", "mallory"), Name: pick("", "Alice"), Country: country(),
			Nationality: list(), PermanentResidence: list(), Employee: r.IntN(3) == 0}
		if r.IntN(4) != 0 {
			hq := pick("US", "GB", "", "IN", "CN", "IR", "invalid")
			in.Subject.Entity = Entity{Name: "Acme", ID: pick("acme", "acme-india", "brasil-ai", "globalcloud", "gulf-dc", "northwind", "blocked-corp", "frontier-lab", ""),
				HQ: hq, ParentHQ: pick(hq, hq, "US", "CN"), VEU: pick("", "", "uveu", "nveu"), SecurityAttested: r.IntN(4) == 0}
		}
		if r.IntN(3) == 0 {
			in.Subject.Claims = map[string]any{"sub": "alice", "groups": []any{"ml"}}
		}
		in.Subject.Screening.Status = pick("off", "clear", "", "off", "clear", "off", "clear", "off", "clear", "hit", "review", "weird")
		if s := in.Subject.Screening.Status; s == "hit" || s == "review" {
			in.Subject.Screening = Screening{Status: s, List: pick("", "Entity List"), Entry: pick("", "e1"), Name: "ACME",
				Field: pick("entity.name", "subject.id", "other"), Score: []float64{1, 0.875, 0.005}[r.IntN(3)]}
		}
	}
	if !in.Subject.Anonymous && r.IntN(4) == 0 {
		// An entity of the example registry, where its entries apply.
		e := [][2]string{{"acme-india", "IN"}, {"brasil-ai", "BR"}, {"globalcloud", "SG"}, {"globalcloud", "AE"}, {"gulf-dc", "AE"}, {"northwind", "IN"}}[r.IntN(6)]
		in.Subject.Country, in.Subject.Entity.ID = e[1], e[0]
		in.Subject.Entity.HQ = pick(e[1], "US")
		in.Subject.Entity.ParentHQ = in.Subject.Entity.HQ
	}
	in.Model = Model{ID: pick("frontier-lab/frontier-x", "lab/ft", ""), Classified: r.IntN(12) != 0}
	if in.Model.Classified {
		in.Model.Weights = pick("closed", "closed", "closed", "closed", "closed", "closed", "open", "open", "weird")
		in.Model.TrainingComputeFLOP = flop()
		in.Model.ECCN = pick("", "4E091", " 4e091 ", "EAR99")
		if r.IntN(3) == 0 {
			in.Model.BaseModel, in.Model.FineTuneComputeFLOP = "lab/base", flop()
			if r.IntN(4) != 0 {
				in.Model.Base = &BaseModel{ID: "lab/base", Found: r.IntN(4) != 0}
				if in.Model.Base.Found {
					in.Model.Base.Classified, in.Model.Base.Weights, in.Model.Base.TrainingComputeFLOP = r.IntN(5) != 0, pick("open", "closed"), flop()
				}
			}
		}
	}
	in.Object = Object{Path: pick("model.safetensors", "", "config.json"), Kind: pick("weights", "weights", "weights", "weights", "weights", "weights", "weights", "other", "bogus"), Size: 1}
	in.Request = Request{Method: "GET", API: "resolve", RemoteAddr: "192.0.2.1:1", ClientIP: pick("", "203.0.113.9"), ClientIPVia: "peer",
		Time: pick("2026-01-02T03:04:05Z", "2025-12-31T23:59:59Z", "2026-03-01T00:00:00Z", "2031-01-01T00:00:00Z")}
	if r.IntN(3) == 0 {
		in.Request.IPCountry, in.Request.IPTrustedNetwork = pick(in.Subject.Country, country()), r.IntN(3) == 0
	}
	if r.IntN(3) == 0 {
		in.Frontier = Frontier{FLOP: flop(), Source: pick("catalog", "configured", "none"), Model: pick("", "lab/open")}
	}
	return in
}
