// Package rego holds weightgate's embedded policy: the shared library
// (lib/, package weightgate.lib) and the built-in bundles (bundles/<name>/),
// each a set of Rego modules and JSON data that decides whether a
// model-weight file may be downloaded. docs/policies.md documents the
// policies' input, output and data, and how to extend them.
package rego

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
)

// DefaultBundle is the bundle used when the configuration names none.
const DefaultBundle = "ai-diffusion-2025"

// FS holds lib/ and bundles/. The *_test.rego files ride along so that the
// embedded bundles' own tests can be run; the policy engine skips them when
// serving. Nothing under examples/ is included.
//
//go:embed lib bundles
var FS embed.FS

// Lib is the shared library loaded with every bundle.
func Lib() fs.FS { return sub("lib") }

// Bundles lists the names of the built-in bundles, sorted.
func Bundles() []string {
	entries, err := fs.ReadDir(FS, "bundles")
	if err != nil {
		panic(err) // embedded at build time
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// Bundle returns the built-in bundle called name.
func Bundle(name string) (fs.FS, error) {
	if !slices.Contains(Bundles(), name) {
		return nil, fmt.Errorf("no built-in policy bundle %q (built in: %v)", name, Bundles())
	}
	return sub("bundles/" + name), nil
}

func sub(dir string) fs.FS {
	f, err := fs.Sub(FS, dir)
	if err != nil {
		panic(err) // embedded at build time
	}
	return f
}
