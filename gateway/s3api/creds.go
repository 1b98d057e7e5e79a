package s3api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/weightgate/weightgate/policy"
)

// Credential is a temporary S3 credential bound to the subject it was issued
// to and to what verified that subject's token. SessionToken carries
// everything else, so the credential needs no server-side state.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	Subject         policy.Subject
	Binding         Binding
}

// Binding names the issuer and the key that verified the web identity token
// a credential was issued for (identity.KeyBinding, in this package's terms,
// which does not depend on package identity). It is sealed in the session
// token, so that whoever checks a request can ask whether the issuer still
// trusts that key: a credential must stop working when its token's key is
// withdrawn, not only when it expires.
type Binding struct {
	Issuer     string `json:"iss"`
	KeyID      string `json:"kid,omitempty"`
	Algorithm  string `json:"alg"`
	Thumbprint string `json:"key"`
}

const (
	// MinKeySize is the shortest key NewIssuer accepts, in bytes.
	MinKeySize = 32
	// MaxSessionTokenSize bounds session tokens, in bytes. A token carries
	// the whole subject, claims included; it travels in a header or, for a
	// presigned URL, in the query string.
	MaxSessionTokenSize = 16 << 10

	accessKeyPrefix = "WG"
	accessKeyRandom = 18 // upper-case base32 characters after the prefix
	secretKeyLen    = 40
	// tokenVersion 2 added the binding: tokens of version 1 have none, so
	// they are refused rather than trusted without one.
	tokenVersion     = 2
	secretDerivation = "secret\x00"
)

// GenerateKey returns a new random MinKeySize-byte issuer key. A gateway
// that generates its key at start-up invalidates, on restart, every
// credential it issued; configure a key to keep them valid.
func GenerateKey() ([]byte, error) {
	key := make([]byte, MinKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate issuer key: %w", err)
	}
	return key, nil
}

// Issuer issues temporary credentials and looks them up again without
// storing anything: the session token is the signed credential, and the
// secret is derived from it with the key.
//
// Token format: base64url(JSON{v, akid, subject, bind, exp}) "." base64url(MAC),
// where MAC is HMAC-SHA256(key, the first segment as sent). The secret is
// base64(HMAC-SHA256(key, "secret\x00" akid "\x00" first-segment)), cut to
// 40 characters. The MAC input is base64url text, which never contains the
// NUL of the secret's input, so neither value can stand for the other. The
// token is signed, not encrypted: whoever holds it can read the subject.
type Issuer struct {
	key []byte
	// Now is the clock Issue caps lifetimes with; time.Now when nil.
	Now func() time.Time
}

var _ CredentialLookup = (*Issuer)(nil)

// NewIssuer returns an Issuer signing with key, which must be at least
// MinKeySize bytes. The key is copied.
func NewIssuer(key []byte) (*Issuer, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("s3api: issuer key is %d bytes, need at least %d", len(key), MinKeySize)
	}
	return &Issuer{key: append([]byte(nil), key...)}, nil
}

// sessionClaims is the payload of a session token.
type sessionClaims struct {
	Version     int            `json:"v"`
	AccessKeyID string         `json:"akid"`
	Subject     policy.Subject `json:"subject"`
	Binding     Binding        `json:"bind"`
	Expires     int64          `json:"exp"`
}

// Issue returns a new credential for sub, whose token b verified, valid
// until notAfter or for maxTTL from now, whichever comes first, rounded down
// to the second. Anonymous subjects, subjects without an ID, a binding
// without an issuer or a key, a non-positive maxTTL, a lifetime that has
// already ended and a token over MaxSessionTokenSize are errors.
func (iss *Issuer) Issue(sub policy.Subject, b Binding, notAfter time.Time, maxTTL time.Duration) (Credential, error) {
	if sub.Anonymous || sub.ID == "" {
		return Credential{}, errors.New("s3api: credentials are issued only to identified subjects")
	}
	if b.Issuer == "" || b.Thumbprint == "" {
		return Credential{}, errors.New("s3api: credentials are issued only for a token bound to its issuer and key")
	}
	if maxTTL <= 0 {
		return Credential{}, fmt.Errorf("s3api: maximum credential lifetime %v is not positive", maxTTL)
	}
	now := iss.now()
	exp := now.Add(maxTTL)
	if notAfter.Before(exp) {
		exp = notAfter
	}
	exp = time.Unix(exp.Unix(), 0).UTC()
	if !exp.After(now) {
		return Credential{}, errors.New("s3api: the credential would already have expired")
	}

	akid, err := newAccessKeyID()
	if err != nil {
		return Credential{}, err
	}
	payload, err := json.Marshal(sessionClaims{Version: tokenVersion, AccessKeyID: akid, Subject: sub, Binding: b, Expires: exp.Unix()})
	if err != nil {
		return Credential{}, fmt.Errorf("s3api: encode session token: %w", err)
	}
	seg := base64.RawURLEncoding.EncodeToString(payload)
	token := seg + "." + base64.RawURLEncoding.EncodeToString(iss.mac(seg))
	if len(token) > MaxSessionTokenSize {
		return Credential{}, fmt.Errorf("s3api: session token is %d bytes, limit %d (the subject's claims are too large)", len(token), MaxSessionTokenSize)
	}
	return Credential{
		AccessKeyID:     akid,
		SecretAccessKey: iss.secret(akid, seg),
		SessionToken:    token,
		Expiration:      exp,
		Subject:         sub,
		Binding:         b,
	}, nil
}

// Lookup returns the credential that accessKeyID and sessionToken name, with
// its subject, if the token was issued with this issuer's key for that
// access key id and has not expired at now. Errors are *Error:
// InvalidAccessKeyId (403) when accessKeyID is not one of ours,
// InvalidToken (400) when the token is missing, malformed, not ours or for
// another key, ExpiredToken (400) when it has expired. The MAC is compared
// in constant time before anything in the token is believed.
func (iss *Issuer) Lookup(accessKeyID, sessionToken string, now time.Time) (*Credential, error) {
	if !validAccessKeyID(accessKeyID) {
		return nil, newError(http.StatusForbidden, CodeInvalidAccessKeyID, "The AWS access key Id you provided does not exist in our records.")
	}
	invalid := errInvalidToken("The provided token is malformed or otherwise invalid.")
	if sessionToken == "" {
		return nil, errInvalidToken("The request has no session token: this endpoint accepts only temporary credentials from its STS endpoint.")
	}
	if len(sessionToken) > MaxSessionTokenSize {
		return nil, invalid
	}
	seg, macText, ok := strings.Cut(sessionToken, ".")
	if !ok {
		return nil, invalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil || !hmac.Equal(mac, iss.mac(seg)) {
		return nil, invalid
	}
	payload, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, invalid
	}
	var c sessionClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Version != tokenVersion {
		return nil, invalid
	}
	if c.Binding.Issuer == "" || c.Binding.Thumbprint == "" {
		// Issue never seals one without: a credential that cannot be
		// checked against the issuers in force is not trusted.
		return nil, invalid
	}
	if subtle.ConstantTimeCompare([]byte(c.AccessKeyID), []byte(accessKeyID)) != 1 {
		return nil, invalid
	}
	exp := time.Unix(c.Expires, 0).UTC()
	if !now.Before(exp) {
		return nil, newError(http.StatusBadRequest, CodeExpiredToken, "The provided token has expired.")
	}
	return &Credential{
		AccessKeyID:     accessKeyID,
		SecretAccessKey: iss.secret(accessKeyID, seg),
		SessionToken:    sessionToken,
		Expiration:      exp,
		Subject:         c.Subject,
		Binding:         c.Binding,
	}, nil
}

func (iss *Issuer) now() time.Time {
	if iss.Now != nil {
		return iss.Now()
	}
	return time.Now()
}

func (iss *Issuer) mac(seg string) []byte {
	return hmacSHA256(iss.key, seg)
}

func (iss *Issuer) secret(akid, seg string) string {
	sum := hmacSHA256(iss.key, secretDerivation+akid+"\x00"+seg)
	return base64.StdEncoding.EncodeToString(sum)[:secretKeyLen]
}

// newAccessKeyID returns "WG" and 18 random upper-case base32 characters
// (90 bits), 20 characters like an AWS key id.
func newAccessKeyID() (string, error) {
	b := make([]byte, 12) // 96 bits, 20 base32 characters
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("s3api: generate access key id: %w", err)
	}
	return accessKeyPrefix + base32.StdEncoding.EncodeToString(b)[:accessKeyRandom], nil
}

// validAccessKeyID reports whether s has the shape of an access key id this
// package issues.
func validAccessKeyID(s string) bool {
	if len(s) != len(accessKeyPrefix)+accessKeyRandom || !strings.HasPrefix(s, accessKeyPrefix) {
		return false
	}
	for _, c := range s[len(accessKeyPrefix):] {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}
