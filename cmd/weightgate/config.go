package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/rego"
	"github.com/weightgate/weightgate/screening"
)

// Config is weightgate's configuration file. Every default is set in
// DefaultConfig; ParseConfig decodes on top of it and Validate reports every
// problem at once.
type Config struct {
	Listen string `yaml:"listen"`
	// WriteIdleTimeout cuts off a client that reads nothing of a file for
	// this long; ShutdownTimeout bounds the wait for transfers on shutdown.
	WriteIdleTimeout time.Duration   `yaml:"write_idle_timeout"`
	ShutdownTimeout  time.Duration   `yaml:"shutdown_timeout"`
	Log              LogConfig       `yaml:"log"`
	Storage          StorageConfig   `yaml:"storage"`
	Metadata         MetadataConfig  `yaml:"metadata"`
	Auth             identity.Config `yaml:"auth"`
	Policy           PolicyConfig    `yaml:"policy"`
	Audit            AuditConfig     `yaml:"audit"`
	Metrics          MetricsConfig   `yaml:"metrics"`
	Screening        ScreeningConfig `yaml:"screening"`
	Location         LocationConfig  `yaml:"location"`
	S3               S3APIConfig     `yaml:"s3"`
	RateLimit        RateLimitConfig `yaml:"rate_limit"`
}

// RateLimitConfig bounds each requester's request rate on the Hub API.
type RateLimitConfig struct {
	// PerSecond is the sustained rate per subject (per client address when
	// anonymous); 0 turns limiting off.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many requests may come at once.
	Burst int `yaml:"burst"`
}

// Rate limit defaults: generous for a Hub client fetching a model with many
// workers and range requests, low enough that one credential cannot keep a
// store busy alone.
const (
	DefaultRatePerSecond = 50
	DefaultRateBurst     = 200
)

// S3APIConfig configures the read-only S3-compatible API: a second
// listener serving the catalog as one bucket (keys ORG/NAME/PATH), with
// AWS Signature V4 against temporary credentials its STS endpoint
// (AssumeRoleWithWebIdentity) exchanges for a verified JWT.
type S3APIConfig struct {
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
}

// ScreeningConfig configures restricted-party screening (screening).
// No lists: screening is off (subject.screening.status "off").
type ScreeningConfig struct {
	Lists []ScreeningList `yaml:"lists"`
	// A name scoring HitThreshold or more is a hit; ReviewThreshold or
	// more, a near miss to review.
	HitThreshold    float64 `yaml:"hit_threshold"`
	ReviewThreshold float64 `yaml:"review_threshold"`
	// ReloadInterval rereads the lists on a schedule; 0 only on SIGHUP.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// OpenWeights is "allow" (open weights go to anyone, hit or not) or
	// "deny" (a hit or near miss refuses them too).
	OpenWeights string `yaml:"open_weights"`
}

// ScreeningList is one list file in the Consolidated Screening List's CSV or
// JSON format.
type ScreeningList struct {
	Name string `yaml:"name"` // names the list when an entry has no source
	Path string `yaml:"path"` // .csv or .json
}

// LocationConfig configures the location cross-check (geo).
type LocationConfig struct {
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
	// releases.
	Unknown string `yaml:"unknown"`
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

// StorageConfig selects and configures the storage backend.
type StorageConfig struct {
	Backend string    `yaml:"backend"` // dir | s3
	Dir     DirConfig `yaml:"dir"`
	S3      S3Config  `yaml:"s3"`
}

// DirConfig is the dir backend: the model layout on a local directory.
type DirConfig struct {
	Path string `yaml:"path"`
}

// S3Config is the s3 backend. Credentials come from the environment only:
// WEIGHTGATE_S3_ACCESS_KEY and WEIGHTGATE_S3_SECRET_KEY, else the usual
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, MINIO_ACCESS_KEY / MINIO_SECRET_KEY,
// or the AWS shared credentials file.
type S3Config struct {
	Endpoint   string        `yaml:"endpoint"` // host:port
	TLS        bool          `yaml:"tls"`
	Bucket     string        `yaml:"bucket"`
	Prefix     string        `yaml:"prefix"`
	Region     string        `yaml:"region"`
	Timeout    time.Duration `yaml:"timeout"`
	MaxRetries int           `yaml:"max_retries"`
}

// MetadataConfig bounds the model metadata cache.
type MetadataConfig struct {
	CacheSize int           `yaml:"cache_size"`
	CacheTTL  time.Duration `yaml:"cache_ttl"`
}

// PolicyConfig selects the policy: its bundle or schedule of regimes, the
// operator's registries, extensions and the open-weight frontier.
type PolicyConfig struct {
	// Bundle is a built-in bundle's name or a directory; "" = the default.
	Bundle string `yaml:"bundle"`
	// Regimes, instead of Bundle: each decision is made by the regime in
	// effect at its time.
	Regimes    []RegimeConfig `yaml:"regimes"`
	Registry   string         `yaml:"registry"`   // directory of licences.json, veu.json, ...; "" = none
	Extensions []string       `yaml:"extensions"` // directories of modules that can only add denials
	// OpenFrontierFLOP, when positive, is the open-weight frontier;
	// OpenFrontierFromCatalog computes it from the catalog instead.
	OpenFrontierFLOP        float64 `yaml:"open_frontier_flop"`
	OpenFrontierFromCatalog bool    `yaml:"open_frontier_from_catalog"`
	// DecisionCache is how many decisions each regime remembers, keyed by
	// what of the input its policy reads; 0 turns the cache off.
	DecisionCache int `yaml:"decision_cache"`
}

// RegimeConfig is one entry of policy.regimes.
type RegimeConfig struct {
	Bundle string `yaml:"bundle"`
	// Effective overrides the bundle's declared effective_date: YYYY-MM-DD
	// (midnight UTC) or an RFC 3339 time.
	Effective string `yaml:"effective"`
}

// policyOptions turns the configuration into the engine's options.
// settings are the operator switches of Config.policySettings.
func (p PolicyConfig) policyOptions(settings map[string]string, logger *slog.Logger) (opa.Options, error) {
	opts := opa.Options{Bundle: p.Bundle, Registry: p.Registry, Extensions: p.Extensions, Settings: settings, Logger: logger,
		DecisionCache: p.DecisionCache}
	if p.DecisionCache == 0 {
		opts.DecisionCache = -1 // off
	}
	for _, r := range p.Regimes {
		reg := opa.Regime{Bundle: r.Bundle}
		if r.Effective != "" {
			t, err := opa.ParseEffective(r.Effective)
			if err != nil {
				return opts, err
			}
			reg.Effective = t
		}
		opts.Regimes = append(opts.Regimes, reg)
	}
	return opts, nil
}

// AuditConfig configures the audit trail (see audit).
type AuditConfig struct {
	Dir          string           `yaml:"dir"`            // audit-NNNNNN.jsonl files and audit.head
	MaxFileBytes int64            `yaml:"max_file_bytes"` // rotate after this size; old files are never deleted
	GroupCommit  bool             `yaml:"group_commit"`   // one fsync per batch (false: one per record)
	MaxBatch     int              `yaml:"max_batch"`      // records per fsync at most
	Checkpoint   CheckpointConfig `yaml:"checkpoint"`
	Mirror       string           `yaml:"mirror"` // "" | "stdout" | an http(s) URL receiving NDJSON batches
}

// CheckpointConfig configures signed checkpoints.
type CheckpointConfig struct {
	Key      string        `yaml:"key"`      // Ed25519 private key (PEM); "" = no checkpoints
	Every    int           `yaml:"every"`    // records between checkpoints
	Interval time.Duration `yaml:"interval"` // and at most this long between them
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	Enabled bool `yaml:"enabled"` // serve GET /metrics on the listener
}

// Defaults.
const (
	DefaultListen             = "127.0.0.1:8080"
	DefaultAuditDir           = "var/audit"
	DefaultAuditFileBytes     = 256 << 20
	DefaultAuditBatch         = 1024
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultS3Timeout          = 30 * time.Second
	DefaultS3Retries          = 2
)

// DefaultConfig returns the configuration used for every key a file omits.
func DefaultConfig() Config {
	return Config{
		Listen:           DefaultListen,
		WriteIdleTimeout: gateway.DefaultWriteIdleTimeout,
		ShutdownTimeout:  gateway.DefaultShutdownTimeout,
		Log:              LogConfig{Format: "text", Level: "info"},
		Storage:          StorageConfig{Backend: "dir", S3: S3Config{Region: "us-east-1", Timeout: DefaultS3Timeout, MaxRetries: DefaultS3Retries}},
		Metadata:         MetadataConfig{CacheSize: gateway.DefaultCacheSize, CacheTTL: gateway.DefaultCacheTTL},
		Policy:           PolicyConfig{DecisionCache: opa.DefaultDecisionCache},
		RateLimit:        RateLimitConfig{PerSecond: DefaultRatePerSecond, Burst: DefaultRateBurst},
		Auth:             identity.DefaultConfig(),
		Audit: AuditConfig{Dir: DefaultAuditDir, MaxFileBytes: DefaultAuditFileBytes, GroupCommit: true, MaxBatch: DefaultAuditBatch,
			Checkpoint: CheckpointConfig{Every: DefaultCheckpointEvery, Interval: DefaultCheckpointInterval}},
		Metrics:   MetricsConfig{Enabled: true},
		Screening: ScreeningConfig{HitThreshold: screening.DefaultHitThreshold, ReviewThreshold: screening.DefaultReviewThreshold, OpenWeights: "allow"},
		Location:  LocationConfig{Unknown: "allow"},
		S3:        S3APIConfig{Bucket: "models", Region: "us-east-1", MaxSession: 12 * time.Hour, ClockSkew: 15 * time.Minute, Anonymous: true},
	}
}

// ConfigError is one invalid setting.
type ConfigError struct {
	Field string
	Value any
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %v (got %v)", e.Field, e.Err, e.Value) }
func (e *ConfigError) Unwrap() error { return e.Err }

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
	for i := range c.Screening.Lists {
		c.Screening.Lists[i].Path = abs(c.Screening.Lists[i].Path)
	}
	c.Location.Database = abs(c.Location.Database)
	c.S3.CredentialsKey = abs(c.S3.CredentialsKey)
	c.Audit.Checkpoint.Key = abs(c.Audit.Checkpoint.Key)
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

// Validate reports every invalid setting in one error.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Value: value, Err: fmt.Errorf(format, args...)})
	}
	if c.Listen == "" {
		bad("listen", c.Listen, "required")
	}
	if c.WriteIdleTimeout <= 0 {
		bad("write_idle_timeout", c.WriteIdleTimeout, "must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", c.ShutdownTimeout, "must be positive")
	}
	if f := c.Log.Format; f != "text" && f != "json" {
		bad("log.format", f, "must be text or json")
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		bad("log.level", c.Log.Level, "%v", err)
	}
	switch c.Storage.Backend {
	case "dir":
		if c.Storage.Dir.Path == "" {
			bad("storage.dir.path", "", "required for the dir backend")
		} else if fi, err := os.Stat(c.Storage.Dir.Path); err != nil || !fi.IsDir() {
			bad("storage.dir.path", c.Storage.Dir.Path, "must be an existing directory")
		}
	case "s3":
		s := c.Storage.S3
		if s.Endpoint == "" || strings.Contains(s.Endpoint, "://") {
			bad("storage.s3.endpoint", s.Endpoint, "required, as host:port without a scheme (use tls: true for https)")
		}
		if s.Bucket == "" {
			bad("storage.s3.bucket", s.Bucket, "required")
		}
		if s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/") {
			bad("storage.s3.prefix", s.Prefix, `must end with "/"`)
		}
		if s.Timeout <= 0 {
			bad("storage.s3.timeout", s.Timeout, "must be positive")
		}
		if s.MaxRetries < 1 {
			bad("storage.s3.max_retries", s.MaxRetries, "must be at least 1 (1 = no retry)")
		}
	default:
		bad("storage.backend", c.Storage.Backend, "must be dir or s3")
	}
	if c.Metadata.CacheSize < 1 {
		bad("metadata.cache_size", c.Metadata.CacheSize, "must be at least 1")
	}
	if c.Metadata.CacheTTL <= 0 {
		bad("metadata.cache_ttl", c.Metadata.CacheTTL, "must be positive")
	}
	if c.Audit.Dir == "" {
		bad("audit.dir", "", "required")
	}
	if c.Audit.MaxFileBytes < 1<<20 {
		bad("audit.max_file_bytes", c.Audit.MaxFileBytes, "must be at least 1 MiB")
	}
	if c.Audit.MaxBatch < 1 {
		bad("audit.max_batch", c.Audit.MaxBatch, "must be at least 1")
	}
	if c.Audit.Checkpoint.Every < 1 {
		bad("audit.checkpoint.every", c.Audit.Checkpoint.Every, "must be at least 1")
	}
	if c.Audit.Checkpoint.Interval <= 0 {
		bad("audit.checkpoint.interval", c.Audit.Checkpoint.Interval, "must be positive")
	}
	if m := c.Audit.Mirror; m != "" && m != "stdout" && !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
		bad("audit.mirror", m, `must be "", "stdout" or an http(s) URL`)
	}
	if c.Policy.Bundle != "" && len(c.Policy.Regimes) > 0 {
		bad("policy.regimes", len(c.Policy.Regimes), "set either policy.bundle or policy.regimes, not both")
	}
	if r := c.RateLimit.PerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		bad("rate_limit.per_second", r, "must be 0 (off) or a positive number")
	}
	if c.RateLimit.PerSecond > 0 && c.RateLimit.Burst < 1 {
		bad("rate_limit.burst", c.RateLimit.Burst, "must be at least 1")
	}
	if c.Policy.DecisionCache < 0 {
		bad("policy.decision_cache", c.Policy.DecisionCache, "must be 0 (off) or more")
	}
	for i, r := range c.Policy.Regimes {
		if r.Bundle == "" {
			bad(fmt.Sprintf("policy.regimes[%d].bundle", i), "", "required")
		}
		if r.Effective != "" {
			if _, err := opa.ParseEffective(r.Effective); err != nil {
				bad(fmt.Sprintf("policy.regimes[%d].effective", i), r.Effective, "%v", err)
			}
		}
	}
	if p := c.Policy.Registry; p != "" {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			bad("policy.registry", p, "must be an existing directory")
		}
	}
	if f := c.Policy.OpenFrontierFLOP; f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		bad("policy.open_frontier_flop", f, "must be a finite number, 0 or more")
	} else if f > 0 && c.Policy.OpenFrontierFromCatalog {
		bad("policy.open_frontier_flop", f, "set either policy.open_frontier_flop or policy.open_frontier_from_catalog, not both")
	}
	names := map[string]bool{}
	for i, l := range c.Screening.Lists {
		field := fmt.Sprintf("screening.lists[%d]", i)
		if l.Name == "" {
			bad(field+".name", "", "required")
		} else if names[l.Name] {
			bad(field+".name", l.Name, "another list has this name")
		}
		names[l.Name] = true
		if ext := strings.ToLower(filepath.Ext(l.Path)); ext != ".csv" && ext != ".json" {
			bad(field+".path", l.Path, "must be a .csv or .json file in the Consolidated Screening List's format")
		}
	}
	// An empty index is built only to check the thresholds as NewIndex will.
	if _, err := screening.NewIndex(nil, screening.Options{HitThreshold: c.Screening.HitThreshold, ReviewThreshold: c.Screening.ReviewThreshold}); err != nil {
		bad("screening.hit_threshold", []float64{c.Screening.HitThreshold, c.Screening.ReviewThreshold}, "%v", err)
	}
	if c.Screening.ReloadInterval < 0 {
		bad("screening.reload_interval", c.Screening.ReloadInterval, "must be 0 (reload on SIGHUP only) or positive")
	}
	if v := c.Screening.OpenWeights; v != "allow" && v != "deny" {
		bad("screening.open_weights", v, "must be allow or deny")
	}
	if v := c.Location.Unknown; v != "allow" && v != "deny" {
		bad("location.unknown", v, "must be allow or deny")
	} else if v == "deny" && c.Location.Database == "" {
		bad("location.unknown", v, "deny needs location.database: without one every address is unknown")
	}
	if _, err := geo.ParsePrefixes(c.Location.TrustedProxies); err != nil {
		bad("location.trusted_proxies", c.Location.TrustedProxies, "%v", err)
	}
	if _, err := geo.ParsePrefixes(c.Location.TrustedNetworks); err != nil {
		bad("location.trusted_networks", c.Location.TrustedNetworks, "%v", err)
	}
	if a := c.S3; a.Listen != "" {
		if a.Listen == c.Listen {
			bad("s3.listen", a.Listen, "must differ from listen")
		}
		if !validBucketName(a.Bucket) {
			bad("s3.bucket", a.Bucket, "must be an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens")
		}
		if a.Region == "" {
			bad("s3.region", a.Region, "required")
		}
		if a.MaxSession < 15*time.Minute || a.MaxSession > 7*24*time.Hour {
			bad("s3.max_session", a.MaxSession, "must be between 15m and 168h")
		}
		if a.ClockSkew <= 0 || a.ClockSkew > time.Hour {
			bad("s3.clock_skew", a.ClockSkew, "must be positive and at most 1h")
		}
	}
	if len(c.Auth.Issuers) > 0 {
		if err := c.Auth.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("auth: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	return nil
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
