package catalog

import (
	"fmt"
	"time"

	"github.com/weightgate/weightgate/config"
)

// CacheConfig is the metadata section of the configuration file: how many
// models' metadata a Catalog keeps, and for how long.
type CacheConfig struct {
	CacheSize int           `yaml:"cache_size"`
	CacheTTL  time.Duration `yaml:"cache_ttl"`
	// ListingCacheMiB bounds the listing-page cache of a remote store
	// (pages.go); 0 turns it off.
	ListingCacheMiB int `yaml:"listing_cache_mib"`
}

// The metadata cache's defaults.
const (
	DefaultCacheSize = 1024
	DefaultCacheTTL  = 30 * time.Second
	// MaxListingCacheMiB is the largest metadata.listing_cache_mib: the
	// gateway's memory is stated for the default, and a cache past this
	// is more than a 100,000-model catalog's whole listing.
	MaxListingCacheMiB = 1024
)

// DefaultCacheConfig is the section's value for every key a file omits.
func DefaultCacheConfig() CacheConfig {
	return CacheConfig{CacheSize: DefaultCacheSize, CacheTTL: DefaultCacheTTL, ListingCacheMiB: DefaultListingCacheBytes >> 20}
}

// Validate returns c's problems, each named under section ("metadata").
func (c CacheConfig) Validate(section string) config.Problems {
	var p config.Problems
	if c.CacheSize < 1 {
		p.Addf(section+".cache_size", c.CacheSize, "must be at least 1")
	}
	if c.CacheTTL <= 0 {
		p.Addf(section+".cache_ttl", c.CacheTTL, "must be positive")
	}
	if c.ListingCacheMiB < 0 || c.ListingCacheMiB > MaxListingCacheMiB {
		p.Addf(section+".listing_cache_mib", c.ListingCacheMiB, "must be from 0 (off) to %d", MaxListingCacheMiB)
	}
	return p
}

// Config is the catalog section of the configuration file.
type Config struct {
	// ClassificationKeys are PEM files of the compliance team's Ed25519
	// public keys: an export.yaml counts only when one of them signed it
	// (LoadClassificationKeys, Catalog.SetClassificationKeys).
	ClassificationKeys []string `yaml:"classification_keys"`
}

// Validate returns c's problems, each named under section ("catalog"). The
// keys themselves are read when the catalog is built.
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	for i, k := range c.ClassificationKeys {
		if k == "" {
			p.Addf(fmt.Sprintf("%s.classification_keys[%d]", section, i), k, "must be a PEM file's path")
		}
	}
	return p
}
