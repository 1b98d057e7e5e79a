package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/gateway/audit"
	"github.com/weightgate/weightgate/gateway/dirstore"
	"github.com/weightgate/weightgate/gateway/identity"
	"github.com/weightgate/weightgate/gateway/s3store"
	"github.com/weightgate/weightgate/policy"
)

// components are the concrete parts a command wires together.
type components struct {
	store    gateway.ObjectStore
	catalog  *gateway.Catalog
	engine   *policy.Engine
	verifier *identity.Verifier // nil when no issuer is configured
}

func (c *components) Close() {
	if c.verifier != nil {
		c.verifier.Close()
	}
}

// build opens storage, compiles the policy and loads the token verifier.
func build(ctx context.Context, cfg Config, logger *slog.Logger) (*components, error) {
	c := &components{}
	switch cfg.Storage.Backend {
	case "dir":
		st, err := dirstore.Open(cfg.Storage.Dir.Path)
		if err != nil {
			return nil, err
		}
		c.store = st
	case "s3":
		s := cfg.Storage.S3
		st, err := s3store.New(s3store.Config{
			Endpoint: s.Endpoint, Secure: s.TLS, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region,
			AccessKey: os.Getenv("WEIGHTGATE_S3_ACCESS_KEY"), SecretKey: os.Getenv("WEIGHTGATE_S3_SECRET_KEY"),
			Timeout: s.Timeout, MaxRetries: s.MaxRetries,
		})
		if err != nil {
			return nil, err
		}
		c.store = st
	}
	c.catalog = gateway.NewCatalog(c.store, cfg.Metadata.CacheSize, cfg.Metadata.CacheTTL, logger)
	c.catalog.SetFrontier(gateway.Frontier{FLOP: cfg.Policy.OpenFrontierFLOP, FromCatalog: cfg.Policy.OpenFrontierFromCatalog})

	opts, err := cfg.Policy.policyOptions(logger)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	engine, err := policy.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	c.engine = engine

	if len(cfg.Auth.Issuers) > 0 {
		v, err := identity.New(ctx, cfg.Auth, logger)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		c.verifier = v
	}
	return c, nil
}

func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.newFlagSet("serve", "--config FILE")
	configPath := fs.String("config", "", "configuration file (see config.example.yaml)")
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
	logger := newLogger(m.Stderr, cfg.Log)

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
		Audit: gateway.Trail{Log: trail}, Logger: logger, Metrics: metrics,
		WriteIdleTimeout: cfg.WriteIdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	if cfg.Metrics.Enabled {
		opts.MetricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	if c.verifier != nil {
		opts.Auth = c.verifier
	}
	srv, err := gateway.NewServer(opts)
	if err != nil {
		return err
	}
	// SIGHUP reloads the policy; a bundle that does not compile is refused
	// and the one in force keeps serving. The handler is in place before
	// the gateway says it is ready: an unhandled SIGHUP would kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if err := srv.Open(); err != nil {
		return err
	}
	name, rev := c.engine.Bundle()
	logger.Info("weightgate listening", "url", srv.URL(), "storage", fmt.Sprint(c.store),
		"policy_bundle", name, "policy_revision", rev, "audit", cfg.Audit.Dir)
	if m.Ready != nil {
		m.Ready(srv.URL())
	}

	for {
		select {
		case <-hup:
			if err := c.engine.Reload(ctx); err != nil {
				logger.Error("policy reload refused; the previous policy stays in force", "err", err)
				continue
			}
			name, rev := c.engine.Bundle()
			logger.Info("policy reloaded", "policy_bundle", name, "policy_revision", rev)
		case <-ctx.Done():
			logger.Info("shutting down")
			return srv.Close()
		}
	}
}

// openTrail opens the audit trail the configuration describes.
func openTrail(c AuditConfig, logger *slog.Logger, metrics *gateway.Metrics) (*audit.Log, error) {
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
	l, err := audit.Open(ac)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return l, nil
}
