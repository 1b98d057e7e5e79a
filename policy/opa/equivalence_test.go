package opa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/weightgate/weightgate/policy"
)

// Decide takes shortcuts of its own: the input built without JSON, its own
// evaluation cache with the regime's constant rules evaluated beforehand, the
// decision read from the AST, and decisions remembered by the footprint of
// what the regime's rules can read of the input (footprint.go). Over
// generated requests, for both built-in bundles, with and without the
// example registry and settings, with each example extension, and with a
// registry that lists a subject id, it must decide exactly as a plain OPA
// evaluation of the same prepared query on the JSON form of the input does,
// error or not: for the request, for the same request again (from memory),
// for a twin that differs only where no rule reads, and for each request
// that differs from it in exactly one leaf of Input (inputPaths,
// mutationTable), asked right after the request's decision was remembered.
// A footprint or key that misses something a rule reads answers such a
// neighbour with the remembered decision.
//
// So that it cannot pass for want of trying, a change of each path of the
// footprint must have turned a remembered decision into a different fresh
// one, unless the case lists the path, with the reason, as one that no
// change can make matter there. The first n requests have every leaf
// changed; the rest only the leaves no change of which has changed a
// decision yet, which gives the rows few requests reach more tries at a
// fraction of the cost.
func TestDecide_SameAsPlainEvaluation(t *testing.T) {
	t.Parallel()
	// -short and the race detector (8 to 10 times slower) run fewer
	// requests, and then only report the footprint paths they leave
	// untested.
	full := !testing.Short() && !raceEnabled
	n, more := 40, 100
	if !full {
		n, more = 15, 0
	}
	paths := inputPaths()
	for _, p := range paths {
		if mutationTable[p] == nil {
			t.Fatalf("%s, a path of Input, has no values in mutationTable: the generated requests never change it", p)
		}
	}
	for _, c := range regimeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e, err := New(ctx, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			if r.decisions == nil {
				t.Fatalf("decisions are not remembered (%s): nothing to test", r.fp.why)
			}
			rnd := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			codes := map[string]int{}
			fromMemory := 0
			// decided: the requests decided without error, one of which
			// a wrong answer from memory was remembered for.
			var decided []policy.Input
			// firstChanged: for each leaf, the first request for which a
			// change of it turned the request's remembered decision into
			// a different fresh one.
			firstChanged := map[string]int{}
			decide := func(i int, what func() string, in policy.Input) (policy.Decision, error) {
				t.Helper()
				before := r.decisions.Len()
				got, gerr := e.Decide(ctx, in)
				want, werr := plainDecide(t, r, in)
				if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) {
					bs, _ := json.Marshal(in)
					msg := fmt.Sprintf("#%d %s: %s\nDecide:           %+v (%v)\nplain evaluation: %+v (%v)", i, what(), bs, got, gerr, want, werr)
					if src, ok := sameKey(t, r, decided, in); ok {
						msg += fmt.Sprintf("\nDecide answered from memory, for a request that differs in %v", leafDiff(src, in))
					}
					t.Fatal(msg)
				}
				if gerr == nil {
					if r.decisions.Len() == before {
						fromMemory++
					}
					decided = append(decided, in)
				}
				codes[got.Code]++
				return got, gerr
			}
			for i := range n + more {
				in := randomInput(rnd)
				d, err := decide(i, func() string { return "request" }, in)
				decide(i, func() string { return "the same request again" }, in)
				// A twin differing at once in several leaves no rule reads.
				twin := in
				twin.Object.Size, twin.Model.Revision = 12345, "another-commit"
				twin.Request.RemoteAddr, twin.Request.Method, twin.Request.Range = "198.51.100.7:40000", "HEAD", "bytes=0-99"
				decide(i, func() string { return "a twin" }, twin)
				// Each leaf changed on its own, right after the request's
				// decision was remembered; after the first n requests,
				// only the leaves no change of which has yet changed a
				// decision.
				for _, p := range paths {
					if _, seen := firstChanged[p]; seen && i >= n {
						continue
					}
					m, ok := mutate(t, rnd, in, p)
					if !ok {
						continue
					}
					md, merr := decide(i, func() string {
						return fmt.Sprintf("%s changed from %s to %s", p, jsonOf(leafValue(in, p)), jsonOf(leafValue(m, p)))
					}, m)
					if _, seen := firstChanged[p]; !seen && err == nil && (merr != nil || !reflect.DeepEqual(md, d)) {
						firstChanged[p] = i
					}
				}
			}
			if fromMemory == 0 {
				t.Error("no decision came from memory: the decision cache is not exercised")
			}
			t.Logf("%d decisions from memory; codes: %v", fromMemory, codes)
			if len(codes) < 10 {
				t.Errorf("only %d decision codes reached; the generated requests should reach more", len(codes))
			}

			// Every path the footprint holds must have been put to the
			// test: a change of it (or of a leaf under it) turned a
			// remembered decision into a different fresh one. What the
			// run draws depends only on decisions, which must equal the
			// plain evaluations, not on the footprint; so were the
			// footprint or its key to leave such a path out, Decide
			// would answer that change from memory with the remembered
			// decision, and the test fail there if not before.
			var footprint []string
			reachedBy, missed := 0, 0
			for _, f := range r.fp.paths {
				fp := strings.Join(f, ".")
				footprint = append(footprint, fp)
				name := fp
				if fp == "" {
					name = "the whole input"
				}
				touched, first := false, -1
				for _, p := range paths {
					if fp == "" || p == fp || strings.HasPrefix(p, fp+".") || strings.HasPrefix(fp, p+".") {
						touched = true
						if i, ok := firstChanged[p]; ok && (first < 0 || i < first) {
							first = i
						}
					}
				}
				why, listed := c.unreached[fp]
				switch {
				case !touched:
					t.Errorf("the footprint holds %s, which is no path of Input: no generated request differs there", name)
				case first < 0 && listed:
					// As the case says.
				case first < 0 && !full:
					// Fewer requests need not reach every path.
					missed++
					t.Logf("no generated change of %s changed a decision in this shorter run", name)
				case first < 0:
					t.Errorf("no generated change of %s changed a decision: were the footprint to leave it out, this test would not notice", name)
				case listed:
					t.Errorf("%s is listed as out of reach (%s), but a generated change of it changed a decision", name, why)
				default:
					reachedBy = max(reachedBy, first)
				}
			}
			if missed == 0 {
				t.Logf("every path of the footprint reached by request #%d of %d", reachedBy, n+more)
			}
			for p := range c.unreached {
				if !slices.Contains(footprint, p) {
					t.Errorf("%s is listed as out of reach, but the footprint %v does not hold it", p, footprint)
				}
			}
		})
	}
}

// regimeCase is one configuration of the engine the generated tests run:
// both built-in bundles, with and without the example registry and
// settings, with each example extension, and with a registry that lists a
// subject id.
type regimeCase struct {
	name string
	opts Options
	// unreached are footprint paths that no change of the input can
	// turn into another decision under these options, and why.
	unreached map[string]string
}

// regimeCases are the configurations the generated tests run.
func regimeCases(tb testing.TB) []regimeCase {
	tb.Helper()
	// testdata/registry lists no subject_id, and no bundle reads the
	// subject's id for anything else; the last case lists one.
	const (
		subjectID  = "only restricted_parties entries with a subject_id make the subject's id matter, and there are none"
		embargoDay = "this bundle reads no dated registry entry (only lib.entries does, for licences, VEUs and attestations)"
	)
	cases := []regimeCase{
		{name: "default", opts: Options{}, unreached: map[string]string{
			"subject.id":       subjectID,
			"licence_releases": "only a capped licence of the registry reads the counts, and there is no registry",
		}},
		{name: "default+registry", opts: Options{Registry: "../../testdata/registry", Settings: map[string]string{"location_unknown": "deny"}},
			unreached: map[string]string{"subject.id": subjectID}},
		{name: "embargo-only+registry", opts: Options{Bundle: "embargo-only", Registry: "../../testdata/registry", Settings: map[string]string{"screening_open_weights": "deny"}},
			unreached: map[string]string{"subject.id": subjectID, "request.time": embargoDay}},
	}
	examples, err := os.ReadDir("../../rego/examples")
	if err != nil {
		tb.Fatal(err)
	}
	for _, x := range examples {
		if x.IsDir() {
			cases = append(cases, regimeCase{name: "default+" + x.Name(),
				opts:      Options{Registry: "../../testdata/registry", Extensions: []string{filepath.Join("../../rego/examples", x.Name())}},
				unreached: map[string]string{"subject.id": subjectID}})
		}
	}
	if len(cases) < 5 {
		tb.Fatalf("%d cases: the example extensions under rego/examples were not found", len(cases))
	}
	cases = append(cases, regimeCase{name: "embargo-only+listed subject", opts: Options{Bundle: "embargo-only", RegistryFS: listedSubjectRegistry(tb)},
		unreached: map[string]string{"request.time": embargoDay}})
	return cases
}

// listedSubjectRegistry is testdata/registry with a restricted party listed
// by its subject id, mallory (one of the ids the generated requests use).
func listedSubjectRegistry(tb testing.TB) fstest.MapFS {
	tb.Helper()
	fsys := fstest.MapFS{}
	files, err := filepath.Glob("../../testdata/registry/*.json")
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		bs, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		fsys[filepath.Base(f)] = &fstest.MapFile{Data: bs}
	}
	var parties []any
	if err := json.Unmarshal(fsys["restricted_parties.json"].Data, &parties); err != nil {
		tb.Fatal(err)
	}
	parties = append(parties, map[string]any{"subject_id": "mallory", "name": "Mallory", "list": "operator's own list", "reason": "test entry"})
	bs, err := json.Marshal(parties)
	if err != nil {
		tb.Fatal(err)
	}
	fsys["restricted_parties.json"] = &fstest.MapFile{Data: bs}
	return fsys
}

// plainDecide is the decision of a plain OPA evaluation of r's prepared
// query on the JSON form of in, as Decide would return it.
func plainDecide(tb testing.TB, r *regime, in policy.Input) (policy.Decision, error) {
	tb.Helper()
	bs, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	var doc any
	if err := util.UnmarshalJSON(bs, &doc); err != nil {
		tb.Fatal(err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := r.pq.Eval(context.Background(), rego.EvalParsedInput(v))
	var d policy.Decision
	switch {
	case err != nil:
	case len(rs) != 1:
		err = errors.New("undefined")
	default:
		d, err = parseDecision(rs[0].Expressions[0].Value)
	}
	if err != nil {
		return policyError(r), err
	}
	d.Bundle, d.Version, d.Revision = r.Name, r.Version, r.Revision
	return d, nil
}

// sameKey returns the request of decided with in's footprint key.
func sameKey(tb testing.TB, r *regime, decided []policy.Input, in policy.Input) (policy.Input, bool) {
	tb.Helper()
	key := func(in policy.Input) string {
		v, err := inputValue(&in)
		if err != nil {
			tb.Fatal(err)
		}
		return r.fp.key(v)
	}
	k := key(in)
	for _, d := range decided {
		if key(d) == k {
			return d, true
		}
	}
	return policy.Input{}, false
}

// jsonOf is x in JSON, for messages.
func jsonOf(x any) string {
	if _, ok := x.(absent); ok {
		return "(absent)"
	}
	bs, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(bs)
}

// randomInput draws a request from values that reach every row of the
// built-in bundles and the example extensions, malformed ones included: a
// quarter of the time from all over (wideInput), else one that most rows
// allow (allowedInput).
func randomInput(r *rand.Rand) policy.Input {
	if r.IntN(4) != 0 {
		return allowedInput(r)
	}
	return wideInput(r)
}

// wideInput draws a request from values that reach every row of the
// built-in bundles, malformed ones included.
func wideInput(r *rand.Rand) policy.Input {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	country := func() string { return testCountries[r.IntN(len(testCountries))] }
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
	flop := func() float64 { return testFLOPs[r.IntN(len(testFLOPs))] }
	var in policy.Input
	if r.IntN(10) == 0 {
		in.Subject.Anonymous = true
	} else {
		in.Subject = policy.Subject{ID: pick("alice", "alice", "", "mallory"), Name: pick("", "Alice"), Country: country(),
			Nationality: list(), PermanentResidence: list(), Employee: r.IntN(3) == 0}
		if r.IntN(4) != 0 {
			hq := pick("US", "GB", "", "IN", "CN", "IR", "invalid")
			in.Subject.Entity = policy.Entity{Name: "Acme", ID: testEntityIDs[r.IntN(len(testEntityIDs))],
				HQ: hq, ParentHQ: pick(hq, hq, "US", "CN"), VEU: pick("", "", "uveu", "nveu"), SecurityAttested: r.IntN(4) == 0}
		}
		if r.IntN(3) == 0 {
			in.Subject.Claims = map[string]any{"sub": "alice", "groups": []any{"ml"}}
		}
		in.Subject.Screening.Status = pick("off", "clear", "", "off", "clear", "off", "clear", "off", "clear", "hit", "review", "weird")
		if s := in.Subject.Screening.Status; s == "hit" || s == "review" {
			in.Subject.Screening = policy.Screening{Status: s, List: pick("", "Entity List"), Entry: pick("", "e1"), Name: "ACME",
				Field: pick("entity.name", "subject.id", "other"), Score: []float64{1, 0.875, 0.005}[r.IntN(3)]}
		}
	}
	if !in.Subject.Anonymous && r.IntN(4) == 0 {
		registryEntity(r, &in)
	}
	in.Model = policy.Model{ID: pick("frontier-lab/frontier-x", "lab/ft", ""), Classified: r.IntN(12) != 0}
	if in.Model.Classified {
		in.Model.Weights = pick("closed", "closed", "closed", "closed", "closed", "closed", "open", "open", "weird")
		in.Model.TrainingComputeFLOP = flop()
		in.Model.ECCN = pick("", "4E091", " 4e091 ", "EAR99")
		if r.IntN(3) == 0 {
			fineTune(r, &in)
		}
	}
	in.Object = policy.Object{Path: pick("model.safetensors", "", "config.json"), Kind: pick("weights", "weights", "weights", "weights", "weights", "weights", "weights", "other", "bogus"), Size: 1}
	in.Request = policy.Request{Method: "GET", API: "resolve", RemoteAddr: "192.0.2.1:1", ClientIP: pick("", "203.0.113.9"), ClientIPVia: "peer",
		Time: pick("2026-01-02T03:04:05Z", "2025-12-31T23:59:59Z", "2026-03-01T00:00:00Z", "2031-01-01T00:00:00Z")}
	if r.IntN(3) == 0 {
		in.Request.IPCountry, in.Request.IPTrustedNetwork = pick(in.Subject.Country, country()), r.IntN(3) == 0
	}
	if r.IntN(3) == 0 {
		in.Frontier = policy.Frontier{FLOP: flop(), Source: pick("catalog", "configured", "none"), Model: pick("", "lab/open")}
	}
	return in
}

// allowedInput draws a well-formed request for a file of a closed model that
// most rows allow: by a requester who is signed in, mostly screened clear,
// located in Tier 1 or elsewhere outside Macau, D:5 and the embargoes, acting
// for an entity headquartered in Tier 1, often one that an example extension
// lets through. Each thing that makes a denial is drawn rarely, since a change
// of one leaf makes the denials; and most requests are set up for one of the
// rows where a leaf matters only in company (the employee carve-out, an
// attestation or VEU in Tier 2, an address elsewhere in a trusted network or
// not, a registry entry's dates, a file that is not weights).
func allowedInput(r *rand.Rand) policy.Input {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	sometimes := func() bool { return r.IntN(6) == 0 }
	listed := func() string { return pick("frontier-lab", "frontier-lab-us", "acme-ai", "contoso-research") }
	// Sometimes Cambodia (in D:5 until 2026-02-03: the date matters) or
	// Russia (where embargo-only requires a licence for any ECCN).
	c := pick("US", "US", "US", "GB", "DE", "JP", "IN", "BR", "AE", "SG", "IL", "KH")
	if r.IntN(5) == 0 {
		c = "RU"
	}
	// No other home, the same, or the United States; sometimes one that is
	// a deemed export (HK: of concern; IR, CU: embargoed).
	home := func() []string {
		if sometimes() {
			return []string{pick("GB", "IN", "HK", "IR", "CU")}
		}
		return [][]string{nil, {}, {c}, {"US"}}[r.IntN(4)]
	}
	// A nationality is always stated (controlled weights need one), as
	// the location's, the United States', or a deemed export.
	// A Tier 2 nationality (IN, BR) is one the employee carve-out lifts.
	nationality := func() []string {
		if r.IntN(2) == 0 {
			return []string{pick("GB", "IN", "BR", "IN", "BR", "HK", "IR", "CU")}
		}
		return [][]string{{c}, {"US"}}[r.IntN(2)]
	}
	hq := pick("US", "US", "GB", "JP")
	if sometimes() {
		hq = pick("IN", "")
	}
	in := policy.Input{
		Subject: policy.Subject{ID: pick("alice", "mallory", ""), Name: pick("", "Alice"), Country: c,
			Nationality: nationality(), PermanentResidence: home(), Employee: r.IntN(3) == 0,
			Entity: policy.Entity{Name: "Acme", ID: testEntityIDs[r.IntN(len(testEntityIDs))], HQ: hq, ParentHQ: hq,
				SecurityAttested: r.IntN(3) == 0},
			Screening: policy.Screening{Status: pick("off", "clear")}},
		Model: policy.Model{ID: pick("frontier-lab/frontier-x", "lab/ft", ""), Classified: true, Weights: "closed",
			TrainingComputeFLOP: testFLOPs[r.IntN(len(testFLOPs))], ECCN: pick("", "4E091", "4E091", "EAR99")},
		Object: policy.Object{Path: pick("model.safetensors", "config.json"), Kind: "weights", Size: 1},
		Request: policy.Request{Method: "GET", API: "resolve", RemoteAddr: "192.0.2.1:1", ClientIP: pick("", "203.0.113.9"), ClientIPVia: "peer",
			Time:      pick("2026-01-02T03:04:05Z", "2025-12-31T23:59:59Z", "2026-03-01T00:00:00Z", "2031-01-01T00:00:00Z"),
			IPCountry: c, IPTrustedNetwork: r.IntN(3) == 0},
	}
	if r.IntN(2) == 0 {
		in.Subject.Entity.ID = listed()
	}
	if sometimes() {
		in.Subject.Entity.ParentHQ = pick("US", "CN")
	}
	if sometimes() {
		in.Subject.Entity.VEU = pick("uveu", "nveu")
	}
	if sometimes() {
		// A near miss or hit: the screening's fields make the reason.
		in.Subject.Screening = policy.Screening{Status: pick("hit", "review"), List: pick("", "Entity List"), Entry: pick("", "e1"), Name: "ACME",
			Field: pick("entity.name", "subject.id", "other"), Score: []float64{1, 0.875, 0.005}[r.IntN(3)]}
	}
	if r.IntN(3) == 0 {
		fineTune(r, &in)
	}
	if r.IntN(2) == 0 {
		in.Frontier = policy.Frontier{FLOP: testFLOPs[r.IntN(len(testFLOPs))], Source: pick("catalog", "catalog", "configured", "none"), Model: pick("", "lab/open", "lab/open")}
	}

	// Most requests are set up for one row where a leaf matters only in
	// company, and are otherwise clean: screened clear, a national of
	// where they are (controlled weights need a nationality) with no
	// foreign home, the entity and its parent in the United States, the
	// address where the token says.
	clean := func(c string) {
		in.Subject.Country, in.Request.IPCountry = c, c
		in.Subject.Nationality, in.Subject.PermanentResidence = []string{c}, nil
		in.Subject.Entity.HQ, in.Subject.Entity.ParentHQ = "US", "US"
		in.Subject.Screening = policy.Screening{Status: "clear"}
		in.Subject.Employee, in.Subject.Entity.ID = r.IntN(3) == 0, listed()
	}
	switch r.IntN(8) {
	case 0:
		// The employee carve-out: a nationality that would be a deemed
		// export, but the requester is a permanent employee of an
		// entity headquartered, with its parent, in Tier 1. It lifts a
		// Tier 2 nationality, never an embargoed one, and a D:5 one only
		// when the operator says so.
		// A U.S. person claim, half the time, makes any nationality moot
		// in the United States; a malformed one is lifted by the
		// carve-out (embargo-only refuses nothing else it lifts).
		clean(pick("GB", "DE", "IN", "US", "US", "US"))
		in.Model.ECCN = "4E091"
		in.Subject.Employee, in.Subject.Entity.ID = true, pick(listed(), "northwind", "acme")
		in.Subject.Nationality = []string{pick("BR", "SG", "AE", "HK", "CN", "IR", "CU", "invalid")}
		in.Subject.USPerson = r.IntN(2) == 0
	case 1:
		// In Tier 2 for an entity in Tier 1: AIA with an attestation,
		// a VEU, or neither.
		// Cambodia is a country of concern only until 2026-02-03: the
		// request's date decides. Russia needs a licence for any ECCN in
		// embargo-only.
		clean(pick("IN", "BR", "AE", "SG", "IL", "KH", "RU"))
		in.Model.ECCN = "4E091"
		in.Subject.Entity.VEU, in.Subject.Entity.SecurityAttested = pick("", "", "uveu", "nveu"), r.IntN(2) == 0
	case 2, 3:
		// An address elsewhere: unknown, another country, of concern,
		// embargoed; in a trusted network or not.
		clean(pick("US", "DE", "JP"))
		in.Request.IPCountry, in.Request.ClientIP = pick("", "GB", "IN", "BR", "HK", "IR"), pick("203.0.113.9", "198.51.100.7")
		in.Request.IPTrustedNetwork = r.IntN(3) == 0
	case 4, 5:
		// An entity with registry entries, on a date in or out of their
		// validity.
		clean("US")
		in.Model.ECCN, in.Model.ID = "4E091", "frontier-lab/frontier-x"
		registryEntity(r, &in)
		in.Request.IPCountry = in.Subject.Country
	case 6:
		// Not a weights file, for a requester an extension lets through.
		clean(pick("US", "GB", "IN"))
		in.Object.Kind = "other"
	}
	return in
}

// registryEntity makes in's requester act for an entity of the example
// registry, where its entries apply.
func registryEntity(r *rand.Rand, in *policy.Input) {
	// brasil-ai twice: its capped licence is the one place the release
	// counts matter.
	e := [][2]string{{"acme-india", "IN"}, {"brasil-ai", "BR"}, {"brasil-ai", "BR"}, {"globalcloud", "SG"}, {"globalcloud", "AE"}, {"gulf-dc", "AE"}, {"northwind", "IN"}}[r.IntN(7)]
	in.Subject.Country, in.Subject.Entity.ID = e[1], e[0]
	in.Subject.Entity.HQ = []string{e[1], "US"}[r.IntN(2)]
	in.Subject.Entity.ParentHQ = in.Subject.Entity.HQ
	if e[0] == "brasil-ai" {
		// Its licence is capped: mostly on its last day of validity,
		// with releases below or at the cap.
		if r.IntN(4) != 0 {
			in.Request.Time = "2025-12-31T23:59:59Z"
		}
		in.LicenceReleases = []map[string]int{nil, {"D7654321": 1}, {"D7654321": 2}}[r.IntN(3)]
	}
}

// fineTune makes in's model a fine-tune, mostly of a base the catalog has.
func fineTune(r *rand.Rand, in *policy.Input) {
	flop := func() float64 { return testFLOPs[r.IntN(len(testFLOPs))] }
	in.Model.BaseModel, in.Model.FineTuneComputeFLOP = "lab/base", flop()
	if r.IntN(4) != 0 {
		in.Model.Base = &policy.BaseModel{ID: "lab/base", Found: r.IntN(4) != 0}
		if in.Model.Base.Found {
			in.Model.Base.Classified, in.Model.Base.Weights, in.Model.Base.TrainingComputeFLOP = r.IntN(5) != 0, []string{"open", "closed"}[r.IntN(2)], flop()
		}
	}
}
