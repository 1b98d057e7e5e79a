package gateway

import (
	"errors"
	"math"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/weightgate/weightgate/policy"
)

// Fuzz targets of the gateway's parsers (issue 8). scripts/test.sh runs each
// for a bounded time; a corpus entry that found a bug is kept under
// testdata/fuzz/<FuzzName>/.

// FuzzParseRange: a satisfiable range lies inside [0,size) with Length > 0;
// every error is a 416 *Error with one of the range codes; ok=false without
// an error only for an absent header or another unit; and a plain
// "bytes=a-b" gives exactly the bytes a..min(b,size-1).
func FuzzParseRange(f *testing.F) {
	for _, s := range []struct {
		h    string
		size int64
	}{
		{"bytes=0-9", 100}, {"bytes=10-", 100}, {"bytes=-10", 100}, {"bytes=-200", 100},
		{"bytes=0-0", 1}, {"bytes=99-99", 100}, {"bytes=100-", 100}, {"bytes=-0", 100},
		{"bytes=0-", 0}, {"bytes=-1", 0}, {"bytes=5-4", 100}, {"bytes=0-9,20-29", 100},
		{"bytes = 0 - 9 ", 100}, {"BYTES=0-9", 100}, {"items=0-9", 100}, {"bytes", 100},
		{"bytes=", 100}, {"bytes=-", 100}, {"bytes=+1-2", 100}, {"bytes=0x1-2", 100},
		{"bytes=9223372036854775807-", math.MaxInt64}, {"bytes=0-99999999999999999999", 100},
		{"bytes=-9223372036854775807", math.MaxInt64}, {"", 100},
	} {
		f.Add(s.h, s.size)
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1) // object sizes are never negative
		}
		r, ok, err := parseRange(header, size)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("parseRange(%q, %d): error %T %v, want *Error", header, size, err, err)
			}
			switch {
			case e.Status != 416:
				t.Fatalf("parseRange(%q, %d): status %d, want 416", header, size, e.Status)
			case e.Code != CodeInvalidRange && e.Code != CodeMultipleRanges && e.Code != CodeRangeNotSatisfiable:
				t.Fatalf("parseRange(%q, %d): code %q", header, size, e.Code)
			case ok || r != (byteRange{}):
				t.Fatalf("parseRange(%q, %d): error with ok=%v range %+v", header, size, ok, r)
			}
			return
		}
		unit, spec, found := strings.Cut(header, "=")
		if !ok {
			if r != (byteRange{}) {
				t.Fatalf("parseRange(%q, %d): not ok with range %+v", header, size, r)
			}
			if header != "" && (!found || strings.EqualFold(strings.TrimSpace(unit), "bytes")) {
				t.Fatalf("parseRange(%q, %d): a bytes range ignored without an error", header, size)
			}
			return
		}
		if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
			t.Fatalf("parseRange(%q, %d): unit %q accepted", header, size, unit)
		}
		if r.Start < 0 || r.Length <= 0 || r.Start >= size || r.Length > size-r.Start {
			t.Fatalf("parseRange(%q, %d) = %+v: outside [0,%d) or empty", header, size, r, size)
		}
		want := "bytes " + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.Start+r.Length-1, 10) + "/" + strconv.FormatInt(size, 10)
		if got := r.contentRange(size); got != want {
			t.Fatalf("contentRange = %q, want %q", got, want)
		}
		// An independent reading of the plain forms.
		first, last, _ := strings.Cut(strings.TrimSpace(spec), "-")
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		a, errA := strconv.ParseUint(first, 10, 63)
		b, errB := strconv.ParseUint(last, 10, 63)
		switch {
		case first == "" && errB == nil: // suffix
			if n := min(int64(b), size); r.Start != size-n || r.Length != n {
				t.Fatalf("parseRange(%q, %d) = %+v, want the last %d bytes", header, size, r, n)
			}
		case errA == nil && last == "":
			if r.Start != int64(a) || r.Start+r.Length != size {
				t.Fatalf("parseRange(%q, %d) = %+v, want %d to the end", header, size, r, a)
			}
		case errA == nil && errB == nil:
			if r.Start != int64(a) || r.Start+r.Length-1 != min(int64(b), size-1) {
				t.Fatalf("parseRange(%q, %d) = %+v, want %d-%d", header, size, r, a, b)
			}
		}
	})
}

// FuzzCheckFilePath: an accepted path is non-empty, at most 1024 bytes,
// valid UTF-8, has no "\", NUL or control character, no empty, "." or ".."
// segment, is relative and already clean; and a path with none of those
// flaws is accepted. Every refusal is a 400 invalid_path *Error.
func FuzzCheckFilePath(f *testing.F) {
	for _, s := range []string{
		"config.json", "model-00001-of-00002.safetensors", "onnx/model.onnx", "a/b/c/d.bin",
		"", ".", "..", "../x", "a/../b", "a/./b", "a//b", "/abs", "trailing/", "a\\b", "a\x00b",
		"a\tb", "a\x7fb", "a..b/c...d", "...", "é/ü.bin", strings.Repeat("a", 1024), strings.Repeat("a", 1025),
		"\xff\xfe", "a/\u2028/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		e := checkFilePath(p)
		segs := strings.Split(p, "/")
		flawed := p == "" || len(p) > 1024 || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") ||
			strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f }) ||
			containsAny(segs, "", ".", "..")
		if e != nil {
			if e.Status != 400 || e.Code != CodeInvalidPath {
				t.Fatalf("checkFilePath(%q) = %d %s, want 400 %s", p, e.Status, e.Code, CodeInvalidPath)
			}
			if !flawed {
				t.Fatalf("checkFilePath(%q) refused a well-formed path: %v", p, e)
			}
			return
		}
		if flawed {
			t.Fatalf("checkFilePath(%q) accepted a flawed path", p)
		}
		if path.IsAbs(p) || path.Clean(p) != p || path.Clean(p) == ".." || strings.HasPrefix(path.Clean(p), "../") {
			t.Fatalf("checkFilePath(%q) accepted a path that is absolute or not clean (%q)", p, path.Clean(p))
		}
		// Below any prefix, the path stays below it.
		if j := path.Join("org/model", p); !strings.HasPrefix(j, "org/model/") {
			t.Fatalf("checkFilePath(%q) accepted a path that leaves its model: %q", p, j)
		}
	})
}

func containsAny(segs []string, bad ...string) bool {
	for _, s := range segs {
		for _, b := range bad {
			if s == b {
				return true
			}
		}
	}
	return false
}

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
			if path.Clean(id) != id || checkFilePath(id) != nil {
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
// figure, file paths that pass checkFilePath with 64 lower-case hex sums,
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
		if checkFilePath(p) != nil {
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
	return root
}
