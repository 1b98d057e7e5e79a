package opa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy/opa"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	registry := t.TempDir()
	tests := []struct {
		name   string
		edit   func(c *opa.Config)
		fields []string // the problems' fields, in order; none: valid
	}{
		{"default", func(*opa.Config) {}, nil},
		{"registry directory", func(c *opa.Config) { c.Registry = registry }, nil},
		{"regimes", func(c *opa.Config) {
			c.Regimes = []opa.RegimeConfig{{Bundle: "ai-diffusion-2025"}, {Bundle: "embargo-only", Effective: "2027-01-01"}}
		}, nil},
		{"bundle and regimes", func(c *opa.Config) {
			c.Bundle, c.Regimes = "embargo-only", []opa.RegimeConfig{{Bundle: "embargo-only"}}
		}, []string{"policy.regimes"}},
		{"regime without bundle, bad date", func(c *opa.Config) {
			c.Regimes = []opa.RegimeConfig{{Effective: "next tuesday"}}
		}, []string{"policy.regimes[0].bundle", "policy.regimes[0].effective"}},
		{"negative cache", func(c *opa.Config) { c.DecisionCache = -1 }, []string{"policy.decision_cache"}},
		{"missing registry", func(c *opa.Config) { c.Registry = registry + "/nope" }, []string{"policy.registry"}},
		{"negative frontier", func(c *opa.Config) { c.OpenFrontierFLOP = -1 }, []string{"policy.open_frontier_flop"}},
		{"both frontiers", func(c *opa.Config) {
			c.OpenFrontierFLOP, c.OpenFrontierFromCatalog = 1e26, true
		}, []string{"policy.open_frontier_flop"}},
	}
	for _, tt := range tests {
		c := opa.DefaultConfig()
		tt.edit(&c)
		var got []string
		for _, p := range c.Validate("policy") {
			got = append(got, p.Field)
		}
		if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%s: problems %v, want %v", tt.name, got, tt.fields)
		}
	}
}

func TestConfigOptions(t *testing.T) {
	t.Parallel()
	c := opa.DefaultConfig()
	opts, err := c.Options(map[string]string{"location_unknown": "deny"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.DecisionCache != opa.DefaultDecisionCache || opts.Settings["location_unknown"] != "deny" {
		t.Errorf("default Options = %+v", opts)
	}
	c.DecisionCache = 0
	c.Regimes = []opa.RegimeConfig{{Bundle: "ai-diffusion-2025"}, {Bundle: "embargo-only", Effective: "2027-01-01"}}
	if opts, err = c.Options(nil, nil); err != nil {
		t.Fatal(err)
	}
	if opts.DecisionCache >= 0 {
		t.Errorf("decision_cache 0: DecisionCache %d, want it off (negative)", opts.DecisionCache)
	}
	want := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if len(opts.Regimes) != 2 || opts.Regimes[0].Bundle != "ai-diffusion-2025" || !opts.Regimes[0].Effective.IsZero() ||
		opts.Regimes[1].Bundle != "embargo-only" || !opts.Regimes[1].Effective.Equal(want) {
		t.Errorf("Regimes = %+v", opts.Regimes)
	}
	c.Regimes[1].Effective = "never"
	if _, err := c.Options(nil, nil); err == nil {
		t.Error("Options with a bad effective date: nil error")
	}
}
