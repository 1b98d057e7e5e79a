package opa

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	defaultbundle "github.com/weightgate/weightgate/rego"
)

// Every built-in bundle, and the default bundle with each example extension,
// tests included, compile in OPA's strict mode (no unused variables, imports
// or shadowed names).
func TestBundles_CompileStrict(t *testing.T) {
	type run struct {
		name string
		srcs []source
	}
	var runs []run
	for _, name := range defaultbundle.Bundles() {
		runs = append(runs, run{name, []source{libSource(true), {label: "bundle", name: name, fsys: mustBundle(t, name), tests: true}}})
	}
	examples, err := filepath.Glob("../../rego/examples/*")
	if err != nil || len(examples) < 2 {
		t.Fatalf("examples: %v, %v", examples, err)
	}
	for _, dir := range examples {
		runs = append(runs, run{dir, []source{
			libSource(false),
			{label: "bundle", name: "default", fsys: mustBundle(t, defaultbundle.DefaultBundle)},
			{label: "extension[0]", name: dir, fsys: os.DirFS(dir), extension: true, tests: true},
		}})
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			l, err := load(r.srcs)
			if err != nil {
				t.Fatal(err)
			}
			modules := map[string]*ast.Module{}
			for k, m := range l.modules {
				modules[k] = m
			}
			for k, m := range l.tests {
				modules[k] = m
			}
			if len(l.tests) == 0 {
				t.Error("loaded no test modules")
			}
			c := ast.NewCompiler().WithStrict(true).WithEnablePrintStatements(true)
			if c.Compile(modules); c.Failed() {
				t.Fatal(c.Errors)
			}
		})
	}
}

func TestRevision_IsOrderIndependentAndLengthPrefixed(t *testing.T) {
	a := []file{{"bundle", "a.rego", []byte("x")}, {"bundle", "b.json", []byte("{}")}}
	b := []file{a[1], a[0]}
	if got, want := revision(b), revision(a); got != want {
		t.Errorf("revision depends on file order: %s != %s", got, want)
	}
	// Moving bytes between a path and its contents changes the hash.
	c := []file{{"bundle", "a.regox", nil}, {"bundle", "b.json", []byte("{}")}}
	if revision(c) == revision(a) {
		t.Error("revision ignores the boundary between path and contents")
	}
}

func mustBundle(t *testing.T, name string) fs.FS {
	t.Helper()
	f, err := defaultbundle.Bundle(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
