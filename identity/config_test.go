package identity

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/weightgate/weightgate/config"
)

func TestDefaultConfig(t *testing.T) {
	got := DefaultConfig()
	if got, want := got.Leeway, 30*time.Second; got != want {
		t.Errorf("Leeway = %v, want %v", got, want)
	}
	want := ClaimNames{
		Subject: "sub", Name: "name", Country: "country", Entity: "entity", EntityID: "entity_id",
		EntityHQ: "entity_hq", ParentHQ: "parent_hq", Nationality: "nationality",
		PermanentResidence: "permanent_residence", Employee: "employee", USPerson: "us_person",
		VEU: "veu", SecurityAttested: "security_attested",
	}
	if got := got.Claims; got != want {
		t.Errorf("Claims = %+v, want %+v", got, want)
	}
	// No entity-status claim is trusted by default.
	if got := got.TrustedClaims; len(got) != 0 {
		t.Errorf("TrustedClaims = %q, want none", got)
	}
}

func TestWithDefaults(t *testing.T) {
	cfg := Config{
		Issuers: []IssuerConfig{{Issuer: "a"}, {Issuer: "b", JWKSRefresh: time.Minute}},
		Claims:  ClaimNames{Country: "ctry"},
	}
	got := cfg.withDefaults()
	if got, want := got.Leeway, DefaultLeeway; got != want {
		t.Errorf("Leeway = %v, want %v", got, want)
	}
	if got, want := got.Issuers[0].JWKSRefresh, 15*time.Minute; got != want {
		t.Errorf("Issuers[0].JWKSRefresh = %v, want %v", got, want)
	}
	if got, want := got.Issuers[1].JWKSRefresh, time.Minute; got != want {
		t.Errorf("Issuers[1].JWKSRefresh = %v, want %v", got, want)
	}
	if got, want := got.Claims.Country, "ctry"; got != want {
		t.Errorf("Claims.Country = %q, want %q", got, want)
	}
	for _, f := range []struct{ name, got, want string }{
		{"VEU", got.Claims.VEU, "veu"},
		{"PermanentResidence", got.Claims.PermanentResidence, "permanent_residence"},
		{"Employee", got.Claims.Employee, "employee"},
		{"SecurityAttested", got.Claims.SecurityAttested, "security_attested"},
	} {
		if f.got != f.want {
			t.Errorf("Claims.%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if cfg.Issuers[0].JWKSRefresh != 0 {
		t.Errorf("withDefaults modified its receiver's issuers")
	}
}

// TestConfigYAML decodes the `auth:` block as the gateway config will embed it.
func TestConfigYAML(t *testing.T) {
	const doc = `
auth:
  leeway: 1m
  issuers:
    - issuer: https://idp.example
      audience: weightgate
      algorithms: [RS256, EdDSA]
      public_keys:
        - ../testdata/keys/dev-ed25519.pub.pem
        - rsa=../testdata/keys/test-rsa2048.pub.pem
      jwks_url: https://idp.example/.well-known/jwks.json
      jwks_refresh: 5m
  claims:
    country: https://idp.example/country
    permanent_residence: https://idp.example/residence
    employee: is_employee
    security_attested: sec_ok
  trusted_claims: [security_attested, veu]
`
	var root struct {
		Auth Config `yaml:"auth"`
	}
	root.Auth = DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Leeway = time.Minute
	want.Claims.Country = "https://idp.example/country"
	want.Claims.PermanentResidence = "https://idp.example/residence"
	want.Claims.Employee = "is_employee"
	want.Claims.SecurityAttested = "sec_ok"
	want.TrustedClaims = []string{TrustSecurityAttested, TrustVEU}
	want.Issuers = []IssuerConfig{{
		Issuer:      "https://idp.example",
		Audience:    "weightgate",
		Algorithms:  []string{"RS256", "EdDSA"},
		PublicKeys:  []string{"../testdata/keys/dev-ed25519.pub.pem", "rsa=../testdata/keys/test-rsa2048.pub.pem"},
		JWKSURL:     "https://idp.example/.well-known/jwks.json",
		JWKSRefresh: 5 * time.Minute,
	}}
	if got := root.Auth; !reflect.DeepEqual(got, want) {
		t.Errorf("decoded =\n%+v\nwant\n%+v", got, want)
	}
	if err := root.Auth.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	dec = yaml.NewDecoder(strings.NewReader("auth:\n  issuer: x\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&root); err == nil {
		t.Errorf("unknown key auth.issuer decoded without error")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := IssuerConfig{
		Issuer: "https://ok.test", Audience: "weightgate", Algorithms: []string{AlgEdDSA},
		PublicKeys: []string{keyPath("dev-ed25519.pub.pem")},
	}
	tests := []struct {
		name  string
		mod   func(c *Config)
		field string
		value string
		err   error
	}{
		{"no issuers", func(c *Config) { c.Issuers = nil }, "auth.issuers", "[]", ErrNoIssuers},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, "auth.leeway", "-1s", ErrNegativeDuration},
		{"claim name reused", func(c *Config) { c.Claims.Country = "nationality" }, "auth.claims.nationality", "nationality", ErrDuplicateClaimNames},
		{"residence claim is nationality", func(c *Config) { c.Claims.PermanentResidence = "nationality" }, "auth.claims.permanent_residence", "nationality", ErrDuplicateClaimNames},
		{"employee claim is entity", func(c *Config) { c.Claims.Employee = "entity" }, "auth.claims.employee", "entity", ErrDuplicateClaimNames},
		{"attested claim is veu", func(c *Config) { c.Claims.SecurityAttested = "veu" }, "auth.claims.security_attested", "veu", ErrDuplicateClaimNames},
		{"unknown trusted claim", func(c *Config) { c.TrustedClaims = []string{TrustVEU, "employee"} }, "auth.trusted_claims[1]", "employee", ErrTrustedClaimUnknown},
		{"trusted claim in upper case", func(c *Config) { c.TrustedClaims = []string{"VEU"} }, "auth.trusted_claims[0]", "VEU", ErrTrustedClaimUnknown},
		{"trusted claim name, not field", func(c *Config) {
			c.Claims.VEU = "https://idp.example/veu"
			c.TrustedClaims = []string{"https://idp.example/veu"}
		}, "auth.trusted_claims[0]", "https://idp.example/veu", ErrTrustedClaimUnknown},
		{"empty trusted claim", func(c *Config) { c.TrustedClaims = []string{""} }, "auth.trusted_claims[0]", "", ErrTrustedClaimUnknown},
		{"duplicate trusted claim", func(c *Config) {
			c.TrustedClaims = []string{TrustSecurityAttested, TrustVEU, TrustSecurityAttested}
		}, "auth.trusted_claims[2]", "security_attested", ErrDuplicateTrust},
		{"empty issuer", func(c *Config) { c.Issuers[0].Issuer = "" }, "auth.issuers[0].issuer", "", ErrIssuerRequired},
		{"duplicate issuer", func(c *Config) { c.Issuers = append(c.Issuers, good) }, "auth.issuers[1].issuer", "https://ok.test", ErrDuplicateIssuer},
		{"empty audience", func(c *Config) { c.Issuers[0].Audience = "" }, "auth.issuers[0].audience", "", ErrAudienceRequired},
		{"no algorithms", func(c *Config) { c.Issuers[0].Algorithms = nil }, "auth.issuers[0].algorithms", "[]", ErrAlgorithmsRequired},
		{"alg none", func(c *Config) { c.Issuers[0].Algorithms = []string{AlgEdDSA, "none"} }, "auth.issuers[0].algorithms[1]", "none", ErrAlgorithmForbidden},
		{"alg HS256", func(c *Config) { c.Issuers[0].Algorithms = []string{"HS256", AlgEdDSA} }, "auth.issuers[0].algorithms[0]", "HS256", ErrAlgorithmForbidden},
		{"alg hs512 lower case", func(c *Config) { c.Issuers[0].Algorithms = []string{AlgEdDSA, "hs512"} }, "auth.issuers[0].algorithms[1]", "hs512", ErrAlgorithmForbidden},
		{"alg PS256", func(c *Config) { c.Issuers[0].Algorithms = []string{AlgEdDSA, "PS256"} }, "auth.issuers[0].algorithms[1]", "PS256", ErrAlgorithmUnknown},
		{"alg lower-case rs256", func(c *Config) { c.Issuers[0].Algorithms = []string{AlgEdDSA, "rs256"} }, "auth.issuers[0].algorithms[1]", "rs256", ErrAlgorithmUnknown},
		{"no keys", func(c *Config) { c.Issuers[0].PublicKeys = nil }, "auth.issuers[0].public_keys", "[]", ErrNoKeys},
		{"missing PEM", func(c *Config) { c.Issuers[0].PublicKeys = []string{"/nonexistent/key.pem"} }, "auth.issuers[0].public_keys[0]", "/nonexistent/key.pem", ErrPublicKey},
		{"garbage PEM", func(c *Config) { c.Issuers[0].PublicKeys = []string{garbage} }, "auth.issuers[0].public_keys[0]", garbage, ErrPublicKey},
		{"private key as public key", func(c *Config) { c.Issuers[0].PublicKeys = []string{keyPath("dev-ed25519.pem")} }, "auth.issuers[0].public_keys[0]", keyPath("dev-ed25519.pem"), ErrPublicKey},
		{"key type not in algorithms", func(c *Config) {
			c.Issuers[0].PublicKeys = append(c.Issuers[0].PublicKeys, keyPath("test-rsa2048.pub.pem"))
		}, "auth.issuers[0].public_keys[1]", keyPath("test-rsa2048.pub.pem"), ErrKeyAlgorithm},
		{"duplicate kid", func(c *Config) {
			c.Issuers[0].Algorithms = []string{AlgEdDSA, AlgRS256}
			c.Issuers[0].PublicKeys = []string{"k=" + keyPath("dev-ed25519.pub.pem"), "k=" + keyPath("test-rsa2048.pub.pem")}
		}, "auth.issuers[0].public_keys[1]", "k=" + keyPath("test-rsa2048.pub.pem"), ErrDuplicateKeyID},
		{"JWKS over plain http", func(c *Config) { c.Issuers[0].JWKSURL = "http://idp.example/jwks" }, "auth.issuers[0].jwks_url", "http://idp.example/jwks", ErrJWKSURL},
		{"JWKS relative", func(c *Config) { c.Issuers[0].JWKSURL = "/jwks" }, "auth.issuers[0].jwks_url", "/jwks", ErrJWKSURL},
		{"negative jwks_refresh", func(c *Config) { c.Issuers[0].JWKSRefresh = -time.Minute }, "auth.issuers[0].jwks_refresh", "-1m0s", ErrNegativeDuration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Issuers = []IssuerConfig{good}
			cfg.Issuers[0].Algorithms = []string{AlgEdDSA}
			tt.mod(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err is %T, want *config.ValidationError", err)
			}
			if got, want := len(ve.Problems), 1; got != want {
				t.Errorf("%d problems, want %d: %v", got, want, err)
			}
			p := ve.Problems[0]
			if got, want := p.Field, tt.field; got != want {
				t.Errorf("Field = %q, want %q", got, want)
			}
			if got, want := p.Error(), tt.value; !strings.Contains(got, `"`+want+`"`) {
				t.Errorf("Error() = %q, want it to quote the value %q", got, want)
			}
		})
	}
}

func TestValidateCollectsEverything(t *testing.T) {
	cfg := Config{Issuers: []IssuerConfig{
		{Issuer: "", Algorithms: []string{"none"}},
		{Issuer: "x", Audience: "a", Algorithms: []string{AlgEdDSA}, JWKSURL: "http://10.0.0.1/jwks"},
		{Issuer: "x", Audience: "a", Algorithms: []string{"HS256"}, PublicKeys: []string{"/nonexistent.pem"}},
	}}
	err := cfg.Validate()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *config.ValidationError", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	want := []string{
		"auth.issuers[0].issuer",
		"auth.issuers[0].audience",
		"auth.issuers[0].algorithms[0]",
		"auth.issuers[0].public_keys",
		"auth.issuers[1].jwks_url",
		"auth.issuers[2].issuer",
		"auth.issuers[2].algorithms[0]",
		"auth.issuers[2].public_keys[0]",
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields =\n%q\nwant\n%q", fields, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid auth configuration:") {
		t.Errorf("Error() = %q, want the invalid auth configuration prefix", msg)
	}
	for _, f := range want {
		if !strings.Contains(msg, f) {
			t.Errorf("Error() does not name %s:\n%s", f, msg)
		}
	}
}

func TestValidJWKSURL(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"https://idp.example/jwks", true},
		{"http://127.0.0.1:8080/jwks", true},
		{"http://[::1]/jwks", true},
		{"http://localhost/jwks", true},
		{"http://idp.example/jwks", false},
		{"ftp://idp.example/jwks", false},
		{"https://", false},
		{"idp.example/jwks", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if got := validJWKSURL(tt.url); got != tt.want {
				t.Errorf("validJWKSURL(%q) = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

func TestSplitKeyEntry(t *testing.T) {
	tests := []struct {
		entry, kid, path string
	}{
		{"keys/a.pem", "", "keys/a.pem"},
		{"k1=keys/a.pem", "k1", "keys/a.pem"},
		{"=keys/a.pem", "", "=keys/a.pem"},
		{"dir/x=y.pem", "", "dir/x=y.pem"},
		{"k=dir/x=y.pem", "k", "dir/x=y.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			kid, path := splitKeyEntry(tt.entry)
			if kid != tt.kid || path != tt.path {
				t.Errorf("splitKeyEntry(%q) = %q, %q, want %q, %q", tt.entry, kid, path, tt.kid, tt.path)
			}
		})
	}
}
