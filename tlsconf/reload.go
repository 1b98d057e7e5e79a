package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// minVersions maps min_version to crypto/tls's constants.
var minVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// nextProtos is what every listener offers in ALPN. The handshake config
// comes from GetConfigForClient, which net/http's ServeTLS never sees, so
// the "h2" it adds to the listener's own config would be lost: it is set
// here instead.
var nextProtos = []string{"h2", "http/1.1"}

// Reloader holds the certificate and client CA bundle in force and
// replaces them when their files change (Watch) or on demand (Reload, for
// SIGHUP). A set of files that does not load is refused: what is in force
// keeps serving, and the refusal is logged.
type Reloader struct {
	cfg    Config
	min    uint16
	logger *slog.Logger
	cur    atomic.Pointer[loaded]

	// mu serialises loads, and guards what the poll last saw.
	mu       sync.Mutex
	stamps   [3]stamp
	failed   [sha256.Size]byte // content last refused, not logged again
	hasFails bool
}

// loaded is one set of files, loaded: what a handshake uses.
type loaded struct {
	conf *tls.Config
	leaf *x509.Certificate
	sum  [sha256.Size]byte // of the files' content
}

// Load reads the files c names and returns a Reloader serving them. Its
// error names the file at fault. c must be Enabled and valid.
func Load(c Config, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	minV, ok := minVersions[c.MinVersion]
	if !ok {
		return nil, fmt.Errorf("tls.min_version: %q is not 1.2 or 1.3", c.MinVersion)
	}
	r := &Reloader{cfg: c, min: minV, logger: logger}
	r.stamps = r.stat()
	files, err := r.read()
	if err != nil {
		return nil, err
	}
	l, err := r.load(files)
	if err != nil {
		return nil, err
	}
	r.cur.Store(l)
	warnValidity(logger, l.leaf)
	return r, nil
}

// ServerConfig is the tls.Config for a listener: each handshake takes the
// certificate, client CAs and settings in force at that moment.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: r.min,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().conf, nil
		},
	}
}

// Leaf is the certificate in force (its first in the chain).
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().leaf }

// Reload reads the files again and puts them in force, whether or not they
// changed; when they do not load, those in force stay. It logs the outcome.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stamps = r.stat()
	files, err := r.read()
	if err == nil {
		err = r.swap(files)
	}
	if err != nil {
		r.logger.Error("TLS reload refused; the certificate in force keeps serving", "err", err,
			"serial", r.Leaf().SerialNumber.Text(16), "not_after", r.Leaf().NotAfter)
	}
	return err
}

// Check reloads when a file changed since the last check: its stat first
// (size, time, inode, so a symlink swapped to another file counts), then,
// only when a stat moved, its content. It reports whether a new
// certificate was put in force; a refusal is logged once per content.
func (r *Reloader) Check() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stat()
	if st == r.stamps {
		return false
	}
	r.stamps = st
	files, err := r.read()
	if err != nil {
		// A file missing halfway through a replacement: its stat moves
		// again when it is back.
		r.logger.Error("TLS reload refused; the certificate in force keeps serving", "err", err)
		return false
	}
	sum := files.sum()
	if sum == r.cur.Load().sum || (r.hasFails && sum == r.failed) {
		return false // touched, not changed; or refused already
	}
	if err := r.swap(files); err != nil {
		r.failed, r.hasFails = sum, true
		r.logger.Error("TLS reload refused; the certificate in force keeps serving", "err", err,
			"serial", r.Leaf().SerialNumber.Text(16), "not_after", r.Leaf().NotAfter)
		return false
	}
	return true
}

// Watch calls Check every ReloadInterval until ctx ends; with no interval
// it returns at once.
func (r *Reloader) Watch(ctx context.Context) {
	if r.cfg.ReloadInterval <= 0 {
		return
	}
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Check()
		}
	}
}

// swap loads files and puts them in force. r.mu is held.
func (r *Reloader) swap(files contents) error {
	l, err := r.load(files)
	if err != nil {
		return err
	}
	r.cur.Store(l)
	r.hasFails = false
	r.logger.Info("TLS certificate loaded", "cert_file", r.cfg.CertFile, "serial", l.leaf.SerialNumber.Text(16),
		"subject", l.leaf.Subject.String(), "not_after", l.leaf.NotAfter, "client_ca", r.cfg.ClientCA != "")
	warnValidity(r.logger, l.leaf)
	return nil
}

// contents are the files' bytes, as read together.
type contents struct{ cert, key, ca []byte }

func (c contents) sum() [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{c.cert, c.key, c.ca} {
		// Length-prefixed, so that bytes cannot move from one file to
		// the next unnoticed.
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}

func (r *Reloader) read() (contents, error) {
	var c contents
	var err error
	if c.cert, err = os.ReadFile(r.cfg.CertFile); err != nil {
		return c, fmt.Errorf("tls.cert_file: %w", err)
	}
	if c.key, err = os.ReadFile(r.cfg.KeyFile); err != nil {
		return c, fmt.Errorf("tls.key_file: %w", err)
	}
	if r.cfg.ClientCA != "" {
		if c.ca, err = os.ReadFile(r.cfg.ClientCA); err != nil {
			return c, fmt.Errorf("tls.client_ca: %w", err)
		}
	}
	return c, nil
}

// load parses files into the config a handshake uses.
func (r *Reloader) load(files contents) (*loaded, error) {
	cert, err := tls.X509KeyPair(files.cert, files.key)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file %s with tls.key_file %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	if cert.Leaf == nil { // X509KeyPair fills it; a guard, not a path
		return nil, fmt.Errorf("tls.cert_file %s: no certificate", r.cfg.CertFile)
	}
	conf := &tls.Config{
		MinVersion:   r.min,
		Certificates: []tls.Certificate{cert},
		NextProtos:   nextProtos,
	}
	if r.cfg.ClientCA != "" {
		pool, err := parseCAs(files.ca)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca %s: %w", r.cfg.ClientCA, err)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return &loaded{conf: conf, leaf: cert.Leaf, sum: files.sum()}, nil
}

// parseCAs parses a bundle in which every PEM block must be a certificate:
// x509.CertPool.AppendCertsFromPEM skips what it cannot parse, and a
// bundle half ignored would refuse clients nobody meant to refuse.
func parseCAs(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, want CERTIFICATE", n+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}

// warnValidity logs a certificate that is not valid now: it is served all
// the same (a clock may be wrong), but clients will refuse it.
func warnValidity(logger *slog.Logger, leaf *x509.Certificate) {
	now := time.Now()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		logger.Warn("the TLS certificate is not valid now; clients will refuse it",
			"not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
}

// stamp is what a stat says of a file; the zero stamp, that it is missing.
type stamp struct {
	size, mod int64 // mod: nanoseconds since the epoch
	dev, ino  uint64
}

// stat stamps the three files, following symlinks.
func (r *Reloader) stat() [3]stamp {
	var s [3]stamp
	for i, p := range []string{r.cfg.CertFile, r.cfg.KeyFile, r.cfg.ClientCA} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		s[i] = stamp{size: fi.Size(), mod: fi.ModTime().UnixNano()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s[i].dev, s[i].ino = uint64(st.Dev), st.Ino
		}
	}
	return s
}
