package geo

import "github.com/weightgate/weightgate/config"

// Config is the location section of the configuration file: where the
// client address comes from and which country it is in.
type Config struct {
	// Database is a MaxMind-format country database (.mmdb); "" = none, so
	// every address's country is unknown.
	Database string `yaml:"database"`
	// TrustedProxies are the peers (CIDR or address) whose X-Forwarded-For
	// and Forwarded headers are believed; from anyone else they are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TrustedNetworks are corporate or VPN ranges exempt from the
	// cross-check.
	TrustedNetworks []string `yaml:"trusted_networks"`
	// Unknown is "allow" or "deny": what an address of unknown country
	// (private, loopback, not in the database) gets for controlled
	// releases. The policy reads it as the setting location_unknown.
	Unknown string `yaml:"unknown"`
}

// DefaultConfig is the section's value for every key a file omits.
func DefaultConfig() Config { return Config{Unknown: "allow"} }

// Validate returns c's problems, each named under section ("location").
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	if v := c.Unknown; v != "allow" && v != "deny" {
		p.Addf(section+".unknown", v, "must be allow or deny")
	} else if v == "deny" && c.Database == "" {
		p.Addf(section+".unknown", v, "deny needs %s.database: without one every address is unknown", section)
	}
	if _, err := ParsePrefixes(c.TrustedProxies); err != nil {
		p.Addf(section+".trusted_proxies", c.TrustedProxies, "%v", err)
	}
	if _, err := ParsePrefixes(c.TrustedNetworks); err != nil {
		p.Addf(section+".trusted_networks", c.TrustedNetworks, "%v", err)
	}
	return p
}
