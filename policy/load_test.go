package policy

import (
	"io/fs"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	defaultbundle "github.com/weightgate/weightgate/rego"
)

// The default bundle and the example extensions, tests included, compile in
// OPA's strict mode (no unused variables, imports or shadowed names).
func TestDefaultBundle_CompilesStrict(t *testing.T) {
	l, err := load([]source{
		libSource(true),
		{label: "bundle", name: "rego", fsys: mustBundle(t, defaultbundle.DefaultBundle), tests: true},
		{label: "extension[0]", name: "employees_only", fsys: os.DirFS("../rego/examples/employees_only"), extension: true, tests: true},
	})
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
	if got, want := len(l.tests), 2; got != want {
		t.Errorf("loaded %d test modules, want %d", got, want)
	}
	c := ast.NewCompiler().WithStrict(true).WithEnablePrintStatements(true)
	if c.Compile(modules); c.Failed() {
		t.Fatal(c.Errors)
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
