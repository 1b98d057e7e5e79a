package opa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/weightgate/weightgate/policy"
)

// TestListed_SameAsPlainEvaluation: Listed takes the visible rule's answer,
// remembered by the rule's own footprint (reachable, footprint.go), where a
// listing would otherwise evaluate a whole decision per model. Over
// generated requests, for every configuration of the decision equivalence
// test, it must answer d.Allow || d.Visible of a plain OPA evaluation of the
// full decision on the JSON input (false on a policy_error decision),
// failing exactly when that fails: for the
// request fresh, for the same request again (from memory), and for each
// request that differs from it in one leaf (inputPaths, mutationTable),
// asked right after its answer was remembered. Were the footprint to leave
// out a path the rule reads, such a neighbour would get the remembered
// "true", and the test fail.
func TestListed_SameAsPlainEvaluation(t *testing.T) {
	t.Parallel()
	n := 30
	if testing.Short() || raceEnabled {
		n = 8
	}
	paths := inputPaths()
	for _, c := range regimeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e, err := New(ctx, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			v := r.visible
			if v == nil {
				t.Fatal("no visible shortcut: nothing to test")
			}
			rnd := rand.New(rand.NewPCG(2, uint64(len(c.name))))
			// fromMemory counts the answers given by a remembered true,
			// the only ones that skip the full decision.
			fromMemory, hidden := 0, 0
			// changed: the paths a change of which changed an answer.
			changed := map[string]bool{}
			listed := func(i int, what func() string, in policy.Input) (bool, error) {
				t.Helper()
				val, err := inputValue(&in)
				if err != nil {
					t.Fatal(err)
				}
				remembered, _ := v.answers.Peek(v.fp.key(val))
				got, gerr := e.Listed(ctx, in)
				d, werr := plainDecide(t, r, in)
				want := werr == nil && d.Code != policy.CodePolicyError && (d.Allow || d.Visible)
				if got != want || (gerr == nil) != (werr == nil) {
					bs, _ := json.Marshal(in)
					t.Fatalf("#%d %s: %s\nListed:           %v (%v), remembered %v\nplain evaluation: %v (%+v, %v)\nvisible footprint: %v",
						i, what(), bs, got, gerr, remembered, want, d, werr, v.fp.paths)
				}
				if remembered {
					fromMemory++
				}
				if !got {
					hidden++
				}
				return got, gerr
			}
			for i := range n {
				in := randomInput(rnd)
				ok, err := listed(i, func() string { return "request" }, in)
				listed(i, func() string { return "the same request again" }, in)
				for _, p := range paths {
					m, mutated := mutate(t, rnd, in, p)
					if !mutated {
						continue
					}
					mok, merr := listed(i, func() string {
						return fmt.Sprintf("%s changed from %s to %s", p, jsonOf(leafValue(in, p)), jsonOf(leafValue(m, p)))
					}, m)
					if err == nil && (merr != nil || mok != ok) {
						changed[p] = true
					}
				}
			}
			if v.off.Load() {
				t.Fatal("the shortcut was turned off: the visible rule disagreed with decision.visible")
			}
			if fromMemory == 0 || hidden == 0 {
				t.Errorf("%d answers from memory, %d hidden: the test does not exercise the shortcut", fromMemory, hidden)
			}
			var reads []string
			for _, f := range v.fp.paths {
				reads = append(reads, strings.Join(f, "."))
			}
			var moved []string
			for p := range changed {
				moved = append(moved, p)
			}
			slices.Sort(moved)
			t.Logf("%d answers from memory, %d hidden; visible reads %v; answers changed with %v", fromMemory, hidden, reads, moved)
		})
	}
}

// TestVisibleFootprint: the built-in bundles' visible rules read neither the
// model's id nor the object's path, so that a listing's models, which differ in
// their ids, share remembered answers (docs/policies.md). A performance
// property: a change to the bundles that makes visible name the model
// would not be wrong, only slow.
func TestVisibleFootprint(t *testing.T) {
	t.Parallel()
	for _, bundle := range []string{"ai-diffusion-2025", "embargo-only"} {
		t.Run(bundle, func(t *testing.T) {
			t.Parallel()
			e, err := New(context.Background(), Options{Bundle: bundle, Registry: "../../testdata/registry"})
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			if r.visible == nil {
				t.Fatal("no visible shortcut")
			}
			var paths []string
			for _, p := range r.visible.fp.paths {
				paths = append(paths, strings.Join(p, "."))
			}
			t.Logf("%s: visible reads %s", bundle, strings.Join(paths, ", "))
			for _, unread := range []string{"", "model", "model.id", "object", "object.path"} {
				if slices.Contains(paths, unread) {
					t.Errorf("visible reads %q: %v", unread, paths)
				}
			}
			if !slices.Contains(paths, "subject.country") {
				t.Errorf("visible does not read subject.country: %v", paths)
			}
		})
	}
}

// TestListed_Guard: a bundle whose visible rule disagrees with
// decision.visible gets the full decision's answer, and, once the
// disagreement is seen, no more shortcut (and one error in the log).
func TestListed_Guard(t *testing.T) {
	t.Parallel()
	// The decision hides the model from requesters in IR, visible from
	// those in CN: they agree in the United States, and disagree
	// elsewhere.
	bundle := fstest.MapFS{"policy.rego": {Data: []byte(`package weightgate

decision := {"allow": false, "code": "denied", "visible": input.subject.country != "IR"}

visible := input.subject.country != "CN"
`)}}
	var log bytes.Buffer
	e, err := New(context.Background(), Options{BundleFS: bundle, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := e.state.Load().regimes[0]
	if r.visible == nil {
		t.Fatal("no visible shortcut")
	}
	us, ir, cn := testInput(), testInput(), testInput()
	ir.Subject.Country, cn.Subject.Country = "IR", "CN"
	for i, tc := range []struct {
		in   policy.Input
		want bool
	}{
		{us, true}, // agrees: remembered
		{us, true}, // from memory
		{ir, false},
		{ir, false},
		{cn, true},
		{us, true},
	} {
		got, err := e.Listed(context.Background(), tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("#%d: Listed(%s) = %v, want %v", i, tc.in.Subject.Country, got, tc.want)
		}
	}
	if !r.visible.off.Load() {
		t.Error("the shortcut is still on")
	}
	if got := r.visible.answers.Len(); got != 1 {
		t.Errorf("%d answers remembered, want 1 (the United States', before the disagreement)", got)
	}
	if got := strings.Count(log.String(), "disagrees with decision.visible"); got != 1 {
		t.Errorf("%d log lines about the disagreement, want 1:\n%s", got, log.String())
	}
	if !strings.Contains(log.String(), "bundle=bundle") {
		t.Errorf("the log line does not name the bundle:\n%s", log.String())
	}
}

// TestListed_Fallbacks: without a visible rule, with DecisionCache -1, or
// with a visible rule that is not a boolean, fails or is undefined, Listed
// answers from the full decision, failing as Decide fails.
func TestListed_Fallbacks(t *testing.T) {
	t.Parallel()
	const decision = `decision := {"allow": input.subject.country == "US", "code": "c", "visible": input.subject.country != "IR"}` + "\n"
	for _, tc := range []struct {
		name     string
		rego     string
		cache    int
		shortcut bool
	}{
		{name: "no visible rule", rego: decision},
		{name: "no cache", rego: decision + "visible := input.subject.country != \"IR\"\n", cache: NoDecisionCache},
		{name: "not a boolean", rego: decision + "visible := \"yes\"\n", shortcut: true},
		{name: "undefined", rego: decision + "visible if false\n", shortcut: true},
		{name: "fails", rego: decision + "visible := x if x := to_number(\"x\")\n", shortcut: true},
		{name: "false", rego: decision + "visible := false\n", shortcut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := New(context.Background(), Options{BundleFS: fstest.MapFS{"policy.rego": {Data: []byte("package weightgate\n\n" + tc.rego)}}, DecisionCache: tc.cache})
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			if got := r.visible != nil; got != tc.shortcut {
				t.Fatalf("shortcut %v, want %v", got, tc.shortcut)
			}
			for _, c := range []struct {
				country string
				want    bool
			}{{"US", true}, {"GB", true}, {"IR", false}, {"IR", false}} {
				in := testInput()
				in.Subject.Country = c.country
				got, err := e.Listed(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("Listed(%s) = %v, want %v", c.country, got, c.want)
				}
			}
			if tc.shortcut && tc.name != "false" && r.visible.answers.Len() != 0 {
				t.Errorf("%d answers remembered, want none", r.visible.answers.Len())
			}
			// Failures are Decide's.
			bad := testInput()
			bad.Request.Time = "yesterday"
			if got, err := e.Listed(context.Background(), bad); got || err == nil {
				t.Errorf("Listed(bad time) = %v, %v; want false and an error", got, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if got, err := e.Listed(ctx, testInput()); got || err == nil {
				t.Errorf("Listed(cancelled) = %v, %v; want false and an error", got, err)
			}
		})
	}
}
