package opa_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
)

// regimeBundle is a bundle named name, in effect from effective ("" = no
// date), whose every decision allows with code name.
func regimeBundle(tb testing.TB, name, effective string) string {
	tb.Helper()
	meta := `{"weightgate": {"bundle": {"name": "` + name + `", "version": "1.2.3"`
	if effective != "" {
		meta += `, "effective_date": "` + effective + `"`
	}
	meta += "}}}"
	return MustWriteBundle(tb, map[string]string{
		"policy.rego": "package weightgate\n\ndecision := {\"allow\": true, \"code\": \"" + strings.ReplaceAll(name, "-", "_") + "\"}\n",
		"bundle.json": meta,
	})
}

func at(in policy.Input, t string) policy.Input {
	in.Request.Time = t
	return in
}

func TestEngine_Regimes_SwitchAtEffectiveDate(t *testing.T) {
	e := MustNew(t, opa.Options{Regimes: []opa.Regime{
		{Bundle: regimeBundle(t, "later", "2027-01-01")},
		{Bundle: regimeBundle(t, "earlier", "2025-01-13")},
		{Bundle: regimeBundle(t, "override", "2020-01-01"), Effective: time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)},
	}})
	tests := []struct {
		time, code string // code "" = policy_error: no regime in effect
	}{
		{"2025-01-12T23:59:59Z", ""},
		{"2025-01-13T00:00:00Z", "earlier"},
		{"2026-12-31T23:59:59Z", "earlier"},
		{"2027-01-01T00:00:00Z", "later"},
		// An effective date in the configuration wins over the bundle's.
		{"2027-06-01T11:59:59Z", "later"},
		{"2027-06-01T12:00:00Z", "override"},
		{"2027-06-01T14:00:00+02:00", "override"},
		{"not a time", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.time, func(t *testing.T) {
			d, err := e.Decide(context.Background(), at(closedInput(), tt.time))
			if tt.code == "" {
				if err == nil || d.Allow || d.Code != policy.CodePolicyError {
					t.Errorf("Decide = %+v, %v; want a policy_error", d, err)
				}
				return
			}
			if err != nil || !d.Allow || d.Code != tt.code || d.Bundle != tt.code || d.Version != "1.2.3" || len(d.Revision) != 64 {
				t.Errorf("Decide = %+v, %v; want regime %s, version 1.2.3", d, err, tt.code)
			}
		})
	}
	infos := e.Regimes()
	if len(infos) != 3 || infos[0].Name != "earlier" || infos[1].Name != "later" || infos[2].Name != "override" {
		t.Errorf("Regimes = %+v, want earlier, later, override", infos)
	}
}

func TestEngine_BuiltInBundles(t *testing.T) {
	for _, name := range []string{"ai-diffusion-2025", "embargo-only"} {
		t.Run(name, func(t *testing.T) {
			e := MustNew(t, opa.Options{Bundle: name})
			infos := e.Regimes()
			if len(infos) != 1 || infos[0].Name != name || infos[0].Version == "" || infos[0].Effective.IsZero() {
				t.Fatalf("Regimes = %+v; want %s with a version and an effective date", infos, name)
			}
			d, err := e.Decide(context.Background(), closedInput())
			if err != nil || d.Bundle != name || d.Code == "" {
				t.Errorf("Decide = %+v, %v", d, err)
			}
		})
	}
	// Both built-ins as a schedule: the codified rule, then the
	// non-enforcement posture from 13 May 2025.
	e := MustNew(t, opa.Options{Regimes: []opa.Regime{{Bundle: "ai-diffusion-2025"}, {Bundle: "embargo-only"}}})
	cn := closedInput()
	cn.Subject.Country, cn.Subject.Nationality = "CN", []string{"CN"}
	for when, want := range map[string]string{"2025-05-12T23:59:59Z": "ai-diffusion-2025", "2025-05-13T00:00:00Z": "embargo-only"} {
		d, err := e.Decide(context.Background(), at(cn, when))
		if err != nil || d.Bundle != want {
			t.Errorf("at %s: Decide = %+v, %v; want regime %s", when, d, err, want)
		}
	}
}

func TestNew_RejectsBadRegimes(t *testing.T) {
	tests := []struct {
		name string
		opts opa.Options
		want string
	}{
		{"unknown built-in", opa.Options{Bundle: "no-such-regime"}, "neither a built-in bundle"},
		{"same effective date", opa.Options{Regimes: []opa.Regime{
			{Bundle: regimeBundle(t, "a", "2026-01-01")}, {Bundle: regimeBundle(t, "b", "2026-01-01T00:00:00Z")},
		}}, "take effect at the same time"},
		{"malformed effective date", opa.Options{Bundle: regimeBundle(t, "a", "1 May 2026")}, "effective_date"},
		{"bundle defines the library", opa.Options{Bundle: MustWriteBundle(t, map[string]string{
			"policy.rego": "package weightgate\n\ndecision := {\"allow\": false, \"code\": \"x\"}\n",
			"lib.rego":    "package weightgate.lib\n\nwith_extensions(base) := {\"allow\": true, \"code\": \"hijack\"}\n",
		})}, "reserved for weightgate's library"},
		{"bundle of library only", opa.Options{Bundle: MustWriteBundle(t, map[string]string{"data.json": "{}"})}, "no Rego modules"},
		{"registry with Rego", opa.Options{Registry: MustWriteBundle(t, map[string]string{
			"licences.json": "[]", "grant.rego": "package weightgate.registry\n",
		})}, "a registry holds JSON data only"},
		{"registry with bad JSON", opa.Options{Registry: MustWriteBundle(t, map[string]string{"licences.json": "[{"})}, "licences.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := opa.New(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, %v; want an error containing %q", e, err, tt.want)
			}
		})
	}
}

// A registry file is data.weightgate.registry.<name>; files in
// subdirectories are not registries; the registry is part of the revision.
func TestEngine_Registry(t *testing.T) {
	reg := MustWriteBundle(t, map[string]string{
		"licences.json":    `[{"id": "L1"}]`,
		"old/ignored.json": `[{"id": "old"}]`,
		"README.md":        "not data",
	})
	bundle := MustWriteBundle(t, map[string]string{
		"policy.rego": `package weightgate

decision := {"allow": true, "code": concat("+", ids)}

ids := [id | some name, r in data.weightgate.registry; some l in r; id := sprintf("%s:%s", [name, l.id])]
`,
	})
	e := MustNew(t, opa.Options{Bundle: bundle, Registry: reg})
	d, err := e.Decide(context.Background(), closedInput())
	if err != nil || d.Code != "licences:L1" {
		t.Errorf("Decide = %+v, %v; want code licences:L1 from licences.json alone", d, err)
	}
	_, rev := e.Bundle()
	MustWriteFiles(t, reg, map[string]string{"licences.json": `[{"id": "L2"}]`})
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, rev2 := e.Bundle()
	if d, _ := e.Decide(context.Background(), closedInput()); d.Code != "licences:L2" || rev2 == rev {
		t.Errorf("after editing the registry: code %s, revision changed %v; want L2 and a new revision", d.Code, rev2 != rev)
	}
}

func TestParseEffective(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2025-05-13":                time.Date(2025, 5, 13, 0, 0, 0, 0, time.UTC),
		"2025-05-13T10:00:00+02:00": time.Date(2025, 5, 13, 8, 0, 0, 0, time.UTC),
	} {
		if got, err := opa.ParseEffective(in); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseEffective(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2025-13-01", "13/05/2025", "2025-05-13 10:00"} {
		if _, err := opa.ParseEffective(in); err == nil {
			t.Errorf("ParseEffective(%q) = nil error", in)
		}
	}
}
