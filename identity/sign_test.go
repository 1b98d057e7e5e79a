package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weightgate/weightgate/policy"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	cfg := testConfig()
	cfg.TrustedClaims = []string{TrustVEU, TrustSecurityAttested}
	v := MustNewVerifier(t, cfg)
	tests := []struct {
		keyFile, kid, wantAlg string
	}{
		{"test-rsa2048.pem", "rsa", "RS256"},
		{"test-ec-p256.pem", "ec", "ES256"},
		{"dev-ed25519.pem", "", "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.wantAlg, func(t *testing.T) {
			raw, err := Sign(MustLoadPrivateKey(t, tt.keyFile), tt.kid, TokenClaims{
				Issuer:             testIssuer,
				Audience:           testAudience,
				Subject:            "carol",
				Name:               " Carol Example ",
				Country:            "nl",
				Entity:             "Example BV",
				EntityID:           "NL-1",
				EntityHQ:           "NL",
				ParentHQ:           "us",
				Nationality:        []string{"NL", "be", "zz"},
				PermanentResidence: []string{"de"},
				Employee:           true,
				VEU:                "NVEU",
				SecurityAttested:   true,
				TTL:                10 * time.Minute,
				IssuedAt:           testNow,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Header["alg"]; got != tt.wantAlg {
				t.Errorf("alg = %v, want %s", got, tt.wantAlg)
			}
			if got, _ := tok.Header["kid"].(string); got != tt.kid {
				t.Errorf("kid = %q, want %q", got, tt.kid)
			}
			c := tok.Claims.(jwt.MapClaims)
			if got, want := c["exp"], float64(testNow.Add(10*time.Minute).Unix()); got != want {
				t.Errorf("exp = %v, want %v", got, want)
			}
			if jti, _ := c["jti"].(string); len(jti) != 32 {
				t.Errorf("jti = %q, want 32 hex digits", jti)
			}
			// Written as given, in the JSON types the verifier expects.
			if got, want := c["permanent_residence"], []any{"de"}; !reflect.DeepEqual(got, want) {
				t.Errorf("permanent_residence = %#v, want %#v", got, want)
			}
			if c["employee"] != true || c["security_attested"] != true {
				t.Errorf("employee = %#v, security_attested = %#v, want both true", c["employee"], c["security_attested"])
			}

			got, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got.Claims = nil
			want := policy.Subject{
				ID:                 "carol",
				Name:               "Carol Example",
				Country:            "NL",
				Nationality:        []string{"BE", "NL", InvalidCode},
				PermanentResidence: []string{"DE"},
				Employee:           true,
				Entity: policy.Entity{
					Name: "Example BV", ID: "NL-1", HQ: "NL", ParentHQ: "US", VEU: "nveu", SecurityAttested: true,
				},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Subject = %+v, want %+v", got, want)
			}
		})
	}
}

func TestSignDefaults(t *testing.T) {
	before := time.Now().Add(-time.Second)
	raw, err := Sign(MustLoadPrivateKey(t, "dev-ed25519.pem"), "", TokenClaims{Issuer: "i", Audience: "a", Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims.(jwt.MapClaims)
	iat, _ := c.GetIssuedAt()
	exp, _ := c.GetExpirationTime()
	if iat == nil || iat.Before(before.Truncate(time.Second)) {
		t.Errorf("iat = %v, want about now", iat)
	}
	if exp == nil || exp.Sub(iat.Time) != DefaultTokenTTL {
		t.Errorf("exp - iat = %v, want %v", exp.Sub(iat.Time), DefaultTokenTTL)
	}
	for _, k := range []string{"country", "entity", "nationality", "permanent_residence", "employee", "veu", "security_attested", "kid"} {
		if _, ok := c[k]; ok {
			t.Errorf("claim %q present though empty", k)
		}
	}
	if _, ok := tok.Header["kid"]; ok {
		t.Errorf("kid header present though empty")
	}
}

func TestSignRemappedNames(t *testing.T) {
	cfg := testConfig()
	cfg.Claims.Subject = "email"
	cfg.Claims.Country = "https://idp.example/country"
	cfg.Claims.PermanentResidence = "residence"
	cfg.Claims.Employee = "staff"
	cfg.Claims.SecurityAttested = "secured"
	cfg.TrustedClaims = []string{TrustSecurityAttested}
	v := MustNewVerifier(t, cfg)
	raw, err := Sign(MustLoadPrivateKey(t, "dev-ed25519.pem"), "", TokenClaims{
		Issuer: testIssuer, Audience: testAudience, Subject: "dan@example.org", Country: "ch",
		PermanentResidence: []string{"li"}, Employee: true, SecurityAttested: true,
		IssuedAt: testNow, Names: cfg.Claims,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "dan@example.org" || got.Country != "CH" {
		t.Errorf("Subject = %+v, want ID dan@example.org and Country CH", got)
	}
	if !reflect.DeepEqual(got.PermanentResidence, []string{"LI"}) || !got.Employee || !got.Entity.SecurityAttested {
		t.Errorf("Subject = %+v, want residence LI, employee and security attested", got)
	}
	for _, k := range []string{"residence", "staff", "secured"} {
		if _, ok := got.Claims[k]; !ok {
			t.Errorf("claim %q missing from the token", k)
		}
	}
}

func TestSignErrors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	ok := TokenClaims{Issuer: "i", Audience: "a", Subject: "s"}
	tests := []struct {
		name   string
		key    any
		claims TokenClaims
	}{
		{"HMAC secret", []byte("secret"), ok},
		{"public key", dev.Public(), ok},
		{"nil key", nil, ok},
		{"P-384", p384, ok},
		{"no issuer", dev, TokenClaims{Audience: "a", Subject: "s"}},
		{"no audience", dev, TokenClaims{Issuer: "i", Subject: "s"}},
		{"no subject", dev, TokenClaims{Issuer: "i", Audience: "a"}},
		{"negative TTL", dev, TokenClaims{Issuer: "i", Audience: "a", Subject: "s", TTL: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Sign(tt.key, "", tt.claims); err == nil {
				t.Errorf("Sign succeeded, want error")
			}
		})
	}
}
