package opa

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/weightgate/weightgate/config"
)

// Config is the policy section of the configuration file: the bundle or
// schedule of regimes, the operator's registries and extensions, the
// open-weight frontier and the decision cache.
type Config struct {
	// Bundle is a built-in bundle's name or a directory; "" = the default.
	Bundle string `yaml:"bundle"`
	// Regimes, instead of Bundle: each decision is made by the regime in
	// effect at its time.
	Regimes    []RegimeConfig `yaml:"regimes"`
	Registry   string         `yaml:"registry"`   // directory of licences.json, veu.json, ...; "" = none
	Extensions []string       `yaml:"extensions"` // directories of modules that can only add denials
	// OpenFrontierFLOP, when positive, is the open-weight frontier;
	// OpenFrontierFromCatalog computes it from the catalog instead (the
	// catalog applies them: catalog.Frontier).
	OpenFrontierFLOP        float64 `yaml:"open_frontier_flop"`
	OpenFrontierFromCatalog bool    `yaml:"open_frontier_from_catalog"`
	// DecisionCache is how many decisions each regime remembers, keyed by
	// what of the input its policy reads, and how many answers of its
	// visible rule for listings; 0 turns both caches off.
	DecisionCache int `yaml:"decision_cache"`
	// LicenceCounts is the file the gateway counts releases under capped
	// licences in (its directory must exist); "" keeps no count, and then
	// every release under a capped licence is refused.
	LicenceCounts string `yaml:"licence_counts"`
	// ExpiryWarning is how long before its not_after a licence or an
	// attestation of the registry is reported (/readyz, a metric, check).
	ExpiryWarning time.Duration `yaml:"expiry_warning"`
}

// RegimeConfig is one entry of policy.regimes.
type RegimeConfig struct {
	Bundle string `yaml:"bundle"`
	// Effective overrides the bundle's declared effective_date: YYYY-MM-DD
	// (midnight UTC) or an RFC 3339 time.
	Effective string `yaml:"effective"`
}

// DefaultConfig is the section's value for every key a file omits.
func DefaultConfig() Config {
	return Config{DecisionCache: DefaultDecisionCache, ExpiryWarning: DefaultExpiryWarning}
}

// DefaultExpiryWarning is policy.expiry_warning's default: 30 days.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// Validate returns c's problems, each named under section ("policy").
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	if c.Bundle != "" && len(c.Regimes) > 0 {
		p.Addf(section+".regimes", len(c.Regimes), "set either %[1]s.bundle or %[1]s.regimes, not both", section)
	}
	if c.DecisionCache < 0 {
		p.Addf(section+".decision_cache", c.DecisionCache, "must be 0 (off) or more")
	}
	for i, r := range c.Regimes {
		if r.Bundle == "" {
			p.Addf(fmt.Sprintf("%s.regimes[%d].bundle", section, i), "", "required")
		}
		if r.Effective != "" {
			if _, err := ParseEffective(r.Effective); err != nil {
				p.Addf(fmt.Sprintf("%s.regimes[%d].effective", section, i), r.Effective, "%v", err)
			}
		}
	}
	if d := c.Registry; d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			p.Addf(section+".registry", d, "must be an existing directory")
		}
	}
	if f := c.LicenceCounts; f != "" {
		if fi, err := os.Stat(filepath.Dir(f)); err != nil || !fi.IsDir() {
			p.Addf(section+".licence_counts", f, "its directory must exist")
		} else if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			p.Addf(section+".licence_counts", f, "must be a file, not a directory")
		}
	}
	if c.ExpiryWarning <= 0 {
		p.Addf(section+".expiry_warning", c.ExpiryWarning, "must be a positive duration (720h is 30 days)")
	}
	if f := c.OpenFrontierFLOP; f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		p.Addf(section+".open_frontier_flop", f, "must be a finite number, 0 or more")
	} else if f > 0 && c.OpenFrontierFromCatalog {
		p.Addf(section+".open_frontier_flop", f, "set either %[1]s.open_frontier_flop or %[1]s.open_frontier_from_catalog, not both", section)
	}
	return p
}

// Options are the engine options c describes; settings are the operator's
// switches (Options.Settings) and logger the engine's.
func (c Config) Options(settings map[string]string, logger *slog.Logger) (Options, error) {
	opts := Options{Bundle: c.Bundle, Registry: c.Registry, Extensions: c.Extensions, Settings: settings, Logger: logger,
		DecisionCache: c.DecisionCache}
	if c.DecisionCache == 0 {
		opts.DecisionCache = NoDecisionCache
	}
	for _, r := range c.Regimes {
		reg := Regime{Bundle: r.Bundle}
		if r.Effective != "" {
			t, err := ParseEffective(r.Effective)
			if err != nil {
				return opts, err
			}
			reg.Effective = t
		}
		opts.Regimes = append(opts.Regimes, reg)
	}
	return opts, nil
}
