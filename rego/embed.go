// Package rego holds weightgate's default policy bundle, "ai-diffusion-2025":
// the Rego modules and JSON data that decide whether a model-weight file may
// be downloaded under the BIS AI Diffusion rule. README.md documents the
// policy's input, output and data, and how to extend it.
package rego

import "embed"

// FS is the default bundle compiled into the binary: every *.rego and *.json
// file of this directory. The *_test.rego files ride along so that the
// embedded bundle's own tests can be run; the policy engine skips them when
// serving. Nothing under examples/ is included.
//
//go:embed *.rego *.json
var FS embed.FS
