package opa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
)

// MustNew returns an Engine for opts or fails the test.
func MustNew(tb testing.TB, opts opa.Options) *opa.Engine {
	tb.Helper()
	e, err := opa.New(context.Background(), opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

// MustWriteBundle writes files (path: contents) under a new temporary
// directory and returns it.
func MustWriteBundle(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	MustWriteFiles(tb, dir, files)
	return dir
}

// MustWriteFiles writes files (path: contents) under dir.
func MustWriteFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkListed: what a listing pays per closed model for a U.S. person
// in the United States, each model with its own id, as in a listing. The
// decision cache cannot help Decide there (every decision names its
// model: "decide" evaluates every time), while Listed answers from the
// visible rule's remembered answers ("listed"). "listed-fresh" evaluates
// the visible rule and checks it against the full decision every time, as
// for the first model of a listing.
func BenchmarkListed(b *testing.B) {
	for _, bc := range []struct {
		name string
		run  func(ctx context.Context, e *opa.Engine, in policy.Input) bool
		// fresh makes every call a miss of both caches: a new engine
		// per 1,000 calls would be slower still, so the subject's id,
		// which both footprints hold, differs instead.
		fresh bool
	}{
		{name: "listed", run: func(ctx context.Context, e *opa.Engine, in policy.Input) bool {
			ok, err := e.Listed(ctx, in)
			return ok && err == nil
		}},
		{name: "listed-fresh", fresh: true, run: func(ctx context.Context, e *opa.Engine, in policy.Input) bool {
			ok, err := e.Listed(ctx, in)
			return ok && err == nil
		}},
		{name: "decide", run: func(ctx context.Context, e *opa.Engine, in policy.Input) bool {
			d, err := e.Decide(ctx, in)
			return err == nil && d.Code == "not_an_export" && (d.Allow || d.Visible)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// A new engine each run, so that no run answers from what
			// another remembered.
			cached := MustNew(b, opa.Options{})
			ctx := context.Background()
			in := closedInput()
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				n++
				in.Model.ID = "frontier-lab/model-" + strconv.Itoa(n)
				if bc.fresh {
					in.Subject.ID = in.Model.ID
				}
				if !bc.run(ctx, cached, in) {
					b.Fatalf("%s: not listed", in.Model.ID)
				}
			}
		})
	}
}

// closedInput is a US requester with no entity (its parent headquarters
// named, as the policy requires) asking for a weights file of a closed model
// trained with 3e26 operations.
func closedInput() policy.Input {
	return policy.Input{
		Subject: policy.Subject{ID: "alice", Country: "US", Nationality: []string{"US"}, Entity: policy.Entity{ParentHQ: "US"}},
		Model: policy.Model{
			ID: "frontier-lab/frontier-x", Classified: true, Weights: "closed",
			TrainingComputeFLOP: 3e26, ECCN: "4E091", Revision: "0123abc",
		},
		Object:  policy.Object{Path: "model-00001-of-00004.safetensors", Kind: policy.KindWeights, Size: 1 << 30},
		Request: policy.Request{Method: "GET", API: "resolve", RemoteAddr: "192.0.2.1:4711", Time: "2026-01-02T03:04:05Z"},
	}
}

func TestEngine_Decide_DefaultBundle(t *testing.T) {
	e := MustNew(t, opa.Options{})
	name, rev := e.Bundle()
	if got, want := name, "ai-diffusion-2025"; got != want {
		t.Errorf("bundle name = %q, want %q", got, want)
	}
	if got, want := len(rev), 64; got != want {
		t.Errorf("len(revision) = %d, want %d (%q)", got, want, rev)
	}

	tests := []struct {
		name      string
		edit      func(in *policy.Input)
		wantAllow bool
		wantCode  string
	}{
		{"open weights to anyone", func(in *policy.Input) {
			in.Model.Weights = "open"
			in.Subject = policy.Subject{Anonymous: true}
		}, true, "open_weights"},
		{"anonymous closed", func(in *policy.Input) { in.Subject = policy.Subject{Anonymous: true} }, false, "authentication_required"},
		{"anonymous unclassified", func(in *policy.Input) {
			in.Subject = policy.Subject{Anonymous: true}
			in.Model = policy.Model{ID: "x/y"}
		}, false, "authentication_required"},
		{"unclassified", func(in *policy.Input) { in.Model = policy.Model{ID: "x/y"} }, false, "unclassified_model"},
		{"not weights", func(in *policy.Input) {
			in.Object.Kind = policy.KindOther
			in.Subject.Country = "IN"
		}, true, "not_weights"},
		// The model is hidden from a country of concern, so are its other files.
		{"not weights to China", func(in *policy.Input) {
			in.Object.Kind = policy.KindOther
			in.Subject.Country = "CN"
		}, false, "country_of_concern"},
		{"no country", func(in *policy.Input) { in.Subject.Country = "" }, false, "unknown_destination"},
		{"embargoed location", func(in *policy.Input) { in.Subject.Country = "IR" }, false, "embargoed_destination"},
		{"embargoed hq, Tier 1 location", func(in *policy.Input) {
			in.Subject.Country = "DE"
			in.Subject.Entity = policy.Entity{ID: "x", HQ: "KP"}
		}, false, "embargoed_destination"},
		{"embargoed below threshold", func(in *policy.Input) {
			in.Subject.Country = "SY"
			in.Model.TrainingComputeFLOP, in.Model.ECCN = 1e24, ""
		}, false, "embargoed_destination"},
		{"China", func(in *policy.Input) { in.Subject.Country = "CN" }, false, "country_of_concern"},
		{"Hong Kong", func(in *policy.Input) { in.Subject.Country = "HK" }, false, "country_of_concern"},
		{"Macau", func(in *policy.Input) { in.Subject.Country = "MO" }, false, "country_of_concern"},
		{"parent in D:5, Tier 1 location", func(in *policy.Input) {
			in.Subject.Country = "GB"
			in.Subject.Entity = policy.Entity{ID: "x", HQ: "GB", ParentHQ: "CN"}
		}, false, "country_of_concern"},
		{"US, no entity", func(in *policy.Input) {}, true, "not_an_export"},
		{"US, no parent_hq", func(in *policy.Input) { in.Subject.Entity.ParentHQ = "" }, false, "unknown_destination"},
		{"US, no nationality", func(in *policy.Input) { in.Subject.Nationality = nil }, false, "unknown_destination"},
		{"US person claim", func(in *policy.Input) { in.Subject.Nationality, in.Subject.USPerson = nil, true }, true, "not_an_export"},
		{"Crimea", func(in *policy.Input) { in.Subject.Country = "UA-43" }, false, "embargoed_destination"},
		{"Puerto Rico", func(in *policy.Input) { in.Subject.Country = "PR" }, true, "not_an_export"},
		{"Tier 1 location and HQs", func(in *policy.Input) {
			in.Subject.Country = "JP"
			in.Subject.Entity = policy.Entity{ID: "x", HQ: "GB", ParentHQ: "US"}
		}, true, "license_exception_aia"},
		{"Tier 2 location", func(in *policy.Input) { in.Subject.Country = "IN" }, false, "license_required"},
		{"Tier 1 location, Tier 2 HQ", func(in *policy.Input) {
			in.Subject.Country = "FR"
			in.Subject.Entity = policy.Entity{ID: "x", HQ: "CH"}
		}, false, "license_required"},
		{"exactly 1e26 is controlled", func(in *policy.Input) {
			in.Subject.Country = "IN"
			in.Model.TrainingComputeFLOP, in.Model.ECCN = 1e26, ""
		}, false, "license_required"},
		{"9.99e25 is not", func(in *policy.Input) {
			in.Subject.Country = "IN"
			in.Model.TrainingComputeFLOP, in.Model.ECCN = 9.99e25, ""
		}, true, "not_controlled"},
		{"below threshold to China", func(in *policy.Input) {
			in.Subject.Country = "CN"
			in.Model.TrainingComputeFLOP, in.Model.ECCN = 1e25, "EAR99"
		}, true, "not_controlled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := closedInput()
			tt.edit(&in)
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got, want := d.Allow, tt.wantAllow; got != want {
				t.Errorf("Allow = %v, want %v (%+v)", got, want, d)
			}
			if got, want := d.Code, tt.wantCode; got != want {
				t.Errorf("Code = %q, want %q (%+v)", got, want, d)
			}
			if d.Reason == "" || d.Basis == "" {
				t.Errorf("Reason %q, Basis %q: want both set", d.Reason, d.Basis)
			}
			if got, want := d.Bundle, name; got != want {
				t.Errorf("Bundle = %q, want %q", got, want)
			}
			if got, want := d.Revision, rev; got != want {
				t.Errorf("Revision = %q, want %q", got, want)
			}
		})
	}
}

func TestEngine_Decide_Reason(t *testing.T) {
	e := MustNew(t, opa.Options{})
	in := closedInput()
	in.Subject.Country = "CN"
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Reason, "frontier-lab/frontier-x is a closed-weight model trained with 3e+26 operations (ECCN 4E091); exports to CN (a country of concern, Country Group D:5) require a license from BIS, reviewed with a presumption of denial, and no license exception applies"; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
	if got, want := d.Basis, "15 CFR 742.6(a)(13)"; !strings.Contains(got, want) {
		t.Errorf("Basis = %q, want it to contain %q", got, want)
	}
}

// The embedded bundle and the directory it is built from have the same
// revision: tests, examples/ and Go files are not part of it.
func TestEngine_Bundle_DirectoryMatchesEmbedded(t *testing.T) {
	_, embedded := MustNew(t, opa.Options{}).Bundle()
	name, dir := MustNew(t, opa.Options{Bundle: "../../rego/bundles/ai-diffusion-2025"}).Bundle()
	if got, want := dir, embedded; got != want {
		t.Errorf("revision of ../rego/bundles/ai-diffusion-2025 = %s, want the embedded %s", got, want)
	}
	if got, want := name, "ai-diffusion-2025"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
}

// decisionModule is a bundle whose decision rule is body.
func decisionModule(body string) map[string]string {
	return map[string]string{"policy.rego": "package weightgate\n\n" + body + "\n"}
}

func TestEngine_Decide_Malformed(t *testing.T) {
	tests := []struct {
		name string
		rule string
		err  string // a substring of the error
	}{
		{"undefined", `decision := {"allow": true, "code": "x"} if input.nope`, "undefined"},
		{"not an object", `decision := "allow"`, "want an object"},
		{"true", `decision := true`, "want an object"},
		{"set", `decision contains {"allow": true, "code": "x"}`, "want an object"},
		{"allow not a boolean", `decision := {"allow": "true", "code": "x"}`, "allow"},
		{"allow missing", `decision := {"code": "x"}`, "allow"},
		{"allow without code", `decision := {"allow": true}`, "code"},
		{"allow with empty code", `decision := {"allow": true, "code": ""}`, "code"},
		{"code not a string", `decision := {"allow": true, "code": 1}`, "code"},
		{"deny without code", `decision := {"allow": false, "reason": "no"}`, "code"},
		{"reason not a string", `decision := {"allow": true, "code": "x", "reason": ["a"]}`, "reason"},
		{"basis not a string", `decision := {"allow": true, "code": "x", "basis": null}`, "basis"},
		{"allow with policy_error", `decision := {"allow": true, "code": "policy_error"}`, "policy_error"},
		{"visible not a boolean", `decision := {"allow": false, "code": "x", "visible": "true"}`, "visible"},
		{"visible null", `decision := {"allow": false, "code": "x", "visible": null}`, "visible"},
		{"visible a number", `decision := {"allow": true, "code": "x", "visible": 1}`, "visible"},
		{"conflicting definitions", `decision := {"allow": true, "code": "a"} if input.subject.country == "US"
decision := {"allow": false, "code": "b"} if input.model.classified`, "conflict"},
		// Without strict built-in errors the failing deny row would be
		// undefined and the decision would fall through to the allow.
		{"builtin error in a deny row", `decision := {"allow": false, "code": "no"} if {
	to_number(input.subject.country) > 0
} else := {"allow": true, "code": "yes"}`, "to_number"},
		{"builtin error", `decision := {"allow": true, "code": sprintf("%v", [to_number(input.subject.country)])}`, "to_number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := MustWriteBundle(t, decisionModule(tt.rule))
			e := MustNew(t, opa.Options{Bundle: dir})
			name, rev := e.Bundle()

			d, err := e.Decide(context.Background(), closedInput())
			if err == nil {
				t.Fatalf("Decide = %+v, nil error; want an error", d)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %q does not mention %q", err, tt.err)
			}
			want := policy.Decision{
				Allow: false, Code: policy.CodePolicyError,
				Reason: d.Reason, Basis: d.Basis, Bundle: name, Revision: rev,
			}
			if !reflect.DeepEqual(d, want) {
				t.Errorf("Decide = %+v, want %+v", d, want)
			}
			if d.Reason == "" || strings.Contains(d.Reason, "input") {
				t.Errorf("Reason = %q, want a safe, non-empty sentence", d.Reason)
			}
			if got, want := name, filepath.Base(dir); got != want {
				t.Errorf("name of a bundle without one = %q, want its directory %q", got, want)
			}
		})
	}
}

func TestEngine_Decide_WellFormedMinimal(t *testing.T) {
	dir := MustWriteBundle(t, decisionModule(`decision := {"allow": true, "code": "ok", "extra": 1}`))
	d, err := MustNew(t, opa.Options{Bundle: dir}).Decide(context.Background(), closedInput())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d, (policy.Decision{Allow: true, Code: "ok", Bundle: filepath.Base(dir), Revision: d.Revision}); !reflect.DeepEqual(got, want) {
		t.Errorf("Decide = %+v, want %+v", got, want)
	}
}

func TestEngine_Decide_BadInputOrContext(t *testing.T) {
	e := MustNew(t, opa.Options{})

	t.Run("NaN compute", func(t *testing.T) {
		in := closedInput()
		in.Model.TrainingComputeFLOP = 0
		in.Model.TrainingComputeFLOP /= in.Model.TrainingComputeFLOP
		d, err := e.Decide(context.Background(), in)
		if err == nil || d.Allow || d.Code != policy.CodePolicyError {
			t.Errorf("Decide = %+v, %v; want a policy_error", d, err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d, err := e.Decide(ctx, closedInput())
		if err == nil || d.Allow || d.Code != policy.CodePolicyError {
			t.Errorf("Decide = %+v, %v; want a policy_error", d, err)
		}
	})
	t.Run("nil engine", func(t *testing.T) {
		var nilEngine *opa.Engine
		d, err := nilEngine.Decide(context.Background(), closedInput())
		if err == nil || d.Allow || d.Code != policy.CodePolicyError {
			t.Errorf("Decide = %+v, %v; want a policy_error", d, err)
		}
	})
}

func TestNew_RejectsBrokenBundle(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"syntax error", decisionModule(`decision := {"allow": true,`)},
		{"v0 syntax", decisionModule(`decision = {"allow": true, "code": "x"} { true }`)},
		{"unsafe variable", decisionModule(`decision := {"allow": true, "code": x}`)},
		{"no decision rule", decisionModule(`allow := true`)},
		{"no modules", map[string]string{"data.json": `{}`}},
		{"invalid JSON", map[string]string{
			"policy.rego": "package weightgate\ndecision := {\"allow\": false, \"code\": \"x\"}\n",
			"data.json":   `{"weightgate": `,
		}},
		{"conflicting data", map[string]string{
			"policy.rego": "package weightgate\ndecision := {\"allow\": false, \"code\": \"x\"}\n",
			"a.json":      `{"weightgate": {"k": 1}}`,
			"b.json":      `{"weightgate": {"k": 2}}`,
		}},
		{"data not an object", map[string]string{
			"policy.rego": "package weightgate\ndecision := {\"allow\": false, \"code\": \"x\"}\n",
			"data.json":   `[1, 2]`,
		}},
	}
	// The error names the place in data a conflict or bad document is at.
	wantErr := map[string]string{
		"conflicting data":   "data conflict at data.weightgate.k",
		"data not an object": "data at data must be a JSON object",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := MustWriteBundle(t, tt.files)
			e, err := opa.New(context.Background(), opa.Options{Bundle: dir})
			if err == nil {
				name, rev := e.Bundle()
				t.Fatalf("New = %s@%s, nil error; want an error", name, rev)
			}
			if want := wantErr[tt.name]; !strings.Contains(err.Error(), want) {
				t.Errorf("New: %v; want it to say %q", err, want)
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		if _, err := opa.New(context.Background(), opa.Options{Bundle: filepath.Join(t.TempDir(), "nope")}); err == nil {
			t.Fatal("New of a missing directory: nil error")
		}
	})
}

// goodModule decides {"allow": true, "code": code}.
func goodModule(code string) string {
	return "package weightgate\n\ndecision := {\"allow\": true, \"code\": \"" + code + "\", \"reason\": \"r\", \"basis\": \"b\"}\n"
}

func TestEngine_Reload(t *testing.T) {
	ctx := context.Background()
	dir := MustWriteBundle(t, map[string]string{
		"policy.rego": goodModule("one"),
		"bundle.json": `{"weightgate": {"bundle": {"name": "test-bundle"}}}`,
	})
	var logged bytes.Buffer
	e := MustNew(t, opa.Options{Bundle: dir, Logger: slog.New(slog.NewJSONHandler(&logged, nil))})
	// lastReload is the "changed" field of the last "policy reloaded" event.
	lastReload := func(t *testing.T) bool {
		t.Helper()
		var changed *bool
		for line := range strings.Lines(logged.String()) {
			var ev struct {
				Msg     string `json:"msg"`
				Changed *bool  `json:"changed"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if ev.Msg == "policy reloaded" {
				changed = ev.Changed
			}
		}
		if changed == nil {
			t.Fatalf("no \"policy reloaded\" event with a changed field in %s", logged.String())
		}
		return *changed
	}
	name, rev1 := e.Bundle()
	if got, want := name, "test-bundle"; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}

	t.Run("failure keeps the old policy", func(t *testing.T) {
		MustWriteFiles(t, dir, map[string]string{"policy.rego": "package weightgate\n\ndecision := {\n"})
		if err := e.Reload(ctx); err == nil {
			t.Fatal("Reload of a broken bundle: nil error")
		}
		if _, got := e.Bundle(); got != rev1 {
			t.Errorf("revision after failed Reload = %s, want the old %s", got, rev1)
		}
		d, err := e.Decide(ctx, closedInput())
		if err != nil {
			t.Fatalf("Decide after failed Reload: %v", err)
		}
		if got, want := d.Code, "one"; got != want {
			t.Errorf("Code = %q, want %q (the old policy)", got, want)
		}
		if got, want := d.Revision, rev1; got != want {
			t.Errorf("Revision = %q, want %q", got, want)
		}
	})

	t.Run("success swaps", func(t *testing.T) {
		MustWriteFiles(t, dir, map[string]string{"policy.rego": goodModule("two")})
		if err := e.Reload(ctx); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		_, rev2 := e.Bundle()
		if rev2 == rev1 {
			t.Errorf("revision unchanged (%s) after the module changed", rev2)
		}
		d, err := e.Decide(ctx, closedInput())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.Code, "two"; got != want {
			t.Errorf("Code = %q, want %q", got, want)
		}
		if got, want := d.Revision, rev2; got != want {
			t.Errorf("Revision = %q, want %q", got, want)
		}
		if !lastReload(t) {
			t.Error(`reload event: "changed": false, after the module changed`)
		}
	})

	t.Run("unchanged sources keep the revision", func(t *testing.T) {
		_, before := e.Bundle()
		if err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if _, after := e.Bundle(); after != before {
			t.Errorf("revision %s -> %s with no change", before, after)
		}
		if lastReload(t) {
			t.Error(`reload event: "changed": true, with nothing changed`)
		}
	})
}

// TestEngine_DataAndSettings checks where data files and the operator's
// settings appear to the policy: a file's directories name its place under
// data, and settings are at data.weightgate.settings, counted in the
// revision.
func TestEngine_DataAndSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := MustWriteBundle(t, map[string]string{
		"policy.rego": `package weightgate

decision := {"allow": false, "code": code, "reason": "r", "basis": "b"}

code := concat("/", [data.lists.nested.deep.v, mode])

default mode := "unset"

mode := data.weightgate.settings.mode
`,
		"lists/nested/deep/data.json": `{"v": "deep"}`,
	})
	plain := MustNew(t, opa.Options{Bundle: dir})
	set := MustNew(t, opa.Options{Bundle: dir, Settings: map[string]string{"mode": "strict"}})
	for _, tt := range []struct {
		name string
		e    *opa.Engine
		want string
	}{
		{"no settings", plain, "deep/unset"},
		{"settings", set, "deep/strict"},
	} {
		d, err := tt.e.Decide(ctx, closedInput())
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := d.Code; got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
	_, rev1 := plain.Bundle()
	if _, rev2 := set.Bundle(); rev1 == rev2 {
		t.Errorf("revision %s with settings and without", rev1)
	}
}

func TestEngine_Revision_ChangesWithData(t *testing.T) {
	ctx := context.Background()
	dir := MustWriteBundle(t, map[string]string{
		"policy.rego":   goodModule("x"),
		"lists/a.json":  `{"k": [1, 2]}`,
		"examples/x.go": "not loaded",
	})
	e := MustNew(t, opa.Options{Bundle: dir})
	_, rev1 := e.Bundle()

	MustWriteFiles(t, dir, map[string]string{"lists/a.json": `{"k": [1, 2, 3]}`})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	_, rev2 := e.Bundle()
	if rev2 == rev1 {
		t.Errorf("revision unchanged (%s) after a data file changed", rev1)
	}

	// Files the engine does not load do not count.
	MustWriteFiles(t, dir, map[string]string{
		"README.md":                  "docs",
		"policy_test.rego":           "package weightgate_test\n\ntest_x if true\n",
		"examples/ext/policy.rego":   "package weightgate.extensions.ext\n",
		".git/objects/whatever.json": "{}",
	})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, rev3 := e.Bundle(); rev3 != rev2 {
		t.Errorf("revision %s -> %s after adding files that are not loaded", rev2, rev3)
	}

	// Extensions count.
	ext := MustWriteBundle(t, map[string]string{"e.rego": "package weightgate.extensions.e\n\ndeny := set()\n"})
	_, rev4 := MustNew(t, opa.Options{Bundle: dir, Extensions: []string{ext}}).Bundle()
	if rev4 == rev2 {
		t.Errorf("revision with an extension = revision without (%s)", rev4)
	}
}

func TestNew_RejectsExtensionOutsideNamespace(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"base package", map[string]string{"x.rego": "package weightgate\n\nallow := true\n"}},
		{"other package", map[string]string{"x.rego": "package acme\n\ndeny contains \"x\"\n"}},
		{"extensions root", map[string]string{"x.rego": "package weightgate.extensions\n\ndeny contains {\"code\": \"x\"}\n"}},
		{"nested package", map[string]string{"x.rego": "package weightgate.extensions.acme.sub\n\ndeny contains {\"code\": \"x\"}\n"}},
		{"data outside", map[string]string{"data.json": `{"weightgate": {"ai_diffusion": {"tier1_including_us": ["CN"]}}}`}},
		{"data beside", map[string]string{"data.json": `{"weightgate": {"extensions": {"a": {}}, "bundle": {"name": "evil"}}}`}},
		{"data in a directory", map[string]string{"weightgate/data.json": `{"ai_diffusion": {}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ext := MustWriteBundle(t, tt.files)
			_, err := opa.New(context.Background(), opa.Options{Extensions: []string{ext}})
			if !errors.Is(err, opa.ErrExtensionNamespace) {
				t.Fatalf("New error = %v, want ErrExtensionNamespace", err)
			}
		})
	}

	t.Run("on Reload too", func(t *testing.T) {
		ext := MustWriteBundle(t, map[string]string{"x.rego": "package weightgate.extensions.x\n\ndeny := set()\n"})
		e := MustNew(t, opa.Options{Extensions: []string{ext}})
		_, rev := e.Bundle()
		MustWriteFiles(t, ext, map[string]string{"y.rego": "package weightgate\n\nextra := 1\n"})
		if err := e.Reload(context.Background()); !errors.Is(err, opa.ErrExtensionNamespace) {
			t.Fatalf("Reload error = %v, want ErrExtensionNamespace", err)
		}
		if _, got := e.Bundle(); got != rev {
			t.Errorf("revision changed to %s after a refused Reload", got)
		}
	})
}

func TestEngine_Extension(t *testing.T) {
	ext := MustWriteBundle(t, map[string]string{
		"acme.rego": `package weightgate.extensions.acme

deny contains {"code": "acme_blocked", "reason": "Acme blocks India", "basis": "Acme policy 7"} if {
	input.subject.country == "IN"
}

deny contains {"code": "acme_no_range", "reason": "no ranges", "basis": "Acme policy 8"} if {
	input.request.range != ""
}
`,
		"data.json": `{"weightgate": {"extensions": {"acme": {"note": "data is allowed here"}}}}`,
	})
	e := MustNew(t, opa.Options{Extensions: []string{ext}})

	tests := []struct {
		name      string
		edit      func(in *policy.Input)
		wantAllow bool
		wantCode  string
	}{
		{"no denial keeps the allow", func(in *policy.Input) {}, true, "not_an_export"},
		{"denial turns an allow into a deny", func(in *policy.Input) {
			in.Subject.Country = "IN"
			in.Model.TrainingComputeFLOP, in.Model.ECCN = 1e20, ""
		}, false, "acme_blocked"},
		{"denial wins over open weights", func(in *policy.Input) {
			in.Subject.Country = "IN"
			in.Model.Weights = "open"
		}, false, "acme_blocked"},
		{"first denial by code", func(in *policy.Input) {
			in.Subject.Country = "IN"
			in.Model.Weights = "open"
			in.Request.Range = "bytes=0-1"
		}, false, "acme_blocked"},
		{"base denial keeps its code", func(in *policy.Input) {
			in.Subject.Country = "IN"
		}, false, "license_required"},
		{"anonymous keeps authentication_required", func(in *policy.Input) {
			in.Subject = policy.Subject{Anonymous: true}
			in.Request.Range = "bytes=0-1"
		}, false, "authentication_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := closedInput()
			tt.edit(&in)
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Allow, tt.wantAllow; got != want {
				t.Errorf("Allow = %v, want %v (%+v)", got, want, d)
			}
			if got, want := d.Code, tt.wantCode; got != want {
				t.Errorf("Code = %q, want %q (%+v)", got, want, d)
			}
		})
	}
}

func TestEngine_ExampleExtension(t *testing.T) {
	e := MustNew(t, opa.Options{Extensions: []string{"../../rego/examples/employees_only"}})
	in := closedInput()
	in.Subject.Entity = policy.Entity{ID: "frontier-lab", HQ: "US", ParentHQ: "US"}
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Code, "not_an_export"; got != want {
		t.Errorf("employee: Code = %q, want %q", got, want)
	}

	in.Subject.Entity.ID = "acme"
	if d, err = e.Decide(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if got, want := d.Code, "employees_only"; got != want || d.Allow {
		t.Errorf("non-employee: %+v, want a deny with code %q", d, want)
	}
}

// Decide runs from many goroutines while Reload swaps between two bundles;
// every decision must come whole from one of them. Run with -race.
func TestEngine_ConcurrentDecideAndReload(t *testing.T) {
	ctx := context.Background()
	dir := MustWriteBundle(t, map[string]string{"policy.rego": goodModule("a")})
	e := MustNew(t, opa.Options{Bundle: dir})
	_, revA := e.Bundle()
	MustWriteFiles(t, dir, map[string]string{"policy.rego": goodModule("b")})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	_, revB := e.Bundle()
	codeOf := map[string]string{revA: "a", revB: "b"}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				d, err := e.Decide(ctx, closedInput())
				if err != nil {
					errs <- err
					return
				}
				if want, ok := codeOf[d.Revision]; !ok || d.Code != want {
					errs <- errors.New("decision " + d.Code + " from revision " + d.Revision)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		code := "a"
		if i%2 == 1 {
			code = "b"
		}
		MustWriteFiles(t, dir, map[string]string{"policy.rego": goodModule(code)})
		if err := e.Reload(ctx); err != nil {
			t.Error(err)
		}
		_ = e.Reload(ctx) // concurrent reloads are serialised
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRunTests(t *testing.T) {
	bundle := os.DirFS(MustWriteBundle(t, map[string]string{
		"policy.rego": goodModule("x"),
		"policy_test.rego": `package weightgate_test

import data.weightgate

test_passes if weightgate.decision.code == "x"

test_fails if weightgate.decision.code == "y"

test_errors if to_number("nope")
`,
	}))
	results, err := opa.RunTests(context.Background(), bundle)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	lib := 0
	for _, r := range results {
		// The library's own tests run with every bundle: the bundle relies
		// on it. They pass whatever the bundle.
		if strings.HasPrefix(r.Name, "data.weightgate.lib_test.") {
			if lib++; !r.Pass() {
				t.Errorf("library test %s", r)
			}
			continue
		}
		switch {
		case r.Pass():
			got[r.Name] = "pass"
		case r.Err != nil:
			got[r.Name] = "error"
		case r.Fail:
			got[r.Name] = "fail"
		}
	}
	want := map[string]string{
		"data.weightgate_test.test_passes": "pass",
		"data.weightgate_test.test_fails":  "fail",
		"data.weightgate_test.test_errors": "error",
	}
	if len(got) != len(want) || lib == 0 {
		t.Errorf("results = %v and %d library tests, want %v and the library's", got, lib, want)
	}
	for name, w := range want {
		if g := got[name]; g != w {
			t.Errorf("%s: %q, want %q", name, g, w)
		}
	}
	// A failing test is reported with its file and line.
	for _, r := range results {
		if r.Name == "data.weightgate_test.test_fails" && !strings.HasSuffix(r.Location, "policy_test.rego:7") {
			t.Errorf("test_fails at %q, want policy_test.rego:7", r.Location)
		}
	}
}

// BenchmarkDecide measures one decision through the embedded default bundle,
// input construction included (Decide builds the input value): an AIA allow
// to a Tier 1 location for a U.S. entity, a plain Tier 1 allow (a U.S.
// person, no entity), an open-weights allow (the shortest path), the denials
// for a country of concern, an embargoed location and a restricted-party
// screening hit, and, with the operator registry of testdata/registry, a
// BIS-licence allow. Besides ns/op it reports the median and 99th percentile
// of the individual calls (p50-ns, p99-ns). Each evaluates; "remembered" is
// the aia request answered from the decision cache.
func BenchmarkDecide(b *testing.B) {
	// Every call evaluates: the decision cache would answer a repeated
	// input from memory (the "remembered" case measures that).
	e := MustNew(b, opa.Options{DecisionCache: -1})
	withRegistry := MustNew(b, opa.Options{Registry: filepath.Join("..", "..", "testdata", "registry"), DecisionCache: -1})
	cached := MustNew(b, opa.Options{})
	aia := closedInput()
	aia.Subject.Country = "GB"
	aia.Subject.Entity = policy.Entity{Name: "Acme", ID: "acme", HQ: "US", ParentHQ: "US"}
	aia.Subject.Claims = map[string]any{"sub": "alice", "groups": []any{"ml", "eng"}, "exp": 1.7e9}
	open := aia
	open.Model.Weights = "open"
	concern := aia
	concern.Subject.Country = "CN"
	tier1 := closedInput()
	embargoed := aia
	embargoed.Subject.Country = "IR"
	restricted := aia
	restricted.Subject.Screening = policy.Screening{Status: policy.ScreeningHit,
		List: "Entity List (EL) - Bureau of Industry and Security", Entry: "el-1234",
		Name: "ACME", Field: "entity.name", Score: 0.97}
	licensed := aia
	licensed.Subject.Country = "IN"
	licensed.Subject.Nationality = []string{"IN"}
	licensed.Subject.Entity = policy.Entity{Name: "Acme Research India", ID: "acme-india", HQ: "IN", ParentHQ: "IN"}

	for _, bc := range []struct {
		name string
		e    *opa.Engine
		in   policy.Input
		code string
	}{
		{"aia", e, aia, "license_exception_aia"},
		{"tier1", e, tier1, "not_an_export"}, // a U.S. person in the United States
		{"open", e, open, "open_weights"},
		{"concern", e, concern, "country_of_concern"},
		{"embargoed", e, embargoed, "embargoed_destination"},
		{"restricted", e, restricted, "restricted_party"},
		{"licensed", withRegistry, licensed, "licensed"},
		{"remembered", cached, aia, "license_exception_aia"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			// The latency of each call, in a ring allocated before the
			// timer starts: the percentiles are over the last len(lat)
			// calls.
			lat := make([]time.Duration, 1<<20)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				d, err := bc.e.Decide(ctx, bc.in)
				lat[n%len(lat)] = time.Since(start)
				n++
				if err != nil || d.Code != bc.code {
					b.Fatalf("Decide = %+v, %v", d, err)
				}
			}
			b.StopTimer()
			lat = lat[:min(n, len(lat))]
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*50/100]), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
		})
	}
}
