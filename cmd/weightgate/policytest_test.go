package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// writeBundle writes files into a new bundle directory and returns it.
func writeBundle(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// coverageLine matches a file's line of the coverage report.
var coverageLine = regexp.MustCompile(`(?m)^  (\S+)\s+([0-9.]+)%\s+(\d+)/(\d+)$`)

type fileCoverage struct {
	percent          float64
	covered, counted int
}

// parseCoverage reads the coverage report of policy test's output.
func parseCoverage(t *testing.T, out string) map[string]fileCoverage {
	t.Helper()
	files := map[string]fileCoverage{}
	for _, m := range coverageLine.FindAllStringSubmatch(out, -1) {
		pct, _ := strconv.ParseFloat(m[2], 64)
		covered, _ := strconv.Atoi(m[3])
		counted, _ := strconv.Atoi(m[4])
		files[m[1]] = fileCoverage{pct, covered, counted}
	}
	if _, ok := files["total"]; !ok {
		t.Fatalf("no coverage total in:\n%s", out)
	}
	return files
}

// TestPolicyTestDefault runs the built-in default bundle's tests: they pass,
// and coverage is reported for the bundle's module and the library's.
func TestPolicyTestDefault(t *testing.T) {
	out, stderr, code := runMain(t, "policy", "test", "--coverage")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "PASS: ") || strings.Contains(out, "\nFAIL") || strings.Contains(out, "PASS data.") {
		t.Errorf("output: want a PASS summary and no per-test lines without -v:\n%s", out)
	}
	cov := parseCoverage(t, out)
	for _, f := range []string{"ai-diffusion-2025/policy.rego", "lib/lib.rego", "total"} {
		if c := cov[f]; c.covered == 0 || c.percent <= 0 || c.percent > 100 {
			t.Errorf("coverage of %s = %+v, want some", f, c)
		}
	}
	if c := cov["total"]; c.covered != cov["ai-diffusion-2025/policy.rego"].covered+cov["lib/lib.rego"].covered {
		t.Errorf("total %+v is not the sum of the files %+v", c, cov)
	}
	for name := range cov {
		if strings.HasSuffix(name, "_test.rego") {
			t.Errorf("coverage reports the test file %s", name)
		}
	}

	// -v lists the passing tests; naming the bundle is the same as the default.
	out, _, code = runMain(t, "policy", "test", "ai-diffusion-2025", "-v")
	if code != 0 || !strings.Contains(out, "PASS data.") || strings.Contains(out, "coverage") {
		t.Errorf("-v: exit %d, want PASS lines and no coverage:\n%s", code, out)
	}

	// An extension's own tests, on top of the default bundle.
	ext, err := filepath.Abs(repoPath("rego/examples/employees_only"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code = runMain(t, "policy", "test", "--extension", ext, "-v")
	if code != 0 || !strings.Contains(out, "employees_only") {
		t.Errorf("--extension: exit %d:\n%s%s", code, out, stderr)
	}
}

// TestPolicyTestFailing: a bundle with a failing test exits 1 and names it.
func TestPolicyTestFailing(t *testing.T) {
	dir := writeBundle(t, map[string]string{
		"policy.rego": "package weightgate\n\ndecision := {\"allow\": false, \"code\": \"denied\"}\n",
		"policy_test.rego": `package weightgate_test

test_denies if {
	not data.weightgate.decision.allow
}

test_allows_us if {
	print("deciding for US")
	data.weightgate.decision.allow with input as {"subject": {"country": "US"}}
}
`,
	})
	out, stderr, code := runMain(t, "policy", "test", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"FAIL data.weightgate_test.test_allows_us (bundle/policy_test.rego:7)",
		"    deciding for US",
		"\nFAIL: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "test_denies") {
		t.Errorf("a passing test is listed without -v:\n%s", out)
	}
}

// TestPolicyTestCoverage checks the numbers on a bundle small enough to
// count by hand. Coverage counts a line when it holds a rule head or an
// expression, and covers it when the tests evaluated one there:
//
//	3  default decision := ...     not covered: the other rule decides
//	5  decision := ... if {        covered (the rule produced a value)
//	6      input.x == 1            covered
//	9  unused if {                 not covered
//	10     input.y == 2            not covered
//
// 2 of 5 lines: 40%. The library is loaded, and its tests run, with every
// bundle: its lines count in the total.
func TestPolicyTestCoverage(t *testing.T) {
	dir := writeBundle(t, map[string]string{
		"policy.rego": `package weightgate

default decision := {"allow": false, "code": "denied"}

decision := {"allow": true, "code": "ok"} if {
	input.x == 1
}

unused if {
	input.y == 2
}
`,
		"policy_test.rego": `package weightgate_test

test_ok if {
	data.weightgate.decision.allow with input as {"x": 1}
}
`,
	})
	out, stderr, code := runMain(t, "policy", "test", dir, "--coverage", "-v")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, stderr)
	}
	cov := parseCoverage(t, out)
	if got, want := cov[dir+"/policy.rego"], (fileCoverage{40, 2, 5}); got != want {
		t.Errorf("policy.rego coverage = %+v, want %+v:\n%s", got, want, out)
	}
	if !strings.Contains(out, "not covered: 3, 9-10\n") {
		t.Errorf("output does not list rows 3, 9-10 as not covered:\n%s", out)
	}
	lib := cov["lib/lib.rego"]
	if lib.counted == 0 {
		t.Errorf("lib coverage = %+v, want its lines counted", lib)
	}
	total := cov["total"]
	if want := (fileCoverage{total.percent, 2 + lib.covered, 5 + lib.counted}); total != want {
		t.Errorf("total = %+v, want %+v", total, want)
	}
	if want, _ := strconv.ParseFloat(fmt.Sprintf("%.1f", 100*float64(2+lib.covered)/float64(5+lib.counted)), 64); total.percent != want {
		t.Errorf("total = %.1f%%, want %.1f%%", total.percent, want)
	}

	// --min-coverage: below it fails with exit 1, above passes.
	out, _, code = runMain(t, "policy", "test", dir, "--min-coverage", "100")
	if code != 1 || !strings.Contains(out, "FAIL coverage") {
		t.Errorf("--min-coverage 100: exit %d, want 1 with FAIL coverage:\n%s", code, out)
	}
	if out, _, code = runMain(t, "policy", "test", dir, "--min-coverage", "0.5"); code != 0 {
		t.Errorf("--min-coverage 0.5: exit %d, want 0:\n%s", code, out)
	}
}

func TestPolicyTestErrors(t *testing.T) {
	noTests := writeBundle(t, map[string]string{"policy.rego": "package weightgate\n\ndecision := {\"allow\": false, \"code\": \"x\"}\n"})
	broken := writeBundle(t, map[string]string{"policy.rego": "package weightgate\nthis is not rego\n"})
	for name, args := range map[string][]string{
		"no subcommand":     {"policy"},
		"unknown command":   {"policy", "frobnicate"},
		"no such bundle":    {"policy", "test", filepath.Join(t.TempDir(), "nope")},
		"no tests":          {"policy", "test", noTests},
		"broken bundle":     {"policy", "test", broken},
		"two bundles":       {"policy", "test", noTests, broken},
		"bad min-coverage":  {"policy", "test", "--min-coverage", "101"},
		"missing extension": {"policy", "test", "--extension", filepath.Join(t.TempDir(), "nope")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, code := runMain(t, args...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
	for _, args := range [][]string{{"policy", "--help"}, {"policy", "test", "--help"}, {"matrix", "--help"}, {"replay", "--help"}} {
		out, stderr, code := runMain(t, args...)
		if code != 0 || !strings.Contains(out+stderr, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out+stderr)
		}
	}
	out, _, _ := runMain(t, "--help")
	for _, cmd := range []string{"weightgate matrix", "weightgate replay", "weightgate policy test"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("usage lacks %q", cmd)
		}
	}
}
