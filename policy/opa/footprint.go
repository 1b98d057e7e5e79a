package opa

import (
	"cmp"
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
	// whole, when not "", names the first rule (file:line and rule) that
	// made the footprint the whole input.
	whole string
	// why, when not "", is why decisions cannot be remembered at all, with
	// the rule that made it so.
	why string
}

// objectGet is the built-in the library reads input paths with.
var objectGet = ast.ObjectGet.Ref().String()

// inputFootprint finds what the compiled modules can read of the input. It
// is sound by construction rather than by listing the ways Rego can read a
// value: it looks at every occurrence of input, and of every variable bound
// to the input itself (an alias), at any depth of every rule: heads, bodies,
// else branches, comprehensions, every, not, with. Each occurrence is one of
//
//   - a reference input.a.b (or alias.a.b): it reads its constant prefix,
//     the rest of the reference (input.subject.claims[k]) being computed
//     keys that may themselves read the input;
//   - object.get(input, P, default) with a constant P: it reads P; with P a
//     parameter of the enclosing function, each call of that function reads
//     the constant it passes there (the library's code(["subject",
//     "country"])), and a call that passes anything else reads the whole
//     input;
//   - the binding of an alias, X = input or X = Y with Y an alias: its uses
//     are what count;
//
// and any other occurrence (input as a value, a function argument, an
// element of a composite, a with value, a some/every domain) reads the whole
// input. A variable is an alias in its whole rule, not
// only in the body that binds it: that over-approximates, never misses.
//
// A call or mock of a non-deterministic built-in (time.now_ns, http.send,
// rand.intn, ...), a `with` on the input, and a `with` that replaces
// object.get or a function that reads the input at its parameter's path make
// the footprint unusable (why): the rules above would not describe what the
// policy reads.
//
// OPA has no analysis of which input paths a policy reads (its compiler
// tracks dependencies between rules, not into the input), hence this walk.
//
// keep, when not nil, limits the walk to the rules it keeps (reachable:
// those one query can evaluate); nil walks every rule of modules.
func inputFootprint(modules map[string]*ast.Module, keep func(*ast.Rule) bool) footprint {
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	slices.Sort(names)
	// rules lists the rules walked, by module, in a fixed order.
	rules := func(name string) []*ast.Rule {
		if keep == nil {
			return modules[name].Rules
		}
		var out []*ast.Rule
		for _, r := range modules[name].Rules {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}

	// Each rule's aliases, with its else branches and closures.
	aliases := map[*ast.Rule]map[ast.Var]bool{}
	for _, name := range names {
		for _, rule := range rules(name) {
			aliases[rule] = inputAliases(rule)
		}
	}

	// Functions that read input at the path one of their parameters names:
	// function ref -> parameter positions. Found with the same test the
	// walk below uses, at every depth, so that the two cannot disagree.
	pathParams := map[string][]int{}
	for _, name := range names {
		for _, rule := range rules(name) {
			ref := rule.Ref().String()
			for r := rule; r != nil; r = r.Else {
				params := r.Head.Args
				ast.WalkExprs(r.Body, func(e *ast.Expr) bool {
					if args, ok := inputGet(e, aliases[rule]); ok {
						for i, p := range params {
							if args[1].Equal(p) && !slices.Contains(pathParams[ref], i) {
								pathParams[ref] = append(pathParams[ref], i)
							}
						}
					}
					return false
				})
			}
		}
	}

	var paths [][]string
	var whole, why string
	// where names the rule being walked, for the log.
	var where string
	wholeInput := func() {
		paths = append(paths, nil)
		if whole == "" {
			whole = where
		}
	}
	unusable := func(reason string) {
		if why == "" {
			why = reason + " (" + where + ")"
		}
	}
	add := func(t *ast.Term) {
		if p, ok := constantPath(t); ok {
			paths = append(paths, p)
		} else {
			wholeInput()
		}
	}
	// call handles a call of op with operands: a built-in's determinism,
	// and the paths a function that reads its parameter's path is given.
	call := func(op string, operands []*ast.Term) {
		checkBuiltin(op, unusable)
		for _, i := range pathParams[op] {
			if i < len(operands) {
				add(operands[i])
			} else {
				wholeInput() // not expected from the compiler: when in doubt, everything
			}
		}
	}
	var walk func(x any, rule *ast.Rule, params []*ast.Term, as map[ast.Var]bool)
	walk = func(x any, rule *ast.Rule, params []*ast.Term, as map[ast.Var]bool) {
		ast.NewGenericVisitor(func(x any) bool {
			switch x := x.(type) {
			case *ast.With:
				checkWith(x, pathParams, unusable)
			case *ast.Expr:
				if _, ok := aliasOf(x, as); ok {
					return true // X = input: its uses are what count
				}
				if !x.IsCall() {
					return false
				}
				op := x.Operator().String()
				if args, ok := inputGet(x, as); ok {
					checkBuiltin(op, unusable)
					i := slices.IndexFunc(params, args[1].Equal)
					switch {
					case i < 0:
						add(args[1])
					case !slices.Contains(pathParams[rule.Ref().String()], i):
						wholeInput() // not expected: pathParams saw the same call
					}
					for _, t := range args[1:] {
						walk(t, rule, params, as)
					}
					for _, w := range x.With {
						walk(w, rule, params, as)
					}
					return true
				}
				call(op, x.Operands())
			case ast.Call:
				if len(x) > 0 {
					call(x[0].String(), x[1:])
				}
			case ast.Ref:
				if !isInput(x[0]) && !isAlias(x[0], as) {
					return false
				}
				p, _ := constantPrefix(x[1:])
				paths = append(paths, p)
				if len(p) == 0 && whole == "" {
					whole = where
				}
				for _, t := range x[1+len(p):] {
					walk(t, rule, params, as) // computed keys may read the input too
				}
				return true
			case ast.Var:
				if x.Equal(ast.InputRootDocument.Value) || as[x] {
					wholeInput() // the input as a value
				}
			}
			return false
		}).Walk(x)
	}
	for _, name := range names {
		for _, rule := range rules(name) {
			where = ruleName(name, rule)
			for r := rule; r != nil; r = r.Else {
				walk(r.Head.Reference, rule, r.Head.Args, aliases[rule])
				walk(r.Head, rule, r.Head.Args, aliases[rule])
				walk(r.Body, rule, r.Head.Args, aliases[rule])
			}
		}
	}
	return footprint{paths: minimalPaths(paths), whole: whole, why: why}
}

// ruleName is where a rule is, for the log: its module's file and line,
// and its path.
func ruleName(module string, r *ast.Rule) string {
	file, line := module, 0
	if r.Location != nil {
		file, line = cmp.Or(r.Location.File, module), r.Location.Row
	}
	return fmt.Sprintf("rule %s at %s:%d", r.Ref(), file, line)
}

// checkWith calls unusable when w changes what the rules above trust:
// the input, object.get, a function that reads the input at its parameter's
// path (replaced, or standing in for another), or a non-deterministic
// built-in standing in for a function.
func checkWith(w *ast.With, pathParams map[string][]int, unusable func(string)) {
	target := w.Target.String()
	if ref, ok := w.Target.Value.(ast.Ref); ok && ref.HasPrefix(ast.InputRootRef) {
		unusable("a rule overrides the input with `with`")
		return
	}
	if _, ok := pathParams[target]; ok || target == objectGet {
		unusable(fmt.Sprintf("a rule replaces %s, which reads the input, with `with`", target))
		return
	}
	if ref, ok := w.Value.Value.(ast.Ref); ok {
		if _, ok := pathParams[ref.String()]; ok {
			unusable(fmt.Sprintf("a rule puts %s, which reads the input, in place of %s with `with`", ref, target))
			return
		}
		checkBuiltin(ref.String(), unusable)
	}
}

// inputAliases are the variables a rule (its else branches, comprehensions
// and every bodies included) binds to the input itself, directly or
// through another alias: the compiler rewrites object.get(input, p, d) into
// X = input; object.get(X, p, d), and x := input into X = input, wherever
// they are written.
func inputAliases(rule *ast.Rule) map[ast.Var]bool {
	out := map[ast.Var]bool{}
	for changed := true; changed; {
		changed = false
		ast.WalkExprs(rule, func(e *ast.Expr) bool {
			if v, ok := aliasOf(e, out); ok && !out[v] {
				out[v] = true
				changed = true
			}
			return false
		})
	}
	return out
}

// aliasOf returns X when e is X = input (or input = X), or X = Y with Y in
// aliases.
func aliasOf(e *ast.Expr, aliases map[ast.Var]bool) (ast.Var, bool) {
	if !(e.IsEquality() || e.IsAssignment()) || e.Negated || len(e.With) > 0 {
		return "", false
	}
	a, b := e.Operand(0), e.Operand(1)
	binds := func(x, y *ast.Term) bool {
		v, ok := x.Value.(ast.Var)
		return ok && !v.Equal(ast.InputRootDocument.Value) && (isInput(y) || isAlias(y, aliases))
	}
	switch {
	case binds(a, b):
		return a.Value.(ast.Var), true
	case binds(b, a):
		return b.Value.(ast.Var), true
	}
	return "", false
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
	if !isInput(args[0]) && !isAlias(args[0], aliases) {
		return nil, false
	}
	return args, true
}

// isAlias is whether t is a variable of aliases.
func isAlias(t *ast.Term, aliases map[ast.Var]bool) bool {
	v, ok := t.Value.(ast.Var)
	return ok && aliases[v]
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

// checkBuiltin calls unusable when name is a non-deterministic built-in.
func checkBuiltin(name string, unusable func(string)) {
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		unusable(fmt.Sprintf("the policy calls %s, which is not deterministic", name))
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
