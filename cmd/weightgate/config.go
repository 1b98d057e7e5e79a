package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/config"
	"github.com/weightgate/weightgate/console"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/rego"
	"github.com/weightgate/weightgate/screening"
	"github.com/weightgate/weightgate/storage"
	"github.com/weightgate/weightgate/tlsconf"
)

// Config is weightgate's configuration file: the server's own settings and
// the sections each subsystem owns, with its defaults and checks. Every
// default is set by DefaultConfig from the sections' own; ParseConfig decodes
// on top of it and Validate reports every problem at once.
type Config struct {
	// Dev allows serve to trust the development key, registries and lists
	// shipped under testdata/ (see shippedDevData); without it serve refuses
	// them, so that a copied example cannot reach production unnoticed.
	Dev    bool   `yaml:"dev"`
	Listen string `yaml:"listen"`
	// WriteIdleTimeout cuts off a client that reads nothing of a file for
	// this long; ShutdownTimeout bounds the wait for transfers on shutdown.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	ShutdownTimeout  time.Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes and BodyReadTimeout bound every request body, on both
	// listeners, in size and in the time it may take to arrive.
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	BodyReadTimeout time.Duration `yaml:"body_read_timeout"`
	// MemoryLimitMiB is the Go runtime's soft memory limit for serve (0:
	// none); the environment's GOMEMLIMIT overrides it.
	MemoryLimitMiB int                 `yaml:"memory_limit_mib"`
	Log            LogConfig           `yaml:"log"`
	Storage        storage.Config      `yaml:"storage"`
	Metadata       catalog.CacheConfig `yaml:"metadata"`
	Catalog        catalog.Config      `yaml:"catalog"`
	Auth           identity.Config     `yaml:"auth"`
	Policy         opa.Config          `yaml:"policy"`
	Audit          audit.TrailConfig   `yaml:"audit"`
	Admin          AdminConfig         `yaml:"admin"`
	Metrics        MetricsConfig       `yaml:"metrics"`
	Screening      screening.Config    `yaml:"screening"`
	Location       geo.Config          `yaml:"location"`
	S3             gateway.S3Config    `yaml:"s3"`
	RateLimit      gateway.RateLimit   `yaml:"rate_limit"`
	TLS            tlsconf.Config      `yaml:"tls"`
	Console        console.Config      `yaml:"console"`
}

// policySettings are the switches of the screening and location sections
// the policy reads as data.weightgate.settings.
func (c Config) policySettings() map[string]string {
	return map[string]string{
		"screening_open_weights": c.Screening.OpenWeights,
		"location_unknown":       c.Location.Unknown,
	}
}

// LogConfig selects the operational log's format and level.
type LogConfig struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	Enabled bool `yaml:"enabled"` // serve GET /metrics on the admin listener
}

// AdminConfig configures the operator listener: /metrics, /healthz and
// /readyz, apart from the public ones because the metrics name models.
type AdminConfig struct {
	Listen string `yaml:"listen"` // "" = none
}

// DefaultAdminListen is the operator listener's address by default: this
// machine only.
const DefaultAdminListen = "127.0.0.1:9090"

// DefaultListen is the Hub API's listen address by default: this machine
// only.
const DefaultListen = "127.0.0.1:8080"

// DefaultMemoryLimitMiB is serve's default soft memory limit: what the
// gateway with every cache full at its default bound (a catalog of 100,000
// models or more) needs, with room for requests in flight; measured in
// docs/performance.md.
const DefaultMemoryLimitMiB = 200

// DefaultConfig returns the configuration used for every key a file omits.
func DefaultConfig() Config {
	return Config{
		Listen:           DefaultListen,
		WriteIdleTimeout: gateway.DefaultWriteIdleTimeout,
		ShutdownTimeout:  gateway.DefaultShutdownTimeout,
		MaxBodyBytes:     gateway.DefaultMaxBodyBytes,
		BodyReadTimeout:  gateway.DefaultBodyReadTimeout,
		MemoryLimitMiB:   DefaultMemoryLimitMiB,
		Log:              LogConfig{Format: "text", Level: "info"},
		Storage:          storage.DefaultConfig(),
		Metadata:         catalog.DefaultCacheConfig(),
		Auth:             identity.DefaultConfig(),
		Policy:           opa.DefaultConfig(),
		Audit:            audit.DefaultTrailConfig(),
		Admin:            AdminConfig{Listen: DefaultAdminListen},
		Metrics:          MetricsConfig{Enabled: true},
		Screening:        screening.DefaultConfig(),
		Location:         geo.DefaultConfig(),
		S3:               gateway.DefaultS3Config(),
		RateLimit:        gateway.DefaultRateLimit(),
		TLS:              tlsconf.DefaultConfig(),
		Console:          console.DefaultConfig(),
	}
}

// ReadConfigFile reads and validates the file at path. Relative paths inside
// it are resolved against the file's directory, so the gateway behaves the
// same whatever directory it is started from.
func ReadConfigFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(f, abs)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML over DefaultConfig, rejecting unknown keys,
// resolving relative paths against baseDir and validating the result.
func ParseConfig(r io.Reader, baseDir string) (Config, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Config{}, err
	}
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	// A second document would be silently ignored; settings in it (an
	// issuer, a policy) must not be lost without a word.
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("more than one YAML document")
	}
	cfg.resolvePaths(baseDir)
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (c *Config) resolvePaths(base string) {
	abs := func(p string) string {
		if p == "" || p == "-" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.Storage.Dir.Path = abs(c.Storage.Dir.Path)
	// A built-in bundle's name is not a path; write ./NAME for a directory
	// that happens to share it.
	bundle := func(p string) string {
		if slices.Contains(rego.Bundles(), p) {
			return p
		}
		return abs(p)
	}
	c.Policy.Bundle = bundle(c.Policy.Bundle)
	for i := range c.Policy.Regimes {
		c.Policy.Regimes[i].Bundle = bundle(c.Policy.Regimes[i].Bundle)
	}
	c.Policy.Registry = abs(c.Policy.Registry)
	for i, p := range c.Policy.Extensions {
		c.Policy.Extensions[i] = abs(p)
	}
	c.Audit.Dir = abs(c.Audit.Dir)
	for i, p := range c.Catalog.ClassificationKeys {
		c.Catalog.ClassificationKeys[i] = abs(p)
	}
	for i := range c.Screening.Lists {
		c.Screening.Lists[i].Path = abs(c.Screening.Lists[i].Path)
	}
	c.Location.Database = abs(c.Location.Database)
	c.S3.CredentialsKey = abs(c.S3.CredentialsKey)
	c.Audit.Checkpoint.Key = abs(c.Audit.Checkpoint.Key)
	c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientCA = abs(c.TLS.CertFile), abs(c.TLS.KeyFile), abs(c.TLS.ClientCA)
	c.Console.IndexFile, c.Console.SessionKeyFile = abs(c.Console.IndexFile), abs(c.Console.SessionKeyFile)
	c.Console.ProposedPolicy = bundle(c.Console.ProposedPolicy)
	for i := range c.Auth.Issuers {
		keys := c.Auth.Issuers[i].PublicKeys
		for j, entry := range keys {
			// An entry may be "kid=path".
			if kid, p, ok := strings.Cut(entry, "="); ok && !strings.ContainsAny(kid, `/\`) {
				keys[j] = kid + "=" + abs(p)
			} else {
				keys[j] = abs(entry)
			}
		}
	}
}

// consoleIndexFile is where the console's index lives: console.index_file,
// or beside audit.dir (never inside it: the trail's directory holds the
// record alone, and is what gets copied, anchored and verified).
func (c Config) consoleIndexFile() string {
	if c.Console.IndexFile != "" {
		return c.Console.IndexFile
	}
	return filepath.Clean(c.Audit.Dir) + ".index.db"
}

// sameAddr reports whether two listen addresses are the same fixed one;
// port 0 (any free port, as tests use) never clashes.
func sameAddr(a, b string) bool {
	if a != b {
		return false
	}
	_, port, err := net.SplitHostPort(a)
	return err != nil || port != "0"
}

// Validate reports every invalid setting in one *config.ValidationError:
// the server's own, each section's (checked by the subsystem that owns it),
// and those that span sections.
func (c *Config) Validate() error {
	var p config.Problems
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.Addf("listen", c.Listen, "must be host:port (the Hub API cannot be turned off)")
	}
	if c.WriteIdleTimeout <= 0 {
		p.Addf("write_idle_timeout", c.WriteIdleTimeout, "must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		p.Addf("shutdown_timeout", c.ShutdownTimeout, "must be positive")
	}
	if c.MemoryLimitMiB < 0 {
		p.Addf("memory_limit_mib", c.MemoryLimitMiB, "must be 0 (no limit) or positive")
	}
	if c.MaxBodyBytes <= 0 {
		p.Addf("max_body_bytes", c.MaxBodyBytes, "must be positive")
	}
	if c.BodyReadTimeout <= 0 {
		p.Addf("body_read_timeout", c.BodyReadTimeout, "must be positive")
	}
	if f := c.Log.Format; f != "text" && f != "json" {
		p.Addf("log.format", f, "must be text or json")
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		p.Addf("log.level", c.Log.Level, "%v", err)
	}
	p = append(p, c.Storage.Validate("storage")...)
	p = append(p, c.Metadata.Validate("metadata")...)
	p = append(p, c.Catalog.Validate("catalog")...)
	// The frontier from the catalog counts only signed classifications;
	// without keys there are none, and the threshold would silently stay
	// where it is.
	if c.Policy.OpenFrontierFromCatalog && len(c.Catalog.ClassificationKeys) == 0 {
		p.Addf("policy.open_frontier_from_catalog", true, "needs catalog.classification_keys: only signed classifications move the frontier")
	}
	p = append(p, c.Audit.Validate("audit")...)
	p = append(p, c.Policy.Validate("policy")...)
	p = append(p, c.RateLimit.Validate("rate_limit")...)
	p = append(p, c.Screening.Validate("screening")...)
	p = append(p, c.Location.Validate("location")...)
	p = append(p, c.S3.Validate("s3")...)
	p = append(p, c.TLS.Validate("tls")...)
	p = append(p, c.Console.Validate("console")...)
	if c.Console.Enabled && c.Admin.Listen == "" && !c.Console.Public {
		p.Addf("console.enabled", c.Console.Enabled, "needs admin.listen (the console is served there) or console.public")
	}
	if f := c.Console.IndexFile; f != "" && c.Audit.Dir != "" {
		if rel, err := filepath.Rel(c.Audit.Dir, f); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			p.Addf("console.index_file", f, "must not be inside audit.dir, which holds the trail and nothing else")
		}
	}
	if c.S3.Listen != "" && sameAddr(c.S3.Listen, c.Listen) {
		p.Addf("s3.listen", c.S3.Listen, "must differ from listen")
	}
	if a := c.Admin.Listen; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.Addf("admin.listen", a, `must be host:port, or "" for no admin listener`)
		} else if sameAddr(a, c.Listen) {
			p.Addf("admin.listen", a, "must differ from listen")
		} else if sameAddr(a, c.S3.Listen) {
			p.Addf("admin.listen", a, "must differ from s3.listen")
		}
	}
	if len(c.Auth.Issuers) > 0 {
		var ve *config.ValidationError
		if err := c.Auth.Validate(); errors.As(err, &ve) {
			p = append(p, ve.Problems...)
		} else if err != nil {
			p.Add("auth", "", err)
		}
	}
	return p.Err("invalid configuration")
}
