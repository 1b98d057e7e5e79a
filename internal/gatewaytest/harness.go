// Package gatewaytest starts a whole gateway for tests, over real HTTP on
// 127.0.0.1, with the embedded policy, the development token issuer and an
// audit trail in a temporary directory, and reads back what it recorded. The
// gateway's own tests and the end-to-end tests (test/e2e) share it.
package gatewaytest

import (
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/gateway/s3api"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
	s3store "github.com/weightgate/weightgate/storage/s3"
)

// Harness is a gateway over real HTTP with the embedded policy, the
// development token issuer and a file audit log in a temp dir.
type Harness struct {
	URL      string
	S3URL    string // the S3 API's, when Options.S3 is set
	AdminURL string // the operator listener's: /metrics, /healthz, /readyz
	AuditDir string
	Store    storage.ObjectStore
	Registry *prometheus.Registry
	key      crypto.PrivateKey
	auth     *identity.Current
}

// Options configure Start; the zero value is the gateway as shipped.
type Options struct {
	Policy gateway.Decider  // default: the embedded bundle
	Audit  gateway.AuditLog // default: an audit trail in AuditDir
	Wrap   func(storage.ObjectStore) storage.ObjectStore
	TTL    time.Duration
	// WriteIdleTimeout is passed to the server (0 = its default).
	WriteIdleTimeout time.Duration
	// Listener, when set, wraps the Hub API's listener (to watch its
	// connections).
	Listener func(net.Listener) net.Listener
	// RateLimit is passed to the server.
	RateLimit gateway.RateLimit
	// MaxBodyBytes and BodyReadTimeout are passed to the server (0 = its
	// defaults).
	MaxBodyBytes    int64
	BodyReadTimeout time.Duration
	// AuditDir is where Audit writes, when Audit is given and records are
	// read back.
	AuditDir string
	// Frontier configures the catalog's open-weight frontier.
	Frontier catalog.Frontier
	// ScanLimits are passed to the server (zero: the default bounds).
	ScanLimits catalog.ScanLimits
	// ClassificationKeys, when set, are the keys export.yaml must be signed
	// by (catalog.SetClassificationKeys); TestClassificationKeys loads the
	// one that signs testdata/store.
	ClassificationKeys catalog.ClassificationKeys
	// Screener and Locator are passed to the server.
	Screener gateway.Screener
	Locator  *gateway.Locator
	// S3 serves the S3 API too (harness.S3URL), with these options;
	// Issuer, Bucket and Region default to a random key, "models" and
	// us-east-1.
	S3 *gateway.S3Options
	// Issuers are trusted besides the development issuer.
	Issuers []identity.IssuerConfig
	// Now is the gateway's clock (nil: time.Now); token verification
	// keeps the real one.
	Now func() time.Time
	// Releases and Expiry are passed to the server; an Expiry that is a
	// prometheus.Collector is registered with the harness's Registry.
	Releases gateway.ReleaseCounter
	Expiry   gateway.ExpiryWatch
	// Console and ConsolePublic are passed to the server.
	Console       http.Handler
	ConsolePublic bool
}

// Start serves a gateway over store on 127.0.0.1 until the test ends.
func Start(tb testing.TB, store storage.ObjectStore, o Options) *Harness {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	root := s3test.RepoRoot(tb)
	h := &Harness{AuditDir: filepath.Join(tb.TempDir(), "audit"), Store: store}
	if o.AuditDir != "" {
		h.AuditDir = o.AuditDir
	}
	if o.Wrap != nil {
		h.Store = o.Wrap(store)
	}
	if o.Policy == nil {
		eng, err := opa.New(ctx, opa.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		o.Policy = eng
	}
	if o.Audit == nil {
		o.Audit = OpenTrail(tb, h.AuditDir)
	}
	if o.TTL == 0 {
		o.TTL = time.Minute
	}
	v, err := identity.New(ctx, identity.Config{Issuers: append([]identity.IssuerConfig{DevIssuer(tb)}, o.Issuers...)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h.auth = identity.NewCurrent(v)
	tb.Cleanup(func() { h.auth.Close() })
	h.key, err = identity.LoadPrivateKeyPEM(filepath.Join(root, "testdata/keys/dev-ed25519.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	h.Registry = prometheus.NewRegistry()
	if c, ok := o.Expiry.(prometheus.Collector); ok {
		h.Registry.MustRegister(c)
	}
	cat := catalog.NewCatalog(h.Store, 100, o.TTL, nil)
	cat.SetFrontier(o.Frontier)
	cat.SetClassificationKeys(o.ClassificationKeys)
	srv, err := gateway.NewServer(gateway.Options{
		Store: h.Store, Catalog: cat, ScanLimits: o.ScanLimits,
		Policy: o.Policy, Auth: h.auth, Audit: o.Audit, WriteIdleTimeout: o.WriteIdleTimeout,
		Metrics:        gateway.NewMetrics(h.Registry),
		MetricsHandler: promhttp.HandlerFor(h.Registry, promhttp.HandlerOpts{}),
		Screener:       o.Screener, Locator: o.Locator, S3: s3Defaults(tb, o.S3), RateLimit: o.RateLimit,
		MaxBodyBytes: o.MaxBodyBytes, BodyReadTimeout: o.BodyReadTimeout,
		Now: o.Now, Releases: o.Releases, Expiry: o.Expiry,
		Console: o.Console, ConsolePublic: o.ConsolePublic,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	if o.Listener != nil {
		ts.Listener = o.Listener(ts.Listener)
	}
	ts.Start()
	tb.Cleanup(ts.Close)
	h.URL = ts.URL
	admints := httptest.NewServer(srv.AdminHandler())
	tb.Cleanup(admints.Close)
	h.AdminURL = admints.URL
	if o.S3 != nil {
		s3ts := httptest.NewServer(srv.S3Handler())
		tb.Cleanup(s3ts.Close)
		h.S3URL = s3ts.URL
	}
	return h
}

// TestClassificationKeys is the test compliance key that signs
// testdata/store's classifications.
func TestClassificationKeys(tb testing.TB) catalog.ClassificationKeys {
	tb.Helper()
	keys, err := catalog.LoadClassificationKeys([]string{filepath.Join(s3test.RepoRoot(tb), "testdata/keys/classify-ed25519.pub.pem")})
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// DevIssuer is the development issuer every harness trusts at start.
func DevIssuer(tb testing.TB) identity.IssuerConfig {
	return identity.IssuerConfig{
		Issuer: "weightgate-dev", Audience: "weightgate", Algorithms: []string{"EdDSA"},
		PublicKeys: []string{filepath.Join(s3test.RepoRoot(tb), "testdata/keys/dev-ed25519.pub.pem")},
	}
}

// ReplaceIssuers makes the gateway trust exactly issuers from now on (none
// when empty), as serve does on SIGHUP: tokens, and the S3 credentials
// issued for them, of any issuer or key not among them stop working.
func (h *Harness) ReplaceIssuers(tb testing.TB, issuers ...identity.IssuerConfig) {
	tb.Helper()
	if len(issuers) == 0 {
		h.auth.Replace(nil)
		return
	}
	v, err := identity.New(context.Background(), identity.Config{Issuers: issuers}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	h.auth.Replace(v)
}

func s3Defaults(tb testing.TB, o *gateway.S3Options) *gateway.S3Options {
	if o == nil {
		return nil
	}
	c := *o
	if c.Issuer == nil {
		key, err := s3api.GenerateKey()
		if err != nil {
			tb.Fatal(err)
		}
		if c.Issuer, err = s3api.NewIssuer(key); err != nil {
			tb.Fatal(err)
		}
	}
	c.Bucket, c.Region = cmp.Or(c.Bucket, "models"), cmp.Or(c.Region, "us-east-1")
	c.MaxSession, c.ClockSkew = cmp.Or(c.MaxSession, time.Hour), cmp.Or(c.ClockSkew, 15*time.Minute)
	return &c
}

// DirStore is the dir backend over testdata/store.
func DirStore(tb testing.TB) storage.ObjectStore {
	tb.Helper()
	st, err := dirstore.Open(s3test.StoreDir(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// S3Store is the s3 backend over an S3 server seeded with testdata/store.
func S3Store(tb testing.TB, c s3test.Config) storage.ObjectStore {
	tb.Helper()
	st, err := s3store.New(s3store.Config{
		Endpoint: c.Endpoint, Bucket: c.Bucket, Prefix: c.Prefix, Region: c.Region,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, MaxRetries: 1, Timeout: 5 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// Token signs a development token; claims as for `weightgate token`.
func (h *Harness) Token(tb testing.TB, c identity.TokenClaims) string {
	tb.Helper()
	c.Issuer, c.Audience = "weightgate-dev", "weightgate"
	if c.Subject == "" {
		c.Subject = "tester"
	}
	tok, err := identity.Sign(h.key, "", c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// Do sends a request and returns the response with its whole body.
func (h *Harness) Do(tb testing.TB, method, path, token string, header http.Header) (*http.Response, []byte) {
	tb.Helper()
	return h.Send(tb, method, path, token, header, nil)
}

// DoBody sends a request with a body.
func (h *Harness) DoBody(tb testing.TB, method, path, token, contentType, body string) (*http.Response, []byte) {
	tb.Helper()
	return h.Send(tb, method, path, token, http.Header{"Content-Type": {contentType}}, strings.NewReader(body))
}

// Send sends a request with any header and body.
func (h *Harness) Send(tb testing.TB, method, path, token string, header http.Header, body io.Reader) (*http.Response, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

// OpenTrail opens a hash-chained audit trail in dir, closed (and so
// verified to close cleanly) at the end of the test.
func OpenTrail(tb testing.TB, dir string) *audit.Log {
	tb.Helper()
	l, err := audit.Open(audit.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("closing the audit trail: %v", err)
		}
	})
	return l
}

// Records reads the gateway's records from the audit trail, after checking
// the whole chain.
func (h *Harness) Records(tb testing.TB) []audit.Record {
	tb.Helper()
	files, err := audit.Files(h.AuditDir)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := audit.Verify(files, audit.VerifyOptions{}); err != nil {
		tb.Fatalf("the audit trail does not verify: %v", err)
	}
	var out []audit.Record
	err = audit.Scan(files, func(e audit.Entry) error {
		if e.Kind != audit.RecordDecision && e.Kind != audit.RecordTransfer {
			return nil
		}
		var r audit.Record
		if err := json.Unmarshal(e.Record, &r); err != nil {
			return fmt.Errorf("%s:%d: %w", e.File, e.Line, err)
		}
		if r.Type != e.Kind {
			return fmt.Errorf("%s:%d: record type %q under kind %q", e.File, e.Line, r.Type, e.Kind)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// RecordsFor returns the decision and transfer records of one request.
func (h *Harness) RecordsFor(tb testing.TB, requestID string) (decisions, transfers []audit.Record) {
	tb.Helper()
	for _, r := range h.Records(tb) {
		if r.RequestID != requestID {
			continue
		}
		switch r.Type {
		case audit.RecordDecision:
			decisions = append(decisions, r)
		case audit.RecordTransfer:
			transfers = append(transfers, r)
		default:
			tb.Errorf("audit record of unknown type %q", r.Type)
		}
	}
	return decisions, transfers
}

// TransferFor waits (bounded) for the transfer record of a request: the
// gateway writes it after the last byte, so it can trail the client's read.
func (h *Harness) TransferFor(tb testing.TB, requestID string) audit.Record {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, transfers := h.RecordsFor(tb, requestID)
		if len(transfers) > 1 {
			tb.Fatalf("request %s has %d transfer records, want 1", requestID, len(transfers))
		}
		if len(transfers) == 1 {
			return transfers[0]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no transfer record for request %s after 10s", requestID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ErrorBody is the Hub API's JSON error answer.
type ErrorBody struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

// DecodeError decodes an error answer, failing the test when it is not JSON.
func DecodeError(tb testing.TB, body []byte) ErrorBody {
	tb.Helper()
	var e ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return e
}

// ReadFile is os.ReadFile, failing the test on an error.
func ReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FailingAudit refuses every record.
type FailingAudit struct{ Calls atomic.Int64 }

func (a *FailingAudit) Record(context.Context, *audit.Record) error {
	a.Calls.Add(1)
	return errors.New("no space left on device")
}

func (a *FailingAudit) Healthy(context.Context) error { return errors.New("no space left on device") }
