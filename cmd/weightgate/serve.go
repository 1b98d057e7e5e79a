package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/audit/s3anchor"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/console"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/gateway/s3api"
	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/screening"
	"github.com/weightgate/weightgate/storage"
	"github.com/weightgate/weightgate/storage/dir"
	"github.com/weightgate/weightgate/storage/s3"
	"github.com/weightgate/weightgate/whatif"
)

// components are the concrete parts a command wires together.
type components struct {
	store       storage.ObjectStore
	catalog     *catalog.Catalog
	engine      *opa.Engine
	verifier    *identity.Verifier // nil when no issuer is configured
	screener    *screening.Lists   // nil when no list is configured
	countries   *geo.ReloadableDB  // nil when no database is configured
	locator     *gateway.Locator
	reloadEvery time.Duration // screening.reload_interval
	// releases counts releases under capped licences (nil when
	// policy.licence_counts is not set); expiry watches the registry.
	releases *licence.Counter
	expiry   *licence.Watch
}

func (c *components) Close() {
	if c.verifier != nil {
		c.verifier.Close()
	}
	if c.countries != nil {
		c.countries.Close()
	}
}

// screen is the screening a what-if command puts in its input: the gateway's
// own, or off when no list is configured.
func (c *components) screen(sub policy.Subject, at time.Time) policy.Screening {
	var s gateway.Screener
	if c.screener != nil {
		s = c.screener
	}
	return gateway.Screen(s, sub, at)
}

// whatIf asks the components' policy about the components' catalog, as the
// gateway they would serve decides; logger receives evaluation failures.
func (c *components) whatIf(logger *slog.Logger) whatif.Asker {
	a := whatif.Asker{Catalog: c.catalog, Policy: c.engine, Screen: c.screen, Logger: logger}
	if c.releases != nil {
		a.Releases = c.releases.Counts
	}
	return a
}

// reload rereads the policy, the screening lists and the country database,
// and drops the cached model metadata (SIGHUP also reloads the issuers:
// reloadIssuers). Each keeps what it had when its reload fails, and says so
// in the log.
func (c *components) reload(ctx context.Context, logger *slog.Logger) {
	// Classifications are read again too: an operator who reclassified a
	// model and sends SIGHUP expects the new class to apply now, not after
	// the metadata TTL.
	c.catalog.Forget()
	logger.Info("model metadata cache dropped")
	if err := c.engine.Reload(ctx); err != nil {
		logger.Error("policy reload refused; the previous policy stays in force", "err", err)
	} else {
		name, rev := c.engine.Bundle()
		logger.Info("policy reloaded", "policy_bundle", name, "policy_revision", rev)
	}
	if c.screener != nil {
		// Lists.Reload logs the outcome; /readyz reports a failure.
		_ = c.screener.Reload()
	}
	if c.countries != nil {
		if err := c.countries.Reload(); err != nil {
			logger.Error("country database reload refused; the previous one stays in force", "err", err)
		} else {
			logger.Info("country database reloaded", "path", c.countries.Path())
		}
	}
}

// build opens storage, compiles the policy, loads the screening lists and the
// country database, and the token verifier.
func build(ctx context.Context, cfg Config, logger *slog.Logger) (*components, error) {
	c := &components{}
	switch cfg.Storage.Backend {
	case "dir":
		st, err := dir.Open(cfg.Storage.Dir.Path)
		if err != nil {
			return nil, err
		}
		c.store = st
	case "s3":
		s := cfg.Storage.S3
		st, err := s3.New(s3.Config{
			Endpoint: s.Endpoint, Secure: s.TLS, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region,
			AccessKey: os.Getenv("WEIGHTGATE_S3_ACCESS_KEY"), SecretKey: os.Getenv("WEIGHTGATE_S3_SECRET_KEY"),
			Timeout: s.Timeout, MaxRetries: s.MaxRetries,
		})
		if err != nil {
			return nil, err
		}
		c.store = st
	}
	c.catalog = catalog.NewCatalog(c.store, cfg.Metadata.CacheSize, cfg.Metadata.CacheTTL, logger)
	c.catalog.SetListingCacheBytes(int64(cfg.Metadata.ListingCacheMiB) << 20)
	if len(cfg.Catalog.ClassificationKeys) > 0 {
		keys, err := catalog.LoadClassificationKeys(cfg.Catalog.ClassificationKeys)
		if err != nil {
			return nil, fmt.Errorf("catalog.classification_keys: %w", err)
		}
		c.catalog.SetClassificationKeys(keys)
		logger.Info("classifications must be signed", "keys", keys.IDs())
	} else {
		logger.Warn("catalog.classification_keys is empty: every export.yaml is believed unsigned, so anyone who can write to storage can turn a closed model open; never run this way in production")
	}
	c.catalog.SetFrontier(catalog.Frontier{FLOP: cfg.Policy.OpenFrontierFLOP, FromCatalog: cfg.Policy.OpenFrontierFromCatalog})

	opts, err := cfg.Policy.Options(cfg.policySettings(), logger)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	engine, err := opa.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	c.engine = engine
	c.expiry = &licence.Watch{Dir: cfg.Policy.Registry, Window: cfg.Policy.ExpiryWarning}
	if f := cfg.Policy.LicenceCounts; f != "" {
		if c.releases, err = licence.Open(f); err != nil {
			return nil, fmt.Errorf("policy.licence_counts: %w", err)
		}
	}

	if len(cfg.Screening.Lists) > 0 {
		lists, err := screening.OpenLists(cfg.Screening.Lists, cfg.Screening.Options(), logger)
		if err != nil {
			return nil, err // it names the list and the file
		}
		c.screener = lists
		c.reloadEvery = cfg.Screening.ReloadInterval
	}

	// Validate has parsed these already.
	proxies, _ := geo.ParsePrefixes(cfg.Location.TrustedProxies)
	networks, _ := geo.ParsePrefixes(cfg.Location.TrustedNetworks)
	c.locator = &gateway.Locator{TrustedProxies: proxies, TrustedNetworks: networks}
	if cfg.Location.Database != "" {
		db, err := geo.OpenReloadable(cfg.Location.Database)
		if err != nil {
			return nil, fmt.Errorf("location.database: %w", err)
		}
		c.countries = db
		c.locator.Countries = db
	}

	if len(cfg.Auth.Issuers) > 0 {
		v, err := identity.New(ctx, cfg.Auth, logger)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
		c.verifier = v
	}
	return c, nil
}

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.newFlagSet("serve", "--config FILE [--listen ADDR] [--s3-listen ADDR] [--admin-listen ADDR]")
	configPath := fs.String("config", "", "configuration file (see config.example.yaml)")
	var flagAddrs listenOverrides
	fs.Func("listen", "Hub API address, overriding the file's listen and $"+envListen, flagAddrs.set(&flagAddrs.listen))
	fs.Func("s3-listen", `S3 API address ("" for none), overriding s3.listen and $`+envS3Listen, flagAddrs.set(&flagAddrs.s3))
	fs.Func("admin-listen", `admin listener address ("" for none), overriding admin.listen and $`+envAdminListen, flagAddrs.set(&flagAddrs.admin))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configPath == "" {
		fs.Usage()
		return errors.New("serve: --config is required")
	}
	cfg, err := ReadConfigFile(*configPath)
	if err != nil {
		return err
	}
	if err := cfg.overrideListen(envListenOverrides(os.LookupEnv), flagAddrs); err != nil {
		return fmt.Errorf("config %s: %w", *configPath, err)
	}
	if err := cfg.refuseDevData(); err != nil {
		return err
	}
	if err := cfg.refuseUnsigned(); err != nil {
		return err
	}
	logger := newLogger(m.Stderr, cfg.Log)
	// A soft limit on the Go runtime's memory: the caches are bounded in
	// entries, and the collector, told the limit, collects before the heap
	// doubles past what they hold (docs/performance.md). GOMEMLIMIT, the
	// runtime's own setting, takes precedence.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
	}
	if cfg.Dev {
		for _, e := range cfg.devDataProblems() {
			logger.Warn("dev: true: trusting development or test data; never use this configuration in production",
				"setting", e.Field, "file", e.Value, "why", e.Err.Error())
		}
	}

	c, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer c.Close()
	if c.verifier == nil {
		logger.Warn("no token issuer is configured: every request is anonymous and only open-weight models can be downloaded")
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := c.store.Ping(pingCtx); err != nil {
		// Not fatal: storage may come up later; /readyz reports it and
		// requests fail closed with 503 meanwhile.
		logger.Error("storage is not reachable", "err", err)
	}
	cancel()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := gateway.NewMetrics(reg)
	tlsr, stopTLS, err := startTLS(ctx, cfg.TLS, logger, reg)
	if err != nil {
		return err
	}
	defer stopTLS()

	trail, err := openTrail(cfg.Audit, logger, metrics)
	if err != nil {
		return err
	}
	// Closed after the server, which waits for every transfer's record.
	defer func() {
		if err := trail.Close(); err != nil {
			logger.Error("audit: close", "err", err)
		}
	}()

	opts := gateway.Options{
		Addr: cfg.Listen, Store: c.store, Catalog: c.catalog, Policy: c.engine,
		Audit: trail, Logger: logger, Metrics: metrics,
		WriteIdleTimeout: cfg.WriteIdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout,
		MaxBodyBytes: cfg.MaxBodyBytes, BodyReadTimeout: cfg.BodyReadTimeout,
		RateLimit: gateway.RateLimit{PerSecond: cfg.RateLimit.PerSecond, Burst: cfg.RateLimit.Burst, PerAddress: cfg.RateLimit.PerAddress},
	}
	if cfg.Metrics.Enabled {
		opts.MetricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	// Every model's classification is read in the background from now
	// on, so that the first listings of a large catalog do not read them
	// page by page; nothing waits for it (the admin /readyz reports it).
	c.catalog.StartWarming(ctx)
	defer c.catalog.StopWarming()
	metrics.CatalogWarming(c.catalog.WarmProgress)
	// Listing cursors are sealed with a key derived from the S3
	// credentials key, which a fleet shares, so any of its gateways
	// resumes another's listing; without one, a random key per process.
	if k := cfg.S3.CredentialsKey; k != "" {
		b, err := os.ReadFile(k)
		if err != nil {
			return fmt.Errorf("s3.credentials_key: %w", err)
		}
		opts.CursorKey = gateway.CursorKeyFrom(b)
	}
	if a := cfg.Admin.Listen; a != "" {
		opts.AdminAddr = a
		if !loopbackAddr(a) {
			logger.Warn("admin.listen is not a loopback address: its /metrics names models and their byte counts; reach it only from a trusted network",
				"admin_listen", a)
		}
	}
	// Auth is the verifier in force, which SIGHUP replaces.
	auth := identity.NewCurrent(c.verifier)
	defer auth.Close()
	opts.Auth = auth
	if c.screener != nil {
		opts.Screener = c.screener
	}
	if c.releases != nil {
		opts.Releases = c.releases
	}
	opts.Expiry = c.expiry
	reg.MustRegister(c.expiry)
	opts.Locator = c.locator
	if tlsr != nil {
		opts.TLS = tlsr.ServerConfig()
	}
	if cfg.S3.Listen != "" {
		s3opts, err := s3Options(cfg.S3, logger)
		if err != nil {
			return err
		}
		opts.S3 = s3opts
	}
	if cfg.Console.Enabled {
		con, stopConsole, err := openConsole(ctx, cfg, c, auth, trail, logger)
		if err != nil {
			return err
		}
		// Deferred after the trail's Close, so run before it: the index
		// stops following a trail still open, once the server is closed.
		defer stopConsole()
		opts.Console, opts.ConsolePublic = con, cfg.Console.Public
	}
	srv, err := gateway.NewServer(opts)
	if err != nil {
		return err
	}
	// SIGHUP reloads the policy, the screening lists, the country
	// database, the token issuers and the TLS certificate, and drops the
	// cached model metadata;
	// whatever fails to load is refused and what is in force keeps serving.
	// The handler is in place before the gateway says it is ready: an
	// unhandled SIGHUP would kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// The screening lists are also reread on a schedule, as trade.gov
	// updates the Consolidated Screening List daily.
	var tick <-chan time.Time
	if c.screener != nil && c.reloadEvery > 0 {
		t := time.NewTicker(c.reloadEvery)
		defer t.Stop()
		tick = t.C
	}

	if err := srv.Open(); err != nil {
		return err
	}
	name, rev := c.engine.Bundle()
	logger.Info("weightgate listening", "url", srv.URL(), "storage", fmt.Sprint(c.store),
		"policy_bundle", name, "policy_revision", rev, "audit", cfg.Audit.Dir)
	if u := srv.S3URL(); u != "" {
		logger.Info("S3 API listening", "url", u, "bucket", cfg.S3.Bucket, "region", cfg.S3.Region)
	}
	if u := srv.AdminURL(); u != "" {
		logger.Info("admin listening", "url", u, "metrics", cfg.Metrics.Enabled)
		if m.AdminReady != nil {
			m.AdminReady(u)
		}
	}
	if m.Ready != nil {
		m.Ready(srv.URL())
	}

	for {
		select {
		case <-hup:
			c.reload(ctx, logger)
			reloadIssuers(ctx, *configPath, auth, logger)
			if tlsr != nil {
				_ = tlsr.Reload() // it logs the outcome
			}
		case <-tick:
			// Reload logs a failure and keeps the lists in force; /readyz
			// reports them stale.
			_ = c.screener.Reload()
		case <-ctx.Done():
			logger.Info("shutting down")
			return srv.Close()
		}
	}
}

// loopbackAddr reports whether a listen address binds loopback only; an
// empty host (every interface) does not.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// reloadIssuers rereads the configuration file's auth section and puts a
// verifier built from it in force: tokens, and the S3 credentials issued for
// them, of an issuer or a key no longer configured stop working at once. A
// file that does not parse or validate, or issuers that do not load, are
// refused and the issuers in force stay, as a broken policy is.
func reloadIssuers(ctx context.Context, path string, auth *identity.Current, logger *slog.Logger) {
	cfg, err := ReadConfigFile(path)
	if err != nil {
		logger.Error("issuer reload refused; the issuers in force stay", "err", err)
		return
	}
	if len(cfg.Auth.Issuers) == 0 {
		auth.Replace(nil)
		logger.Warn("issuers reloaded: none is configured; every token and S3 credential is refused")
		return
	}
	v, err := identity.New(ctx, cfg.Auth, logger)
	if err != nil {
		logger.Error("issuer reload refused; the issuers in force stay", "err", err)
		return
	}
	auth.Replace(v)
	logger.Info("issuers reloaded", "issuers", len(cfg.Auth.Issuers))
}

// openTrail opens the audit trail the configuration describes.
func openTrail(c audit.TrailConfig, logger *slog.Logger, metrics *gateway.Metrics) (*audit.Log, error) {
	ac := audit.Config{
		Dir: c.Dir, MaxFileBytes: c.MaxFileBytes, MaxBatch: c.MaxBatch, SyncEveryRecord: !c.GroupCommit,
		CheckpointEvery: c.Checkpoint.Every, CheckpointInterval: c.Checkpoint.Interval, Logger: logger,
		Observe: func(b audit.BatchStats) { metrics.AuditBatch(b.Records, b.Write, b.Sync, b.Err) },
	}
	if c.Checkpoint.Key != "" {
		key, err := identity.LoadPrivateKeyPEM(c.Checkpoint.Key)
		if err != nil {
			return nil, fmt.Errorf("audit.checkpoint.key: %w", err)
		}
		ed, ok := key.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("audit.checkpoint.key: %s is a %T, want an Ed25519 private key", c.Checkpoint.Key, key)
		}
		ac.CheckpointKey = ed
	}
	switch {
	case c.Mirror == "stdout":
		ac.Mirror = audit.NewWriterSink(os.Stdout)
	case c.Mirror != "":
		ac.Mirror = audit.NewHTTPSink(c.Mirror, &http.Client{Timeout: 10 * time.Second})
	}
	if a := c.Anchor; a.URL != "" {
		ac.Anchor, ac.AnchorRequired = trailAnchor(a), a.Required
		var err error
		if ac.Instance, err = trailInstance(c); err != nil {
			return nil, err
		}
	}
	l, err := audit.Open(ac)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if ac.Anchor != nil {
		metrics.AuditAnchor(l.AnchorStats)
	}
	return l, nil
}

// trailAnchor is the anchor audit.anchor names (a.URL set). It is opened
// (and its Object Lock checked) on first use, and again on each use until
// that succeeds: an anchor down at start is then the trail's to handle
// (refuse when required, else retry, not ready).
func trailAnchor(a audit.AnchorConfig) audit.AnchorStore {
	return s3anchor.Lazy(s3anchor.Config{URL: a.URL, Endpoint: a.Endpoint, Region: a.Region,
		AccessKey: a.AccessKey, SecretKey: a.SecretKey, TLS: a.TLS, Retention: a.Retention, MaxRetries: 1})
}

// trailInstance names this gateway's trail: audit.anchor.instance, or the
// host name.
func trailInstance(c audit.TrailConfig) (string, error) {
	if c.Anchor.Instance != "" {
		return c.Anchor.Instance, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("audit.anchor.instance: %w", err)
	}
	if !audit.ValidInstance(h) {
		return "", fmt.Errorf("audit.anchor.instance: the host name %q is not 1 to 64 of [A-Za-z0-9._-]: set audit.anchor.instance", h)
	}
	return h, nil
}

// The console reports its index on the admin /readyz.
var _ gateway.ConsoleState = (*console.Console)(nil)

// openConsole builds the security team's console over an index of the
// trail (and, when audit.anchor is set, of the fleet's trails in the
// anchor) and starts the index following them. Start-up does not wait for
// the index: its first read of a big trail takes minutes (about 12,000
// records a second), and meanwhile the console says it is catching up.
// stop ends the following and closes the index; call it after the server
// has closed, so that no console request is left reading it.
func openConsole(ctx context.Context, cfg Config, c *components, auth *identity.Current, trail *audit.Log, logger *slog.Logger) (con *console.Console, stop func(), err error) {
	cc := cfg.Console
	instance, err := trailInstance(cfg.Audit)
	if err != nil {
		return nil, nil, err
	}
	var key []byte
	if cc.SessionKeyFile != "" {
		if key, err = os.ReadFile(cc.SessionKeyFile); err != nil {
			return nil, nil, fmt.Errorf("console.session_key_file: %w", err)
		}
	}
	opts := console.Options{Verifier: auth, RoleClaim: cc.RoleClaim, Role: cc.Role, SessionTTL: cc.SessionTTL, SessionKey: key,
		Catalog: c.catalog, Policy: c.engine, Screen: c.screen, Expiry: c.expiry, Audit: trail, Logger: logger}
	if cc.ProposedPolicy != "" {
		// The proposed bundle with the data and settings of the policy in
		// force, every input evaluated (no decision cache), as replay does.
		po, err := cfg.Policy.Options(cfg.policySettings(), logger)
		if err != nil {
			return nil, nil, fmt.Errorf("console.proposed_policy: %w", err)
		}
		po.Bundle, po.Regimes, po.DecisionCache = cc.ProposedPolicy, nil, opa.NoDecisionCache
		po.Logger = logger.With("policy_role", "console.proposed_policy")
		proposed, err := opa.New(ctx, po)
		if err != nil {
			return nil, nil, fmt.Errorf("console.proposed_policy: %w", err)
		}
		opts.Proposed, opts.ProposedName = proposed, cc.ProposedPolicy
	}

	path := cfg.consoleIndexFile()
	ix, err := index.Open(path, index.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("console.index_file: %w", err)
	}
	err = ix.AddDir(instance, cfg.Audit.Dir)
	if err == nil && cfg.Audit.Anchor.URL != "" {
		err = ix.AddAnchor(trailAnchor(cfg.Audit.Anchor))
	}
	opts.Index = ix
	if err == nil {
		con, err = console.New(opts)
	}
	if err != nil {
		ix.Close()
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	followCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		ix.Follow(followCtx, time.Second)
	}()
	logger.Info("console enabled", "index", path, "instance", instance, "fleet", cfg.Audit.Anchor.URL != "")
	return con, func() {
		cancel()
		<-done
		if err := ix.Close(); err != nil {
			logger.Error("console: closing the index", "err", err)
		}
	}, nil
}

// s3Options builds the S3 API's options: the credential issuer's key from
// s3.credentials_key, or a random one (credentials then end with the
// process).
func s3Options(c gateway.S3Config, logger *slog.Logger) (*gateway.S3Options, error) {
	var key []byte
	if c.CredentialsKey != "" {
		b, err := os.ReadFile(c.CredentialsKey)
		if err != nil {
			return nil, fmt.Errorf("s3.credentials_key: %w", err)
		}
		key = b
	} else {
		b, err := s3api.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("s3: %w", err)
		}
		key = b
		logger.Warn("s3.credentials_key is not set: S3 credentials are signed with a random key and end with this process")
	}
	iss, err := s3api.NewIssuer(key)
	if err != nil {
		return nil, fmt.Errorf("s3.credentials_key: %w", err)
	}
	return &gateway.S3Options{Addr: c.Listen, Bucket: c.Bucket, Region: c.Region, Issuer: iss,
		MaxSession: c.MaxSession, ClockSkew: c.ClockSkew, Anonymous: c.Anonymous, BucketCreated: c.BucketCreated}, nil
}
