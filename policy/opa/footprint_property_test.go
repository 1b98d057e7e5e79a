package opa

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/weightgate/weightgate/policy"
)

// footprintConstructs are organisation extensions that read the input in
// as many ways as Rego offers. Each is the body of a module in package
// weightgate.extensions.prop; unless it says `deny` itself, it defines v,
// and the extension denies with v's JSON as the reason whenever the base
// allows, so that any change of v shows in the decision.
var footprintConstructs = []struct{ name, rego string }{
	// The organisation extension of the decision-cache report: closed
	// weights only to a token whose amr claim holds "mfa", the claim read
	// through an alias inside a comprehension.
	{"mfa via an alias in a comprehension", `
deny contains {"code": "mfa_required", "reason": "closed weights need a token with mfa in amr", "basis": "lab policy"} if {
	input.model.weights == "closed"
	not _mfa
}
_mfa if {
	some ok in [true | i := input; "mfa" in i.subject.claims.amr]
	ok
}`},
	{"plain reference", `v := input.subject.country`},
	{"nested reference", `v := input.subject.entity.hq`},
	{"dynamic key input[x]", `_k := "subject"
v := input[_k]`},
	{"dynamic key input.subject[k]", `_f := "claims"
v := input.subject[_f]`},
	{"claims[k]", `_amr := "amr"
v := input.subject.claims[_amr]`},
	{"keys of the input", `v := {k: x | some k, x in input; k != "object"}`},
	{"var key into claims", `v := {k | input.subject.claims[k]}`},
	{"numeric index", `v := input.subject.claims.amr[0]`},
	{"alias at top level", `v := x.subject.claims if x := input`},
	{"alias in an array comprehension", `v := [c | i := input; c := i.subject.claims]`},
	{"alias in a set comprehension", `v := {c | i := input; c := i.subject.claims}`},
	{"alias in an object comprehension", `v := {"k": c | i := input; c := i.subject.claims.amr}`},
	{"alias in every", `v if {
	every a in ["x"] {
		i := input
		i.subject.claims.amr[_] == "mfa"
		a == "x"
	}
}`},
	{"alias bound by some ... in", `v := [c | some i in [input]; c := i.subject.claims]`},
	{"alias of an alias", `v := z.subject.claims if {
	x := input
	y := x
	z := y
}`},
	{"alias by array unification", `v := i.subject.claims if [i, _] = [input, 1]`},
	{"alias as a function argument in a comprehension", `_f(x) := x.subject.claims
v := [_f(i) | i := input]`},
	{"alias in a negation", `v if {
	i := input
	not i.subject.claims.amr
}`},
	{"every over an alias", `v if {
	i := input
	every k, _ in i.subject.claims {
		k != "amr"
	}
}`},
	{"object.get with a constant path", `v := object.get(input, ["subject", "claims", "amr"], [])`},
	{"object.get with a string path", `v := object.get(input, "subject", {})`},
	{"object.get with a constant path in a comprehension", `v := [object.get(input, ["subject", "claims", "amr"], []) | true]`},
	{"object.get with a variable path in a comprehension", `v := [x | some p in [["subject", "claims"], ["model", "id"]]; x := object.get(input, p, "")]`},
	{"object.get on an alias with a variable path", `v := o if {
	i := input
	p := ["subject", "claims"]
	o := object.get(i, p, null)
}`},
	{"object.get with a parameter path, called in a comprehension", `_get(p) := object.get(input, p, null)
v := [_get(["subject", "claims"]) | true]`},
	{"object.get with a parameter path, called with a variable", `_get(p) := object.get(input, p, null)
v := [_get(p) | some p in [["subject", "claims"], ["model", "weights"]]]`},
	{"object.get with a parameter path, in a comprehension of the function", `_getc(p) := [x | x := object.get(input, p, null)]
v := _getc(["subject", "claims"])`},
	{"object.get with a parameter path, passed on", `_get(p) := object.get(input, p, null)
_pass(q) := _get(q)
v := _pass(["subject", "claims"])`},
	{"walk", `v := [p | walk(input, [p, x]); x == "mfa"]`},
	{"json.filter", `v := json.filter(input, ["subject/claims/amr"])`},
	{"json.remove", `v := json.remove(input, ["object", "request", "frontier"])`},
	{"object.filter on the input", `v := object.filter(input, ["subject"])`},
	{"object.filter on a part", `v := object.filter(input.subject, ["claims"])`},
	{"f(input)", `_f(x) := x.subject.claims
v := _f(input)`},
	{"f(input.subject)", `_g(s) := s.claims.amr
v := _g(input.subject)`},
	{"user function taking path parts", `_at(a, b) := input[a][b]
v := _at("subject", "claims")`},
	{"function reading input through an alias in a comprehension", `_fn(x) := [y | i := input; y := i.subject.claims[x]]
v := _fn("amr")`},
	{"with input.x as", `_w := [input.subject.claims, input.subject.country]
v := x if {
	x := _w with input.subject.country as "US"
}`},
	{"with data.x as input.y", `_base := {}
_r := _base.amr
v := x if {
	x := _r with _base as input.subject.claims
}`},
	{"with a function replaced by one reading input", `_get(p) := object.get(input, p, null)
_h(_) := "constant"
v := x if {
	x := _h(["subject", "claims"]) with _h as _get
}`},
	{"data table keyed by input", `_table := {"US": "a", "CN": "b", "GB": "c"}
v := _table[input.subject.country]`},
	{"count of amr", `v := count(input.subject.claims.amr)`},
	{"mfa in amr", `v if "mfa" in input.subject.claims.amr`},
	{"amr[_] == mfa", `v if input.subject.claims.amr[_] == "mfa"`},
	{"sprintf with input", `v := sprintf("%v/%v", [input.subject.claims, input.model.id])`},
	{"to_number", `v := to_number(input.model.training_compute_flop)`},
	{"startswith", `v if startswith(input.model.id, "frontier")`},
	{"else chain", `v := "us" if {
	input.subject.country == "US"
} else := "mfa" if {
	input.subject.claims.amr[_] == "mfa"
} else := "other"`},
	{"partial set", `_s contains x if some x in input.subject.nationality
v := _s`},
	{"partial object", `_o[k] := x if some k, x in input.subject.claims
v := _o`},
	{"default rule", `default _dv := "none"
_dv := input.subject.claims.amr
v := _dv`},
	{"negation", `v if not input.subject.employee`},
	{"nested rule references", `_a := input.subject
_b := _a.claims
v := _b.amr`},
	{"strings.any_prefix_match", `v if strings.any_prefix_match(input.model.id, ["frontier-lab/"])`},
	{"regex.match", `v if regex.match("^fr", input.model.id)`},
	{"object.keys of claims", `v := object.keys(input.subject.claims)`},
	{"lower of a claim", `v := lower(input.subject.claims.sub)`},
	{"object.union with input", `v := object.union(input.subject.claims, {"x": 1})`},
	{"a set holding the input", `v := [c | some i in {input}; c := i.subject.claims]`},
	{"an object holding the input", `v := o.in.subject.claims if o := {"in": input}`},
}

// propertyClaims are the values the generated requests' claims take, amr
// among them, since the constructs read it.
var propertyClaims = []map[string]any{
	nil, {}, {"sub": "alice"},
	{"sub": "alice", "amr": []any{"pwd"}},
	{"sub": "alice", "amr": []any{"pwd", "mfa"}},
	{"sub": "alice", "amr": []any{"mfa"}},
	{"sub": "bob", "groups": []any{"ml", "ops"}, "amr": "mfa"},
	{"sub": "alice", "acr": "2", "amr": []any{"otp", "mfa"}},
}

// TestFootprint_Sound: for each construct, over generated requests and
// every request that differs from one in exactly one leaf of Input, Decide
// with the decision cache on, in both orders (the cache emptied first),
// decides as a plain evaluation does. A footprint that misses a read
// answers the second request of a pair with the first one's decision.
// Each construct runs over a base that allows everything (so that the
// extension's denials show) and, with fewer requests, over the default
// bundle; each request is changed in every leaf the construct names and in
// a few drawn at random.
func TestFootprint_Sound(t *testing.T) {
	t.Parallel()
	if len(footprintConstructs) < 40 {
		t.Fatalf("%d constructs; at least 40 were meant to be tried", len(footprintConstructs))
	}
	n := 12
	if testing.Short() || raceEnabled {
		n = 4
	}
	allowAll := fstest.MapFS{"policy.rego": &fstest.MapFile{Data: []byte(`package weightgate

import data.weightgate.lib

decision := lib.with_extensions({"allow": true, "code": "base", "reason": "the base allows", "basis": "property test"})
`)}}
	paths := inputPaths()
	for ci, c := range footprintConstructs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := "package weightgate.extensions.prop\n\n" + c.rego + "\n"
			if !strings.Contains(c.rego, "deny contains") {
				src += "\ndeny contains {\"code\": \"prop\", \"reason\": json.marshal(x), \"basis\": \"property test\"} if x := [y | y := v]\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "prop.rego"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			// Every leaf the construct names, and a few others drawn at
			// random: mutating all fifty leaves of every request for
			// every construct would take minutes.
			var named []string
			for _, p := range paths {
				if strings.Contains(c.rego, p) || strings.Contains(c.rego, "."+p[strings.LastIndex(p, ".")+1:]) {
					named = append(named, p)
				}
			}
			// A walk over the whole input names no leaf, but reads the
			// claims it looks for: mutate them every time, so that a run
			// does not depend on drawing them by luck.
			if strings.Contains(c.rego, "walk(input") {
				named = append(named, "subject.claims")
			}
			changed := 0
			for _, base := range []struct {
				name string
				opts Options
				n    int
			}{
				{"allow-all base", Options{BundleFS: allowAll, Extensions: []string{dir}}, n},
				{"default bundle", Options{Registry: "../../testdata/registry", Extensions: []string{dir}}, max(n/4, 1)},
			} {
				e, err := New(context.Background(), base.opts)
				if err != nil {
					t.Fatalf("%s: %v", base.name, err)
				}
				r := e.state.Load().regimes[0]
				rnd := rand.New(rand.NewPCG(7, uint64(ci)))
				for range base.n {
					a := randomInput(rnd)
					a.Subject.Claims = propertyClaims[rnd.IntN(len(propertyClaims))]
					leaves := append([]string(nil), named...)
					for range 4 {
						leaves = append(leaves, paths[rnd.IntN(len(paths))])
					}
					for _, p := range leaves {
						b, ok := propertyMutate(t, rnd, a, p)
						if !ok {
							continue
						}
						if differs := checkPair(t, e, r, base.name, p, a, b); differs {
							changed++
						}
					}
				}
			}
			switch {
			case changed > 0:
			case n < 12:
				// Fewer requests need not reach a change that matters.
				t.Logf("no one-leaf change changed a decision in this shorter run")
			default:
				t.Errorf("no one-leaf change changed a decision: the construct is not put to the test")
			}
		})
	}
}

// propertyMutate is mutate, with the claims drawn from propertyClaims.
func propertyMutate(tb testing.TB, rnd *rand.Rand, in policy.Input, path string) (policy.Input, bool) {
	tb.Helper()
	if path != "subject.claims" {
		return mutate(tb, rnd, in, path)
	}
	for {
		c := propertyClaims[rnd.IntN(len(propertyClaims))]
		if !reflect.DeepEqual(c, in.Subject.Claims) {
			in.Subject.Claims = c
			return in, true
		}
	}
}

// checkPair decides a then b, and b then a, each time from an empty cache,
// and fails on any decision that differs from a plain evaluation's. It
// returns whether the plain decisions of a and b differ.
func checkPair(tb testing.TB, e *Engine, r *regime, base, path string, a, b policy.Input) bool {
	tb.Helper()
	wantA, errA := plainDecide(tb, r, a)
	wantB, errB := plainDecide(tb, r, b)
	for _, order := range [][2]policy.Input{{a, b}, {b, a}} {
		if r.decisions != nil {
			r.decisions.Purge()
		}
		for i, in := range order {
			got, gerr := e.Decide(context.Background(), in)
			want, werr := wantA, errA
			if reflect.DeepEqual(in, b) && !reflect.DeepEqual(a, b) {
				want, werr = wantB, errB
			}
			if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) {
				bs, _ := json.Marshal(in)
				tb.Fatalf("%s: %s changed from %s to %s; request %d of the pair %s\nDecide:           %+v (%v)\nplain evaluation: %+v (%v)\nfootprint %v (whole input by %q, not remembered because %q)",
					base, path, jsonOf(leafValue(a, path)), jsonOf(leafValue(b, path)), i+1, bs, got, gerr, want, werr, r.fp.paths, r.fp.whole, r.fp.why)
			}
		}
	}
	return !reflect.DeepEqual(wantA, wantB) || (errA == nil) != (errB == nil)
}

// TestFootprint_Named: a construct that makes the footprint the whole input
// or unusable is named in it by its rule, file and line, which the engine
// logs when it loads the regime.
func TestFootprint_Named(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, rego string
		whole      bool // else not remembered at all
		rule, line string
	}{
		{"alias in a comprehension", "x := 1\n\nmfa if {\n\tsome ok in [true | i := input; \"mfa\" in i.subject.claims.amr]\n\tok\n}\n\nv := [i | i := input]\n",
			true, "data.weightgate.extensions.prop.v", ":10"},
		{"with input", "v := x if {\n\tx := input.subject.id with input.subject as {}\n}\n", false, "data.weightgate.extensions.prop.v", ":3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "prop.rego"), []byte("package weightgate.extensions.prop\n\n"+tc.rego), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			e, err := New(context.Background(), Options{Extensions: []string{dir}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			got := r.fp.why
			if tc.whole {
				got = r.fp.whole
				if r.decisions == nil || len(r.fp.paths) != 1 || len(r.fp.paths[0]) != 0 {
					t.Errorf("footprint %v, remembered %v: want the whole input, remembered", r.fp.paths, r.decisions != nil)
				}
			} else if r.decisions != nil {
				t.Error("decisions remembered")
			}
			want := fmt.Sprintf("rule %s at %s%s", tc.rule, filepath.Join(dir, "prop.rego"), tc.line)
			if !strings.Contains(got, want) {
				t.Errorf("footprint names %q, want %q", got, want)
			}
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the log does not name %q:\n%s", want, logs.String())
			}
		})
	}
}
