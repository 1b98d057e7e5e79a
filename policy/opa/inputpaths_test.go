package opa

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/policy"
)

// inputFields calls visit with the JSON path and type of every field of
// Input, nested ones included: those of structs and of pointers to structs.
func inputFields(visit func(path string, t reflect.Type)) {
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			visit(prefix+name, f.Type)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+name+".")
			case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
				walk(f.Type.Elem(), prefix+name+".")
			}
		}
	}
	walk(reflect.TypeFor[policy.Input](), "")
}

// inputPaths returns the JSON paths of Input's leaves, found by reflection
// so that a field added to Input is covered without further ado: every field
// that is not a struct (strings, numbers, flags, lists, the claims map), and
// every pointer to a struct (model.base), whose being null is a value too,
// besides the fields under it. Sorted.
func inputPaths() []string {
	var out []string
	inputFields(func(p string, t reflect.Type) {
		if t.Kind() != reflect.Struct {
			out = append(out, p)
		}
	})
	slices.Sort(out)
	return out
}

// nullableAbove is the path of the pointer that p is or is under, "" if
// none.
func nullableAbove(p string) string {
	n := ""
	inputFields(func(q string, t reflect.Type) {
		if t.Kind() == reflect.Pointer && n == "" && (p == q || strings.HasPrefix(p, q+".")) {
			n = q
		}
	})
	return n
}

// absent is the value of a path under a null pointer (model.base.id when
// model.base is null).
type absent struct{}

// field returns the struct field of v named name in JSON.
func field(v reflect.Value, name string) reflect.Value {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name || n == "" && f.Name == name {
			return v.Field(i)
		}
	}
	panic(fmt.Sprintf("%s has no field %q", v.Type(), name))
}

// leafValue is the value at path in in, or absent{}.
func leafValue(in policy.Input, path string) any {
	v := reflect.ValueOf(in)
	for k := range strings.SplitSeq(path, ".") {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return absent{}
			}
			v = v.Elem()
		}
		v = field(v, k)
	}
	return v.Interface()
}

// withLeaf returns a copy of in with x at path. The copy shares no memory
// that withLeaf writes to with in: a pointer on the way is replaced by a
// pointer to a copy (a null one by a pointer to a new zero value), and lists
// and maps are replaced, never changed in place.
func withLeaf(in policy.Input, path string, x any) (policy.Input, error) {
	v := reflect.ValueOf(&in).Elem()
	for k := range strings.SplitSeq(path, ".") {
		if v.Kind() == reflect.Pointer {
			c := reflect.New(v.Type().Elem())
			if !v.IsNil() {
				c.Elem().Set(v.Elem())
			}
			v.Set(c)
			v = c.Elem()
		}
		v = field(v, k)
	}
	xv := reflect.ValueOf(x)
	if x == nil || !xv.Type().AssignableTo(v.Type()) {
		return in, fmt.Errorf("%s is a %s; the mutation table has %#v for it", path, v.Type(), x)
	}
	v.Set(xv)
	return in, nil
}

// leafDiff lists the paths on which a and b differ.
func leafDiff(a, b policy.Input) []string {
	var out []string
	for _, p := range inputPaths() {
		x, y := leafValue(a, p), leafValue(b, p)
		if xv, yv := reflect.ValueOf(x), reflect.ValueOf(y); xv.Kind() == reflect.Pointer && yv.Kind() == reflect.Pointer {
			// Only whether it is null: the fields under it have paths of
			// their own.
			x, y = xv.IsNil(), yv.IsNil()
		}
		if !reflect.DeepEqual(x, y) {
			out = append(out, p)
		}
	}
	return out
}

// leafValues gives the values a leaf may be changed to, given its current
// value (absent{} under a null pointer): the values that reach the rows of
// the built-in bundles and examples, and the malformed ones (nil against
// empty, a stray space, lower case, an unknown enumeration).
type leafValues func(r *rand.Rand, cur any) []any

func oneOf[T any](xs ...T) leafValues {
	return func(*rand.Rand, any) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = x
		}
		return out
	}
}

var (
	testCountries = []string{"US", "GB", "DE", "JP", "IN", "BR", "AE", "SG", "IL", "CN", "HK", "MO", "KH", "IR", "CU", "", "invalid", " gb ", "XX", "RU", "UA-43", "PR"}
	testFLOPs     = []float64{0, 1e25, 2.5e25, 3e25, 9.9e25, 1e26, 2e26, 3e26, 1.5e27, 1.25e26}
	testBools     = oneOf(false, true)
	testEntityIDs = []string{"", "acme", "acme-india", "brasil-ai", "globalcloud", "gulf-dc", "northwind", "blocked-corp",
		"frontier-lab", "frontier-lab-us", "acme-ai", "contoso-research"}
)

// countryLists: nil, empty, and the list with one element replaced, added or
// removed. A third of the countries drawn are ones a deemed export to is
// refused (embargoed, of concern, malformed), which the embargo-only bundle
// needs to notice a nationality at all.
func countryLists(r *rand.Rand, cur any) []any {
	l, _ := cur.([]string)
	country := func() string {
		if r.IntN(3) == 0 {
			return []string{"IR", "CU", "HK", "", "invalid", "RU"}[r.IntN(6)]
		}
		return testCountries[r.IntN(len(testCountries))]
	}
	out := []any{[]string(nil), []string{}, []string{country()}}
	out = append(out, append(slices.Clone(l), country()))
	if len(l) > 0 {
		i := r.IntN(len(l))
		out = append(out, slices.Delete(slices.Clone(l), i, i+1))
		c := slices.Clone(l)
		c[i] = country()
		out = append(out, c)
	}
	return out
}

// mutationTable is every leaf of Input (inputPaths) with its values; a test
// fails when the two disagree.
var mutationTable = map[string]leafValues{
	"subject.anonymous":           testBools,
	"subject.id":                  oneOf("alice", "", "mallory", "bob"),
	"subject.name":                oneOf("", "Alice", "Bob"),
	"subject.country":             oneOf(testCountries...),
	"subject.nationality":         countryLists,
	"subject.permanent_residence": countryLists,
	"subject.employee":            testBools,
	"subject.us_person":           testBools,
	"subject.entity.name":         oneOf("", "Acme", "Frontier Lab"),
	// Half the time no entity id, which undoes the employee carve-out.
	"subject.entity.id":                oneOf(append(slices.Repeat([]string{""}, len(testEntityIDs)), testEntityIDs...)...),
	"subject.entity.hq":                oneOf("US", "GB", "", "IN", "CN", "IR", "invalid", "AE", "SG", "BR", " us "),
	"subject.entity.parent_hq":         oneOf("US", "GB", "", "IN", "CN", "IR", "invalid", "AE", "SG", "BR", " us "),
	"subject.entity.veu":               oneOf("", "uveu", "nveu", " UVEU ", "other"),
	"subject.entity.security_attested": testBools,
	"subject.claims": oneOf(map[string]any(nil), map[string]any{}, map[string]any{"sub": "alice"},
		map[string]any{"sub": "alice", "groups": []any{"ml"}}, map[string]any{"sub": "bob", "groups": []any{"ml", "ops"}}),
	"subject.screening.status": oneOf("off", "clear", "", "hit", "review", "weird"),
	"subject.screening.list":   oneOf("", "Entity List", "SDN List"),
	"subject.screening.entry":  oneOf("", "e1", "e2"),
	"subject.screening.name":   oneOf("", "ACME", "ALICE"),
	"subject.screening.field":  oneOf("", "entity.name", "entity.id", "subject.name", "subject.id", "other"),
	"subject.screening.score":  oneOf(0, 1, 0.875, 0.005, 0.5),

	"model.id":                     oneOf("frontier-lab/frontier-x", "lab/ft", "", "lab/other"),
	"model.classified":             testBools,
	"model.signed":                 testBools,
	"model.classified_by":          oneOf("", "Compliance Office"),
	"model.classified_at":          oneOf("", "2025-01-15T00:00:00Z"),
	"model.classification_basis":   oneOf("", "self-assessment", "ccats:G123456"),
	"model.weights":                oneOf("closed", "open", "weird", ""),
	"model.training_compute_flop":  oneOf(testFLOPs...),
	"model.eccn":                   oneOf("", "4E091", " 4e091 ", "EAR99"),
	"model.revision":               oneOf("", "abc", "another-commit"),
	"model.base_model":             oneOf("", "lab/base", "lab/other-base"),
	"model.fine_tune_compute_flop": oneOf(testFLOPs...),
	"model.base": oneOf((*policy.BaseModel)(nil), &policy.BaseModel{}, &policy.BaseModel{ID: "lab/base"},
		&policy.BaseModel{ID: "lab/base", Found: true, Classified: true, Weights: "open", TrainingComputeFLOP: 2e26},
		&policy.BaseModel{ID: "lab/base", Found: true, Classified: true, Weights: "closed", TrainingComputeFLOP: 1e26, ECCN: "4E091"}),
	"model.base.id":                    oneOf("lab/base", "", "lab/other-base"),
	"model.base.found":                 testBools,
	"model.base.classified":            testBools,
	"model.base.weights":               oneOf("open", "closed", "", "weird"),
	"model.base.training_compute_flop": oneOf(testFLOPs...),
	"model.base.eccn":                  oneOf("", "4E091", "EAR99"),

	"object.path": oneOf("model.safetensors", "", "config.json"),
	"object.kind": oneOf("weights", "other", "bogus", ""),
	"object.size": oneOf[int64](0, 1, 12345),

	"request.method":      oneOf("GET", "HEAD"),
	"request.api":         oneOf("resolve", "check"),
	"request.range":       oneOf("", "bytes=0-99"),
	"request.remote_addr": oneOf("192.0.2.1:1", "198.51.100.7:40000", ""),
	// Times after the effective dates of the bundles (an earlier one has no
	// regime to decide it), around the registries' validity dates, and one
	// not in UTC, for which the policy knows no date.
	"request.time": oneOf("2025-05-20T00:00:00Z", "2025-12-31T23:59:59Z", "2026-01-02T03:04:05Z", "2026-03-01T00:00:00Z",
		"2031-01-01T00:00:00Z", "2026-03-01T00:00:00+01:00"),
	"request.client_ip":          oneOf("", "203.0.113.9", "198.51.100.7"),
	"request.client_ip_via":      oneOf("peer", "x-forwarded-for", "forwarded", "malformed"),
	"request.ip_country":         oneOf(testCountries...),
	"request.ip_trusted_network": testBools,

	"frontier.flop":   oneOf(testFLOPs...),
	"frontier.source": oneOf("catalog", "configured", "none", ""),
	"frontier.model":  oneOf("", "lab/open", "lab/other-open"),

	// Licence ids of the shipped registry, with counts below, at and above
	// their caps, and none.
	"licence_releases": oneOf(map[string]int(nil), map[string]int{}, map[string]int{"D1234567": 0},
		map[string]int{"D1234567": 1, "D7654321": 2}, map[string]int{"D7654321": 1}, map[string]int{"D7654321": 5, "other": 1}),
}

// mutate returns in with the leaf at path changed to another of its values
// in mutationTable, drawn at random (a value listed twice is drawn twice as
// often), and false when it has no other.
func mutate(tb testing.TB, r *rand.Rand, in policy.Input, path string) (policy.Input, bool) {
	tb.Helper()
	cur := leafValue(in, path)
	var other []any
	for _, x := range mutationTable[path](r, cur) {
		if !reflect.DeepEqual(x, cur) {
			other = append(other, x)
		}
	}
	if len(other) == 0 {
		return in, false
	}
	out, err := withLeaf(in, path, other[r.IntN(len(other))])
	if err != nil {
		tb.Fatal(err)
	}
	return out, true
}

// The mutation table has values for exactly the leaves of Input, of their
// types; and over a walk of changes from the zero Input, each leaf always
// has another value, and a change of it changes that leaf alone (besides,
// under a null pointer, the pointer and its other fields).
func TestMutationTable(t *testing.T) {
	t.Parallel()
	paths := inputPaths()
	for _, p := range paths {
		if _, ok := mutationTable[p]; !ok {
			t.Errorf("%s, a path of Input, has no values in mutationTable", p)
		}
	}
	for p := range mutationTable {
		if !slices.Contains(paths, p) {
			t.Errorf("mutationTable has values for %s, which is no path of Input", p)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range paths {
		if mutationTable[p] == nil {
			continue
		}
		t.Run(p, func(t *testing.T) {
			in := policy.Input{}
			for range 20 {
				out, ok := mutate(t, r, in, p)
				if !ok {
					t.Fatalf("no value other than %#v", leafValue(in, p))
				}
				got := leafDiff(in, out)
				if len(got) == 0 {
					t.Fatalf("changing %s from %#v to %#v changed no path", p, leafValue(in, p), leafValue(out, p))
				}
				for _, q := range got {
					// Besides p, only what a null pointer above it
					// becoming a value changes.
					if n := nullableAbove(q); q != p && (n == "" || !strings.HasPrefix(p+".", n+".")) {
						t.Fatalf("changing %s changed %v", p, got)
					}
				}
				in = out
			}
		})
	}
}
