package identity

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weightgate/weightgate/policy"
)

// KeyBinding names what verified a token: its issuer and the key whose
// signature check passed. Whatever is derived from a token and outlives the
// request (the S3 API's temporary credentials) carries it, and is checked
// with CheckBinding against the Verifier in force when it is used, so that it
// stops working as soon as the issuer is removed or stops offering the key:
// not only at its expiry.
type KeyBinding struct {
	// Issuer is the token's iss.
	Issuer string
	// KeyID is the token's kid header ("" when it had none), and Algorithm
	// its alg: the key is looked up again as the token's was.
	KeyID     string
	Algorithm string
	// Thumbprint is KeyThumbprint of the key that verified the signature.
	Thumbprint string
}

// KeyThumbprint identifies a public key: the unpadded base64url SHA-256 of
// its PKIX (SubjectPublicKeyInfo) DER encoding. The standard library encodes
// every key type the verifier accepts, and the encoding is canonical, so
// the same key read from a PEM file or a JWKS has the same thumbprint.
func KeyThumbprint(k crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("identity: key thumbprint: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// VerifyBound verifies raw as Verify does and also returns the binding of the
// issuer and key that verified it.
func (v *Verifier) VerifyBound(ctx context.Context, raw string) (policy.Subject, KeyBinding, error) {
	sub, b, err := v.verify(ctx, raw)
	return sub, b, err
}

// CheckBinding reports whether b still stands: its issuer is configured,
// allows its algorithm, and still offers the key for a token with its kid
// (for a JWKS issuer, the key is in the key set as last fetched; an unknown
// kid may trigger one rate-limited refetch, as for a token). Otherwise it
// returns an *Error: ReasonUnknownIssuer, ReasonAlgorithmNotAllowed or
// ReasonKeyNotTrusted.
func (v *Verifier) CheckBinding(ctx context.Context, b KeyBinding) error {
	is, ok := v.issuers[b.Issuer]
	if !ok || b.Issuer == "" {
		return newError(ReasonUnknownIssuer, fmt.Errorf("issuer %q is not configured", b.Issuer))
	}
	if !slices.Contains(is.cfg.Algorithms, b.Algorithm) {
		return newError(ReasonAlgorithmNotAllowed, fmt.Errorf("alg %q not allowed for issuer %q", b.Algorithm, b.Issuer))
	}
	header := map[string]any{"alg": b.Algorithm}
	if b.KeyID != "" {
		header["kid"] = b.KeyID
	}
	k, err := is.keyfunc(ctx)(&jwt.Token{Header: header})
	if err != nil {
		return newError(ReasonKeyNotTrusted, err)
	}
	for _, c := range keysOf(k) {
		if tp, err := KeyThumbprint(c); err == nil && tp == b.Thumbprint {
			return nil
		}
	}
	return newError(ReasonKeyNotTrusted, fmt.Errorf("issuer %q no longer offers key %s (kid %q)", b.Issuer, b.Thumbprint, b.KeyID))
}

// binding returns the binding of a token that tok, parsed from raw, was
// verified with: keys are what the issuer's keyfunc offered. When it offered
// several (keys configured without a kid), the signature is checked against
// each to find the one that verified it.
func binding(iss string, raw string, tok *jwt.Token, keys []crypto.PublicKey) (KeyBinding, error) {
	b := KeyBinding{Issuer: iss}
	b.Algorithm, _ = tok.Header["alg"].(string)
	b.KeyID, _ = tok.Header["kid"].(string)
	key := keys[0]
	if len(keys) > 1 {
		key = nil
		signed := raw[:strings.LastIndexByte(raw, '.')]
		for _, k := range keys {
			if tok.Method.Verify(signed, tok.Signature, k) == nil {
				key = k
				break
			}
		}
		if key == nil {
			return KeyBinding{}, errors.New("no candidate key verifies the signature again")
		}
	}
	tp, err := KeyThumbprint(key)
	if err != nil {
		return KeyBinding{}, err
	}
	b.Thumbprint = tp
	return b, nil
}

// Current is the Verifier in force, replaced whole when the configuration is
// reloaded (SIGHUP in serve): the gateway keeps one Current, and every
// verification, and every check of a credential's binding, asks whichever
// Verifier it holds at that moment. A nil Verifier trusts no issuer. It is
// safe for concurrent use.
type Current struct {
	v atomic.Pointer[Verifier]
}

// NewCurrent returns a Current holding v, which may be nil.
func NewCurrent(v *Verifier) *Current {
	c := &Current{}
	c.v.Store(v)
	return c
}

// Load returns the Verifier in force, or nil.
func (c *Current) Load() *Verifier { return c.v.Load() }

// Replace puts v (which may be nil) in force and closes the Verifier it
// replaces. Verifications already under way finish with the old one's keys.
func (c *Current) Replace(v *Verifier) {
	if old := c.v.Swap(v); old != nil && old != v {
		old.Close()
	}
}

// Close closes the Verifier in force.
func (c *Current) Close() error {
	if v := c.v.Load(); v != nil {
		return v.Close()
	}
	return nil
}

// errNoIssuer is the cause of every refusal while no issuer is configured.
var errNoIssuer = errors.New("no token issuer is configured")

// Verify verifies raw with the Verifier in force.
func (c *Current) Verify(ctx context.Context, raw string) (policy.Subject, error) {
	sub, _, err := c.VerifyBound(ctx, raw)
	return sub, err
}

// VerifyBound verifies raw with the Verifier in force.
func (c *Current) VerifyBound(ctx context.Context, raw string) (policy.Subject, KeyBinding, error) {
	v := c.v.Load()
	if v == nil {
		return policy.Subject{}, KeyBinding{}, newError(ReasonUnknownIssuer, errNoIssuer)
	}
	return v.VerifyBound(ctx, raw)
}

// CheckBinding checks b against the Verifier in force.
func (c *Current) CheckBinding(ctx context.Context, b KeyBinding) error {
	v := c.v.Load()
	if v == nil {
		return newError(ReasonUnknownIssuer, errNoIssuer)
	}
	return v.CheckBinding(ctx, b)
}
