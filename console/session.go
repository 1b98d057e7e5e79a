package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/weightgate/weightgate/identity"
)

// session is what a session cookie holds: who signed in, until when, and
// what verified the token they signed in with, so that every request can
// ask the verifier in force whether that issuer and key are still trusted.
type session struct {
	Subject string              `json:"sub"`
	Name    string              `json:"name,omitempty"`
	Issued  int64               `json:"iat"`
	Expires int64               `json:"exp"`
	Binding identity.KeyBinding `json:"kb"`
	Nonce   string              `json:"n"` // tells apart two sign-ins in the same second
}

var errBadSession = errors.New("console: session cookie is not valid")

// signer signs and checks sessions and CSRF tokens with one HMAC key.
type signer struct{ key []byte }

func newSigner(key []byte) (*signer, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) < 32 {
		return nil, errors.New("console: the session key must be at least 32 bytes")
	}
	return &signer{key: key}, nil
}

func (s *signer) mac(purpose string, msg []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	// The purpose keeps a MAC made for one use (a CSRF token) from
	// passing for another (a session).
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(msg)
	return h.Sum(nil)
}

// encode returns the cookie value of ss: base64url(JSON) "." base64url(MAC).
func (s *signer) encode(ss session) (string, error) {
	b, err := json.Marshal(ss)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", b)), nil
}

// decode checks the MAC and expiry of a cookie value.
func (s *signer) decode(v string, now time.Time) (session, error) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 4096 {
		return session{}, errBadSession
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return session{}, errBadSession
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.mac("session", b)) {
		return session{}, errBadSession
	}
	var ss session
	if err := json.Unmarshal(b, &ss); err != nil || ss.Subject == "" {
		return session{}, errBadSession
	}
	if now.Unix() >= ss.Expires {
		return session{}, errSessionExpired
	}
	return ss, nil
}

var errSessionExpired = errors.New("console: the session has expired")

// csrfToken is the token a form of a signed-in page carries: bound to the
// session (or, for a bearer token, the subject), so that another site can
// neither read nor forge it.
func (s *signer) csrfToken(bound string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", []byte(bound)))
}

func (s *signer) checkCSRF(bound, token string) bool {
	want := s.csrfToken(bound)
	return token != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
