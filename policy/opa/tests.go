package opa

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
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
	results, _, err := runTests(ctx, nil, bundle, extensions)
	return results, err
}

// runTests loads the sources of RunTests and runs their tests, tracing
// coverage into tracer when it is not nil. It returns the loaded policy for
// the coverage report.
func runTests(ctx context.Context, tracer *cover.Cover, bundle fs.FS, extensions []fs.FS) ([]TestResult, *loaded, error) {
	srcs := []source{libSource(len(extensions) == 0), {label: "bundle", name: "bundle", fsys: bundle, tests: len(extensions) == 0}}
	for i, x := range extensions {
		label := fmt.Sprintf("extension[%d]", i)
		srcs = append(srcs, source{label: label, name: label, fsys: x, extension: true, tests: true})
	}
	l, err := load(srcs)
	if err != nil {
		return nil, nil, fmt.Errorf("policy tests: %w", err)
	}

	modules := make(map[string]*ast.Module, len(l.modules)+len(l.tests))
	for k, m := range l.modules {
		modules[k] = m
	}
	for k, m := range l.tests {
		modules[k] = m
	}

	store := inmem.NewFromObjectWithOpts(l.data, inmem.OptRoundTripOnWrite(false))
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true)).
		SetStore(store).
		SetModules(modules).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true)
	if tracer != nil {
		// The supplementary passes only explain why a line was missed, at
		// the cost of evaluating every test twice more.
		runner = runner.SetCoverageQueryTracer(tracer).SetCoverageRuns([]cover.Kind{})
	}
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("policy tests: %w", err)
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
	return results, l, nil
}

// Coverage is how much of a policy's modules its tests evaluated, counted by
// line as `opa test --coverage` counts them: a line is covered when a rule
// head or an expression on it was evaluated, and counted at all only when it
// holds one.
type Coverage struct {
	// Files are the policy's modules (test files excluded), sorted by name.
	Files []FileCoverage
	// Covered and NotCovered sum the files' lines; Percent is
	// 100*Covered/(Covered+NotCovered), 0 when there are no lines.
	Covered, NotCovered int
	Percent             float64
}

// FileCoverage is the coverage of one module.
type FileCoverage struct {
	// File is the module's name: "lib/<path>" for the shared library,
	// "bundle/<path>" for the bundle and "extension[i]/<path>" for the
	// i-th extension.
	File                string
	Covered, NotCovered int
	Percent             float64
	// Uncovered lists the rows not covered, as sorted, disjoint [first,
	// last] runs.
	Uncovered [][2]int
}

// RunTestsCoverage is RunTests, also reporting which lines of the policy's
// modules (the library's, the bundle's and the extensions', not the tests')
// the tests evaluated.
func RunTestsCoverage(ctx context.Context, bundle fs.FS, extensions ...fs.FS) ([]TestResult, *Coverage, error) {
	tracer := cover.New()
	results, l, err := runTests(ctx, tracer, bundle, extensions)
	if err != nil {
		return nil, nil, err
	}

	// The tests' own files are covered by running them; only the policy's
	// modules are reported.
	report := tracer.Report(l.modules)
	cov := &Coverage{}
	for name := range l.modules {
		fc := FileCoverage{File: name}
		if fr := report.Files[name]; fr != nil {
			fc.Covered, fc.NotCovered, fc.Percent = fr.CoveredLines, fr.NotCoveredLines, fr.Coverage
			// OPA's ranges overlap (a rule's head and its body's
			// expressions); list each row once, runs merged.
			var rows []int
			for _, r := range fr.NotCovered {
				for row := r.Start.Row; row <= r.End.Row; row++ {
					rows = append(rows, row)
				}
			}
			slices.Sort(rows)
			for _, row := range slices.Compact(rows) {
				if n := len(fc.Uncovered); n > 0 && fc.Uncovered[n-1][1] == row-1 {
					fc.Uncovered[n-1][1] = row
				} else {
					fc.Uncovered = append(fc.Uncovered, [2]int{row, row})
				}
			}
		}
		cov.Covered += fc.Covered
		cov.NotCovered += fc.NotCovered
		cov.Files = append(cov.Files, fc)
	}
	slices.SortFunc(cov.Files, func(a, b FileCoverage) int { return strings.Compare(a.File, b.File) })
	if total := cov.Covered + cov.NotCovered; total > 0 {
		cov.Percent = 100 * float64(cov.Covered) / float64(total)
	}
	return results, cov, nil
}
