package opa

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// footprint is what of the input a compiled policy can read: the paths of
// the input documents its rules refer to. Two inputs that agree on every
// path get the same decision from a deterministic policy over the same data,
// which is what lets Decide remember decisions (regime.decisions).
type footprint struct {
	// paths are input paths, each read whole; sorted, none a prefix of
	// another. A single empty path means the whole input.
	paths [][]string
	// why, when not "", is why decisions cannot be remembered at all.
	why string
}

// objectGet is the built-in the library reads input paths with.
var objectGet = ast.ObjectGet.Ref().String()

// inputFootprint finds what the compiled modules can read of the input:
//
//   - a reference such as input.subject.entity.hq reads that path; one that
//     goes on with a variable or computed key (input.subject.claims[k])
//     reads its constant prefix (input.subject.claims);
//   - object.get(input, P, default) with a constant P reads P; with P a
//     parameter of the enclosing function, each call of that function reads
//     the constant it passes there (the library's code(["subject",
//     "country"])), or, when one passes something else, the whole input;
//   - input used any other way as a value (f(input), x := input) reads the
//     whole input.
//
// A call of a non-deterministic built-in (time.now_ns, http.send, rand.intn,
// ...) or a `with` on the input makes the footprint unusable (why).
func inputFootprint(modules map[string]*ast.Module) footprint {
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	slices.Sort(names)

	// Functions that read input at the path one of their parameters names:
	// function ref -> parameter positions.
	pathParams := map[string][]int{}
	for _, name := range names {
		for _, rule := range modules[name].Rules {
			for r := rule; r != nil; r = r.Else {
				params := r.Head.Args
				aliases := inputAliases(r.Body)
				ast.WalkExprs(r, func(e *ast.Expr) bool {
					if args, ok := inputGet(e, aliases); ok {
						for i, p := range params {
							if args[1].Equal(p) && !slices.Contains(pathParams[rule.Ref().String()], i) {
								pathParams[rule.Ref().String()] = append(pathParams[rule.Ref().String()], i)
							}
						}
					}
					return false
				})
			}
		}
	}

	var paths [][]string
	var why string
	add := func(t *ast.Term) {
		p, ok := constantPath(t)
		if !ok {
			p = nil // not a constant: the whole input
		}
		paths = append(paths, p)
	}
	var walk func(x any, params []*ast.Term, aliases map[ast.Var]bool)
	walk = func(x any, params []*ast.Term, aliases map[ast.Var]bool) {
		ast.NewGenericVisitor(func(x any) bool {
			switch x := x.(type) {
			case *ast.With:
				if ref, ok := x.Target.Value.(ast.Ref); ok && ref.HasPrefix(ast.InputRootRef) && why == "" {
					why = "a rule overrides the input with `with`"
				}
			case *ast.Expr:
				if _, ok := aliasOf(x); ok {
					return true // X = input: its uses are what count
				}
				if !x.IsCall() {
					return false
				}
				op := x.Operator().String()
				checkBuiltin(op, &why)
				if args, ok := inputGet(x, aliases); ok {
					if !slices.ContainsFunc(params, args[1].Equal) {
						add(args[1])
					}
					for _, t := range args[1:] {
						walk(t, params, aliases)
					}
					return true
				}
				if positions, ok := pathParams[op]; ok {
					for _, i := range positions {
						if i < len(x.Operands()) {
							add(x.Operand(i))
						}
					}
				}
			case ast.Call:
				if len(x) > 0 {
					checkBuiltin(x[0].String(), &why)
					if _, ok := pathParams[x[0].String()]; ok {
						paths = append(paths, nil) // a call inside a term: not traced
					}
				}
			case ast.Ref:
				if !x[0].Equal(ast.InputRootDocument) {
					return false
				}
				p, _ := constantPrefix(x[1:])
				paths = append(paths, p)
				for _, t := range x[1:] {
					walk(t, params, aliases) // computed keys may read the input too
				}
				return true
			case ast.Var:
				if x.Equal(ast.InputRootDocument.Value) || aliases[x] {
					paths = append(paths, nil) // the input as a value
				}
			}
			return false
		}).Walk(x)
	}
	for _, name := range names {
		for _, rule := range modules[name].Rules {
			for r := rule; r != nil; r = r.Else {
				aliases := inputAliases(r.Body)
				walk(r.Head, r.Head.Args, aliases)
				walk(r.Body, r.Head.Args, aliases)
			}
		}
	}
	return footprint{paths: minimalPaths(paths), why: why}
}

// inputAliases are the variables a body binds to the input itself: the
// compiler rewrites object.get(input, p, d) into X = input; object.get(X, p,
// d).
func inputAliases(body ast.Body) map[ast.Var]bool {
	var out map[ast.Var]bool
	for _, e := range body {
		if v, ok := aliasOf(e); ok {
			if out == nil {
				out = map[ast.Var]bool{}
			}
			out[v] = true
		}
	}
	return out
}

// aliasOf returns X when e is X = input (or input = X).
func aliasOf(e *ast.Expr) (ast.Var, bool) {
	if !e.IsEquality() || e.Negated || len(e.With) > 0 {
		return "", false
	}
	a, b := e.Operand(0), e.Operand(1)
	if isInput(a) {
		a, b = b, a
	}
	v, ok := a.Value.(ast.Var)
	return v, ok && isInput(b)
}

// inputGet returns the operands of e when it is object.get(input, path,
// default[, output]), input possibly through an alias.
func inputGet(e *ast.Expr, aliases map[ast.Var]bool) ([]*ast.Term, bool) {
	if !e.IsCall() || e.Operator().String() != objectGet {
		return nil, false
	}
	args := e.Operands()
	if len(args) < 3 {
		return nil, false
	}
	if v, ok := args[0].Value.(ast.Var); !isInput(args[0]) && !(ok && aliases[v]) {
		return nil, false
	}
	return args, true
}

func isInput(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Var:
		return v.Equal(ast.InputRootDocument.Value)
	case ast.Ref:
		return len(v) == 1 && v[0].Equal(ast.InputRootDocument)
	}
	return false
}

// constantPath is object.get's path argument as a path: a string (one key)
// or an array of strings.
func constantPath(t *ast.Term) ([]string, bool) {
	switch v := t.Value.(type) {
	case ast.String:
		return []string{string(v)}, true
	case *ast.Array:
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			terms[i] = v.Elem(i)
		}
		return constantPrefix(terms)
	}
	return nil, false
}

// constantPrefix is the leading string keys of terms, and whether that is
// all of them.
func constantPrefix(terms []*ast.Term) ([]string, bool) {
	var p []string
	for _, t := range terms {
		s, ok := t.Value.(ast.String)
		if !ok {
			return p, false
		}
		p = append(p, string(s))
	}
	return p, true
}

// checkBuiltin sets why when name is a non-deterministic built-in.
func checkBuiltin(name string, why *string) {
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic && *why == "" {
		*why = fmt.Sprintf("the policy calls %s, which is not deterministic", name)
	}
}

// minimalPaths sorts paths and drops every path that another is a prefix of.
func minimalPaths(paths [][]string) [][]string {
	slices.SortFunc(paths, func(a, b []string) int { return slices.Compare(a, b) })
	var out [][]string
	for _, p := range paths {
		if n := len(out); n > 0 && hasPrefix(p, out[n-1]) {
			continue // covered by a shorter path, which sorts first
		}
		out = append(out, p)
	}
	return out
}

func hasPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}

// key is the footprint of input as a string: each path with the canonical
// text of its value (OPA prints objects and sets with sorted keys and
// strings quoted), or a marker when the input has nothing there. Equal keys
// mean inputs that agree on everything the policy can read.
func (f footprint) key(input ast.Value) string {
	var b strings.Builder
	for _, p := range f.paths {
		v := input
		for _, k := range p {
			obj, ok := v.(ast.Object)
			if !ok {
				v = nil
				break
			}
			t := obj.Get(ast.InternedTerm(k))
			if t == nil {
				v = nil
				break
			}
			v = t.Value
		}
		for _, k := range p {
			b.WriteString(k)
			b.WriteByte('.')
		}
		b.WriteByte('=')
		if v == nil {
			b.WriteString("\x00absent")
		} else {
			b.WriteString(v.String())
		}
		b.WriteByte('\n')
	}
	return b.String()
}
