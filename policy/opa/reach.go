package opa

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// reachable returns the rules of compiler that evaluating query (a ref into
// data, such as data.weightgate.visible) can evaluate, as a filter for
// inputFootprint; nil means every rule.
//
// It over-approximates by construction, so that a footprint built on it
// never misses what the query reads. It does not follow the compiler's
// dependency graph (ast.Graph), which walks rule bodies only; it walks every
// part of every rule it reaches (head key, value and arguments, body, else
// branches, comprehensions, every, not, with targets and values) and takes
// each reference into data it finds (a function call is one: its operator)
// to every rule it could name: the rules at any prefix of the reference, at
// it, and below it, any variable in it standing for any key
// (GetRulesDynamicWithOpts). The data document as a value, which can reach
// every rule, makes it give up and return nil.
func reachable(compiler *ast.Compiler, query ast.Ref) func(*ast.Rule) bool {
	seen := map[*ast.Rule]bool{}
	var todo []*ast.Rule
	all := false
	resolve := func(ref ast.Ref) {
		if len(ref) < 2 {
			all = true // data itself
			return
		}
		for _, r := range compiler.GetRulesDynamicWithOpts(ref, ast.RulesOptions{IncludeHiddenModules: true}) {
			if !seen[r] {
				seen[r] = true
				todo = append(todo, r)
			}
		}
	}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case ast.Ref:
			if !x[0].Equal(ast.DefaultRootDocument) {
				return false // input, a local variable: its computed keys are walked
			}
			resolve(x)
			for _, t := range x[1:] {
				vis.Walk(t) // computed keys may refer to rules too
			}
			return true
		case ast.Var:
			// data anywhere else than at the head of a longer reference
			// (the head is not visited: see above).
			if x.Equal(ast.DefaultRootDocument.Value) {
				all = true
			}
		}
		return false
	})
	if !query.HasPrefix(ast.DefaultRootRef) {
		return nil
	}
	resolve(query)
	for len(todo) > 0 && !all {
		r := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		vis.Walk(r) // head, body and every else branch
	}
	if all {
		return nil
	}
	return func(r *ast.Rule) bool { return seen[r] }
}
