package screening

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/weightgate/weightgate/config"
)

// Config is the screening section of the configuration file. No lists:
// screening is off (subject.screening.status "off").
type Config struct {
	Lists []ListFile `yaml:"lists"`
	// A name scoring HitThreshold or more is a hit; ReviewThreshold or
	// more, a near miss to review.
	HitThreshold    float64 `yaml:"hit_threshold"`
	ReviewThreshold float64 `yaml:"review_threshold"`
	// ReloadInterval rereads the lists on a schedule; 0 only on SIGHUP.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// OpenWeights is "allow" (open weights go to anyone, hit or not) or
	// "deny" (a hit or near miss refuses them too). The policy reads it as
	// the setting screening_open_weights.
	OpenWeights string `yaml:"open_weights"`
}

// DefaultConfig is the section's value for every key a file omits.
func DefaultConfig() Config {
	return Config{HitThreshold: DefaultHitThreshold, ReviewThreshold: DefaultReviewThreshold, OpenWeights: "allow"}
}

// Options are the index options c sets.
func (c Config) Options() Options {
	return Options{HitThreshold: c.HitThreshold, ReviewThreshold: c.ReviewThreshold}
}

// Validate returns c's problems, each named under section ("screening").
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	names := map[string]bool{}
	for i, l := range c.Lists {
		field := fmt.Sprintf("%s.lists[%d]", section, i)
		if l.Name == "" {
			p.Addf(field+".name", "", "required")
		} else if names[l.Name] {
			p.Addf(field+".name", l.Name, "another list has this name")
		}
		names[l.Name] = true
		if ext := strings.ToLower(filepath.Ext(l.Path)); ext != ".csv" && ext != ".json" {
			p.Addf(field+".path", l.Path, "must be a .csv or .json file in the Consolidated Screening List's format")
		}
	}
	// An empty index is built only to check the thresholds as NewIndex will.
	if _, err := NewIndex(nil, c.Options()); err != nil {
		p.Addf(section+".hit_threshold", []float64{c.HitThreshold, c.ReviewThreshold}, "%v", err)
	}
	if c.ReloadInterval < 0 {
		p.Addf(section+".reload_interval", c.ReloadInterval, "must be 0 (reload on SIGHUP only) or positive")
	}
	if v := c.OpenWeights; v != "allow" && v != "deny" {
		p.Addf(section+".open_weights", v, "must be allow or deny")
	}
	return p
}
