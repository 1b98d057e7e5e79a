package policy

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule (a rule named test_*).
type TestResult struct {
	// Name is the test's full name, e.g. data.weightgate_test.test_open_weights.
	Name string
	// Location is file:row of the test rule.
	Location string
	// Fail is set when the test was undefined or false; Err when it raised
	// an error. A test that neither failed nor erred nor was skipped passed.
	Fail bool
	Err  error
	Skip bool
	// Output holds what the test printed.
	Output string
}

// Pass reports whether the test passed.
func (r TestResult) Pass() bool { return !r.Fail && r.Err == nil && !r.Skip }

// String is "PASS", "FAIL", "ERROR" or "SKIP", then the name and location.
func (r TestResult) String() string {
	outcome := "PASS"
	switch {
	case r.Err != nil:
		outcome = "ERROR"
	case r.Fail:
		outcome = "FAIL"
	case r.Skip:
		outcome = "SKIP"
	}
	s := fmt.Sprintf("%s %s (%s)", outcome, r.Name, r.Location)
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// RunTests runs Rego tests (*_test.rego rules named test_*) against the policy
// made of bundle and extensions, loaded as Engine loads them: extension
// modules must be under data.weightgate.extensions, and examples/ directories
// are skipped. With no extensions it runs the bundle's tests; with extensions
// it runs only the extensions' tests, since the bundle's tests describe the
// bundle alone and an extension's denials are meant to change its answers.
//
// It returns one result per test, sorted by name. The error reports a policy
// or test that fails to load or compile. Built-in errors fail a test, as they
// fail a decision.
func RunTests(ctx context.Context, bundle fs.FS, extensions ...fs.FS) ([]TestResult, error) {
	srcs := []source{libSource(len(extensions) == 0), {label: "bundle", name: "bundle", fsys: bundle, tests: len(extensions) == 0}}
	for i, x := range extensions {
		label := fmt.Sprintf("extension[%d]", i)
		srcs = append(srcs, source{label: label, name: label, fsys: x, extension: true, tests: true})
	}
	l, err := load(srcs)
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}

	modules := make(map[string]*ast.Module, len(l.modules)+len(l.tests))
	for k, m := range l.modules {
		modules[k] = m
	}
	for k, m := range l.tests {
		modules[k] = m
	}

	store := inmem.NewFromObjectWithOpts(l.data, inmem.OptRoundTripOnWrite(false))
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true)).
		SetStore(store).
		SetModules(modules).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("policy tests: %w", err)
	}

	var results []TestResult
	for r := range ch {
		tr := TestResult{
			Name:   r.Package + "." + r.Name,
			Fail:   r.Fail,
			Err:    r.Error,
			Skip:   r.Skip,
			Output: string(r.Output),
		}
		if r.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", r.Location.File, r.Location.Row)
		}
		results = append(results, tr)
	}
	slices.SortFunc(results, func(a, b TestResult) int { return strings.Compare(a.Name, b.Name) })
	return results, nil
}
