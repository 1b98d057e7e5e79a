package tlsconf_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weightgate/weightgate/config"
	"github.com/weightgate/weightgate/internal/tlstest"
	"github.com/weightgate/weightgate/tlsconf"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*tlsconf.Config)
		want []string // the fields with a problem
	}{
		{"defaults: no TLS", func(*tlsconf.Config) {}, nil},
		{"cert and key", func(c *tlsconf.Config) { c.CertFile, c.KeyFile = "c.pem", "k.pem" }, nil},
		{"everything", func(c *tlsconf.Config) {
			c.CertFile, c.KeyFile, c.ClientCA, c.MinVersion, c.ReloadInterval = "c.pem", "k.pem", "ca.pem", "1.3", 0
		}, nil},
		{"cert without key", func(c *tlsconf.Config) { c.CertFile = "c.pem" }, []string{"tls.key_file"}},
		{"key without cert", func(c *tlsconf.Config) { c.KeyFile = "k.pem" }, []string{"tls.cert_file"}},
		{"min_version 1.1", func(c *tlsconf.Config) { c.MinVersion = "1.1" }, []string{"tls.min_version"}},
		{"min_version spelt as a constant", func(c *tlsconf.Config) { c.MinVersion = "TLS1.2" }, []string{"tls.min_version"}},
		{"min_version empty", func(c *tlsconf.Config) { c.MinVersion = "" }, []string{"tls.min_version"}},
		{"client_ca without a certificate", func(c *tlsconf.Config) { c.ClientCA = "ca.pem" }, []string{"tls.client_ca"}},
		{"negative reload_interval", func(c *tlsconf.Config) { c.ReloadInterval = -time.Second }, []string{"tls.reload_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tlsconf.DefaultConfig()
			tt.edit(&c)
			var got []string
			for _, e := range c.Validate("tls") {
				got = append(got, e.Field)
			}
			if g, w := strings.Join(got, ","), strings.Join(tt.want, ","); g != w {
				t.Errorf("problems in %s, want %s (%v)", g, w, c.Validate("tls").Err("x"))
			}
		})
	}
	if c := tlsconf.DefaultConfig(); c.Enabled() || c.MinVersion != "1.2" || c.ReloadInterval <= 0 {
		t.Errorf("DefaultConfig = %+v: want TLS off, min 1.2, a positive reload interval", c)
	}
	var e *config.Error
	if p := (tlsconf.Config{MinVersion: "1.0"}).Validate("tls"); !errors.As(p.Err("x"), &e) {
		t.Error("Validate's problems are not config.Errors")
	}
}

// files writes a server certificate of ca into a new dir.
func files(t *testing.T, ca *tlstest.CA) (tlsconf.Config, *tlstest.Cert) {
	t.Helper()
	c := ca.Server(t)
	cfg := tlsconf.DefaultConfig()
	cfg.CertFile, cfg.KeyFile = c.Write(t, t.TempDir())
	return cfg, c
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	tests := []struct {
		name string
		edit func(t *testing.T, c *tlsconf.Config)
		want string // in the error; "" = loads
	}{
		{"a pair", func(*testing.T, *tlsconf.Config) {}, ""},
		{"a pair and a client CA", func(t *testing.T, c *tlsconf.Config) {
			c.ClientCA = filepath.Join(t.TempDir(), "ca.pem")
			tlstest.WriteFile(t, c.ClientCA, append(tlstest.NewCA(t, "a").PEM, tlstest.NewCA(t, "b").PEM...))
		}, ""},
		{"missing cert file", func(t *testing.T, c *tlsconf.Config) { os.Remove(c.CertFile) }, "tls.cert_file: open "},
		{"missing key file", func(t *testing.T, c *tlsconf.Config) { os.Remove(c.KeyFile) }, "tls.key_file: open "},
		{"key of another certificate", func(t *testing.T, c *tlsconf.Config) {
			tlstest.WriteFile(t, c.KeyFile, ca.Server(t).KeyPEM)
		}, "private key does not match public key"},
		{"cert file not PEM", func(t *testing.T, c *tlsconf.Config) {
			tlstest.WriteFile(t, c.CertFile, []byte("not a certificate\n"))
		}, "tls.cert_file "},
		{"client CA not PEM", func(t *testing.T, c *tlsconf.Config) {
			c.ClientCA = filepath.Join(t.TempDir(), "ca.pem")
			tlstest.WriteFile(t, c.ClientCA, []byte("garbage\n"))
		}, "no PEM certificate"},
		{"client CA holding a key", func(t *testing.T, c *tlsconf.Config) {
			c.ClientCA = filepath.Join(t.TempDir(), "ca.pem")
			tlstest.WriteFile(t, c.ClientCA, append(ca.PEM, ca.Server(t).KeyPEM...))
		}, `PEM block 2 is a "PRIVATE KEY"`},
		{"client CA block that does not parse", func(t *testing.T, c *tlsconf.Config) {
			c.ClientCA = filepath.Join(t.TempDir(), "ca.pem")
			tlstest.WriteFile(t, c.ClientCA, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
		}, "PEM block 1: x509"},
		{"missing client CA", func(t *testing.T, c *tlsconf.Config) {
			c.ClientCA = filepath.Join(t.TempDir(), "ca.pem")
		}, "tls.client_ca: open "},
		{"min_version not known", func(t *testing.T, c *tlsconf.Config) { c.MinVersion = "1.1" }, "tls.min_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, cert := files(t, ca)
			tt.edit(t, &cfg)
			r, err := tlsconf.Load(cfg, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got, want := r.Leaf().SerialNumber, cert.Leaf.SerialNumber; got.Cmp(want) != 0 {
					t.Errorf("serial %x, want %x", got, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v; want an error with %q", err, tt.want)
			}
			// The error names the file at fault.
			named := false
			for _, f := range []string{cfg.CertFile, cfg.KeyFile, cfg.ClientCA} {
				named = named || (f != "" && strings.Contains(err.Error(), f))
			}
			if !named && tt.name != "min_version not known" {
				t.Errorf("Load: %v names no file", err)
			}
		})
	}
}

// serve accepts TLS connections with conf on 127.0.0.1 and completes
// their handshakes, until the test ends.
func serve(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Read(make([]byte, 1)) // until the client closes
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr and returns the serial of the certificate served.
func handshake(t *testing.T, addr string, conf *tls.Config) (*big.Int, error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: conf}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// logBuffer is a log the reloader and the test share.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCheck: a replaced pair is put in force at the next Check, and new
// handshakes get it; a pair that does not match is refused, logged once,
// and the one in force keeps serving; SIGHUP's Reload forces a reread.
func TestCheck(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	cfg, first := files(t, ca)
	var logs logBuffer
	r, err := tlsconf.Load(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r.ServerConfig())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	served := func() *big.Int {
		t.Helper()
		s, err := handshake(t, addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := served(); got.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("served %x, want %x", got, first.Leaf.SerialNumber)
	}
	if r.Check() {
		t.Error("Check reloaded files that did not change")
	}
	// Touched, not changed: the stat moves, the content does not.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(cfg.CertFile, later, later); err != nil {
		t.Fatal(err)
	}
	if r.Check() {
		t.Error("Check reloaded a touched file of the same content")
	}

	second := ca.Server(t)
	second.Write(t, filepath.Dir(cfg.CertFile))
	if !r.Check() {
		t.Fatal("Check did not reload a replaced pair")
	}
	if got := served(); got.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Errorf("after the change: served %x, want %x", got, second.Leaf.SerialNumber)
	}

	// A new certificate with the old key: refused, logged, not in force.
	third := ca.Server(t)
	tlstest.WriteFile(t, cfg.CertFile, third.CertPEM)
	if r.Check() {
		t.Fatal("Check put a mismatched pair in force")
	}
	if got := served(); got.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Errorf("after a refused pair: served %x, want %x still", got, second.Leaf.SerialNumber)
	}
	if n := strings.Count(logs.String(), "TLS reload refused"); n != 1 {
		t.Errorf("refusal logged %d times, want 1:\n%s", n, logs.String())
	}
	later = later.Add(time.Minute)
	if err := os.Chtimes(cfg.CertFile, later, later); err != nil {
		t.Fatal(err)
	}
	if r.Check() || strings.Count(logs.String(), "TLS reload refused") != 1 {
		t.Errorf("the same refused content was tried again:\n%s", logs.String())
	}
	// Its key arrives: now the pair loads.
	tlstest.WriteFile(t, cfg.KeyFile, third.KeyPEM)
	if !r.Check() {
		t.Fatal("Check did not load the pair once its key arrived")
	}
	if got := served(); got.Cmp(third.Leaf.SerialNumber) != 0 {
		t.Errorf("served %x, want %x", got, third.Leaf.SerialNumber)
	}

	// Reload (SIGHUP) rereads whatever the stat says; a missing key is
	// refused and the certificate in force stays.
	if err := os.Remove(cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), cfg.KeyFile) {
		t.Errorf("Reload with the key gone: %v; want an error naming %s", err, cfg.KeyFile)
	}
	if got := served(); got.Cmp(third.Leaf.SerialNumber) != 0 {
		t.Errorf("after a refused reload: served %x, want %x", got, third.Leaf.SerialNumber)
	}
	fourth := ca.Server(t)
	fourth.Write(t, filepath.Dir(cfg.CertFile))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got.Cmp(fourth.Leaf.SerialNumber) != 0 {
		t.Errorf("after Reload: served %x, want %x", got, fourth.Leaf.SerialNumber)
	}
}

// TestWatchSymlinkSwap: a Kubernetes secret volume replaces its files by
// pointing the ..data symlink at a new directory; the watch sees it.
func TestWatchSymlinkSwap(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	version := func(name string, c *tlstest.Cert) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		c.Write(t, filepath.Join(dir, name))
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	first, second := ca.Server(t), ca.Server(t)
	version("v1", first)
	cfg := tlsconf.DefaultConfig()
	cfg.CertFile, cfg.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	cfg.ReloadInterval = 10 * time.Millisecond
	r, err := tlsconf.Load(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx)
	version("v2", second)
	for deadline := time.Now().Add(10 * time.Second); r.Leaf().SerialNumber.Cmp(second.Leaf.SerialNumber) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the watch did not load the swapped files in 10s: serial %x, want %x", r.Leaf().SerialNumber, second.Leaf.SerialNumber)
		}
	}
}

// TestMinVersion: TLS 1.1 never; TLS 1.2 unless min_version is 1.3; a
// client offering 1.3 gets it either way.
func TestMinVersion(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "test CA")
	for _, minV := range []string{"1.2", "1.3"} {
		cfg, _ := files(t, ca)
		cfg.MinVersion = minV
		r, err := tlsconf.Load(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		addr := serve(t, r.ServerConfig())
		for _, tt := range []struct {
			name     string
			min, max uint16
			ok       bool
		}{
			{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, false},
			{"TLS 1.2 only", tls.VersionTLS12, tls.VersionTLS12, minV == "1.2"},
			{"any", 0, 0, true},
		} {
			c := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tt.min, MaxVersion: tt.max}
			var version uint16
			c.VerifyConnection = func(cs tls.ConnectionState) error { version = cs.Version; return nil }
			_, err := handshake(t, addr, c)
			if got := err == nil; got != tt.ok {
				t.Errorf("min_version %s, client %s: handshake error %v, want success %v", minV, tt.name, err, tt.ok)
			}
			if tt.name == "any" && version != tls.VersionTLS13 {
				t.Errorf("min_version %s: a client offering every version got %x, want TLS 1.3", minV, version)
			}
		}
	}
}
