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

// TestRego runs the Rego tests of the embedded bundle, then, for each example
// extension in examples/, the example's own tests with the example loaded on
// top of the bundle. Each failing Rego test fails this test under its own
// name.
func TestRego(t *testing.T) {
	type run struct {
		name       string
		extensions []fs.FS
		min        int
	}
	runs := []run{{name: "bundle", min: 30}}
	dirs, err := filepath.Glob("examples/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			runs = append(runs, run{name: dir, extensions: []fs.FS{os.DirFS(dir)}, min: 1})
		}
	}
	if len(runs) < 2 {
		t.Errorf("found no example extension under examples/")
	}

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			results, err := policy.RunTests(context.Background(), rego.FS, r.extensions...)
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
