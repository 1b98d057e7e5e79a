package opa

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// OPA caches the value of every rule it evaluates, and of every function
// call, for the rest of one evaluation: the "virtual cache". This file gives
// the engine its own, for two reasons:
//
//   - Constant rules. A rule whose value depends on neither input nor
//     anything else that changes between evaluations (a rule over the
//     bundle's data and the registries alone, such as a bundle's check that
//     its country lists are lists) has the same value in every decision of a
//     regime. The engine evaluates such rules once, when it builds the
//     regime, and every evaluation starts with their values in its cache, as
//     if it had just computed them. Nothing about the policy changes: OPA
//     would compute the same values, only again for every decision.
//   - Cost. OPA's cache is a trie of hash maps with an allocation per node;
//     this one is a flat hash table in reusable slabs.
//
// It behaves as OPA's: a stack of frames (a `with` statement pushes one),
// entries of the active frame only, "undefined" recorded as such. The
// constant rules' values are served in the bottom frame only, the one without
// any `with` in effect.

// vcache is one evaluation's virtual cache.
type vcache struct {
	seeds  *vtable   // constant rules; read only, shared by every evaluation
	frames []*vtable // frames[0] is the bottom frame
	spare  []*vtable // popped frames, for reuse
}

var vcachePool = sync.Pool{New: func() any { return &vcache{frames: []*vtable{newVTable()}} }}

// newVCache returns an empty cache over seeds (nil: none). Release it when
// the evaluation is over.
func newVCache(seeds *vtable) *vcache {
	c := vcachePool.Get().(*vcache)
	c.seeds = seeds
	return c
}

// release resets c and returns it to the pool. c must no longer be in use.
func (c *vcache) release() {
	for _, f := range c.frames[1:] {
		f.reset()
		c.spare = append(c.spare, f)
	}
	c.frames = c.frames[:1]
	c.frames[0].reset()
	c.seeds = nil
	vcachePool.Put(c)
}

func (c *vcache) Push() {
	var f *vtable
	if n := len(c.spare); n > 0 {
		f, c.spare = c.spare[n-1], c.spare[:n-1]
	} else {
		f = newVTable()
	}
	c.frames = append(c.frames, f)
}

func (c *vcache) Pop() {
	n := len(c.frames)
	if n == 1 {
		return // topdown pops only what it pushed
	}
	f := c.frames[n-1]
	f.reset()
	c.spare = append(c.spare, f)
	c.frames = c.frames[:n-1]
}

func (c *vcache) Get(ref ast.Ref) (*ast.Term, bool) {
	h := refHash(ref)
	top := c.frames[len(c.frames)-1]
	if e := top.find(h, ref); e != nil {
		if e.undefined {
			return nil, true
		}
		return e.value, false
	}
	if len(c.frames) == 1 && c.seeds != nil {
		if e := c.seeds.find(h, ref); e != nil {
			if e.undefined {
				return nil, true
			}
			return e.value, false
		}
	}
	return nil, false
}

func (c *vcache) Put(ref ast.Ref, value *ast.Term) {
	c.frames[len(c.frames)-1].put(refHash(ref), ref, value)
}

func (c *vcache) Keys() []ast.Ref {
	top := c.frames[len(c.frames)-1]
	var keys []ast.Ref
	for i := range top.entries {
		if e := &top.entries[i]; e.value != nil {
			keys = append(keys, slices.Clone(e.key))
		}
	}
	return keys
}

// vtable is a hash table of refs. Entries and the terms of their keys live
// in slabs that reset keeps for the next use.
type vtable struct {
	index   map[uint64]int32 // hash → first entry with it
	entries []ventry
	keys    []*ast.Term // the keys' terms, back to back
}

type ventry struct {
	key       ast.Ref // a slice of vtable.keys
	value     *ast.Term
	undefined bool
	next      int32 // next entry with the same hash, or -1
}

func newVTable() *vtable {
	return &vtable{index: make(map[uint64]int32, 64), entries: make([]ventry, 0, 64), keys: make([]*ast.Term, 0, 256)}
}

func (t *vtable) reset() {
	clear(t.index)
	clear(t.entries) // drop the references to values
	t.entries = t.entries[:0]
	clear(t.keys)
	t.keys = t.keys[:0]
}

func (t *vtable) find(h uint64, ref ast.Ref) *ventry {
	i, ok := t.index[h]
	if !ok {
		return nil
	}
	for i >= 0 {
		e := &t.entries[i]
		if refEqual(e.key, ref) {
			return e
		}
		i = e.next
	}
	return nil
}

// put records value (nil: undefined) for ref as OPA's cache does: a value
// and "undefined" are kept side by side, and "undefined" wins.
func (t *vtable) put(h uint64, ref ast.Ref, value *ast.Term) {
	if e := t.find(h, ref); e != nil {
		if value == nil {
			e.undefined = true
		} else {
			e.value = value
		}
		return
	}
	// The caller may reuse ref's backing array: keep a copy of its terms.
	start := len(t.keys)
	t.keys = append(t.keys, ref...)
	next := int32(-1)
	if i, ok := t.index[h]; ok {
		next = i
	}
	t.entries = append(t.entries, ventry{key: ast.Ref(t.keys[start:len(t.keys):len(t.keys)]), value: value, undefined: value == nil, next: next})
	t.index[h] = int32(len(t.entries) - 1)
}

// refHash hashes ref as a sequence of terms. Terms that are Equal hash alike
// (OPA's requirement of Value.Hash), so equal refs do.
func refHash(ref ast.Ref) uint64 {
	h := uint64(len(ref))
	for _, t := range ref {
		h = h*1099511628211 ^ uint64(t.Hash())
	}
	return h
}

// refEqual compares as OPA's cache does: term by term, with Term.Equal.
func refEqual(a, b ast.Ref) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// Constant rules.

// pureBuiltins are the built-in functions whose result depends on their
// arguments alone. A rule calling any other built-in (time.now_ns, http.send,
// print...) is never taken for a constant. The list only needs to cover what
// constant rules commonly use; a rule left out is merely evaluated every time.
var pureBuiltins = map[string]bool{}

func init() {
	for _, b := range []*ast.Builtin{
		ast.Equality, ast.Assign, ast.Member, ast.MemberWithKey,
		ast.Equal, ast.NotEqual, ast.LessThan, ast.LessThanEq, ast.GreaterThan, ast.GreaterThanEq,
		ast.Plus, ast.Minus, ast.Multiply, ast.Divide, ast.Rem, ast.Abs, ast.Round, ast.Ceil, ast.Floor,
		ast.And, ast.Or, ast.Intersection, ast.Union,
		ast.Count, ast.Sum, ast.Product, ast.Max, ast.Min, ast.Sort,
		ast.IsNumber, ast.IsString, ast.IsBoolean, ast.IsArray, ast.IsSet, ast.IsObject, ast.IsNull, ast.TypeNameBuiltin,
		ast.ArrayConcat, ast.ArraySlice, ast.ArrayReverse,
		ast.ObjectGet, ast.ObjectKeys, ast.ObjectUnion, ast.ObjectUnionN, ast.ObjectRemove, ast.ObjectFilter,
		ast.Sprintf, ast.Concat, ast.Lower, ast.Upper, ast.Trim, ast.TrimSpace, ast.TrimLeft, ast.TrimRight,
		ast.TrimPrefix, ast.TrimSuffix, ast.Substring, ast.StartsWith, ast.EndsWith, ast.Contains,
		ast.Split, ast.Replace, ast.IndexOf, ast.FormatInt, ast.ToNumber, ast.RegexMatch,
	} {
		pureBuiltins[b.Name] = true
	}
}

// constantRules returns the paths of the complete, argument-free rules of
// compiler whose value is the same in every evaluation against one store: no
// rule they depend on, directly or through other rules and functions, reads
// input, uses `with`, or calls a built-in outside pureBuiltins. calls are the
// calls of such constant functions with constant arguments written in the
// policy (registry("licences")), as OPA's cache keys them: the function's
// ref, then the arguments.
func constantRules(compiler *ast.Compiler) (rules []ast.Ref, calls []ast.Ref) {
	type node struct {
		path     ast.Ref
		rules    []*ast.Rule // every definition, else branches and default included
		variable bool        // depends on something that can change
		deps     []ast.Ref   // data refs it reads or calls
	}
	nodes := map[string]*node{}
	var order []*node
	for _, m := range compiler.Modules {
		for _, r := range m.Rules {
			path := r.Ref()
			key := path.String()
			n := nodes[key]
			if n == nil {
				n = &node{path: path}
				nodes[key] = n
				order = append(order, n)
			}
			for x := r; x != nil; x = x.Else {
				n.rules = append(n.rules, x)
			}
		}
	}
	slices.SortFunc(order, func(a, b *node) int { return a.path.Compare(b.path) })

	for _, n := range order {
		for _, r := range n.rules {
			ast.WalkExprs(r, func(x *ast.Expr) bool {
				if len(x.With) > 0 {
					n.variable = true
				}
				return n.variable
			})
			ast.WalkTerms(r, func(t *ast.Term) bool {
				switch v := t.Value.(type) {
				case ast.Call:
					if op, ok := v[0].Value.(ast.Ref); !ok || !callPure(op) {
						n.variable = true
					}
				case ast.Ref:
					if v[0].Equal(ast.InputRootDocument) {
						n.variable = true
					} else if v[0].Equal(ast.DefaultRootDocument) {
						n.deps = append(n.deps, v)
					}
				}
				return n.variable
			})
			if n.variable {
				break
			}
			for _, x := range exprsOf(r) {
				if x.IsCall() && !callPure(x.Operator()) {
					n.variable = true
					break
				}
			}
		}
	}

	// A node is variable when any node it may read is; refs reaching into
	// several rules (a package, a variable key) read all of them. Repeat
	// until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, n := range order {
			if n.variable {
				continue
			}
		deps:
			for _, dep := range n.deps {
				for _, m := range order {
					if m != n && m.variable && refsOverlap(dep, m.path) {
						n.variable, changed = true, true
						break deps
					}
				}
			}
		}
	}
	functions := map[string]int{} // constant function → its arity
	for _, n := range order {
		if n.variable || !n.path.IsGround() {
			continue
		}
		complete, function := true, true
		for _, r := range n.rules {
			if len(r.Head.Args) > 0 {
				complete = false
			} else {
				function = false
			}
			if r.Head.DocKind() != ast.CompleteDoc {
				complete, function = false, false
			}
		}
		switch {
		case complete:
			rules = append(rules, n.path)
		case function:
			functions[n.path.String()] = len(n.rules[0].Head.Args)
		}
	}

	seen := map[string]bool{}
	for _, n := range order {
		for _, r := range n.rules {
			for _, x := range exprsOf(r) {
				if !x.IsCall() {
					continue
				}
				op := x.Operator()
				arity, ok := functions[op.String()]
				args := x.Operands()
				if !ok || len(args) < arity {
					continue
				}
				key := append(ast.Ref{ast.NewTerm(op)}, args[:arity]...)
				if !key.IsGround() || seen[key.String()] {
					continue
				}
				seen[key.String()] = true
				calls = append(calls, key)
			}
		}
	}
	return rules, calls
}

// callPure reports whether a call of op depends on its arguments alone, as
// far as op itself goes: a function of the policy (its rules are dependencies
// of their own) or a built-in of pureBuiltins.
func callPure(op ast.Ref) bool {
	if op[0].Equal(ast.DefaultRootDocument) {
		return true
	}
	return pureBuiltins[op.String()]
}

func exprsOf(r *ast.Rule) []*ast.Expr {
	var out []*ast.Expr
	ast.WalkExprs(r, func(x *ast.Expr) bool {
		out = append(out, x)
		return false
	})
	return out
}

// refsOverlap reports whether a and b may name the same document or one
// inside the other: they agree term by term up to the shorter one's length,
// a variable agreeing with anything.
func refsOverlap(a, b ast.Ref) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if !a[i].IsGround() || !b[i].IsGround() {
			continue
		}
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// seedConstants evaluates the constant rules of compiler once against store
// and returns their values (or their being undefined) as a table for
// newVCache. A rule whose evaluation fails is left out: it is then evaluated,
// and fails, in every decision, as before.
func seedConstants(ctx context.Context, compiler *ast.Compiler, store storage.Store) (*vtable, error) {
	paths, calls := constantRules(compiler)
	if len(paths)+len(calls) == 0 {
		return nil, nil
	}
	t := newVTable()
	// eval evaluates query; ok is false when the evaluation fails.
	eval := func(query ast.Body) (rs rego.ResultSet, ok bool, err error) {
		pq, err := rego.New(
			rego.ParsedQuery(query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("prepare %s: %w", query, err)
		}
		rs, err = pq.Eval(ctx, rego.EvalGenerateJSON(keepTerm))
		return rs, err == nil, nil
	}
	for _, path := range paths {
		rs, ok, err := eval(ast.NewBody(ast.NewExpr(ast.NewTerm(path))))
		switch {
		case err != nil:
			return nil, err
		case !ok:
			continue
		case len(rs) == 0:
			t.put(refHash(path), path, nil) // undefined
		case len(rs) == 1 && len(rs[0].Expressions) == 1:
			if v, ok := rs[0].Expressions[0].Value.(*ast.Term); ok {
				t.put(refHash(path), path, v)
			}
		}
	}
	// A function's calls: only a defined value is recorded, as OPA's cache
	// does.
	out := ast.VarTerm("out")
	for _, key := range calls {
		rs, ok, err := eval(ast.NewBody(ast.NewExpr(append(slices.Clone([]*ast.Term(key)), out))))
		if err != nil {
			return nil, err
		}
		if ok && len(rs) == 1 {
			if v, ok := rs[0].Bindings["out"].(*ast.Term); ok {
				t.put(refHash(key), key, v)
			}
		}
	}
	return t, nil
}

var _ topdown.VirtualCache = (*vcache)(nil)
