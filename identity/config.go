package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/weightgate/weightgate/config"
)

// Defaults. A zero value in Config means "use the default" (see withDefaults).
const (
	// DefaultLeeway is the clock skew allowed when checking exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultJWKSRefresh is how often a JWKS URL is fetched again.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultJWKSUnknownKIDInterval is the minimum time between the extra JWKS
	// fetches triggered by a token whose kid is not (yet) in the cached set.
	// It bounds what a client sending random kids can make us fetch.
	DefaultJWKSUnknownKIDInterval = 30 * time.Second
	// DefaultJWKSTimeout bounds each JWKS HTTP request.
	DefaultJWKSTimeout = 10 * time.Second
)

// Signing algorithms a configuration may allow. Nothing else is accepted:
// not "none", not HS* (a public key must never double as an HMAC secret),
// and not the other RSA/ECDSA variants, to keep the key/algorithm pairing
// unambiguous.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// Sentinel errors wrapped by the *config.Error of each problem.
var (
	ErrIssuerRequired      = errors.New("issuer is required")
	ErrDuplicateIssuer     = errors.New("issuer is configured more than once")
	ErrAudienceRequired    = errors.New("audience is required")
	ErrAlgorithmsRequired  = errors.New("at least one algorithm is required")
	ErrAlgorithmForbidden  = errors.New("algorithm is forbidden (none and HS* are never accepted)")
	ErrAlgorithmUnknown    = errors.New("algorithm is not supported (use RS256, ES256 or EdDSA)")
	ErrNoKeys              = errors.New("either public_keys or jwks_url is required")
	ErrPublicKey           = errors.New("public key is unusable")
	ErrKeyAlgorithm        = errors.New("public key type matches none of the issuer's algorithms")
	ErrDuplicateKeyID      = errors.New("key id is used more than once for this issuer")
	ErrJWKSURL             = errors.New("jwks_url must be an absolute https URL (http only for loopback hosts)")
	ErrNegativeDuration    = errors.New("duration must not be negative")
	ErrNoIssuers           = errors.New("at least one issuer is required")
	ErrDuplicateClaimNames = errors.New("claim name is mapped to more than one field")
	ErrTrustedClaimUnknown = errors.New("claim cannot be trusted (use veu or security_attested)")
	ErrDuplicateTrust      = errors.New("trusted claim is listed more than once")
)

// Entity-status claims Config.TrustedClaims may list. Each names a field of
// ClaimNames (its yaml key), not the claim name a token carries it under.
const (
	TrustVEU              = "veu"
	TrustSecurityAttested = "security_attested"
)

// Config configures token verification. It is embedded in the gateway's
// configuration under `auth:`. Zero values mean "default" (see DefaultConfig).
type Config struct {
	// Issuers are the trusted token issuers, selected by the token's iss claim.
	Issuers []IssuerConfig `yaml:"issuers"`
	// Leeway is the allowed clock skew for exp, nbf and iat. Zero means
	// DefaultLeeway.
	Leeway time.Duration `yaml:"leeway"`
	// Claims names the token claims that fill the policy.Subject.
	Claims ClaimNames `yaml:"claims"`
	// TrustedClaims lists the entity-status claims taken from tokens:
	// TrustVEU ("veu") fills Entity.VEU and TrustSecurityAttested
	// ("security_attested") fills Entity.SecurityAttested. A claim not
	// listed is ignored, leaving the field "" or false, however the token
	// sets it. These claims grant export authorisations (a validated end
	// user, a secured destination), so by default the policy relies on the
	// operator's own registries (the licences, veu and attestations data)
	// and a token cannot grant itself a status. List a claim only when every
	// configured issuer asserts it with the operator's authority. Ignored
	// claims still appear, raw, in Subject.Claims; policies must not read
	// them there.
	TrustedClaims []string `yaml:"trusted_claims"`
}

// IssuerConfig is one trusted issuer and the keys its tokens are signed with.
type IssuerConfig struct {
	// Issuer must equal the token's iss claim exactly.
	Issuer string `yaml:"issuer"`
	// Audience must be one of the token's aud values. Required.
	Audience string `yaml:"audience"`
	// Algorithms lists the accepted alg header values: RS256, ES256, EdDSA.
	// Required; there is no default.
	Algorithms []string `yaml:"algorithms"`
	// PublicKeys are PEM files (PKIX "PUBLIC KEY", or PKCS#1 "RSA PUBLIC KEY")
	// holding RSA, EC P-256 or Ed25519 public keys. An entry "kid=path" gives
	// the key a key ID: a token whose kid header equals it is verified with
	// that key only. An entry without "kid=" is tried for tokens without a kid
	// and for tokens whose kid matches no other key of this issuer.
	PublicKeys []string `yaml:"public_keys"`
	// JWKSURL is fetched at startup and every JWKSRefresh; keys are selected
	// by kid. It must be https unless the host is a loopback address.
	JWKSURL string `yaml:"jwks_url"`
	// JWKSRefresh is the JWKS refresh period. Zero means DefaultJWKSRefresh.
	JWKSRefresh time.Duration `yaml:"jwks_refresh"`
}

// ClaimNames maps token claim names to Subject fields. An empty name means the
// default, which is the yaml key itself (for example Country → "country").
type ClaimNames struct {
	Subject string `yaml:"sub"`
	// Name is the requester's name, screened against restricted-party
	// lists with the entity's name.
	Name     string `yaml:"name"`
	Country  string `yaml:"country"`
	Entity   string `yaml:"entity"`
	EntityID string `yaml:"entity_id"`
	EntityHQ string `yaml:"entity_hq"`
	ParentHQ string `yaml:"parent_hq"`
	// Nationality and PermanentResidence are JSON arrays of ISO codes or
	// one comma-separated string (see NormalizeNationality).
	Nationality        string `yaml:"nationality"`
	PermanentResidence string `yaml:"permanent_residence"`
	// Employee is the JSON boolean true when the requester is a permanent
	// regular employee of the entity.
	Employee string `yaml:"employee"`
	// USPerson is the JSON boolean true when the requester is a U.S. person
	// (citizen, permanent resident or protected individual): it stands for a
	// nationality claim, which the policy otherwise requires for controlled
	// weights.
	USPerson string `yaml:"us_person"`
	// VEU ("uveu" or "nveu") and SecurityAttested (the JSON boolean true)
	// are read only when Config.TrustedClaims lists them.
	VEU              string `yaml:"veu"`
	SecurityAttested string `yaml:"security_attested"`
}

// DefaultClaimNames returns the claim names used when none are configured.
func DefaultClaimNames() ClaimNames {
	return ClaimNames{
		Subject:            "sub",
		Name:               "name",
		Country:            "country",
		Entity:             "entity",
		EntityID:           "entity_id",
		EntityHQ:           "entity_hq",
		ParentHQ:           "parent_hq",
		Nationality:        "nationality",
		PermanentResidence: "permanent_residence",
		Employee:           "employee",
		USPerson:           "us_person",
		VEU:                "veu",
		SecurityAttested:   "security_attested",
	}
}

// DefaultConfig returns a Config with every default filled in and no issuers.
func DefaultConfig() Config {
	return Config{Leeway: DefaultLeeway, Claims: DefaultClaimNames()}
}

// withDefaults returns a copy of c with every zero value replaced by its
// default. It is the only place defaults are applied; New and Validate both
// go through it, so a Config that skipped DefaultConfig still behaves.
func (c Config) withDefaults() Config {
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	def := DefaultClaimNames()
	for _, f := range []struct {
		got *string
		def string
	}{
		{&c.Claims.Subject, def.Subject},
		{&c.Claims.Name, def.Name},
		{&c.Claims.Country, def.Country},
		{&c.Claims.Entity, def.Entity},
		{&c.Claims.EntityID, def.EntityID},
		{&c.Claims.EntityHQ, def.EntityHQ},
		{&c.Claims.ParentHQ, def.ParentHQ},
		{&c.Claims.Nationality, def.Nationality},
		{&c.Claims.PermanentResidence, def.PermanentResidence},
		{&c.Claims.Employee, def.Employee},
		{&c.Claims.USPerson, def.USPerson},
		{&c.Claims.VEU, def.VEU},
		{&c.Claims.SecurityAttested, def.SecurityAttested},
	} {
		if *f.got == "" {
			*f.got = f.def
		}
	}
	issuers := make([]IssuerConfig, len(c.Issuers))
	copy(issuers, c.Issuers)
	for i := range issuers {
		if issuers[i].JWKSRefresh == 0 {
			issuers[i].JWKSRefresh = DefaultJWKSRefresh
		}
	}
	c.Issuers = issuers
	return c
}

// Validate checks c after applying defaults and returns a *config.ValidationError
// listing every problem, or nil. It reads the public key files, so an
// unreadable or unsuitable PEM is reported here rather than at New.
func (c *Config) Validate() error {
	_, err := c.withDefaults().load()
	return err
}

// issuerKeys are one issuer's loaded PEM keys.
type issuerKeys struct {
	byKID map[string]crypto.PublicKey
	// anyKID are the keys configured without a kid.
	anyKID []crypto.PublicKey
}

// load validates a defaulted config and loads every PEM key, collecting all
// problems into one *config.ValidationError.
func (c Config) load() ([]issuerKeys, error) {
	var problems config.Problems
	add := func(field string, value any, err error) {
		problems.Add(field, value, err)
	}

	if c.Leeway < 0 {
		add("auth.leeway", c.Leeway, ErrNegativeDuration)
	}
	if len(c.Issuers) == 0 {
		add("auth.issuers", "[]", ErrNoIssuers)
	}
	seenClaim := map[string]string{}
	for _, f := range []struct{ field, name string }{
		{"sub", c.Claims.Subject}, {"name", c.Claims.Name}, {"country", c.Claims.Country}, {"entity", c.Claims.Entity},
		{"entity_id", c.Claims.EntityID}, {"entity_hq", c.Claims.EntityHQ}, {"parent_hq", c.Claims.ParentHQ},
		{"nationality", c.Claims.Nationality}, {"permanent_residence", c.Claims.PermanentResidence},
		{"employee", c.Claims.Employee}, {"us_person", c.Claims.USPerson}, {"veu", c.Claims.VEU}, {"security_attested", c.Claims.SecurityAttested},
	} {
		if prev, ok := seenClaim[f.name]; ok {
			add("auth.claims."+f.field, f.name, fmt.Errorf("%w (also auth.claims.%s)", ErrDuplicateClaimNames, prev))
			continue
		}
		seenClaim[f.name] = f.field
	}
	seenTrust := map[string]int{}
	for i, name := range c.TrustedClaims {
		field := fmt.Sprintf("auth.trusted_claims[%d]", i)
		switch j, dup := seenTrust[name]; {
		case name != TrustVEU && name != TrustSecurityAttested:
			add(field, name, ErrTrustedClaimUnknown)
		case dup:
			add(field, name, fmt.Errorf("%w (also auth.trusted_claims[%d])", ErrDuplicateTrust, j))
		default:
			seenTrust[name] = i
		}
	}

	keys := make([]issuerKeys, len(c.Issuers))
	seenIssuer := map[string]int{}
	for i, ic := range c.Issuers {
		p := fmt.Sprintf("auth.issuers[%d]", i)
		if ic.Issuer == "" {
			add(p+".issuer", ic.Issuer, ErrIssuerRequired)
		} else if j, ok := seenIssuer[ic.Issuer]; ok {
			add(p+".issuer", ic.Issuer, fmt.Errorf("%w (also auth.issuers[%d])", ErrDuplicateIssuer, j))
		} else {
			seenIssuer[ic.Issuer] = i
		}
		if ic.Audience == "" {
			add(p+".audience", ic.Audience, ErrAudienceRequired)
		}
		if len(ic.Algorithms) == 0 {
			add(p+".algorithms", "[]", ErrAlgorithmsRequired)
		}
		for j, alg := range ic.Algorithms {
			if err := checkAlgorithm(alg); err != nil {
				add(fmt.Sprintf("%s.algorithms[%d]", p, j), alg, err)
			}
		}
		if len(ic.PublicKeys) == 0 && ic.JWKSURL == "" {
			add(p+".public_keys", "[]", ErrNoKeys)
		}
		if ic.JWKSURL != "" && !validJWKSURL(ic.JWKSURL) {
			add(p+".jwks_url", ic.JWKSURL, ErrJWKSURL)
		}
		if ic.JWKSRefresh < 0 {
			add(p+".jwks_refresh", ic.JWKSRefresh, ErrNegativeDuration)
		}

		keys[i] = issuerKeys{byKID: map[string]crypto.PublicKey{}}
		for j, entry := range ic.PublicKeys {
			field := fmt.Sprintf("%s.public_keys[%d]", p, j)
			kid, path := splitKeyEntry(entry)
			pub, err := LoadPublicKeyPEM(path)
			if err != nil {
				add(field, entry, fmt.Errorf("%w: %w", ErrPublicKey, err))
				continue
			}
			// LoadPublicKeyPEM only returns keys algorithmForPublicKey
			// accepts. An empty list is reported once, above.
			if alg, _ := algorithmForPublicKey(pub); len(ic.Algorithms) > 0 && !slices.Contains(ic.Algorithms, alg) {
				add(field, entry, fmt.Errorf("%w (key needs %s)", ErrKeyAlgorithm, alg))
			}
			switch {
			case kid == "":
				keys[i].anyKID = append(keys[i].anyKID, pub)
			case keys[i].byKID[kid] != nil:
				add(field, entry, ErrDuplicateKeyID)
			default:
				keys[i].byKID[kid] = pub
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems.Err("invalid auth configuration")
	}
	return keys, nil
}

// trusts reports whether c.TrustedClaims lists claim (TrustVEU or
// TrustSecurityAttested).
func (c Config) trusts(claim string) bool {
	return slices.Contains(c.TrustedClaims, claim)
}

// checkAlgorithm reports whether alg may appear in IssuerConfig.Algorithms.
func checkAlgorithm(alg string) error {
	switch alg {
	case AlgRS256, AlgES256, AlgEdDSA:
		return nil
	}
	if strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS") {
		return ErrAlgorithmForbidden
	}
	return ErrAlgorithmUnknown
}

// splitKeyEntry splits a public_keys entry "kid=path" into its parts. An
// entry without "=", or whose part before "=" contains a path separator, is
// a plain path.
func splitKeyEntry(entry string) (kid, path string) {
	k, p, ok := strings.Cut(entry, "=")
	if !ok || k == "" || strings.ContainsAny(k, `/\`) {
		return "", entry
	}
	return k, p
}

// validJWKSURL accepts https URLs, and http URLs whose host is a loopback
// address (local IdPs and tests): keys fetched over plain HTTP from anywhere
// else could be replaced in transit.
func validJWKSURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// algorithmForPublicKey returns the only algorithm this package uses with pub.
func algorithmForPublicKey(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key has %d bits, want at least 2048", k.N.BitLen())
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC key is on %s, want P-256", k.Curve.Params().Name)
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}
