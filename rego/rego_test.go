package rego_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/rego"
)

// regoTestFloors is how many Rego tests each run of TestRego finds: a
// bundle's run counts its own tests and the library's, an example's run its
// own. Each is the exact count when it was last set, so that a Rego test
// that is deleted, renamed out of the test_ prefix or no longer loaded fails
// TestRego. Raise a floor when tests are added; lower one only with a reason
// given in the commit that does it.
var regoTestFloors = map[string]int{
	"ai-diffusion-2025":               169,
	"embargo-only":                    66,
	"examples/employees_and_partners": 10,
	"examples/employees_only":         6,
}

// TestRego runs the Rego tests of each built-in bundle (with the library's),
// then, for each example extension in examples/, the example's own tests with
// the example loaded on top of the default bundle. Each failing Rego test
// fails this test under its own name, and each run must find at least its
// floor in regoTestFloors.
func TestRego(t *testing.T) {
	type run struct {
		name       string
		bundle     fs.FS
		extensions []fs.FS
	}
	var runs []run
	for _, name := range rego.Bundles() {
		b, err := rego.Bundle(name)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{name: name, bundle: b})
	}
	def, err := rego.Bundle(rego.DefaultBundle)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob("examples/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			runs = append(runs, run{name: filepath.ToSlash(dir), bundle: def, extensions: []fs.FS{os.DirFS(dir)}})
		}
	}
	if len(runs) < len(rego.Bundles())+1 {
		t.Errorf("found no example extension under examples/")
	}

	seen := map[string]bool{}
	for _, r := range runs {
		seen[r.name] = true
	}
	for name := range regoTestFloors {
		if !seen[name] {
			t.Errorf("regoTestFloors names %s, which TestRego no longer runs: remove its floor, giving the reason in the commit", name)
		}
	}

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			results, err := opa.RunTests(context.Background(), r.bundle, r.extensions...)
			if err != nil {
				t.Fatalf("RunTests: %v", err)
			}
			for _, res := range results {
				if !res.Pass() {
					t.Errorf("%s", res)
					if res.Output != "" {
						t.Logf("%s printed:\n%s", res.Name, res.Output)
					}
				}
			}
			// A floor, so that tests cannot silently stop being found.
			floor, ok := regoTestFloors[r.name]
			switch got := len(results); {
			case !ok:
				t.Errorf("ran %d Rego tests, and regoTestFloors has no floor for %s: add %q: %d", got, r.name, r.name, got)
			case got < floor:
				t.Errorf("ran %d Rego tests, want at least %d (regoTestFloors[%q]): a Rego test was deleted or is no longer found. The floor is raised when tests are added and never lowered without a reason given in the commit", got, floor, r.name)
			case got > floor:
				t.Logf("ran %d Rego tests, more than the floor of %d: raise regoTestFloors[%q] to %d", got, floor, r.name, got)
			default:
				t.Logf("ran %d Rego tests", got)
			}
		})
	}
}
