package catalog

import (
	"path"
	"strings"

	"github.com/weightgate/weightgate/policy"
)

// otherNames are files, by exact base name, that never hold weights.
var otherNames = map[string]bool{
	"config.json":             true,
	"generation_config.json":  true,
	"tokenizer.json":          true,
	"tokenizer_config.json":   true,
	"special_tokens_map.json": true,
	"added_tokens.json":       true,
	"vocab.json":              true,
	"vocab.txt":               true,
	"merges.txt":              true,
	"tokenizer.model":         true,
	"spiece.model":            true,
	"sentencepiece.bpe.model": true,
	"export.yaml":             true,
}

// otherPrefixes are base-name prefixes of documentation files (README,
// LICENSE-APACHE, ...). They count only with a documentation extension, so
// that "README.safetensors" in a closed model is still weights.
var otherPrefixes = []string{"readme", "license"}

// otherExts are extensions of plain documentation; docExts may follow a
// README/LICENSE prefix.
var (
	otherExts = map[string]bool{".md": true, ".txt": true}
	docExts   = map[string]bool{"": true, ".md": true, ".txt": true, ".rst": true}
)

// ObjectKind classifies a file of a model as policy.KindWeights or
// policy.KindOther. Only files on an explicit list are "other"; weight formats
// and anything unknown are "weights", so that a new or odd file name in a
// closed model fails closed.
func ObjectKind(p string) string {
	base := strings.ToLower(path.Base(p))
	// "export.yaml" is the manifest only at the model's root, spelled so:
	// a file of that name in a subfolder, or "EXPORT.YAML" (another key on
	// case-sensitive storage), is no manifest and may hold anything, so it
	// is weights like any unlisted name (found by the attack suite).
	if base == "export.yaml" && p != "export.yaml" {
		return policy.KindWeights
	}
	if otherNames[base] || otherExts[path.Ext(base)] {
		return policy.KindOther
	}
	for _, pre := range otherPrefixes {
		if strings.HasPrefix(base, pre) && docExts[path.Ext(base)] {
			return policy.KindOther
		}
	}
	return policy.KindWeights
}
