package opa

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// ExtensionsPackage is the package under which every extension module must
// live, one package per extension: data.weightgate.extensions.<name>.
const ExtensionsPackage = "data.weightgate.extensions"

// ErrExtensionNamespace is returned (wrapped) by New and Reload when an
// extension module or data file lies outside ExtensionsPackage.
var ErrExtensionNamespace = errors.New("extension outside " + ExtensionsPackage)

// source is one tree of Rego modules and JSON data: the bundle or an
// extension directory.
type source struct {
	label     string // "bundle" or "extension[i]", for hashing
	name      string // how file names are shown in errors
	fsys      fs.FS
	extension bool
	registry  bool // JSON files only, each at data.weightgate.registry.<name>
	lib       bool // the shared library: the only source that may define weightgate.lib
	tests     bool // load its *_test.rego files too
}

// LibPackage is the shared library's package, reserved to rego/lib.
const LibPackage = "data.weightgate.lib"

// file is one loaded file, kept for the revision hash.
type file struct {
	label, path string
	data        []byte
}

// loaded is everything read from a set of sources.
type loaded struct {
	modules map[string]*ast.Module // serving modules, by display name
	tests   map[string]*ast.Module // *_test.rego modules of sources with tests set
	data    map[string]any         // merged JSON data: the root of `data`
	files   []file                 // modules and data, not tests

	bundleModules int // serving modules from the bundle itself
}

// skipDir reports whether a directory of a source is never loaded: examples
// (extensions shipped for reference, loaded only when named explicitly) and
// hidden directories such as .git.
func skipDir(name string) bool {
	return name == "examples" || (strings.HasPrefix(name, ".") && name != ".")
}

// load reads, parses and merges sources. Files other than *.rego and *.json
// are ignored, and *_test.rego files are only read from sources with tests
// set. JSON data is placed
// under `data` at its directory's path, as `opa eval -d` does: a data.json at a
// source's root must therefore be an object such as {"weightgate": {...}}.
func load(srcs []source) (*loaded, error) {
	l := &loaded{
		modules: map[string]*ast.Module{},
		tests:   map[string]*ast.Module{},
		data:    map[string]any{},
	}
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}

	for _, src := range srcs {
		err := fs.WalkDir(src.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != "." && skipDir(d.Name()) {
					return fs.SkipDir
				}
				return nil
			}
			isTest := strings.HasSuffix(p, "_test.rego")
			switch {
			case isTest && !src.tests:
				return nil
			case path.Ext(p) != ".rego" && path.Ext(p) != ".json":
				return nil
			}

			bs, err := fs.ReadFile(src.fsys, p)
			if err != nil {
				return err
			}
			display := path.Join(src.name, p)

			if path.Ext(p) == ".json" {
				var doc any
				if err := util.UnmarshalJSON(bs, &doc); err != nil {
					return fmt.Errorf("%s: %w", display, err)
				}
				if src.registry {
					if path.Dir(p) != "." {
						return nil // registries are the directory's own files
					}
					doc = map[string]any{"weightgate": map[string]any{"registry": map[string]any{strings.TrimSuffix(path.Base(p), ".json"): doc}}}
				} else {
					doc = nest(path.Dir(p), doc)
				}
				if src.extension {
					if err := checkExtensionData(doc); err != nil {
						return fmt.Errorf("%s: %w", display, err)
					}
				}
				if err := mergeData(l.data, doc, nil); err != nil {
					return fmt.Errorf("%s: %w", display, err)
				}
				l.files = append(l.files, file{src.label, p, bs})
				return nil
			}

			if src.registry {
				return fmt.Errorf("%s: a registry holds JSON data only", display)
			}
			m, err := ast.ParseModuleWithOpts(display, string(bs), popts)
			if err != nil {
				return err
			}
			if m == nil {
				return fmt.Errorf("%s: empty module", display)
			}
			if !src.lib && m.Package.Path.HasPrefix(ast.MustParseRef(LibPackage)) {
				return fmt.Errorf("%s: package %s is reserved for weightgate's library", display, m.Package.Path)
			}
			if isTest {
				l.tests[display] = m
				return nil
			}
			if src.label == "bundle" {
				l.bundleModules++
			}
			if src.extension {
				if err := checkExtensionPackage(m); err != nil {
					return fmt.Errorf("%s: %w", display, err)
				}
			}
			l.modules[display] = m
			l.files = append(l.files, file{src.label, p, bs})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", src.name, err)
		}
	}
	return l, nil
}

// addSettings places the operator's settings at data.weightgate.settings and
// counts them in the revision, so a decision names the settings it was made
// under. A bundle that defines data.weightgate.settings itself conflicts.
func (l *loaded) addSettings(settings map[string]string) error {
	if len(settings) == 0 {
		return nil
	}
	obj := make(map[string]any, len(settings))
	for k, v := range settings {
		obj[k] = v
	}
	if err := mergeData(l.data, map[string]any{"weightgate": map[string]any{"settings": obj}}, nil); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	bs, err := json.Marshal(settings) // sorted keys: a stable hash
	if err != nil {
		return err
	}
	l.files = append(l.files, file{"settings", "settings.json", bs})
	return nil
}

// checkExtensionPackage refuses an extension module whose package is not
// exactly data.weightgate.extensions.<name>: anything else could redefine base
// rules, or define denials the base policy never reads.
func checkExtensionPackage(m *ast.Module) error {
	ref := m.Package.Path
	if len(ref) == 4 && ref.HasPrefix(ast.MustParseRef(ExtensionsPackage)) {
		if _, ok := ref[3].Value.(ast.String); ok {
			return nil
		}
	}
	return fmt.Errorf("package %s: %w (want package weightgate.extensions.<name>)", ref, ErrExtensionNamespace)
}

// checkExtensionData refuses extension data outside
// data.weightgate.extensions.<name>, so an extension cannot change the
// bundle's country lists or thresholds.
func checkExtensionData(doc any) error {
	bad := fmt.Errorf("data must be under %s.<name>: %w", ExtensionsPackage, ErrExtensionNamespace)
	root, ok := doc.(map[string]any)
	if !ok || len(root) != 1 {
		return bad
	}
	wg, ok := root["weightgate"].(map[string]any)
	if !ok || len(wg) != 1 {
		return bad
	}
	if _, ok := wg["extensions"].(map[string]any); !ok {
		return bad
	}
	return nil
}

// nest wraps doc in objects named after the directories of dir.
func nest(dir string, doc any) any {
	if dir == "." {
		return doc
	}
	parts := strings.Split(dir, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	return doc
}

// mergeData deep-merges src into dst. Two files may share objects but never
// set the same non-object value.
func mergeData(dst map[string]any, src any, at []string) error {
	obj, ok := src.(map[string]any)
	if !ok {
		return fmt.Errorf("data at %s must be a JSON object", refString(at))
	}
	for k, v := range obj {
		here := append(slices.Clone(at), k)
		old, exists := dst[k]
		if !exists {
			dst[k] = v
			continue
		}
		oldObj, ok1 := old.(map[string]any)
		_, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("data conflict at %s", refString(here))
		}
		if err := mergeData(oldObj, v, here); err != nil {
			return err
		}
	}
	return nil
}

func refString(at []string) string {
	if len(at) == 0 {
		return "data"
	}
	return "data." + strings.Join(at, ".")
}

// revision is the hex SHA-256 of every loaded module and data file: each
// file's source label, path and contents, sorted by label then path, with
// lengths so that no two different file sets hash alike.
func revision(files []file) string {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b file) int {
		if c := strings.Compare(a.label, b.label); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		for _, b := range [][]byte{[]byte(f.label), []byte(f.path), f.data} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bundleMeta reads data.weightgate.bundle: name, version and effective_date
// (YYYY-MM-DD, midnight UTC, or an RFC 3339 time). All are optional, but a
// present one must be well-formed.
func bundleMeta(data map[string]any) (RegimeInfo, error) {
	var info RegimeInfo
	wg, _ := data["weightgate"].(map[string]any)
	b, ok := wg["bundle"].(map[string]any)
	if !ok {
		return info, nil
	}
	for key, dst := range map[string]*string{"name": &info.Name, "version": &info.Version} {
		if v, present := b[key]; present {
			s, ok := v.(string)
			if !ok {
				return info, fmt.Errorf("data.weightgate.bundle.%s is %T, want a string", key, v)
			}
			*dst = s
		}
	}
	if v, present := b["effective_date"]; present {
		s, _ := v.(string)
		t, err := ParseEffective(s)
		if err != nil {
			return info, fmt.Errorf("data.weightgate.bundle.effective_date: %w", err)
		}
		info.Effective = t
	}
	return info, nil
}

// ParseEffective parses an effective date: YYYY-MM-DD (midnight UTC) or an
// RFC 3339 time.
func ParseEffective(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD nor an RFC 3339 time", s)
	}
	return t.UTC(), nil
}
