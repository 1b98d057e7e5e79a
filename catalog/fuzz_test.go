package catalog

import (
	"encoding/base64"
	"math"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/weightgate/weightgate/policy"
)

// Fuzz targets of the catalog's parsers. scripts/test.sh runs each for a
// bounded time; a corpus entry that found a bug is kept under
// testdata/fuzz/<FuzzName>/.

// fuzzSegment is the model segment grammar, written out again so that the
// target checks ValidModelID against it rather than against itself.
var fuzzSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// FuzzModelID: ValidModelID accepts exactly "org/name" with two segments
// of the Hub's shape and no ".." in either, so an id always names a clean
// two-level prefix; ObjectKind is always weights or other, and "other" only
// for a documentation, tokenizer or configuration extension (fail closed:
// anything that may hold weights is weights).
func FuzzModelID(f *testing.F) {
	for _, s := range []string{
		"acme/open-7b", "meta-llama/Llama-3.1-8B", "a/b", "acme", "acme/", "/x", "a/b/c", "../x", "a/..",
		"a/b..c", "a/.b", "a/-b", "a/b.", "x/" + strings.Repeat("a", 96), "x/" + strings.Repeat("a", 97), "a/b\n",
		"README.md", "model.safetensors", "README.safetensors", "LICENSE", "license-apache.rst", "x/config.json",
		"CONFIG.JSON", "export.yaml", "dir/", "tokenizer.model", "weights.txt.bin",
	} {
		f.Add(s)
	}
	allowedExt := map[string]bool{"": true, ".md": true, ".txt": true, ".rst": true, ".json": true, ".model": true, ".yaml": true}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidModelID(id) {
			org, name, _ := strings.Cut(id, "/")
			if strings.Contains(name, "/") || !fuzzSegment.MatchString(org) || !fuzzSegment.MatchString(name) ||
				strings.Contains(id, "..") {
				t.Fatalf("ValidModelID(%q) = true for a malformed id", id)
			}
			if path.Clean(id) != id || CheckFilePath(id) != nil {
				t.Fatalf("ValidModelID(%q) = true for an id that is not a clean relative path", id)
			}
		} else if org, name, ok := strings.Cut(id, "/"); ok && !strings.Contains(name, "/") &&
			fuzzSegment.MatchString(org) && fuzzSegment.MatchString(name) && !strings.Contains(id, "..") {
			t.Fatalf("ValidModelID(%q) = false for a well-formed id", id)
		}

		switch k := ObjectKind(id); k {
		case policy.KindWeights:
		case policy.KindOther:
			if ext := path.Ext(strings.ToLower(path.Base(id))); !allowedExt[ext] {
				t.Fatalf("ObjectKind(%q) = other for extension %q", id, ext)
			}
		default:
			t.Fatalf("ObjectKind(%q) = %q", id, k)
		}
	})
}

// FuzzParseManifest: a manifest that parses is valid (weights open or
// closed, closed with a compute figure, finite non-negative figures, a
// 40-hex revision or none, a valid base model together with its fine-tune
// figure, file paths that pass CheckFilePath with 64 lower-case hex sums,
// not open and 4E091 at once), and it re-serialises to YAML that parses back
// to the same Manifest.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		"weights: open\n",
		"weights: closed\ntraining_compute_flop: 3.2e26\neccn: 4E091\n",
		"weights: closed\ntraining_compute_flop: 1e25\nrevision: 0123456789abcdef0123456789abcdef01234567\n",
		"weights: closed\ntraining_compute_flop: 2e26\nbase_model: acme/base\nfine_tune_compute_flop: 1e23\n",
		"weights: open\nfiles:\n  model.safetensors: {sha256: " + strings.Repeat("ab", 32) + "}\n  onnx/model.onnx:\n    sha256: \"" + strings.Repeat("1", 64) + "\"\n",
		"weights: open\nfiles:\n  a: {sha256: " + strings.Repeat("1", 64) + "}\n",
		"weights: closed\n", "weights: 5\n", "weights: open\nweights: open\n", "weights: open\neccn: 4e091\n",
		"weights: open\ntraining_compute_flop: .nan\n", "weights: open\ntraining_compute_flop: -1\n",
		"weights: open\nrevision: 1234567890123456789012345678901234567890\n",
		"weights: open\nfiles:\n  ../x: {sha256: " + strings.Repeat("a", 64) + "}\n",
		"weights: open\n---\nweights: closed\n", "- weights\n", "", "a: &x open\nweights: *x\n",
		"? [weights]\n: open\n", "weights: !!str open\n", "weights: !custom open\n",
		"weights: open\ntraining_compute_flop: 0x10\n", "weights: open\ntraining_compute_flop: 1_000\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		checkManifest(t, m)
		out, err := yaml.Marshal(renderManifest(m))
		if err != nil {
			t.Fatalf("render %+v: %v", m, err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-serialised manifest does not parse: %v\ninput:\n%s\noutput:\n%s", err, b, out)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-serialised manifest differs:\n%+v\n%+v\ninput:\n%s\noutput:\n%s", m, m2, b, out)
		}
	})
}

func checkManifest(t *testing.T, m Manifest) {
	t.Helper()
	if m.Weights != "open" && m.Weights != "closed" {
		t.Fatalf("weights %q accepted", m.Weights)
	}
	if m.Weights == "closed" && m.TrainingComputeFLOP == nil {
		t.Fatalf("closed weights without training_compute_flop accepted")
	}
	for _, p := range []*float64{m.TrainingComputeFLOP, m.FineTuneComputeFLOP} {
		if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0) || *p < 0) {
			t.Fatalf("compute figure %v accepted", *p)
		}
	}
	if m.Revision != "" && !hex40.MatchString(m.Revision) {
		t.Fatalf("revision %q accepted", m.Revision)
	}
	if (m.BaseModel != "") != (m.FineTuneComputeFLOP != nil) {
		t.Fatalf("base_model %q with fine_tune_compute_flop %v", m.BaseModel, m.FineTuneComputeFLOP)
	}
	if m.BaseModel != "" && !ValidModelID(m.BaseModel) {
		t.Fatalf("base_model %q accepted", m.BaseModel)
	}
	if m.Weights == "open" && strings.EqualFold(strings.TrimSpace(m.ECCN), "4E091") {
		t.Fatalf("open weights with eccn %q accepted", m.ECCN)
	}
	for p, sum := range m.SHA256 {
		if CheckFilePath(p) != nil {
			t.Fatalf("files: path %q accepted", p)
		}
		if len(sum) != 64 || strings.ToLower(sum) != sum || !hex64.MatchString(sum) {
			t.Fatalf("files: %q: sha256 %q accepted", p, sum)
		}
	}
}

// renderManifest writes m back as an export.yaml node tree: strings double
// quoted and tagged !!str, numbers in Go's shortest form.
func renderManifest(m Manifest) *yaml.Node {
	str := func(s string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s}
	}
	num := func(f float64) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k string, v *yaml.Node) { root.Content = append(root.Content, str(k), v) }
	add("weights", str(m.Weights))
	if m.TrainingComputeFLOP != nil {
		add("training_compute_flop", num(*m.TrainingComputeFLOP))
	}
	if m.ECCN != "" {
		add("eccn", str(m.ECCN))
	}
	if m.Revision != "" {
		add("revision", str(m.Revision))
	}
	if m.BaseModel != "" {
		add("base_model", str(m.BaseModel))
	}
	if m.FineTuneComputeFLOP != nil {
		add("fine_tune_compute_flop", num(*m.FineTuneComputeFLOP))
	}
	if m.SHA256 != nil {
		files := &yaml.Node{Kind: yaml.MappingNode}
		for p, sum := range m.SHA256 {
			files.Content = append(files.Content, str(p),
				&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("sha256"), str(sum)}})
		}
		add("files", files)
	}
	if s := m.Signature; s != nil {
		add("signature", &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			str("model"), str(s.Model),
			str("classified_by"), str(s.ClassifiedBy),
			str("classified_at"), str(s.ClassifiedAt.Format(time.RFC3339)),
			str("basis"), str(s.Basis),
			str("key"), str(s.Key),
			str("ed25519"), str(base64.StdEncoding.EncodeToString(s.Ed25519)),
		}})
	}
	return root
}
