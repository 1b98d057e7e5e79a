package gateway

import (
	"net"
	"strings"
	"time"

	"github.com/weightgate/weightgate/config"
)

// S3Config is the s3 section of the configuration file: the read-only
// S3-compatible API, a second listener serving the catalog as one bucket
// (keys ORG/NAME/PATH), with AWS Signature V4 against temporary credentials
// its STS endpoint (AssumeRoleWithWebIdentity) exchanges for a verified JWT.
// The caller turns it into S3Options, with the credential issuer.
type S3Config struct {
	Listen string `yaml:"listen"` // "" = no S3 API
	Bucket string `yaml:"bucket"`
	Region string `yaml:"region"`
	// CredentialsKey is a file holding the key (at least 32 bytes) that
	// signs the temporary credentials, so that they survive a restart and
	// are valid on every replica sharing it; "" = a random key per start.
	CredentialsKey string `yaml:"credentials_key"`
	// MaxSession bounds a credential's lifetime; it never outlives the
	// token it was exchanged for.
	MaxSession time.Duration `yaml:"max_session"`
	// ClockSkew is how far a signed request's date may be from the
	// gateway's clock.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// Anonymous lets unsigned requests through as anonymous requesters
	// (the policy then allows open weights only).
	Anonymous bool `yaml:"anonymous"`
	// BucketCreated is the creation date ListBuckets reports for the
	// bucket (S3 tools show it); zero = the gateway's start.
	BucketCreated time.Time `yaml:"bucket_created"`
}

// DefaultS3Config is the section's value for every key a file omits.
func DefaultS3Config() S3Config {
	return S3Config{Bucket: "models", Region: "us-east-1", MaxSession: 12 * time.Hour, ClockSkew: 15 * time.Minute, Anonymous: true}
}

// Validate returns c's problems, each named under section ("s3"). A section
// with no listen address serves nothing and is not checked further.
func (c S3Config) Validate(section string) config.Problems {
	var p config.Problems
	if c.Listen == "" {
		return p
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.Addf(section+".listen", c.Listen, `must be host:port, or "" for no S3 API`)
	}
	switch {
	case !validBucketName(c.Bucket):
		p.Addf(section+".bucket", c.Bucket, "must be an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens")
	case isHealthPath("/" + c.Bucket):
		// The S3 listener answers /healthz and /readyz itself, for load
		// balancers; a bucket of that name would be unreachable.
		p.Addf(section+".bucket", c.Bucket, "is reserved: the S3 listener serves /healthz and /readyz")
	}
	if c.Region == "" {
		p.Addf(section+".region", c.Region, "required")
	}
	if c.MaxSession < 15*time.Minute || c.MaxSession > 7*24*time.Hour {
		p.Addf(section+".max_session", c.MaxSession, "must be between 15m and 168h")
	}
	if c.ClockSkew <= 0 || c.ClockSkew > time.Hour {
		p.Addf(section+".clock_skew", c.ClockSkew, "must be positive and at most 1h")
	}
	return p
}

// validBucketName is S3's rule for new bucket names.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '.' || b[0] == '-' || b[len(b)-1] == '.' || b[len(b)-1] == '-' {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return !strings.Contains(b, "..")
}
