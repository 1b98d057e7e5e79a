// Package opa evaluates weightgate's Rego policy bundles with an embedded OPA:
// it loads and compiles a bundle (or a schedule of dated bundles) with the
// shared library and the operator's registry, extensions and settings, and
// decides one policy.Input at a time. It compiles once per load, remembers
// decisions by what of the input the modules can read, fails closed on any
// evaluation error, and runs a bundle's Rego tests.
//
// It knows nothing of HTTP, tokens or storage.
package opa
