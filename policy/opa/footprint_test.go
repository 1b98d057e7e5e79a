package opa

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/policy"
)

// newTestEngine builds an engine over a bundle of one policy.rego (package
// weightgate) and optional data.json.
func newTestEngine(t *testing.T, rego, data string) *Engine {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"policy.rego": "package weightgate\n\n" + rego + "\n"}
	if data != "" {
		files["data.json"] = data
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(context.Background(), Options{Bundle: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testInput() policy.Input {
	return policy.Input{
		Subject: policy.Subject{ID: "alice", Country: "US", Claims: map[string]any{"team": "ml", "sub": "alice"}},
		Model:   policy.Model{ID: "lab/m", Classified: true, Weights: "closed"},
		Object:  policy.Object{Path: "model.safetensors", Kind: policy.KindWeights, Size: 1},
		Request: policy.Request{Method: "GET", API: "resolve", RemoteAddr: "192.0.2.1:1", Time: "2026-01-02T03:04:05Z"},
	}
}

// TestFootprintDefault: the built-in bundles are deterministic and their
// footprints hold what they read, and not, for example, the client's port:
// the requests of a download on several connections share a decision.
func TestFootprintDefault(t *testing.T) {
	for _, bundle := range []string{"ai-diffusion-2025", "embargo-only"} {
		e, err := New(context.Background(), Options{Bundle: bundle, Registry: "../../testdata/registry"})
		if err != nil {
			t.Fatal(err)
		}
		r := e.state.Load().regimes[0]
		if r.fp.why != "" || r.decisions == nil {
			t.Fatalf("%s: decisions not remembered: %s", bundle, r.fp.why)
		}
		var paths []string
		for _, p := range r.fp.paths {
			paths = append(paths, strings.Join(p, "."))
		}
		t.Logf("%s reads %s", bundle, strings.Join(paths, ", "))
		// Minimal: each value is in the key once, so no path repeats or
		// lies under another.
		for i, p := range paths {
			for j, q := range paths {
				if i != j && (p == q || strings.HasPrefix(p, q+".") || q == "") {
					t.Errorf("%s: footprint %v has %q and %q", bundle, paths, q, p)
				}
			}
		}
		for _, want := range []string{"request.time", "object.kind", "model.weights", "subject.country"} {
			if !slices.ContainsFunc(paths, func(p string) bool { return p == want || strings.HasPrefix(want, p+".") }) {
				t.Errorf("%s: footprint %v misses %s", bundle, paths, want)
			}
		}
		for _, unread := range []string{"", "request", "request.remote_addr", "request.method", "object.size", "model.revision"} {
			if slices.Contains(paths, unread) {
				t.Errorf("%s: footprint %v includes %q, which no rule reads", bundle, paths, unread)
			}
		}
	}
}

// TestDecisionCache: inputs that differ in what the policy reads get their
// own decisions, however the policy reads it (a path, a computed key, the
// whole input passed to a function); inputs that differ only elsewhere share
// one; and a policy that is not deterministic, or overrides its input, is
// never answered from memory.
func TestDecisionCache(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, rego, data string
		vary             func(in *policy.Input, i int) // i = 0, 1: values the policy reads
		same             func(in *policy.Input)        // a change the policy does not read
		whole            bool
	}{
		{name: "path", rego: `decision := {"allow": true, "code": input.request.method}`,
			vary: func(in *policy.Input, i int) { in.Request.Method = []string{"GET", "HEAD"}[i] },
			same: func(in *policy.Input) { in.Object.Size = 2 }},
		{name: "computed key", rego: `decision := {"allow": true, "code": input.subject.claims[data.k]}`, data: `{"k": "team"}`,
			vary: func(in *policy.Input, i int) { in.Subject.Claims = map[string]any{"team": []string{"ml", "ops"}[i]} },
			same: func(in *policy.Input) { in.Model.Revision = "abc" }},
		{name: "whole input", rego: "decision := {\"allow\": true, \"code\": f(input)}\nf(x) := x.object.path", whole: true,
			vary: func(in *policy.Input, i int) { in.Object.Path = []string{"a", "b"}[i] }},
		{name: "object.get as a condition", rego: "decision := {\"allow\": true, \"code\": \"set\"} if {\n\tobject.get(input, [\"subject\", \"claims\", \"flag\"], false)\n} else := {\"allow\": true, \"code\": \"unset\"}",
			vary: func(in *policy.Input, i int) { in.Subject.Claims = map[string]any{"flag": i == 0} },
			same: func(in *policy.Input) { in.Object.Size = 2 }},
		{name: "local variable", rego: "decision := {\"allow\": true, \"code\": c} if {\n\tr := input.request\n\tc := r.api\n}",
			vary: func(in *policy.Input, i int) { in.Request.API = []string{"resolve", "s3"}[i] },
			same: func(in *policy.Input) { in.Subject.Name = "Bob" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, tc.rego, tc.data)
			r := e.state.Load().regimes[0]
			if r.decisions == nil {
				t.Fatalf("decisions not remembered: %s", r.fp.why)
			}
			if tc.whole != slices.ContainsFunc(r.fp.paths, func(p []string) bool { return len(p) == 0 }) {
				t.Errorf("footprint %v: whole input %v expected", r.fp.paths, tc.whole)
			}
			var codes []string
			for i := range 2 {
				for range 2 { // the second time from memory
					in := testInput()
					tc.vary(&in, i)
					d, err := e.Decide(ctx, in)
					if err != nil {
						t.Fatal(err)
					}
					codes = append(codes, d.Code)
				}
			}
			if codes[0] != codes[1] || codes[2] != codes[3] || codes[0] == codes[2] {
				t.Errorf("codes %q: want two pairs of equal codes, the pairs different", codes)
			}
			if tc.same != nil {
				before := r.decisions.Len()
				in := testInput()
				tc.vary(&in, 0)
				tc.same(&in)
				if d, _ := e.Decide(ctx, in); d.Code != codes[0] || r.decisions.Len() != before {
					t.Errorf("a change the policy does not read: code %q, %d remembered (was %d); want %q from memory", d.Code, r.decisions.Len(), before, codes[0])
				}
			}
		})
	}

	for _, tc := range []struct{ name, rego string }{
		{"non-deterministic", `decision := {"allow": true, "code": sprintf("%d", [time.now_ns()])}`},
		{"with input", "decision := {\"allow\": true, \"code\": c} if {\n\tc := m with input.request.method as \"X\"\n}\nm := input.request.method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestEngine(t, tc.rego, "").state.Load().regimes[0]
			if r.decisions != nil || r.fp.why == "" {
				t.Errorf("decisions remembered (why %q)", r.fp.why)
			}
			t.Log(r.fp.why)
		})
	}

	// Off on request.
	e, err := New(ctx, Options{DecisionCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	if e.state.Load().regimes[0].decisions != nil {
		t.Error("DecisionCache -1 still remembers decisions")
	}
}
