package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/weightgate/weightgate/policy/opa"
	defaultbundle "github.com/weightgate/weightgate/rego"
)

const policyUsage = `Usage:
  weightgate policy test [DIR|NAME] [--coverage] [--min-coverage N] [--extension DIR]... [-v]
      run a bundle's Rego tests (rules test_* in *_test.rego files) and the
      shared library's; DIR is a bundle directory, NAME a built-in bundle
      (default: the default bundle). With --extension, the extensions' tests
      run instead, on top of the bundle. Exit 0 when every test passes, 1 when
      one fails (or coverage is below --min-coverage), 2 on errors
`

// errTestsFailed makes policy test exit 1: the tests ran and one failed.
var errTestsFailed = errors.New("policy tests failed")

func (m *Main) policy(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, policyUsage)
		return errors.New("policy: test?")
	}
	switch args[0] {
	case "test":
		return m.policyTest(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, policyUsage)
		return flag.ErrHelp
	}
	fmt.Fprint(m.Stderr, policyUsage)
	return fmt.Errorf("policy: unknown command %q", args[0])
}

func (m *Main) policyTest(ctx context.Context, args []string) error {
	flags := m.newFlagSet("policy test", `[DIR|NAME] [--coverage] [--min-coverage N] [--extension DIR]... [-v]

Runs the Rego tests of a bundle (a directory, or a built-in bundle's name;
default `+defaultbundle.DefaultBundle+`) and the shared library's; with
--extension, the extensions' tests instead, on top of the bundle.
FAIL and ERROR lines are always printed, PASS and SKIP lines with -v, then a
summary. --coverage prints, per policy module (tests excluded), the lines the
tests evaluated out of the lines that hold a rule or an expression, and the
total. Exit 0 when every test passes, 1 when one fails or the coverage is
below --min-coverage, 2 on errors (a bundle that does not load or compile, or
one with no tests of its own).`)
	coverage := flags.Bool("coverage", false, "report the lines of each policy module the tests evaluated")
	minCoverage := flags.Float64("min-coverage", 0, "fail (exit 1) when the total coverage is below this percentage; implies --coverage")
	var extensions stringsFlag
	flags.Var(&extensions, "extension", "extension directory whose tests to run on top of the bundle (repeatable)")
	verbose := flags.Bool("v", false, "print passing and skipped tests too, and with --coverage the rows not covered")
	positional, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if len(positional) > 1 {
		flags.Usage()
		return fmt.Errorf("policy test: one bundle at a time, got %q", positional)
	}
	if *minCoverage < 0 || *minCoverage > 100 {
		return fmt.Errorf("policy test: --min-coverage must be a percentage between 0 and 100, got %g", *minCoverage)
	}
	name := defaultbundle.DefaultBundle
	if len(positional) == 1 {
		name = positional[0]
	}
	bundle, err := bundleFS(name)
	if err != nil {
		return fmt.Errorf("policy test: %w", err)
	}
	var exts []fs.FS
	for _, dir := range extensions {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("policy test: extension %q is not a directory", dir)
		}
		exts = append(exts, os.DirFS(dir))
	}

	var (
		results []opa.TestResult
		cov     *opa.Coverage
	)
	if *coverage || *minCoverage > 0 {
		results, cov, err = opa.RunTestsCoverage(ctx, bundle, exts...)
	} else {
		results, err = opa.RunTests(ctx, bundle, exts...)
	}
	if err != nil {
		return err
	}
	// The library's tests run with every bundle's; a bundle (or extension)
	// without tests of its own is not tested, whatever else passes.
	own := "bundle/"
	if len(exts) > 0 {
		own = "extension["
	}
	if !slices.ContainsFunc(results, func(r opa.TestResult) bool { return strings.HasPrefix(r.Location, own) }) {
		what := name
		if len(exts) > 0 {
			what = "the extensions"
		}
		return fmt.Errorf("policy test: %s has no tests of its own (rules named test_* in *_test.rego files)", what)
	}

	var pass, fail, errs, skip int
	for _, r := range results {
		switch {
		case r.Err != nil:
			errs++
		case r.Fail:
			fail++
		case r.Skip:
			skip++
		default:
			pass++
		}
		if r.Pass() || r.Skip {
			if *verbose {
				fmt.Fprintln(m.Stdout, r)
			}
			continue
		}
		fmt.Fprintln(m.Stdout, r)
		if out := strings.TrimRight(r.Output, "\n"); out != "" {
			fmt.Fprintln(m.Stdout, "    "+strings.ReplaceAll(out, "\n", "\n    "))
		}
	}
	verdict := "PASS"
	if fail+errs > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(m.Stdout, "%s: %d tests, %d passed, %d failed, %d errors, %d skipped (bundle %s)\n",
		verdict, len(results), pass, fail, errs, skip, name)

	lowCoverage := false
	if cov != nil {
		m.printCoverage(cov, name, *verbose)
		if *minCoverage > 0 && cov.Percent < *minCoverage {
			fmt.Fprintf(m.Stdout, "FAIL coverage %.1f%% is below --min-coverage %g%%\n", cov.Percent, *minCoverage)
			lowCoverage = true
		}
	}
	if fail+errs > 0 || lowCoverage {
		return errTestsFailed
	}
	return nil
}

// bundleFS resolves a bundle as the engine does: a built-in name, else a
// directory.
func bundleFS(name string) (fs.FS, error) {
	if slices.Contains(defaultbundle.Bundles(), name) {
		return defaultbundle.Bundle(name)
	}
	if fi, err := os.Stat(name); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("bundle %q is neither a built-in bundle %v nor a directory", name, defaultbundle.Bundles())
	}
	return os.DirFS(name), nil
}

func (m *Main) printCoverage(cov *opa.Coverage, bundle string, verbose bool) {
	fmt.Fprintln(m.Stdout, "coverage (lines evaluated by the tests / lines with rules or expressions):")
	label := func(file string) string {
		// The policy names the bundle's files bundle/...; show which.
		if rest, ok := strings.CutPrefix(file, "bundle/"); ok {
			return strings.TrimSuffix(bundle, "/") + "/" + rest
		}
		return file
	}
	width := len("total")
	for _, f := range cov.Files {
		width = max(width, len(label(f.File)))
	}
	line := func(name string, covered, notCovered int, pct float64) {
		fmt.Fprintf(m.Stdout, "  %-*s  %5.1f%%  %d/%d\n", width, name, pct, covered, covered+notCovered)
	}
	for _, f := range cov.Files {
		line(label(f.File), f.Covered, f.NotCovered, f.Percent)
		if verbose && len(f.Uncovered) > 0 {
			var rows []string
			for _, r := range f.Uncovered {
				if r[0] == r[1] {
					rows = append(rows, strconv.Itoa(r[0]))
				} else {
					rows = append(rows, fmt.Sprintf("%d-%d", r[0], r[1]))
				}
			}
			fmt.Fprintf(m.Stdout, "  %-*s  not covered: %s\n", width, "", strings.Join(rows, ", "))
		}
	}
	line("total", cov.Covered, cov.NotCovered, cov.Percent)
}
