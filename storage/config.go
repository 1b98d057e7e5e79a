package storage

import (
	"os"
	"strings"
	"time"

	"github.com/weightgate/weightgate/config"
)

// Config is the storage section of the configuration file: which backend
// serves the models, and its settings.
type Config struct {
	Backend string    `yaml:"backend"` // dir | s3
	Dir     DirConfig `yaml:"dir"`
	S3      S3Config  `yaml:"s3"`
}

// DirConfig is the dir backend (storage/dir): the model layout on a local
// directory.
type DirConfig struct {
	Path string `yaml:"path"`
}

// S3Config is the s3 backend (storage/s3). Credentials come from the
// environment only: WEIGHTGATE_S3_ACCESS_KEY and WEIGHTGATE_S3_SECRET_KEY,
// else the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
// MINIO_ACCESS_KEY / MINIO_SECRET_KEY, or the AWS shared credentials file.
type S3Config struct {
	Endpoint   string        `yaml:"endpoint"` // host:port
	TLS        bool          `yaml:"tls"`
	Bucket     string        `yaml:"bucket"`
	Prefix     string        `yaml:"prefix"`
	Region     string        `yaml:"region"`
	Timeout    time.Duration `yaml:"timeout"`
	MaxRetries int           `yaml:"max_retries"`
}

// The s3 backend's defaults.
const (
	DefaultS3Timeout = 30 * time.Second
	DefaultS3Retries = 2
)

// DefaultConfig is the section's value for every key a file omits.
func DefaultConfig() Config {
	return Config{Backend: "dir", S3: S3Config{Region: "us-east-1", Timeout: DefaultS3Timeout, MaxRetries: DefaultS3Retries}}
}

// Validate returns c's problems, each named under section ("storage").
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	switch c.Backend {
	case "dir":
		if c.Dir.Path == "" {
			p.Addf(section+".dir.path", "", "required for the dir backend")
		} else if fi, err := os.Stat(c.Dir.Path); err != nil || !fi.IsDir() {
			p.Addf(section+".dir.path", c.Dir.Path, "must be an existing directory")
		}
	case "s3":
		s := c.S3
		if s.Endpoint == "" || strings.Contains(s.Endpoint, "://") {
			p.Addf(section+".s3.endpoint", s.Endpoint, "required, as host:port without a scheme (use tls: true for https)")
		}
		if s.Bucket == "" {
			p.Addf(section+".s3.bucket", s.Bucket, "required")
		}
		if s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/") {
			p.Addf(section+".s3.prefix", s.Prefix, `must end with "/"`)
		}
		if s.Timeout <= 0 {
			p.Addf(section+".s3.timeout", s.Timeout, "must be positive")
		}
		if s.MaxRetries < 1 {
			p.Addf(section+".s3.max_retries", s.MaxRetries, "must be at least 1 (1 = no retry)")
		}
	default:
		p.Addf(section+".backend", c.Backend, "must be dir or s3")
	}
	return p
}
