package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Listing cursors (an S3 continuation token or V1 marker, the Hub's
// cursor) say where the next page resumes. That position may lie among
// models the requester may not see (a page that passed over them), so it
// is sealed: AES-256-GCM under the gateway's cursor key, bound to the
// listing it came from (API, subject, prefix, delimiter, filters). A
// requester can neither read a position nor make one; a cursor from
// another listing, requester or key is refused (the client lists again
// from the start).

// CursorKeySize is the size of Options.CursorKey.
const CursorKeySize = 32

// cursorSealer seals and opens listing cursors under one key.
type cursorSealer struct{ aead cipher.AEAD }

func newCursorSealer(key []byte) (*cursorSealer, error) {
	if len(key) != CursorKeySize {
		return nil, errors.New("gateway: the cursor key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cursorSealer{aead: aead}, nil
}

// CursorKeyFrom derives the cursor key from a secret the gateways of a
// fleet share (the S3 credentials key), so that a cursor one gives is
// accepted by the others.
func CursorKeyFrom(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("weightgate listing cursor v1"))
	return m.Sum(nil)
}

// seal returns the cursor for resuming after pos in the listing bound.
func (c *cursorSealer) seal(bound []string, pos string) string {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(pos)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	out := c.aead.Seal(nonce, nonce, []byte(pos), []byte(strings.Join(bound, "\x00")))
	return base64.RawURLEncoding.EncodeToString(out)
}

// open returns the position a cursor sealed for bound holds. Anything
// else, a plain key included (an S3 V1 marker may be one), is not a
// cursor: only the key can make one.
func (c *cursorSealer) open(bound []string, cursor string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < c.aead.NonceSize() {
		return "", false
	}
	pos, err := c.aead.Open(nil, b[:c.aead.NonceSize()], b[c.aead.NonceSize():], []byte(strings.Join(bound, "\x00")))
	if err != nil {
		return "", false
	}
	return string(pos), true
}
