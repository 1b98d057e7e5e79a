package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestGatewayConfig renders the gateway configuration from the
// repository's config.example.yaml: overrides applied, every path made
// absolute (the file is written far from the repository) and still
// pointing at what the example names.
func TestGatewayConfig(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := gatewayConfig(repo, map[string]string{
		"listen":            "127.0.0.1:18080",
		"storage.backend":   "s3",
		"storage.s3.prefix": "",
		"audit.dir":         "/tmp/wgbench-audit",
		"new.section.key":   "42",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "#") {
		t.Errorf("comments left in:\n%s", out)
	}
	var cfg struct {
		Listen  string
		Storage struct {
			Backend string
			S3      struct{ Prefix *string }
		}
		Audit struct {
			Dir         string
			GroupCommit bool `yaml:"group_commit"`
		}
		Auth struct {
			Issuers []struct {
				PublicKeys []string `yaml:"public_keys"`
			}
		}
		Policy    struct{ Registry string }
		Screening struct{ Lists []struct{ Path string } }
		New       struct{ Section struct{ Key int } }
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if cfg.Listen != "127.0.0.1:18080" || cfg.Storage.Backend != "s3" || cfg.Audit.Dir != "/tmp/wgbench-audit" || cfg.New.Section.Key != 42 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if cfg.Storage.S3.Prefix == nil || *cfg.Storage.S3.Prefix != "" {
		t.Errorf("storage.s3.prefix = %v, want an empty string", cfg.Storage.S3.Prefix)
	}
	if !cfg.Audit.GroupCommit {
		t.Error("audit.group_commit from the example was lost")
	}
	paths := []string{cfg.Policy.Registry}
	for _, l := range cfg.Screening.Lists {
		paths = append(paths, l.Path)
	}
	for _, is := range cfg.Auth.Issuers {
		paths = append(paths, is.PublicKeys...)
	}
	if len(paths) < 3 {
		t.Fatalf("expected the example's registry, screening lists and issuer keys; got %v", paths)
	}
	for _, p := range paths {
		if !filepath.IsAbs(p) || !strings.HasPrefix(p, repo) {
			t.Errorf("path %q is not absolute under the repository", p)
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("path %q: %v", p, err)
		}
	}
}

func TestNginxConf(t *testing.T) {
	var b strings.Builder
	if err := nginxConf.Execute(&b, map[string]string{
		"User": "", "Prefix": "/p", "Upstream": "127.0.0.1:1", "ProxyOn": "127.0.0.1:2", "ProxyOff": "127.0.0.1:3",
		"Files": "127.0.0.1:4", "Root": "/data/models",
	}); err != nil {
		t.Fatal(err)
	}
	conf := b.String()
	for _, want := range []string{
		"worker_processes auto;", "pid /p/nginx.pid;", "proxy_temp_path /p/tmp/proxy;",
		"server 127.0.0.1:1;", "listen 127.0.0.1:2;", "proxy_buffering on;", "listen 127.0.0.1:3;", "proxy_buffering off;",
		"proxy_set_header Host $http_host;", "root /data/models;", "sendfile on;", "tcp_nopush on;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if strings.Contains(conf, "user ") {
		t.Error("a user directive without a user")
	}
}
