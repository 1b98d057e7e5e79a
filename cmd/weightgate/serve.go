package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weightgate/weightgate/gateway"
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

	engine, err := policy.New(ctx, policy.Options{Bundle: cfg.Policy.Bundle, Extensions: cfg.Policy.Extensions, Logger: logger})
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

	audit, err := gateway.OpenFileAudit(cfg.Audit.Path)
	if err != nil {
		return err
	}
	defer audit.Close()

	opts := gateway.Options{
		Addr: cfg.Listen, Store: c.store, Catalog: c.catalog, Policy: c.engine,
		Audit: audit, Logger: logger,
		WriteIdleTimeout: cfg.WriteIdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	if c.verifier != nil {
		opts.Auth = c.verifier
	}
	srv, err := gateway.NewServer(opts)
	if err != nil {
		return err
	}
	if err := srv.Open(); err != nil {
		return err
	}
	name, rev := c.engine.Bundle()
	logger.Info("weightgate listening", "url", srv.URL(), "storage", fmt.Sprint(c.store),
		"policy_bundle", name, "policy_revision", rev, "audit", cfg.Audit.Path)
	if m.Ready != nil {
		m.Ready(srv.URL())
	}

	// SIGHUP reloads the policy; a bundle that does not compile is refused
	// and the one in force keeps serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
