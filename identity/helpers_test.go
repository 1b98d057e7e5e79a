package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// keysDir is the repository's testdata/keys, relative to this package.
var keysDir = filepath.Join("..", "testdata", "keys")

const (
	testIssuer   = "https://idp.test"
	testAudience = "weightgate"
)

// testNow is the fixed clock of every Verifier built by MustNewVerifier.
var testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// keyPath returns the path of a file in testdata/keys.
func keyPath(name string) string { return filepath.Join(keysDir, name) }

// MustLoadPrivateKey loads a private key from testdata/keys.
func MustLoadPrivateKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	k, err := LoadPrivateKeyPEM(keyPath(name))
	if err != nil {
		tb.Fatal(err)
	}
	return k.(crypto.Signer)
}

// MustNewVerifier builds a Verifier with the fixed test clock and closes it
// when the test ends.
func MustNewVerifier(tb testing.TB, cfg Config, opts ...Option) *Verifier {
	tb.Helper()
	opts = append([]Option{WithClock(func() time.Time { return testNow })}, opts...)
	v, err := New(context.Background(), cfg, nil, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// testConfig trusts testIssuer with the dev key (no kid), the RSA test key
// as kid "rsa" and the EC test key as kid "ec".
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Issuers = []IssuerConfig{{
		Issuer:     testIssuer,
		Audience:   testAudience,
		Algorithms: []string{AlgEdDSA, AlgRS256, AlgES256},
		PublicKeys: []string{
			keyPath("dev-ed25519.pub.pem"),
			"rsa=" + keyPath("test-rsa2048.pub.pem"),
			"ec=" + keyPath("test-ec-p256.pub.pem"),
		},
	}}
	return cfg
}

// baseClaims returns valid claims for testIssuer at testNow.
func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "alice",
		"iat": testNow.Unix(),
		"nbf": testNow.Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
}

// MustSignRaw signs claims with key using method, adding kid when not empty.
// Unlike Sign it writes exactly the claims given, to build broken tokens.
func MustSignRaw(tb testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// otherEd25519 is a key nobody trusts.
var otherEd25519 = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// assertReason checks that err is an *Error with CodeInvalidToken and want
// as Reason, and that nothing of raw leaks into its text.
func assertReason(tb testing.TB, err error, want, raw string) {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if got, want := e.Code, CodeInvalidToken; got != want {
		tb.Errorf("Code = %q, want %q", got, want)
	}
	if got := e.Reason; got != want {
		tb.Errorf("Reason = %q, want %q (err: %v)", got, want, err)
	}
	if e.Message == "" {
		tb.Errorf("Message is empty")
	}
	if raw != "" && (strings.Contains(e.Message, raw) || strings.Contains(e.Error(), raw)) {
		tb.Errorf("error text contains the raw token")
	}
}

// logBuffer is a concurrency-safe sink for a text slog.Logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
