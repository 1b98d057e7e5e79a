// Package tlsconf is the gateway's TLS: the configuration file's tls
// section, and the certificate (with the client CA bundle, for mutual TLS)
// that its listeners serve, reloaded without a restart.
//
// The listeners never hold a certificate themselves: their tls.Config asks
// this package for the one in force at each handshake (GetConfigForClient
// over an atomically swapped value), so a reload applies to the next
// connection and connections already open, and the transfers on them, go
// on under the certificate they started with.
//
// Changes are found by polling (stat, then content) rather than with
// fsnotify: Kubernetes updates a mounted secret by swapping a symlink in
// the directory above the file, and many editors and tools write a new file
// and rename it over the old one; an inode watch sees neither (or sees a
// removal, after which it watches nothing), and watching directories
// instead means following symlink chains by hand. A stat of three small
// files every few seconds sees all of these, reads the content only when a
// stat changed, and needs no dependency.
package tlsconf

import (
	"time"

	"github.com/weightgate/weightgate/config"
)

// Config is the tls section of the configuration file. With CertFile set,
// every listener of the gateway (the Hub API, the S3 API and the admin
// listener) serves TLS with it; without, all serve plain HTTP.
type Config struct {
	// CertFile and KeyFile are the PEM certificate chain (leaf first) and
	// its private key; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MinVersion is the oldest TLS version accepted: "1.2" or "1.3". Go
	// negotiates TLS 1.3 whenever the client offers it, so "1.2" only
	// lets older clients in; it does not lower anyone else.
	MinVersion string `yaml:"min_version"`
	// ClientCA, when set, is a PEM bundle of CA certificates: every
	// listener then requires a client certificate issued by one of them
	// (mutual TLS), checked at the handshake, before any token.
	ClientCA string `yaml:"client_ca"`
	// ReloadInterval is how often the files are checked for changes; 0
	// checks only on SIGHUP.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// DefaultMinVersion and DefaultReloadInterval are the section's defaults.
const (
	DefaultMinVersion     = "1.2"
	DefaultReloadInterval = 5 * time.Second
)

// DefaultConfig is the section's value for every key a file omits: no TLS.
func DefaultConfig() Config {
	return Config{MinVersion: DefaultMinVersion, ReloadInterval: DefaultReloadInterval}
}

// Enabled reports whether the listeners serve TLS.
func (c Config) Enabled() bool { return c.CertFile != "" }

// Validate returns c's problems, each named under section ("tls"). It
// checks the settings only; Load reads the files.
func (c Config) Validate(section string) config.Problems {
	var p config.Problems
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		p.Addf(section+".key_file", c.KeyFile, "required with %s.cert_file", section)
	case c.CertFile == "" && c.KeyFile != "":
		p.Addf(section+".cert_file", c.CertFile, "required with %s.key_file", section)
	}
	if _, ok := minVersions[c.MinVersion]; !ok {
		p.Addf(section+".min_version", c.MinVersion, `must be "1.2" or "1.3"`)
	}
	if c.ClientCA != "" && c.CertFile == "" {
		p.Addf(section+".client_ca", c.ClientCA, "needs %s.cert_file: mutual TLS is TLS", section)
	}
	if c.ReloadInterval < 0 {
		p.Addf(section+".reload_interval", c.ReloadInterval, "must be 0 (SIGHUP only) or positive")
	}
	return p
}
