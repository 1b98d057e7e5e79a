package identity

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenTTL is the lifetime of a token signed with a zero TTL.
const DefaultTokenTTL = time.Hour

// TokenClaims are the claims Sign puts in a token. Empty string fields, empty
// lists and false booleans are omitted from the token.
type TokenClaims struct {
	Issuer   string
	Audience string
	Subject  string
	Name     string
	Country  string
	Entity   string
	EntityID string
	EntityHQ string
	ParentHQ string
	// Nationality and PermanentResidence are written as JSON arrays.
	Nationality        []string
	PermanentResidence []string
	// Employee and SecurityAttested are written as the JSON boolean true.
	Employee bool
	// USPerson is written as the JSON boolean true.
	USPerson bool
	// VEU and SecurityAttested are written whatever the verifier's
	// Config.TrustedClaims; a verifier that does not trust them ignores them.
	VEU              string
	SecurityAttested bool
	// TTL is the token lifetime; zero means DefaultTokenTTL.
	TTL time.Duration
	// IssuedAt is the iat and nbf of the token; zero means now.
	IssuedAt time.Time
	// Roles, when set, is written as a JSON array under RolesClaim (default
	// "roles"): the console lets in a token whose role claim holds its
	// auditor role.
	Roles      []string
	RolesClaim string
	// Names are the claim names to write; zero fields mean the defaults, so
	// passing the server's Config.Claims yields tokens it maps correctly.
	Names ClaimNames
}

// Sign returns a compact JWT for c signed with key, which must be an
// *rsa.PrivateKey (RS256, at least 2048 bits), an *ecdsa.PrivateKey on P-256
// (ES256) or an ed25519.PrivateKey (EdDSA): the algorithm follows from the key.
// kid, when not empty, is written to the header. The token carries iss, aud,
// sub, iat, nbf, exp and a random jti, plus the non-empty subject claims.
// Values are written as given: Verify normalises them.
func Sign(key crypto.PrivateKey, kid string, c TokenClaims) (string, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return "", fmt.Errorf("sign: unsupported private key type %T", key)
	}
	alg, err := algorithmForPublicKey(signer.Public())
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	if c.Issuer == "" || c.Audience == "" || c.Subject == "" {
		return "", errors.New("sign: issuer, audience and subject are required")
	}
	if c.TTL < 0 {
		return "", errors.New("sign: TTL must not be negative")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTokenTTL
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	names := Config{Claims: c.Names}.withDefaults().Claims

	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	claims := jwt.MapClaims{
		"iss":         c.Issuer,
		"aud":         c.Audience,
		names.Subject: c.Subject,
		"iat":         jwt.NewNumericDate(c.IssuedAt),
		"nbf":         jwt.NewNumericDate(c.IssuedAt),
		"exp":         jwt.NewNumericDate(c.IssuedAt.Add(c.TTL)),
		"jti":         hex.EncodeToString(jti),
	}
	for name, v := range map[string]string{
		names.Name:     c.Name,
		names.Country:  c.Country,
		names.Entity:   c.Entity,
		names.EntityID: c.EntityID,
		names.EntityHQ: c.EntityHQ,
		names.ParentHQ: c.ParentHQ,
		names.VEU:      c.VEU,
	} {
		if v != "" {
			claims[name] = v
		}
	}
	if len(c.Roles) > 0 {
		claims[cmp.Or(c.RolesClaim, "roles")] = c.Roles
	}
	for name, v := range map[string][]string{
		names.Nationality:        c.Nationality,
		names.PermanentResidence: c.PermanentResidence,
	} {
		if len(v) > 0 {
			claims[name] = v
		}
	}
	for name, v := range map[string]bool{
		names.Employee:         c.Employee,
		names.USPerson:         c.USPerson,
		names.SecurityAttested: c.SecurityAttested,
	} {
		if v {
			claims[name] = true
		}
	}

	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return s, nil
}
