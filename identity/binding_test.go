package identity

import (
	"context"
	"crypto"
	"testing"
	"time"
)

// mustThumbprint is KeyThumbprint of k's public half.
func mustThumbprint(tb testing.TB, k crypto.Signer) string {
	tb.Helper()
	tp, err := KeyThumbprint(k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return tp
}

// TestVerifyBound: the binding names the issuer, the token's kid and alg,
// and the key that verified it, also when several keys without a kid were
// candidates and when the verification was remembered.
func TestVerifyBound(t *testing.T) {
	cfg := testConfig()
	// A second key without a kid, tried before the dev key.
	cfg.Issuers[0].PublicKeys = append([]string{keyPath("test-ec-p256.pub.pem")}, cfg.Issuers[0].PublicKeys...)
	v := MustNewVerifier(t, cfg)
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	rsa := MustLoadPrivateKey(t, "test-rsa2048.pem")
	ec := MustLoadPrivateKey(t, "test-ec-p256.pem")
	tests := []struct {
		name string
		raw  string
		want KeyBinding
	}{
		{"no kid, second of two candidate keys", MustSign(t, dev, ""), KeyBinding{testIssuer, "", AlgEdDSA, mustThumbprint(t, dev)}},
		{"no kid, first candidate", MustSign(t, ec, ""), KeyBinding{testIssuer, "", AlgES256, mustThumbprint(t, ec)}},
		{"kid", MustSign(t, rsa, "rsa"), KeyBinding{testIssuer, "rsa", AlgRS256, mustThumbprint(t, rsa)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pass := range []string{"verified", "remembered"} {
				_, got, err := v.VerifyBound(context.Background(), tt.raw)
				if err != nil {
					t.Fatalf("%s: VerifyBound: %v", pass, err)
				}
				if got != tt.want {
					t.Errorf("%s: binding = %+v, want %+v", pass, got, tt.want)
				}
				if err := v.CheckBinding(context.Background(), got); err != nil {
					t.Errorf("%s: CheckBinding of a fresh binding: %v", pass, err)
				}
			}
		})
	}
}

// TestCheckBinding: a binding stands only while the Verifier in force still
// has its issuer, allows its algorithm and offers its key under its kid.
func TestCheckBinding(t *testing.T) {
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	rsa := MustLoadPrivateKey(t, "test-rsa2048.pem")
	_, devBinding, err := MustNewVerifier(t, testConfig()).VerifyBound(context.Background(), MustSign(t, dev, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, rsaBinding, err := MustNewVerifier(t, testConfig()).VerifyBound(context.Background(), MustSign(t, rsa, "rsa"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*IssuerConfig)) Config {
		c := testConfig()
		f(&c.Issuers[0])
		return c
	}
	forged := devBinding
	forged.Thumbprint = mustThumbprint(t, otherEd25519())
	tests := []struct {
		name    string
		cfg     Config
		binding KeyBinding
		want    string // "" when it stands
	}{
		{"unchanged", testConfig(), devBinding, ""},
		{"unchanged, kid", testConfig(), rsaBinding, ""},
		{"issuer removed", edit(func(ic *IssuerConfig) { ic.Issuer = "https://other.test" }), devBinding, ReasonUnknownIssuer},
		{"key removed", edit(func(ic *IssuerConfig) { ic.PublicKeys = ic.PublicKeys[1:] }), devBinding, ReasonKeyNotTrusted},
		{"kid removed", edit(func(ic *IssuerConfig) { ic.PublicKeys = ic.PublicKeys[:1] }), rsaBinding, ReasonKeyNotTrusted},
		{"kid given to another key", edit(func(ic *IssuerConfig) {
			ic.PublicKeys = []string{keyPath("dev-ed25519.pub.pem"), "rsa=" + keyPath("test-ec-p256.pub.pem")}
		}), rsaBinding, ReasonKeyNotTrusted},
		{"algorithm withdrawn", edit(func(ic *IssuerConfig) {
			ic.Algorithms = []string{AlgRS256, AlgES256}
			ic.PublicKeys = ic.PublicKeys[1:]
		}), devBinding, ReasonAlgorithmNotAllowed},
		{"a key never trusted", testConfig(), forged, ReasonKeyNotTrusted},
		{"empty binding", testConfig(), KeyBinding{}, ReasonUnknownIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := MustNewVerifier(t, tt.cfg).CheckBinding(context.Background(), tt.binding)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckBinding: %v", err)
				}
				return
			}
			assertReason(t, err, tt.want, "")
		})
	}
}

// TestCheckBindingJWKS: a key withdrawn from the issuer's JWKS no longer
// stands once the set is fetched again, with no reload.
func TestCheckBindingJWKS(t *testing.T) {
	keyA, keyB := newEd25519(t), newEd25519(t)
	srv := MustJWKSServer(t, map[string]crypto.Signer{"a": keyA, "b": keyB})
	v := MustNewVerifier(t, jwksConfig(srv.URL, 50*time.Millisecond))
	_, b, err := v.VerifyBound(context.Background(), MustSign(t, keyA, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckBinding(context.Background(), b); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	srv.Set(t, map[string]crypto.Signer{"b": keyB})
	// Only a refetch can withdraw a, which is in the cached set.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := v.CheckBinding(context.Background(), b)
		if err != nil {
			assertReason(t, err, ReasonKeyNotTrusted, "")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the binding to a withdrawn key still stands 5 s after the rotation: no refetch")
		}
	}
}

// TestCurrent: Replace puts a new Verifier in force for verification and
// binding checks alike; nil trusts nothing.
func TestCurrent(t *testing.T) {
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	raw := MustSign(t, dev, "")
	c := NewCurrent(MustNewVerifier(t, testConfig()))
	_, b, err := c.VerifyBound(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	without := testConfig()
	without.Issuers[0].PublicKeys = without.Issuers[0].PublicKeys[1:]
	c.Replace(MustNewVerifier(t, without))
	_, err = c.Verify(context.Background(), raw)
	assertReason(t, err, ReasonUnknownKey, raw)
	assertReason(t, c.CheckBinding(context.Background(), b), ReasonKeyNotTrusted, "")

	c.Replace(nil)
	_, err = c.Verify(context.Background(), raw)
	assertReason(t, err, ReasonUnknownIssuer, raw)
	assertReason(t, c.CheckBinding(context.Background(), b), ReasonUnknownIssuer, "")
}

// BenchmarkCheckBinding times the check every S3 request signed with
// temporary credentials makes, for a PEM key with a kid and for keys
// without one (RSA 2048 among them, the costliest to encode).
func BenchmarkCheckBinding(b *testing.B) {
	v := MustNewVerifier(b, testConfig())
	for _, bc := range []struct {
		name string
		raw  string
	}{
		{"kid", MustSign(b, MustLoadPrivateKey(b, "test-rsa2048.pem"), "rsa")},
		{"no kid", MustSign(b, MustLoadPrivateKey(b, "dev-ed25519.pem"), "")},
	} {
		_, kb, err := v.VerifyBound(context.Background(), bc.raw)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := v.CheckBinding(context.Background(), kb); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
