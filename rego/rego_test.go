package rego_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/rego"
)

// TestRego runs the Rego tests of each built-in bundle (with the library's),
// then, for each example extension in examples/, the example's own tests with
// the example loaded on top of the default bundle. Each failing Rego test
// fails this test under its own name.
func TestRego(t *testing.T) {
	type run struct {
		name       string
		bundle     fs.FS
		extensions []fs.FS
		min        int
	}
	var runs []run
	for _, name := range rego.Bundles() {
		b, err := rego.Bundle(name)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{name: name, bundle: b, min: 10})
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
			runs = append(runs, run{name: dir, bundle: def, extensions: []fs.FS{os.DirFS(dir)}, min: 1})
		}
	}
	if len(runs) < len(rego.Bundles())+1 {
		t.Errorf("found no example extension under examples/")
	}

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			results, err := policy.RunTests(context.Background(), r.bundle, r.extensions...)
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
			if got := len(results); got < r.min {
				t.Errorf("ran %d Rego tests, want at least %d", got, r.min)
			}
			t.Logf("ran %d Rego tests", len(results))
		})
	}
}
