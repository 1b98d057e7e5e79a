package opa

import (
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// TestReachable: every way a rule can lead to another makes the other
// reachable, and a rule that nothing leads to is not (its input paths stay
// out of the query's footprint); the data document as a value reaches
// everything.
func TestReachable(t *testing.T) {
	t.Parallel()
	// Every case adds these: a rule nothing refers to, which reads the
	// input, and one in another package.
	const others = `
unreached := input.unreached

`
	const elsewhere = "package y\n\nz := input.elsewhere\n"
	for _, tc := range []struct {
		name string
		rego string
		// want are the rules of package x reached from data.x.q, besides q
		// itself; nil with all means every rule.
		want []string
		all  bool
		// bare, when set, replaces data.y in the compiled rules.
		bare *ast.Term
	}{
		{name: "dynamic ref", rego: `
q := data.x.t[k] if some k in ["a"]

t.a := input.a
t.b := input.b
`, want: []string{"t.a", "t.b"}},
		{name: "function call", rego: `
q := f(1)

f(x) := input.f
`, want: []string{"f"}},
		{name: "else branch", rego: `
q := 1 if {
	input.cond
} else := g

g := input.g
`, want: []string{"g"}},
		{name: "head value", rego: `
q := {"k": [h]}

h := input.h
`, want: []string{"h"}},
		{name: "with value", rego: `
q := v if {
	v := p with data.x.p as w
}

p := input.p

w := input.w
`, want: []string{"p", "w"}},
		{name: "comprehension", rego: `
q := [v | some v in c]

c := input.c
`, want: []string{"c"}},
		{name: "prefix of the ref", rego: `
q := data.x.o.k

o := {"k": input.o}
`, want: []string{"o"}},
		{name: "below the ref", rego: `
q := data.x.u

u.v := input.v
`, want: []string{"u.v"}},
		{name: "transitively", rego: `
q := a

a := b

b := input.b
`, want: []string{"a", "b"}},
		// The compiler refuses data as a value in a rule (the rule is
		// part of data: recursion), so the cases put it there after
		// compiling data.y.
		{name: "bare data", rego: `
q := count(data.y)
`, bare: ast.NewTerm(ast.DefaultRootRef), all: true},
		{name: "bare data variable", rego: `
q := count(data.y)
`, bare: ast.DefaultRootDocument, all: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
			c.Compile(map[string]*ast.Module{
				"x.rego": ast.MustParseModuleWithOpts("package x\n"+others+tc.rego, ast.ParserOptions{RegoVersion: ast.RegoV1}),
				"y.rego": ast.MustParseModuleWithOpts(elsewhere, ast.ParserOptions{RegoVersion: ast.RegoV1}),
			})
			if c.Failed() {
				t.Fatal(c.Errors)
			}
			if tc.bare != nil {
				ast.WalkTerms(c.Modules["x.rego"], func(t *ast.Term) bool {
					if t.Value.Compare(ast.MustParseRef("data.y")) == 0 {
						t.Value = tc.bare.Value
					}
					return false
				})
			}
			keep := reachable(c, ast.MustParseRef("data.x.q"))
			fp := inputFootprint(c.Modules, keep)
			var paths []string
			for _, p := range fp.paths {
				paths = append(paths, strings.Join(p, "."))
			}
			if tc.all {
				if keep != nil {
					t.Errorf("reachable: a filter, want every rule")
				}
				return
			}
			if keep == nil {
				t.Fatalf("reachable: every rule, want %v", tc.want)
			}
			var got []string
			for _, m := range c.Modules {
				for _, r := range m.Rules {
					if keep(r) {
						got = append(got, strings.TrimPrefix(r.Path().String(), "data.x."))
					}
				}
			}
			slices.Sort(got)
			want := append([]string{"q"}, tc.want...)
			slices.Sort(want)
			want = slices.Compact(want)
			if !slices.Equal(got, want) {
				t.Errorf("reached %v, want %v", got, want)
			}
			// The rules reached read what the footprint holds; the others
			// add nothing.
			for _, p := range paths {
				if p == "unreached" || p == "elsewhere" {
					t.Errorf("footprint %v holds %s, which only an unreached rule reads", paths, p)
				}
			}
			if len(paths) == 0 {
				t.Errorf("footprint empty: the reached rules read the input")
			}
		})
	}
}
