package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/config"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/screening"
	"github.com/weightgate/weightgate/storage"
)

// MustParseConfig parses doc against baseDir, failing the test on error.
func MustParseConfig(tb testing.TB, doc, baseDir string) Config {
	tb.Helper()
	cfg, err := ParseConfig(strings.NewReader(doc), baseDir)
	if err != nil {
		tb.Fatalf("ParseConfig:\n%s\nerror: %v", doc, err)
	}
	return cfg
}

// MustConfigDir returns a new base directory holding an empty store/ and the
// test keys under keys/.
func MustConfigDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o755); err != nil {
		tb.Fatal(err)
	}
	for dst, src := range map[string]string{
		"ed.pem": "dev-ed25519.pub.pem",
		"ec.pem": "test-ec-p256.pub.pem",
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "keys", src))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", dst), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// TestReadConfigFile_Example keeps config.example.yaml valid and in step
// with DefaultConfig wherever it claims to show a default.
func TestReadConfigFile_Example(t *testing.T) {
	cfg, err := ReadConfigFile("../../config.example.yaml")
	if err != nil {
		t.Fatalf("ReadConfigFile: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()

	if cfg.WriteIdleTimeout != def.WriteIdleTimeout || cfg.ShutdownTimeout != def.ShutdownTimeout {
		t.Errorf("write_idle_timeout, shutdown_timeout = %v, %v; want defaults %v, %v", cfg.WriteIdleTimeout, cfg.ShutdownTimeout, def.WriteIdleTimeout, def.ShutdownTimeout)
	}
	if got, want := cfg.Listen, def.Listen; got != want {
		t.Errorf("listen = %q, want default %q", got, want)
	}
	if got, want := cfg.Log, def.Log; got != want {
		t.Errorf("log = %+v, want default %+v", got, want)
	}
	if got, want := cfg.Metadata, def.Metadata; got != want {
		t.Errorf("metadata = %+v, want default %+v", got, want)
	}
	if got, want := cfg.Storage.Backend, def.Storage.Backend; got != want {
		t.Errorf("storage.backend = %q, want default %q", got, want)
	}
	s3, ds3 := cfg.Storage.S3, def.Storage.S3
	if got, want := s3.Region, ds3.Region; got != want {
		t.Errorf("storage.s3.region = %q, want default %q", got, want)
	}
	if got, want := s3.Timeout, ds3.Timeout; got != want {
		t.Errorf("storage.s3.timeout = %v, want default %v", got, want)
	}
	if got, want := s3.MaxRetries, ds3.MaxRetries; got != want {
		t.Errorf("storage.s3.max_retries = %d, want default %d", got, want)
	}
	if got, want := s3.TLS, ds3.TLS; got != want {
		t.Errorf("storage.s3.tls = %v, want default %v", got, want)
	}
	if got, want := s3.Prefix, ds3.Prefix; got != want {
		t.Errorf("storage.s3.prefix = %q, want default %q", got, want)
	}
	if got, want := cfg.Auth.Leeway, def.Auth.Leeway; got != want {
		t.Errorf("auth.leeway = %v, want default %v", got, want)
	}
	if got, want := cfg.Auth.Claims, def.Auth.Claims; got != want {
		t.Errorf("auth.claims = %+v, want default %+v", got, want)
	}
	if got, want := cfg.Policy.Bundle, def.Policy.Bundle; got != want {
		t.Errorf("policy.bundle = %q, want default %q", got, want)
	}
	if got := cfg.Policy.Extensions; len(got) != 0 {
		t.Errorf("policy.extensions = %q, want none", got)
	}

	// Paths are resolved against the file's directory.
	if got, want := cfg.Audit.Dir, filepath.Join(root, filepath.FromSlash(audit.DefaultDir)); got != want {
		t.Errorf("audit.dir = %q, want %q", got, want)
	}
	wantAudit := def.Audit
	wantAudit.Dir = cfg.Audit.Dir
	if cfg.Audit != wantAudit || cfg.Metrics != def.Metrics {
		t.Errorf("audit = %+v, metrics = %+v; want the defaults %+v, %+v", cfg.Audit, cfg.Metrics, wantAudit, def.Metrics)
	}
	if got := cfg.Storage.Dir.Path; !filepath.IsAbs(got) || !strings.HasSuffix(got, filepath.FromSlash("testdata/store")) {
		t.Errorf("storage.dir.path = %q, want an absolute path ending in testdata/store", got)
	}
	if got, want := cfg.Storage.Dir.Path, filepath.Join(root, "testdata", "store"); got != want {
		t.Errorf("storage.dir.path = %q, want %q", got, want)
	}
	if got, want := len(cfg.Auth.Issuers), 1; got != want {
		t.Fatalf("auth.issuers = %d, want %d", got, want)
	}
	// Screening: the sample lists, the default thresholds and switches, a
	// schedule (the default is SIGHUP only). Location: the defaults.
	sc, dsc := cfg.Screening, def.Screening
	if sc.HitThreshold != dsc.HitThreshold || sc.ReviewThreshold != dsc.ReviewThreshold || sc.OpenWeights != dsc.OpenWeights || sc.ReloadInterval != time.Hour {
		t.Errorf("screening = %+v; want the default thresholds and open_weights of %+v, reload_interval 1h", sc, dsc)
	}
	wantLists := []screening.ListFile{
		{Name: "csl", Path: filepath.Join(root, "testdata", "screening", "consolidated.csv")},
		{Name: "local", Path: filepath.Join(root, "testdata", "screening", "local.json")},
	}
	if !slices.Equal(sc.Lists, wantLists) {
		t.Errorf("screening.lists = %+v, want %+v", sc.Lists, wantLists)
	}
	if l, dl := cfg.Location, def.Location; l.Database != dl.Database || l.Unknown != dl.Unknown || len(l.TrustedProxies)+len(l.TrustedNetworks) != 0 {
		t.Errorf("location = %+v, want the defaults %+v", l, dl)
	}
	// The S3 API: on 127.0.0.1:9100 with a fixed creation date (the default,
	// the gateway's start, moves with each restart), every other key at its
	// default.
	wantS3 := def.S3
	wantS3.Listen = "127.0.0.1:9100"
	wantS3.BucketCreated = time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)
	if cfg.S3 != wantS3 {
		t.Errorf("s3 = %+v, want the defaults %+v on 127.0.0.1:9100", cfg.S3, def.S3)
	}
	iss := cfg.Auth.Issuers[0]
	if got, want := iss.PublicKeys, []string{filepath.Join(root, "testdata", "keys", "dev-ed25519.pub.pem")}; !slices.Equal(got, want) {
		t.Errorf("auth.issuers[0].public_keys = %q, want %q", got, want)
	}
	if got, want := iss.Algorithms, []string{identity.AlgEdDSA}; !slices.Equal(got, want) {
		t.Errorf("auth.issuers[0].algorithms = %q, want %q", got, want)
	}
}

func TestReadConfigFile_Missing(t *testing.T) {
	if _, err := ReadConfigFile(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Errorf("ReadConfigFile of a missing file succeeded")
	}
}

func TestParseConfig_Defaults(t *testing.T) {
	base := MustConfigDir(t)
	cfg := MustParseConfig(t, "storage:\n  dir:\n    path: store\n", base)
	want := DefaultConfig()
	want.Storage.Dir.Path = filepath.Join(base, "store")
	want.Audit.Dir = filepath.Join(base, filepath.FromSlash(audit.DefaultDir))
	if got := cfg; got.Listen != want.Listen || got.Log != want.Log || got.Storage.Backend != want.Storage.Backend ||
		got.Storage.Dir != want.Storage.Dir || got.Storage.S3 != want.Storage.S3 || got.Metadata != want.Metadata ||
		got.Audit != want.Audit || got.Auth.Leeway != want.Auth.Leeway || got.Auth.Claims != want.Auth.Claims ||
		len(got.Auth.Issuers) != 0 || got.Policy.Bundle != "" || len(got.Policy.Extensions) != 0 {
		t.Errorf("ParseConfig = %+v, want %+v", got, want)
	}
}

func TestParseConfig_UnknownKey(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		key  string
	}{
		{"TopLevel", "listne: 127.0.0.1:1\n", "listne"},
		{"Nested", "storage:\n  s3:\n    bukket: models\n", "bukket"},
		{"Log", "log:\n  formt: json\n", "formt"},
		{"Issuer", "auth:\n  issuers:\n    - issuer: a\n      audiance: b\n", "audiance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tt.doc), MustConfigDir(t))
			if err == nil {
				t.Fatalf("ParseConfig(%q) succeeded, want an error naming %q", tt.doc, tt.key)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error = %q, want it to name %q", err, tt.key)
			}
		})
	}
}

func TestParseConfig_AllErrorsAtOnce(t *testing.T) {
	doc := "log:\n  format: xml\nstorage:\n  backend: ftp\nmetadata:\n  cache_size: 0\n"
	_, err := ParseConfig(strings.NewReader(doc), MustConfigDir(t))
	if err == nil {
		t.Fatal("ParseConfig succeeded, want an error")
	}
	for _, want := range []string{"storage.backend", "ftp", "metadata.cache_size", "log.format", "xml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to mention %q", err, want)
		}
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("error %v wraps no *ConfigError", err)
	}
}

func TestParseConfig_Invalid(t *testing.T) {
	const s3 = "storage:\n  backend: s3\n  s3:\n"
	tests := []struct {
		name  string
		doc   string
		field string // the ConfigError field the error must name
	}{
		{"S3WithoutBucket", s3 + "    endpoint: 127.0.0.1:9000\n", "storage.s3.bucket"},
		{"S3WithoutEndpoint", s3 + "    bucket: models\n", "storage.s3.endpoint"},
		{"S3EndpointWithScheme", s3 + "    endpoint: http://127.0.0.1:9000\n    bucket: models\n", "storage.s3.endpoint"},
		{"S3EndpointHTTPS", s3 + "    endpoint: https://s3.example.com\n    bucket: models\n", "storage.s3.endpoint"},
		{"S3PrefixWithoutSlash", s3 + "    endpoint: 127.0.0.1:9000\n    bucket: models\n    prefix: weights\n", "storage.s3.prefix"},
		{"S3ZeroTimeout", s3 + "    endpoint: 127.0.0.1:9000\n    bucket: models\n    timeout: 0s\n", "storage.s3.timeout"},
		{"S3NoAttempts", s3 + "    endpoint: 127.0.0.1:9000\n    bucket: models\n    max_retries: 0\n", "storage.s3.max_retries"},
		{"DirWithoutPath", "storage:\n  backend: dir\n", "storage.dir.path"},
		{"DirMissing", "storage:\n  dir:\n    path: nope\n", "storage.dir.path"},
		{"DirIsFile", "storage:\n  dir:\n    path: keys/ed.pem\n", "storage.dir.path"},
		{"EmptyListen", "listen: \"\"\nstorage:\n  dir:\n    path: store\n", "listen"},
		{"LogLevel", "log:\n  level: loud\nstorage:\n  dir:\n    path: store\n", "log.level"},
		{"CacheTTL", "metadata:\n  cache_ttl: 0s\nstorage:\n  dir:\n    path: store\n", "metadata.cache_ttl"},
		{"ListingCacheNegative", "metadata:\n  listing_cache_mib: -1\nstorage:\n  dir:\n    path: store\n", "metadata.listing_cache_mib"},
		{"ListingCacheHuge", "metadata:\n  listing_cache_mib: 4096\nstorage:\n  dir:\n    path: store\n", "metadata.listing_cache_mib"},
		{"MemoryLimitNegative", "memory_limit_mib: -5\nstorage:\n  dir:\n    path: store\n", "memory_limit_mib"},
		{"EmptyAudit", "audit:\n  dir: \"\"\nstorage:\n  dir:\n    path: store\n", "audit.dir"},
		{"TinyAuditFiles", "audit:\n  max_file_bytes: 1000\nstorage:\n  dir:\n    path: store\n", "audit.max_file_bytes"},
		{"AuditMirror", "audit:\n  mirror: syslog\nstorage:\n  dir:\n    path: store\n", "audit.mirror"},
		{"CheckpointEvery", "audit:\n  checkpoint: {every: 0}\nstorage:\n  dir:\n    path: store\n", "audit.checkpoint.every"},
		{"BadIssuer", "storage:\n  dir:\n    path: store\nauth:\n  issuers:\n    - issuer: a\n      audience: b\n      algorithms: [HS256]\n      public_keys: [keys/ed.pem]\n", "auth"},
		{"MissingKeyFile", "storage:\n  dir:\n    path: store\nauth:\n  issuers:\n    - issuer: a\n      audience: b\n      algorithms: [EdDSA]\n      public_keys: [keys/nope.pem]\n", "auth"},
		{"BundleAndRegimes", "storage:\n  dir:\n    path: store\npolicy:\n  bundle: embargo-only\n  regimes: [{bundle: ai-diffusion-2025}]\n", "policy.regimes"},
		{"RegimeWithoutBundle", "storage:\n  dir:\n    path: store\npolicy:\n  regimes: [{effective: \"2027-01-01\"}]\n", "policy.regimes[0].bundle"},
		{"RegimeBadDate", "storage:\n  dir:\n    path: store\npolicy:\n  regimes: [{bundle: embargo-only, effective: next year}]\n", "policy.regimes[0].effective"},
		{"RegistryMissing", "storage:\n  dir:\n    path: store\npolicy:\n  registry: nope\n", "policy.registry"},
		{"FrontierNegative", "storage:\n  dir:\n    path: store\npolicy:\n  open_frontier_flop: -1\n", "policy.open_frontier_flop"},
		{"FrontierTwice", "storage:\n  dir:\n    path: store\npolicy:\n  open_frontier_flop: 2e26\n  open_frontier_from_catalog: true\n", "policy.open_frontier_flop"},
		{"DecisionCacheNegative", "storage:\n  dir:\n    path: store\npolicy:\n  decision_cache: -1\n", "policy.decision_cache"},
		{"RateNegative", "storage:\n  dir:\n    path: store\nrate_limit:\n  per_second: -1\n", "rate_limit.per_second"},
		{"RateNoBurst", "storage:\n  dir:\n    path: store\nrate_limit:\n  per_second: 5\n  burst: 0\n", "rate_limit.burst"},
		{"TLSCertWithoutKey", "storage:\n  dir:\n    path: store\ntls:\n  cert_file: tls.crt\n", "tls.key_file"},
		{"TLSMinVersion", "storage:\n  dir:\n    path: store\ntls:\n  cert_file: tls.crt\n  key_file: tls.key\n  min_version: \"1.1\"\n", "tls.min_version"},
		{"TLSClientCAAlone", "storage:\n  dir:\n    path: store\ntls:\n  client_ca: ca.pem\n", "tls.client_ca"},
		{"ConsoleIndexInAuditDir", "storage:\n  dir:\n    path: store\naudit: {dir: logs/audit}\nconsole: {enabled: true, index_file: logs/audit/index.db}\n", "console.index_file"},
		{"ConsoleIndexIsAuditDir", "storage:\n  dir:\n    path: store\naudit: {dir: logs/audit}\nconsole: {enabled: true, index_file: logs/audit}\n", "console.index_file"},
		{"NotYAML", "listen: [\n", "yaml"},
		{"WrongType", "metadata:\n  cache_size: many\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tt.doc), MustConfigDir(t))
			if err == nil {
				t.Fatalf("ParseConfig(%q) succeeded, want an error naming %q", tt.doc, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error = %q, want it to name %q", err, tt.field)
			}
		})
	}
}

func TestParseConfig_S3(t *testing.T) {
	// The s3 backend needs no directory.
	doc := "storage:\n  backend: s3\n  s3:\n    endpoint: 127.0.0.1:9000\n    bucket: models\n    prefix: weights/\n    tls: true\n    timeout: 5s\n    max_retries: 1\n"
	cfg := MustParseConfig(t, doc, t.TempDir())
	want := storage.S3Config{Endpoint: "127.0.0.1:9000", TLS: true, Bucket: "models", Prefix: "weights/", Region: "us-east-1", Timeout: 5 * time.Second, MaxRetries: 1}
	if got := cfg.Storage.S3; got != want {
		t.Errorf("storage.s3 = %+v, want %+v", got, want)
	}
}

func TestParseConfig_RelativePaths(t *testing.T) {
	base := MustConfigDir(t)
	absStore := filepath.Join(t.TempDir(), "abs-store")
	if err := os.Mkdir(absStore, 0o755); err != nil {
		t.Fatal(err)
	}
	absKey := filepath.Join(base, "keys", "ec.pem")
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, c Config)
	}{
		{
			name: "Relative",
			doc: "storage:\n  dir:\n    path: store\npolicy:\n  bundle: bundle\n  extensions: [ext, /abs/ext, sub/ext2]\naudit:\n  dir: logs/audit\n  checkpoint: {key: keys/ed.pem}\n" +
				"auth:\n  issuers:\n    - issuer: a\n      audience: b\n      algorithms: [EdDSA, ES256]\n      public_keys:\n        - dev=keys/ed.pem\n        - keys/ec.pem\n" +
				"tls:\n  cert_file: tls/tls.crt\n  key_file: /abs/tls.key\n  client_ca: ca.pem\n",
			check: func(t *testing.T, c Config) {
				for _, p := range []struct{ field, got, want string }{
					{"storage.dir.path", c.Storage.Dir.Path, filepath.Join(base, "store")},
					{"policy.bundle", c.Policy.Bundle, filepath.Join(base, "bundle")},
					{"audit.dir", c.Audit.Dir, filepath.Join(base, "logs", "audit")},
					{"audit.checkpoint.key", c.Audit.Checkpoint.Key, filepath.Join(base, "keys", "ed.pem")},
					{"tls.cert_file", c.TLS.CertFile, filepath.Join(base, "tls", "tls.crt")},
					{"tls.key_file", c.TLS.KeyFile, "/abs/tls.key"},
					{"tls.client_ca", c.TLS.ClientCA, filepath.Join(base, "ca.pem")},
				} {
					if p.got != p.want {
						t.Errorf("%s = %q, want %q", p.field, p.got, p.want)
					}
				}
				// The console's index: beside audit.dir by default.
				if got, want := c.consoleIndexFile(), filepath.Join(base, "logs", "audit.index.db"); got != want {
					t.Errorf("the console's index file = %q, want %q", got, want)
				}
				if got, want := c.Policy.Extensions, []string{filepath.Join(base, "ext"), "/abs/ext", filepath.Join(base, "sub", "ext2")}; !slices.Equal(got, want) {
					t.Errorf("policy.extensions = %q, want %q", got, want)
				}
				if got, want := c.Auth.Issuers[0].PublicKeys, []string{"dev=" + filepath.Join(base, "keys", "ed.pem"), filepath.Join(base, "keys", "ec.pem")}; !slices.Equal(got, want) {
					t.Errorf("public_keys = %q, want %q", got, want)
				}
			},
		},
		{
			name: "Absolute",
			doc: "storage:\n  dir:\n    path: " + absStore + "\naudit:\n  dir: /var/lib/weightgate/audit\n" +
				"auth:\n  issuers:\n    - issuer: a\n      audience: b\n      algorithms: [ES256]\n      public_keys:\n        - k1=" + absKey + "\n",
			check: func(t *testing.T, c Config) {
				if got, want := c.Storage.Dir.Path, absStore; got != want {
					t.Errorf("storage.dir.path = %q, want %q", got, want)
				}
				if got, want := c.Audit.Dir, "/var/lib/weightgate/audit"; got != want {
					t.Errorf("audit.dir = %q, want %q", got, want)
				}
				if got, want := c.consoleIndexFile(), "/var/lib/weightgate/audit.index.db"; got != want {
					t.Errorf("the console's index file = %q, want %q", got, want)
				}
				if got, want := c.Policy.Bundle, ""; got != want {
					t.Errorf("policy.bundle = %q, want %q (the embedded bundle)", got, want)
				}
				if got, want := c.Auth.Issuers[0].PublicKeys, []string{"k1=" + absKey}; !slices.Equal(got, want) {
					t.Errorf("public_keys = %q, want %q", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, MustParseConfig(t, tt.doc, base))
		})
	}
}

// Built-in bundle names stay names; anything else is a path relative to the
// configuration file.
func TestParseConfig_PolicyRegimes(t *testing.T) {
	base := MustConfigDir(t)
	for _, dir := range []string{"registry", "mine"} {
		if err := os.Mkdir(filepath.Join(base, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	doc := "storage:\n  dir:\n    path: store\ncatalog:\n  classification_keys: [compliance.pub.pem]\npolicy:\n  registry: registry\n  open_frontier_from_catalog: true\n  regimes:\n" +
		"    - bundle: ai-diffusion-2025\n    - bundle: mine\n      effective: \"2027-01-01\"\n    - bundle: ./embargo-only\n"
	c := MustParseConfig(t, doc, base)
	want := []opa.RegimeConfig{{Bundle: "ai-diffusion-2025"}, {Bundle: filepath.Join(base, "mine"), Effective: "2027-01-01"}, {Bundle: filepath.Join(base, "embargo-only")}}
	if !slices.Equal(c.Policy.Regimes, want) || c.Policy.Registry != filepath.Join(base, "registry") || !c.Policy.OpenFrontierFromCatalog {
		t.Errorf("policy = %+v, want regimes %+v and the registry under %s", c.Policy, want, base)
	}
	opts, err := c.Policy.Options(nil, nil)
	if err != nil || len(opts.Regimes) != 3 || !opts.Regimes[1].Effective.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || opts.Registry != c.Policy.Registry {
		t.Errorf("Options = %+v, %v", opts, err)
	}
	if c := MustParseConfig(t, "storage:\n  dir:\n    path: store\npolicy:\n  bundle: embargo-only\n", base); c.Policy.Bundle != "embargo-only" {
		t.Errorf("policy.bundle = %q, want the built-in name kept", c.Policy.Bundle)
	}
}

func TestConfig_ResolvePaths_PublicKeys(t *testing.T) {
	base := filepath.Join(string(filepath.Separator), "etc", "weightgate")
	tests := []struct {
		entry string
		want  string
	}{
		{"keys/a.pem", filepath.Join(base, "keys", "a.pem")},
		{"kid=keys/a.pem", "kid=" + filepath.Join(base, "keys", "a.pem")},
		{"kid=a.pem", "kid=" + filepath.Join(base, "a.pem")},
		{"kid=/abs/a.pem", "kid=/abs/a.pem"},
		{"/abs/a.pem", "/abs/a.pem"},
		{"/abs/k=v.pem", "/abs/k=v.pem"},
		// A "/" before the "=" means the "=" is part of a path, not a kid.
		{"dir/k=v.pem", filepath.Join(base, "dir", "k=v.pem")},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			c := Config{Auth: identity.Config{Issuers: []identity.IssuerConfig{{PublicKeys: []string{tt.entry}}}}}
			c.resolvePaths(base)
			if got, want := c.Auth.Issuers[0].PublicKeys[0], tt.want; got != want {
				t.Errorf("resolved %q = %q, want %q", tt.entry, got, want)
			}
		})
	}
}

// TestParseConfig_SecondDocumentRefused: settings in a second YAML document
// would otherwise be dropped without a word.
func TestParseConfig_SecondDocumentRefused(t *testing.T) {
	_, err := ParseConfig(strings.NewReader("listen: 127.0.0.1:1\n---\naudit: {path: elsewhere.jsonl}\n"), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Fatalf("err = %v, want a refusal of the second document", err)
	}
}
