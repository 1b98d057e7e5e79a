package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ManifestName is the object, below a model's prefix, that classifies it.
const ManifestName = "export.yaml"

// MaxManifestSize bounds export.yaml; a larger file leaves the model
// unclassified instead of being read into memory.
const MaxManifestSize = 64 << 10

// Manifest is a model's export classification, export.yaml.
type Manifest struct {
	Weights             string   // "open" | "closed"
	TrainingComputeFLOP *float64 // nil when absent (allowed only for open models)
	ECCN                string
	Revision            string // 40 lowercase hex, or "" to derive one
	// BaseModel is the "org/name" this model was fine-tuned from, or "".
	BaseModel string
	// FineTuneComputeFLOP is what the fine-tuning added; required with
	// BaseModel and refused without it.
	FineTuneComputeFLOP *float64
	// SHA256 maps a file's path (relative to the model) to the sha256 of
	// its content, 64 lowercase hex digits, as the owner declares it under
	// files: in export.yaml. The gateway sends it as the file's ETag and
	// lfs.sha256 without reading the file; it is trusted as written.
	SHA256 map[string]string
	// Signature is the compliance key's signature over the rest, nil when
	// the file has none; ParseManifest checks its form, the catalog whether
	// it verifies (ClassificationKeys.Verify).
	Signature *Signature
}

var (
	hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)
	hex64 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// ParseManifest parses export.yaml strictly: one YAML mapping with only the
// known keys, each of the right type, no duplicates, weights "open" or
// "closed", a finite non-negative training_compute_flop that is required for
// closed weights. Anything else is an error, and the caller treats the model
// as unclassified.
//
// The YAML node tree is walked by hand rather than decoded into a struct,
// because yaml.v3 converts scalars between types silently (weights: 5 would
// become the string "5", revision: 1234 a string) and strictness here is the
// point.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return m, errors.New("export.yaml is empty")
		}
		return m, fmt.Errorf("export.yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return m, errors.New("export.yaml: more than one YAML document")
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return m, errors.New("export.yaml: top level must be a mapping")
	}
	root := doc.Content[0]
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			return m, fmt.Errorf("export.yaml line %d: keys must be strings", k.Line)
		}
		if seen[k.Value] {
			return m, fmt.Errorf("export.yaml line %d: duplicate key %q", k.Line, k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "weights":
			s, err := scalarString(v, k.Value)
			if err != nil {
				return m, err
			}
			if s != "open" && s != "closed" {
				return m, fmt.Errorf("export.yaml line %d: weights must be open or closed, got %q", v.Line, s)
			}
			m.Weights = s
		case "training_compute_flop":
			f, err := scalarFLOP(v, k.Value)
			if err != nil {
				return m, err
			}
			m.TrainingComputeFLOP = &f
		case "fine_tune_compute_flop":
			f, err := scalarFLOP(v, k.Value)
			if err != nil {
				return m, err
			}
			m.FineTuneComputeFLOP = &f
		case "base_model":
			s, err := scalarString(v, k.Value)
			if err != nil {
				return m, err
			}
			if !ValidModelID(s) {
				return m, fmt.Errorf("export.yaml line %d: base_model must be a model id ORG/NAME, got %q", v.Line, s)
			}
			m.BaseModel = s
		case "eccn":
			s, err := scalarText(v, k.Value)
			if err != nil {
				return m, err
			}
			m.ECCN = s
		case "revision":
			s, err := scalarText(v, k.Value)
			if err != nil {
				return m, err
			}
			if !hex40.MatchString(s) {
				return m, fmt.Errorf("export.yaml line %d: revision must be 40 lowercase hex digits, got %q", v.Line, s)
			}
			m.Revision = s
		case "files":
			files, err := parseFiles(v)
			if err != nil {
				return m, err
			}
			m.SHA256 = files
		case signatureKey:
			sig, err := parseSignature(v)
			if err != nil {
				return m, err
			}
			m.Signature = sig
		default:
			return m, fmt.Errorf("export.yaml line %d: unknown key %q", k.Line, k.Value)
		}
	}
	if m.Weights == "" {
		return m, errors.New("export.yaml: weights is required")
	}
	if m.Weights == "closed" && m.TrainingComputeFLOP == nil {
		return m, errors.New("export.yaml: training_compute_flop is required for closed weights")
	}
	// A fine-tune is judged on what it added (4E091 exclusion (a)), so the
	// two fields come together or not at all.
	switch {
	case m.BaseModel != "" && m.FineTuneComputeFLOP == nil:
		return m, errors.New("export.yaml: fine_tune_compute_flop is required with base_model")
	case m.BaseModel == "" && m.FineTuneComputeFLOP != nil:
		return m, errors.New("export.yaml: fine_tune_compute_flop needs base_model (the model it was fine-tuned from)")
	}
	// Published weights are outside 4E091 (15 CFR 734.7(a)); an owner who
	// says both has made a mistake, and which half is wrong cannot be told.
	if m.Weights == "open" && strings.EqualFold(strings.TrimSpace(m.ECCN), "4E091") {
		return m, errors.New("export.yaml: weights: open contradicts eccn: 4E091 (published weights are not 4E091); fix one of them")
	}
	return m, nil
}

// parseFiles parses the files: mapping of export.yaml,
//
//	files:
//	  model-00001-of-00002.safetensors: {sha256: 3f2a...}
//
// Each key is a file path as it appears in the model (no leading slash, no
// "." or ".." segment); each value a mapping whose only key is sha256, 64 hex
// digits (stored in lower case).
func parseFiles(v *yaml.Node) (map[string]string, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("export.yaml line %d: files must be a mapping of path to {sha256: ...}, got %s", v.Line, describeNode(v))
	}
	out := make(map[string]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, fv := v.Content[i], v.Content[i+1]
		p, err := scalarText(k, "a files key")
		if err != nil {
			return nil, err
		}
		if err := CheckFilePath(p); err != nil {
			return nil, fmt.Errorf("export.yaml line %d: files: %w", k.Line, err)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("export.yaml line %d: files: duplicate path %q", k.Line, p)
		}
		if fv.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("export.yaml line %d: files: %q must be a mapping {sha256: ...}, got %s", fv.Line, p, describeNode(fv))
		}
		sum := ""
		for j := 0; j+1 < len(fv.Content); j += 2 {
			fk, val := fv.Content[j], fv.Content[j+1]
			if fk.Kind != yaml.ScalarNode || fk.Tag != "!!str" || fk.Value != "sha256" {
				return nil, fmt.Errorf("export.yaml line %d: files: %q: unknown key %q (only sha256)", fk.Line, p, fk.Value)
			}
			if sum != "" {
				return nil, fmt.Errorf("export.yaml line %d: files: %q: duplicate key sha256", fk.Line, p)
			}
			// An all-digit digest is a YAML integer, and 64 digits
			// overflow it: scalarText keeps the text as written.
			s, err := scalarText(val, "sha256")
			if err != nil {
				return nil, err
			}
			if !hex64.MatchString(s) {
				return nil, fmt.Errorf("export.yaml line %d: files: %q: sha256 must be 64 hex digits, got %q", val.Line, p, s)
			}
			sum = strings.ToLower(s)
		}
		if sum == "" {
			return nil, fmt.Errorf("export.yaml line %d: files: %q has no sha256", fv.Line, p)
		}
		out[p] = sum
	}
	return out, nil
}

// scalarFLOP parses an operations count: a finite, non-negative YAML number.
func scalarFLOP(v *yaml.Node, key string) (float64, error) {
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!float" && v.Tag != "!!int") {
		return 0, fmt.Errorf("export.yaml line %d: %s must be a number, got %s", v.Line, key, describeNode(v))
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("export.yaml line %d: %s must be a finite number, got %q", v.Line, key, v.Value)
	}
	if f < 0 {
		return 0, fmt.Errorf("export.yaml line %d: %s must not be negative, got %q", v.Line, key, v.Value)
	}
	return f, nil
}

func scalarString(v *yaml.Node, key string) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		return "", fmt.Errorf("export.yaml line %d: %s must be a string, got %s", v.Line, key, describeNode(v))
	}
	return v.Value, nil
}

// scalarText returns the literal text of a plain scalar that YAML may have
// resolved as a number: an unquoted ECCN such as 4E091 reads as the float
// 4×10^91, and an all-digit commit id as an integer, yet both are written
// that way in practice. Booleans, nulls and collections are still refused.
func scalarText(v *yaml.Node, key string) (string, error) {
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!str" && v.Tag != "!!int" && v.Tag != "!!float") {
		return "", fmt.Errorf("export.yaml line %d: %s must be a string, got %s", v.Line, key, describeNode(v))
	}
	return v.Value, nil
}

func describeNode(v *yaml.Node) string {
	switch v.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%s %q", v.Tag, v.Value)
}
