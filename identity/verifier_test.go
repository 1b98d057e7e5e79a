package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weightgate/weightgate/config"
	"github.com/weightgate/weightgate/policy"
)

// craft builds an unsigned-looking compact token from a raw header and claims.
func craft(tb testing.TB, header map[string]any, claims jwt.MapClaims) string {
	tb.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("sig"))
}

func TestVerifyFailures(t *testing.T) {
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	rsaKey := MustLoadPrivateKey(t, "test-rsa2048.pem")
	ecKey := MustLoadPrivateKey(t, "test-ec-p256.pem")
	devPubPEM, err := os.ReadFile(keyPath("dev-ed25519.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}

	cfg := testConfig()
	// A second issuer whose only key has a kid, so an unknown kid has no
	// kid-less key to fall back to; it allows only RS256.
	cfg.Issuers = append(cfg.Issuers, IssuerConfig{
		Issuer:     "https://kid-only.test",
		Audience:   testAudience,
		Algorithms: []string{AlgRS256},
		PublicKeys: []string{"rsa=" + keyPath("test-rsa2048.pub.pem")},
	})
	v := MustNewVerifier(t, cfg)

	with := func(mod func(c jwt.MapClaims)) jwt.MapClaims {
		c := baseClaims()
		mod(c)
		return c
	}
	kidOnly := func(c jwt.MapClaims) { c["iss"] = "https://kid-only.test" }

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"empty", "", ReasonMalformedToken},
		{"garbage", "garbage", ReasonMalformedToken},
		{"three garbage segments", "a.b.c", ReasonMalformedToken},
		{"oversized", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", MaxTokenSize) })), ReasonMalformedToken},
		{"bad base64 signature", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", baseClaims()) + "!", ReasonMalformedToken},
		{"alg none", MustSignRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", baseClaims()), ReasonAlgorithmNotAllowed},
		{"HS256 signed with the public key PEM", MustSignRaw(t, jwt.SigningMethodHS256, devPubPEM, "", baseClaims()), ReasonAlgorithmNotAllowed},
		{"HS256 with kid of a PEM key", MustSignRaw(t, jwt.SigningMethodHS256, devPubPEM, "rsa", baseClaims()), ReasonAlgorithmNotAllowed},
		{"RS512 not in list", MustSignRaw(t, jwt.SigningMethodRS512, rsaKey, "rsa", baseClaims()), ReasonAlgorithmNotAllowed},
		{"EdDSA to an RS256-only issuer", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(kidOnly)), ReasonAlgorithmNotAllowed},
		{"unknown alg", craft(t, map[string]any{"alg": "XX999"}, baseClaims()), ReasonAlgorithmNotAllowed},
		{"no alg", craft(t, map[string]any{"typ": "JWT"}, baseClaims()), ReasonAlgorithmNotAllowed},
		{"unknown issuer", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })), ReasonUnknownIssuer},
		{"missing issuer", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { delete(c, "iss") })), ReasonUnknownIssuer},
		{"issuer not a string", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["iss"] = 7 })), ReasonUnknownIssuer},
		{"wrong audience", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["aud"] = "other" })), ReasonBadAudience},
		{"audience list without ours", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), ReasonBadAudience},
		{"missing audience", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { delete(c, "aud") })), ReasonBadAudience},
		{"expired", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() })), ReasonTokenExpired},
		{"expired and wrong audience", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) {
			c["exp"] = testNow.Add(-time.Hour).Unix()
			c["aud"] = "other"
		})), ReasonTokenExpired},
		{"not yet valid", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Hour).Unix() })), ReasonTokenNotYetValid},
		{"issued in the future", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Hour).Unix() })), ReasonTokenNotYetValid},
		{"missing exp", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { delete(c, "exp") })), ReasonMissingExp},
		{"missing exp and audience", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) {
			delete(c, "exp")
			delete(c, "aud")
		})), ReasonMissingExp},
		{"exp not a number", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })), ReasonMalformedClaims},
		{"bad signature: untrusted key", MustSignRaw(t, jwt.SigningMethodEdDSA, otherEd25519(), "", baseClaims()), ReasonBadSignature},
		{"bad signature: kid names another key", MustSignRaw(t, jwt.SigningMethodES256, ecKey, "rsa", baseClaims()), ReasonBadSignature},
		{"bad signature: RSA key under EC kid", MustSignRaw(t, jwt.SigningMethodRS256, rsaKey, "ec", baseClaims()), ReasonBadSignature},
		{"bad signature: tampered payload", tamper(t, MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", baseClaims())), ReasonBadSignature},
		{"unknown kid", MustSignRaw(t, jwt.SigningMethodRS256, rsaKey, "nope", with(kidOnly)), ReasonUnknownKey},
		{"no kid, issuer has only kid keys", MustSignRaw(t, jwt.SigningMethodRS256, rsaKey, "", with(kidOnly)), ReasonUnknownKey},
		{"missing sub", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { delete(c, "sub") })), ReasonMissingSubject},
		{"empty sub", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["sub"] = "" })), ReasonMissingSubject},
		{"sub not a string", MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", with(func(c jwt.MapClaims) { c["sub"] = 42 })), ReasonMissingSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tt.raw)
			assertReason(t, err, tt.want, tt.raw)
			if !reflect.DeepEqual(got, policy.Subject{}) {
				t.Errorf("Subject = %+v, want zero on failure", got)
			}
		})
	}
}

// tamper replaces the payload of a signed token, keeping its signature.
func tamper(tb testing.TB, raw string) string {
	tb.Helper()
	parts := strings.Split(raw, ".")
	c := baseClaims()
	c["sub"] = "mallory"
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestVerifyAlgorithms(t *testing.T) {
	v := MustNewVerifier(t, testConfig())
	tests := []struct {
		name    string
		keyFile string
		kid     string
	}{
		{"RS256 by kid", "test-rsa2048.pem", "rsa"},
		{"ES256 by kid", "test-ec-p256.pem", "ec"},
		{"EdDSA without kid", "dev-ed25519.pem", ""},
		// A kid matching no kid=path entry falls back to the kid-less keys.
		{"EdDSA with unlisted kid", "dev-ed25519.pem", "some-idp-kid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Sign(MustLoadPrivateKey(t, tt.keyFile), tt.kid, TokenClaims{
				Issuer: testIssuer, Audience: testAudience, Subject: "alice", IssuedAt: testNow,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got, want := got.ID, "alice"; got != want {
				t.Errorf("ID = %q, want %q", got, want)
			}
		})
	}
}

func TestVerifySubject(t *testing.T) {
	cfg := testConfig()
	cfg.TrustedClaims = []string{TrustVEU, TrustSecurityAttested}
	v := MustNewVerifier(t, cfg)
	c := baseClaims()
	c["aud"] = []string{"other", testAudience}
	c["jti"] = "j-1"
	c["country"] = "de"
	c["nationality"] = []any{"fr", "DE", "fr", "xx"}
	c["permanent_residence"] = "ch, de"
	c["employee"] = true
	c["entity"] = "Example GmbH"
	c["entity_id"] = "E-17"
	c["entity_hq"] = "de"
	c["parent_hq"] = "US"
	c["veu"] = "UVEU"
	c["security_attested"] = true
	c["groups"] = []string{"researchers"}
	raw := MustSignRaw(t, jwt.SigningMethodEdDSA, MustLoadPrivateKey(t, "dev-ed25519.pem"), "", c)

	got, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Subject{
		Anonymous:          false,
		ID:                 "alice",
		Country:            "DE",
		Nationality:        []string{"DE", "FR", InvalidCode},
		PermanentResidence: []string{"CH", "DE"},
		Employee:           true,
		Entity: policy.Entity{
			Name: "Example GmbH", ID: "E-17", HQ: "DE", ParentHQ: "US", VEU: "uveu",
			SecurityAttested: true,
		},
		// Everything but exp, nbf and iat, as decoded from JSON.
		Claims: map[string]any{
			"iss":                 testIssuer,
			"aud":                 []any{"other", testAudience},
			"sub":                 "alice",
			"jti":                 "j-1",
			"country":             "de",
			"nationality":         []any{"fr", "DE", "fr", "xx"},
			"permanent_residence": "ch, de",
			"employee":            true,
			"entity":              "Example GmbH",
			"entity_id":           "E-17",
			"entity_hq":           "de",
			"parent_hq":           "US",
			"veu":                 "UVEU",
			"security_attested":   true,
			"groups":              []any{"researchers"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Subject =\n%#v\nwant\n%#v", got, want)
	}
}

func TestVerifyMinimalSubject(t *testing.T) {
	v := MustNewVerifier(t, testConfig())
	raw := MustSignRaw(t, jwt.SigningMethodEdDSA, MustLoadPrivateKey(t, "dev-ed25519.pem"), "", baseClaims())
	got, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Subject{
		ID:                 "alice",
		Nationality:        []string{},
		PermanentResidence: []string{},
		Claims:             map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "alice"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Subject = %#v, want %#v", got, want)
	}
	// Policies see [] rather than null for a missing nationality.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"nationality":[]`, `"permanent_residence":[]`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON = %s, want %s", b, k)
		}
	}
}

func TestVerifyClaimRemapping(t *testing.T) {
	cfg := testConfig()
	cfg.Claims = ClaimNames{
		Subject:     "email",
		Country:     "https://idp.example/country",
		Nationality: "https://idp.example/citizenship",
		Entity:      "org",
		// Custom names for the flags; the rest keep their defaults.
		PermanentResidence: "https://idp.example/residence",
		Employee:           "https://idp.example/permanent_staff",
		VEU:                "https://idp.example/veu",
		SecurityAttested:   "https://idp.example/secured",
	}
	cfg.TrustedClaims = []string{TrustVEU, TrustSecurityAttested}
	v := MustNewVerifier(t, cfg)

	c := baseClaims()
	delete(c, "sub")
	c["email"] = "bob@example.org"
	c["https://idp.example/country"] = "jp"
	c["https://idp.example/citizenship"] = "kr, jp"
	c["org"] = "Example KK"
	c["country"] = "US" // no longer the country claim
	c["https://idp.example/residence"] = []any{"us"}
	c["https://idp.example/permanent_staff"] = true
	c["https://idp.example/veu"] = "nveu"
	c["https://idp.example/secured"] = true
	// No longer the claims of these fields.
	c["permanent_residence"] = "CN"
	c["veu"] = "uveu"
	c["entity_id"] = "K-1"
	raw := MustSignRaw(t, jwt.SigningMethodEdDSA, MustLoadPrivateKey(t, "dev-ed25519.pem"), "", c)

	got, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := got.ID, "bob@example.org"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got, want := got.Country, "JP"; got != want {
		t.Errorf("Country = %q, want %q", got, want)
	}
	if got, want := got.Nationality, []string{"JP", "KR"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Nationality = %q, want %q", got, want)
	}
	if got, want := got.PermanentResidence, []string{"US"}; !reflect.DeepEqual(got, want) {
		t.Errorf("PermanentResidence = %q, want %q", got, want)
	}
	if !got.Employee {
		t.Errorf("Employee = false, want true")
	}
	if got, want := got.Entity, (policy.Entity{Name: "Example KK", ID: "K-1", VEU: "nveu", SecurityAttested: true}); got != want {
		t.Errorf("Entity = %+v, want %+v", got, want)
	}

	// Without the flag claims under their remapped names, the default names
	// count for nothing.
	c = baseClaims()
	c["email"] = "bob@example.org"
	c["permanent_residence"] = "CN"
	c["employee"] = true
	c["veu"] = "uveu"
	c["security_attested"] = true
	raw = MustSignRaw(t, jwt.SigningMethodEdDSA, MustLoadPrivateKey(t, "dev-ed25519.pem"), "", c)
	got, err = v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.PermanentResidence) != 0 || got.Employee || got.Entity.VEU != "" || got.Entity.SecurityAttested {
		t.Errorf("Subject = %+v, want no residence, employee, VEU or attestation", got)
	}

	// A token without the remapped subject claim is rejected even if it has sub.
	c = baseClaims()
	raw = MustSignRaw(t, jwt.SigningMethodEdDSA, MustLoadPrivateKey(t, "dev-ed25519.pem"), "", c)
	_, err = v.Verify(context.Background(), raw)
	assertReason(t, err, ReasonMissingSubject, raw)
}

// TestVerifyTrustedClaims: a token sets Entity.VEU and
// Entity.SecurityAttested only for the claims auth.trusted_claims lists.
func TestVerifyTrustedClaims(t *testing.T) {
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	tests := []struct {
		name     string
		trusted  []string
		claims   map[string]any
		veu      string
		attested bool
	}{
		{"untrusted veu ignored", nil, map[string]any{"veu": "uveu"}, "", false},
		{"untrusted attestation ignored", nil, map[string]any{"security_attested": true}, "", false},
		{"veu trusted, attestation not", []string{TrustVEU}, map[string]any{"veu": "uveu", "security_attested": true}, "uveu", false},
		{"attestation trusted, veu not", []string{TrustSecurityAttested}, map[string]any{"veu": "uveu", "security_attested": true}, "", true},
		{"both trusted", []string{TrustVEU, TrustSecurityAttested}, map[string]any{"veu": "NVEU", "security_attested": true}, "nveu", true},
		{"trusted but absent", []string{TrustVEU, TrustSecurityAttested}, nil, "", false},
		{"trusted but malformed", []string{TrustVEU, TrustSecurityAttested}, map[string]any{"veu": "gold", "security_attested": "yes"}, "", false},
		{"trusted attestation false", []string{TrustSecurityAttested}, map[string]any{"security_attested": false}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TrustedClaims = tt.trusted
			v := MustNewVerifier(t, cfg)
			c := baseClaims()
			for k, val := range tt.claims {
				c[k] = val
			}
			got, err := v.Verify(context.Background(), MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", c))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := got.Entity.VEU, tt.veu; got != want {
				t.Errorf("Entity.VEU = %q, want %q", got, want)
			}
			if got, want := got.Entity.SecurityAttested, tt.attested; got != want {
				t.Errorf("Entity.SecurityAttested = %v, want %v", got, want)
			}
		})
	}

	// An unknown trusted claim is a configuration error, not ignored.
	cfg := testConfig()
	cfg.TrustedClaims = []string{"employee"}
	if v, err := New(context.Background(), cfg, nil); !errors.Is(err, ErrTrustedClaimUnknown) {
		if err == nil {
			v.Close()
		}
		t.Errorf("New with trusted_claims [employee]: err = %v, want %v", err, ErrTrustedClaimUnknown)
	}
}

func TestVerifyLeeway(t *testing.T) {
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	tests := []struct {
		name   string
		leeway time.Duration // 0: default (30s)
		mod    func(c jwt.MapClaims)
		want   string // "" for success
	}{
		{"expired 10s ago within default leeway", 0, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-10 * time.Second).Unix() }, ""},
		{"expired 31s ago beyond default leeway", 0, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }, ReasonTokenExpired},
		{"nbf 20s ahead within default leeway", 0, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(20 * time.Second).Unix() }, ""},
		{"nbf 40s ahead beyond default leeway", 0, func(c jwt.MapClaims) { c["nbf"] = testNow.Add(40 * time.Second).Unix() }, ReasonTokenNotYetValid},
		{"iat 20s ahead within default leeway", 0, func(c jwt.MapClaims) { c["iat"] = testNow.Add(20 * time.Second).Unix() }, ""},
		{"expired 10s ago beyond 5s leeway", 5 * time.Second, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-10 * time.Second).Unix() }, ReasonTokenExpired},
		{"expired 2m ago within 5m leeway", 5 * time.Minute, func(c jwt.MapClaims) { c["exp"] = testNow.Add(-2 * time.Minute).Unix() }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Leeway = tt.leeway
			v := MustNewVerifier(t, cfg)
			c := baseClaims()
			tt.mod(c)
			raw := MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", c)
			_, err := v.Verify(context.Background(), raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertReason(t, err, tt.want, raw)
		})
	}
}

func TestVerifyClockMoves(t *testing.T) {
	now := testNow
	v, err := New(context.Background(), testConfig(), nil, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	raw, err := Sign(MustLoadPrivateKey(t, "dev-ed25519.pem"), "", TokenClaims{
		Issuer: testIssuer, Audience: testAudience, Subject: "alice", IssuedAt: testNow, TTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("at issue time: %v", err)
	}
	now = testNow.Add(time.Minute + DefaultLeeway + time.Second)
	_, err = v.Verify(context.Background(), raw)
	assertReason(t, err, ReasonTokenExpired, raw)
}

func TestNewDevKeyWarning(t *testing.T) {
	logger, buf := newTestLogger()
	v, err := New(context.Background(), testConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if !v.TrustsDevKey() {
		t.Errorf("TrustsDevKey() = false, want true")
	}
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, DevKeyFingerprint) {
		t.Errorf("log = %q, want a warning naming the dev key fingerprint", got)
	}

	cfg := testConfig()
	cfg.Issuers[0].PublicKeys = cfg.Issuers[0].PublicKeys[1:]
	logger, buf = newTestLogger()
	v2, err := New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if v2.TrustsDevKey() {
		t.Errorf("TrustsDevKey() = true without the dev key")
	}
	if got := buf.String(); got != "" {
		t.Errorf("log = %q, want nothing", got)
	}
}

func TestNewInvalidConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Issuers[0].Algorithms = []string{"HS256"}
	v, err := New(context.Background(), cfg, nil)
	if err == nil {
		v.Close()
		t.Fatal("New succeeded with HS256")
	}
	var ve *config.ValidationError
	if !reflect.TypeOf(err).AssignableTo(reflect.TypeOf(ve)) {
		t.Errorf("err is %T, want *config.ValidationError", err)
	}
}

// BenchmarkVerify: a token's first verification (parse twice, check the
// signature) against a repeated one, served from the verified-token cache
// after checking that its key is still offered.
func BenchmarkVerify(b *testing.B) {
	v := MustNewVerifier(b, testConfig())
	key := MustLoadPrivateKey(b, "dev-ed25519.pem")
	sign := func(sub string) string {
		raw, err := Sign(key, "", TokenClaims{Issuer: testIssuer, Audience: testAudience, Subject: sub, IssuedAt: testNow, TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		return raw
	}
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		tokens := make([]string, 0, 1024)
		for i := range cap(tokens) {
			tokens = append(tokens, sign(fmt.Sprintf("user-%d", i)))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%len(tokens) == 0 {
				b.StopTimer()
				v.verified.Purge() // every token is new again
				b.StartTimer()
			}
			if _, err := v.Verify(ctx, tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("repeated", func(b *testing.B) {
		raw := sign("alice")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
