package identity

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

// jwksServer serves a JWK Set that a test can replace, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int64
}

// MustJWKSServer starts a JWKS server publishing keys (kid → private key).
func MustJWKSServer(tb testing.TB, keys map[string]crypto.Signer) *jwksServer {
	tb.Helper()
	s := &jwksServer{}
	s.Set(tb, keys)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// Set replaces the published JWK Set with the public halves of keys, built
// with jwkset the way an IdP would publish them.
func (s *jwksServer) Set(tb testing.TB, keys map[string]crypto.Signer) {
	tb.Helper()
	ctx := context.Background()
	store := jwkset.NewMemoryStorage()
	for kid, k := range keys {
		alg, err := algorithmForPublicKey(k.Public())
		if err != nil {
			tb.Fatal(err)
		}
		jwk, err := jwkset.NewJWKFromKey(k.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg), USE: jwkset.UseSig},
		})
		if err != nil {
			tb.Fatal(err)
		}
		if err := store.KeyWrite(ctx, jwk); err != nil {
			tb.Fatal(err)
		}
	}
	body, err := store.JSONPublic(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func jwksConfig(url string, refresh time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Issuers = []IssuerConfig{{
		Issuer:      testIssuer,
		Audience:    testAudience,
		Algorithms:  []string{AlgEdDSA, AlgRS256, AlgES256},
		JWKSURL:     url,
		JWKSRefresh: refresh,
	}}
	return cfg
}

func newEd25519(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// MustSign signs a valid token for testIssuer at testNow.
func MustSign(tb testing.TB, key crypto.Signer, kid string) string {
	tb.Helper()
	raw, err := Sign(key, kid, TokenClaims{Issuer: testIssuer, Audience: testAudience, Subject: "alice", IssuedAt: testNow})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestJWKSTwoKids(t *testing.T) {
	keyA := newEd25519(t)
	keyB := MustLoadPrivateKey(t, "test-rsa2048.pem")
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": keyA, "b": keyB})
	v := MustNewVerifier(t, jwksConfig(srv.URL, time.Hour))

	tests := []struct {
		name string
		raw  string
		want string // "" for success
	}{
		{"kid a", MustSign(t, keyA, "a"), ""},
		{"kid b", MustSign(t, keyB, "b"), ""},
		// Without a kid every JWKS key whose alg fits is tried.
		{"no kid", MustSign(t, keyA, ""), ""},
		{"key a under kid b", MustSign(t, keyA, "b"), ReasonUnknownKey}, // JWK alg RS256 ≠ EdDSA
		{"untrusted key under kid a", MustSign(t, newEd25519(t), "a"), ReasonBadSignature},
		{"unknown kid", MustSign(t, keyA, "c"), ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertReason(t, err, tt.want, tt.raw)
		})
	}
}

// TestJWKSPeriodicRefresh rotates the published set from {a} to {b}: after
// the periodic refresh, b verifies and a, no longer published, does not.
// Only a refresh can make a fail, because a is in the cache.
func TestJWKSPeriodicRefresh(t *testing.T) {
	keyA, keyB := newEd25519(t), newEd25519(t)
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": keyA})
	v := MustNewVerifier(t, jwksConfig(srv.URL, 50*time.Millisecond))
	rawA, rawB := MustSign(t, keyA, "a"), MustSign(t, keyB, "b")

	if _, err := v.Verify(context.Background(), rawA); err != nil {
		t.Fatalf("before rotation, kid a: %v", err)
	}
	srv.Set(t, map[string]crypto.Signer{"b": keyB})

	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := v.Verify(context.Background(), rawA)
		if err != nil {
			assertReason(t, err, ReasonUnknownKey, rawA)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("kid a still verifies 2s after rotation: no periodic refresh")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := v.Verify(context.Background(), rawB); err != nil {
		t.Fatalf("after rotation, kid b: %v", err)
	}
}

// TestJWKSUnknownKIDRefresh: with a long refresh period, a token with a new
// kid makes the verifier fetch the set at once; a second unknown kid right
// after is refused without waiting for the rate limiter.
func TestJWKSUnknownKIDRefresh(t *testing.T) {
	keyA, keyB := newEd25519(t), newEd25519(t)
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": keyA})
	v := MustNewVerifier(t, jwksConfig(srv.URL, time.Hour))
	if got, want := srv.fetches.Load(), int64(1); got != want {
		t.Fatalf("fetches after New = %d, want %d", got, want)
	}

	srv.Set(t, map[string]crypto.Signer{"a": keyA, "b": keyB})
	if _, err := v.Verify(context.Background(), MustSign(t, keyB, "b")); err != nil {
		t.Fatalf("new kid b: %v", err)
	}
	if got, want := srv.fetches.Load(), int64(2); got != want {
		t.Errorf("fetches after unknown kid = %d, want %d", got, want)
	}

	start := time.Now()
	raw := MustSign(t, keyA, "c")
	_, err := v.Verify(context.Background(), raw)
	assertReason(t, err, ReasonUnknownKey, raw)
	if d := time.Since(start); d > time.Second {
		t.Errorf("rate-limited unknown kid took %v, want an immediate failure", d)
	}
	if got, want := srv.fetches.Load(), int64(2); got != want {
		t.Errorf("fetches after rate-limited unknown kid = %d, want %d", got, want)
	}
}

func TestJWKSUnreachableAtStartup(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	logger, buf := newTestLogger()
	v, err := New(context.Background(), jwksConfig(url, time.Hour), logger, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatalf("New: %v, want startup to survive an unreachable JWKS", err)
	}
	defer v.Close()
	raw := MustSign(t, newEd25519(t), "a")
	_, err = v.Verify(context.Background(), raw)
	assertReason(t, err, ReasonUnknownKey, raw)
	if got := buf.String(); !strings.Contains(got, "JWKS refresh failed") {
		t.Errorf("log = %q, want a JWKS refresh failure", got)
	}
}

// TestJWKSWithPEMKeys: an issuer may have both; a kid=path PEM key wins for
// its kid, JWKS keys answer their kids.
func TestJWKSWithPEMKeys(t *testing.T) {
	keyA := newEd25519(t)
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": keyA})
	cfg := jwksConfig(srv.URL, time.Hour)
	cfg.Issuers[0].PublicKeys = []string{"ec=" + keyPath("test-ec-p256.pub.pem")}
	v := MustNewVerifier(t, cfg)

	for _, raw := range []string{MustSign(t, keyA, "a"), MustSign(t, MustLoadPrivateKey(t, "test-ec-p256.pem"), "ec")} {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

// TestJWKSUnknownKIDFallsBackToPEM: a kid that is neither a kid=path PEM key
// nor in the JWKS is tried against the PEM keys configured without a kid,
// just as when the issuer has no JWKS.
func TestJWKSUnknownKIDFallsBackToPEM(t *testing.T) {
	keyA := newEd25519(t)
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": keyA})
	cfg := jwksConfig(srv.URL, time.Hour)
	cfg.Issuers[0].PublicKeys = []string{keyPath("dev-ed25519.pub.pem")}
	v := MustNewVerifier(t, cfg)

	tests := []struct {
		name string
		raw  string
		want string // "" for success
	}{
		{"JWKS kid", MustSign(t, keyA, "a"), ""},
		{"no kid, kid-less PEM key", MustSign(t, dev, ""), ""},
		{"no kid, JWKS key", MustSign(t, keyA, ""), ""},
		{"unknown kid, kid-less PEM key", MustSign(t, dev, "rotated-away"), ""},
		{"unknown kid, untrusted key", MustSign(t, newEd25519(t), "rotated-away"), ReasonBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertReason(t, err, tt.want, tt.raw)
		})
	}
}

func TestCloseStopsRefresh(t *testing.T) {
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": newEd25519(t)})
	v := MustNewVerifier(t, jwksConfig(srv.URL, 20*time.Millisecond))
	v.Close()
	v.Close()                         // idempotent
	time.Sleep(50 * time.Millisecond) // let an in-flight refresh finish
	n := srv.fetches.Load()
	time.Sleep(150 * time.Millisecond)
	if got := srv.fetches.Load(); got != n {
		t.Errorf("fetches went from %d to %d after Close", n, got)
	}
}

// TestJWKSRedirectPolicy: the https-only rule holds for every redirect hop.
func TestJWKSRedirectPolicy(t *testing.T) {
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	via := []*http.Request{req("https://idp.example.com/jwks")}
	for u, ok := range map[string]bool{
		"https://cdn.example.com/jwks.json": true,
		"http://127.0.0.1:8443/jwks":        true,
		"http://cdn.example.com/jwks.json":  false,
		"ftp://cdn.example.com/jwks.json":   false,
	} {
		if err := jwksRedirectPolicy(req(u), via); (err == nil) != ok {
			t.Errorf("redirect to %s: err = %v, want allowed=%v", u, err, ok)
		}
	}
	long := make([]*http.Request, 5)
	for i := range long {
		long[i] = via[0]
	}
	if err := jwksRedirectPolicy(req("https://cdn.example.com/jwks.json"), long); err == nil {
		t.Error("a sixth redirect was allowed")
	}
}
