package opa

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// vcache must answer every sequence of operations as OPA's own cache does.
func TestVCache_AgreesWithOPA(t *testing.T) {
	refs := []ast.Ref{
		ast.MustParseRef("data.a"),
		ast.MustParseRef("data.a.b"),
		ast.MustParseRef("data.a.c"),
		ast.MustParseRef("data.x.y.z"),
		{ast.RefTerm(ast.MustParseRef("data.lib.f")...), ast.StringTerm("US")},
		{ast.RefTerm(ast.MustParseRef("data.lib.f")...), ast.NumberTerm("1")},
		{ast.RefTerm(ast.MustParseRef("data.lib.f")...), ast.NumberTerm("1.0")}, // Equal to 1
		{ast.RefTerm(ast.MustParseRef("data.lib.f")...), ast.ArrayTerm(ast.StringTerm("a"), ast.StringTerm("b"))},
	}
	values := []*ast.Term{nil, ast.BooleanTerm(true), ast.StringTerm("v"), ast.NumberTerm("2")}
	r := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		want := topdown.NewVirtualCache()
		got := newVCache(nil)
		depth := 0
		for step := range 60 {
			ref := slices.Clone(refs[r.IntN(len(refs))])
			switch op := r.IntN(10); {
			case op < 4:
				v := values[r.IntN(len(values))]
				want.Put(ref, v)
				got.Put(ref, v)
				ref[len(ref)-1] = ast.StringTerm("clobbered") // callers reuse their slices
			case op < 8:
				w, wu := want.Get(ref)
				g, gu := got.Get(ref)
				if wu != gu || (w == nil) != (g == nil) || (w != nil && !w.Equal(g)) {
					t.Fatalf("round %d step %d: Get(%v) = %v, %v; OPA's %v, %v", round, step, ref, g, gu, w, wu)
				}
			case op == 8:
				want.Push()
				got.Push()
				depth++
			default:
				if depth > 0 { // topdown pops only what it pushed
					depth--
					want.Pop()
					got.Pop()
				}
			}
		}
		got.release()
	}
}

// The constants of a regime are served in the bottom frame only: under a
// `with`, OPA evaluates the rules again.
func TestVCache_ConstantsOnlyInBottomFrame(t *testing.T) {
	seeds := newVTable()
	ref := ast.MustParseRef("data.p.c")
	seeds.put(refHash(ref), ref, ast.StringTerm("seeded"))
	c := newVCache(seeds)
	defer c.release()
	if v, _ := c.Get(ref); v == nil || !v.Equal(ast.StringTerm("seeded")) {
		t.Fatalf("Get = %v, want the seeded value", v)
	}
	c.Push()
	if v, undefined := c.Get(ref); v != nil || undefined {
		t.Fatalf("Get in a pushed frame = %v, %v; want not cached", v, undefined)
	}
	c.Pop()
	if v, _ := c.Get(ref); v == nil {
		t.Fatal("Get after Pop lost the seeded value")
	}
}

func TestConstantRules(t *testing.T) {
	modules := map[string]string{
		"p.rego": `package p

cfg := data.d.cfg
ok if is_array(cfg.list)
list_set := {x | some x in cfg.list}
both if { ok; count(list_set) > 0 }
uses_fn := f(1)
f(x) := x + count(cfg.list)
uses_input_fn := g(1)
g(x) := x if input.y
from_input := input.x
via_rule := from_input
now := time.now_ns()
printed if print("x")
with_data := v if v := cfg with data.d.cfg as 1
default dflt := 1
dflt := 2 if input.z
else_chain := 1 if { cfg.a } else := 2
pkg := data.q
key := data.q[k] if k := "c"
denials contains x if some x in cfg.list
first := sort(denials)[0]
fails := to_number("x")
`,
		"q.rego": `package q

c := 1
i := input.i
`,
	}
	parsed := map[string]*ast.Module{}
	for name, src := range modules {
		parsed[name] = ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	}
	// (With print statements disabled, as the engine has them, the
	// compiler drops print calls altogether.)
	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true)
	if compiler.Compile(parsed); compiler.Failed() {
		t.Fatal(compiler.Errors)
	}
	rules, calls := constantRules(compiler)
	var got []string
	for _, r := range rules {
		got = append(got, r.String())
	}
	want := []string{
		"data.p.both", "data.p.cfg", "data.p.else_chain", "data.p.fails", "data.p.first", "data.p.list_set",
		"data.p.ok", "data.p.uses_fn", "data.q.c",
	}
	if !slices.Equal(got, want) {
		t.Errorf("constantRules =\n%v\nwant\n%v", got, want)
	}
	got = nil
	for _, c := range calls {
		got = append(got, c.String())
	}
	// f(1) is a constant function with a constant argument; g(1) reads input.
	if want := []string{"data.p.f[1]"}; !slices.Equal(got, want) {
		t.Errorf("constant calls = %v, want %v", got, want)
	}

	store := inmem.NewFromObjectWithOpts(map[string]any{"d": map[string]any{"cfg": map[string]any{"list": []any{"b", "a"}}}},
		inmem.OptReturnASTValuesOnRead(true))
	seeds, err := seedConstants(context.Background(), compiler, store)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]*ast.Term{
		"data.p.ok":         ast.BooleanTerm(true),
		"data.p.uses_fn":    ast.NumberTerm("3"),
		"data.p.first":      ast.StringTerm("a"),
		"data.p.else_chain": ast.NumberTerm("2"),
	} {
		r := ast.MustParseRef(ref)
		e := seeds.find(refHash(r), r)
		if e == nil || e.undefined || !e.value.Equal(want) {
			t.Errorf("seed %s = %+v, want %v", ref, e, want)
		}
	}
	if key := (ast.Ref{ast.RefTerm(ast.MustParseRef("data.p.f")...), ast.NumberTerm("1")}); !seeds.find(refHash(key), key).value.Equal(ast.NumberTerm("3")) {
		t.Errorf("call f(1) not seeded with 3")
	}
	// A rule whose evaluation fails is left to fail in every evaluation.
	if r := ast.MustParseRef("data.p.fails"); seeds.find(refHash(r), r) != nil {
		t.Error("data.p.fails was seeded")
	}
}
