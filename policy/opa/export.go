package opa

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Export writes the regime in effect at t into dir as OPA itself loads it
// (`opa run --server DIR`, `opa eval -d DIR`): every serving module as its
// original source, under a directory named for the tree it came from (lib,
// bundle, extension_0, ...), and the merged data document the engine
// evaluates against (bundle data, registry, settings) as DIR/data.json. The
// query is Query. dir must be empty or absent.
//
// It exists so that the same policy can be run by OPA's own server, for the
// sidecar comparison in bench/, and handed to anyone who wants to evaluate
// a decision with stock OPA tooling.
func (e *Engine) Export(dir string, t time.Time) error {
	if e == nil || e.state.Load() == nil {
		return fmt.Errorf("policy: nil engine")
	}
	r := e.state.Load().at(t)
	if r == nil {
		return fmt.Errorf("policy: no regime in effect at %s", t.UTC().Format(time.RFC3339))
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("policy: export: %s is not empty", dir)
	}
	for _, f := range r.sources {
		// Labels are fixed words ("lib", "bundle", "extension[0]"); paths come
		// from fs.WalkDir and are slash-separated and relative.
		sub := strings.NewReplacer("[", "_", "]", "").Replace(f.label)
		dst := filepath.Join(dir, sub, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("policy: export: %w", err)
		}
		if err := os.WriteFile(dst, f.data, 0o644); err != nil {
			return fmt.Errorf("policy: export: %w", err)
		}
	}
	bs, err := json.Marshal(r.data)
	if err != nil {
		return fmt.Errorf("policy: export data: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("policy: export: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "data.json"), bs, 0o644)
}
