package console

import (
	"time"

	"github.com/weightgate/weightgate/config"
)

// Defaults of the console section.
const (
	DefaultRoleClaim  = "roles"
	DefaultRole       = "weightgate-auditor"
	DefaultSessionTTL = 8 * time.Hour
	// MaxSessionTTL bounds a session: a signed-in browser left open is
	// asked for a token again at least once a day.
	MaxSessionTTL = 24 * time.Hour
)

// Config is the console section of the configuration file.
type Config struct {
	// Enabled serves the console at /console/ on the admin listener.
	Enabled bool `yaml:"enabled"`
	// RoleClaim is the token claim that lists the requester's roles (a
	// string or a list of strings), and Role the one that makes them an
	// auditor.
	RoleClaim string `yaml:"role_claim"`
	Role      string `yaml:"role"`
	// Public serves the console on the public (Hub API) listener too.
	Public bool `yaml:"public"`
	// SessionTTL is how long a token-paste sign-in lasts (never beyond the
	// token's own expiry).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// SessionKeyFile holds the key that signs session cookies (at least 32
	// bytes). Empty: a random key at each start, so a restart signs
	// everyone out, and several gateways behind one name do not share
	// sessions.
	SessionKeyFile string `yaml:"session_key_file"`
	// IndexFile is the audit index the console reads (SQLite, derived
	// from the trails and rebuilt from them when deleted). Empty: beside
	// audit.dir, as <audit.dir>.index.db; never inside it, which holds
	// the record and nothing else.
	IndexFile string `yaml:"index_file"`
	// ProposedPolicy is the bundle (a built-in name or a directory) a
	// decision is replayed under on its detail page; empty: the policy in
	// force.
	ProposedPolicy string `yaml:"proposed_policy"`
}

// DefaultConfig is the console section as shipped: off.
func DefaultConfig() Config {
	return Config{RoleClaim: DefaultRoleClaim, Role: DefaultRole, SessionTTL: DefaultSessionTTL}
}

// Validate reports every invalid setting, under section (the key the
// section is written under).
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	if c.RoleClaim == "" {
		p.Addf(section+".role_claim", c.RoleClaim, "must name a claim")
	}
	if c.Role == "" {
		p.Addf(section+".role", c.Role, "must name a role")
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > MaxSessionTTL {
		p.Addf(section+".session_ttl", c.SessionTTL, "must be between 1m and %s", MaxSessionTTL)
	}
	if c.Public && !c.Enabled {
		p.Addf(section+".public", c.Public, "needs %s.enabled", section)
	}
	return p
}
