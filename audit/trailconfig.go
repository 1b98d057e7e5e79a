package audit

import (
	"strings"
	"time"

	"github.com/weightgate/weightgate/config"
)

// TrailConfig is the audit section of the configuration file: where the
// trail is written and how it is committed, checkpointed and mirrored. Open
// takes the Config it describes, built by the caller with the checkpoint key
// and mirror sink it names.
type TrailConfig struct {
	Dir          string           `yaml:"dir"`            // audit-NNNNNN.jsonl files and audit.head
	MaxFileBytes int64            `yaml:"max_file_bytes"` // rotate after this size; old files are never deleted
	GroupCommit  bool             `yaml:"group_commit"`   // one fsync per batch (false: one per record)
	MaxBatch     int              `yaml:"max_batch"`      // records per fsync at most
	Checkpoint   CheckpointConfig `yaml:"checkpoint"`
	Mirror       string           `yaml:"mirror"` // "" | "stdout" | an http(s) URL receiving NDJSON batches
	Anchor       AnchorConfig     `yaml:"anchor"`
}

// AnchorConfig names the anchor: an S3 bucket with Object Lock (COMPLIANCE)
// that receives every signed checkpoint and every sealed file, write-once.
type AnchorConfig struct {
	URL      string `yaml:"url"`      // s3://bucket/prefix; "" = no anchor
	Endpoint string `yaml:"endpoint"` // host:port, no scheme; "" = AWS S3 in region
	Region   string `yaml:"region"`
	// AccessKey and SecretKey; both empty: the standard AWS environment
	// variables.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	TLS       bool   `yaml:"tls"`
	// Instance names this gateway's chain in the anchor; "" = the host name.
	Instance  string        `yaml:"instance"`
	Retention time.Duration `yaml:"retention"` // each object's COMPLIANCE lock
	// Required refuses to start while the anchor cannot be checked, and
	// refuses downloads while it does not take the checkpoints.
	Required bool `yaml:"required"`
}

// DefaultAnchorRetention is five years, as export records must be kept (EAR
// § 762.6).
const DefaultAnchorRetention = 43800 * time.Hour

// CheckpointConfig configures signed checkpoints.
type CheckpointConfig struct {
	Key      string        `yaml:"key"`      // Ed25519 private key (PEM); "" = no checkpoints
	Every    int           `yaml:"every"`    // records between checkpoints
	Interval time.Duration `yaml:"interval"` // and at most this long between them
}

// DefaultDir is where the trail is written when the configuration names no
// directory: relative, so under the configuration file's directory.
const DefaultDir = "var/audit"

// DefaultTrailConfig is the section's value for every key a file omits.
func DefaultTrailConfig() TrailConfig {
	return TrailConfig{Dir: DefaultDir, MaxFileBytes: DefaultMaxFileBytes, GroupCommit: true, MaxBatch: DefaultMaxBatch,
		Checkpoint: CheckpointConfig{Every: DefaultCheckpointEvery, Interval: DefaultCheckpointInterval},
		Anchor:     AnchorConfig{TLS: true, Retention: DefaultAnchorRetention, Region: "us-east-1"}}
}

// Validate returns c's problems, each named under section ("audit").
func (c TrailConfig) Validate(section string) config.Problems {
	var p config.Problems
	if c.Dir == "" {
		p.Addf(section+".dir", "", "required")
	}
	if c.MaxFileBytes < 1<<20 {
		p.Addf(section+".max_file_bytes", c.MaxFileBytes, "must be at least 1 MiB")
	}
	if c.MaxBatch < 1 {
		p.Addf(section+".max_batch", c.MaxBatch, "must be at least 1")
	}
	if c.Checkpoint.Every < 1 {
		p.Addf(section+".checkpoint.every", c.Checkpoint.Every, "must be at least 1")
	}
	if c.Checkpoint.Interval <= 0 {
		p.Addf(section+".checkpoint.interval", c.Checkpoint.Interval, "must be positive")
	}
	if m := c.Mirror; m != "" && m != "stdout" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		p.Addf(section+".mirror", m, `must be "", "stdout" or an http(s) URL`)
	}
	if a := c.Anchor; a.URL != "" {
		if b, _, _ := strings.Cut(strings.TrimPrefix(a.URL, "s3://"), "/"); !strings.HasPrefix(a.URL, "s3://") || b == "" {
			p.Addf(section+".anchor.url", a.URL, "must be s3://bucket/prefix")
		}
		if c.Checkpoint.Key == "" {
			p.Addf(section+".anchor.url", a.URL, "needs %s.checkpoint.key: without signed checkpoints there is nothing to anchor", section)
		}
		if a.Instance != "" && !ValidInstance(a.Instance) {
			p.Addf(section+".anchor.instance", a.Instance, "must be 1 to 64 of [A-Za-z0-9._-]")
		}
		if a.Retention <= 0 {
			p.Addf(section+".anchor.retention", a.Retention, "must be positive")
		}
		if (a.AccessKey == "") != (a.SecretKey == "") {
			p.Addf(section+".anchor.secret_key", "", "access_key and secret_key go together")
		}
	} else if c.Anchor.Required {
		p.Addf(section+".anchor.required", true, "needs %s.anchor.url", section)
	}
	return p
}
