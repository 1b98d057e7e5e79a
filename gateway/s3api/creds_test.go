package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
)

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustDecodeB64URL(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestNewIssuer(t *testing.T) {
	if _, err := NewIssuer(make([]byte, MinKeySize-1)); err == nil {
		t.Error("NewIssuer accepted a 31-byte key")
	}
	key := bytes.Clone(testKey)
	iss, err := NewIssuer(key)
	if err != nil {
		t.Fatal(err)
	}
	cred := MustIssue(t, iss, time.Hour)
	key[0] ^= 0xff // the issuer keeps its own copy
	if _, err := iss.Lookup(cred.AccessKeyID, cred.SessionToken, time.Now()); err != nil {
		t.Errorf("Lookup after the caller changed its key slice: %v", err)
	}

	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := GenerateKey()
	if got, want := len(k1), MinKeySize; got != want {
		t.Errorf("len(GenerateKey()) = %d, want %d", got, want)
	}
	if bytes.Equal(k1, k2) {
		t.Error("GenerateKey returned the same key twice")
	}
}

var akidPattern = regexp.MustCompile(`^WG[A-Z2-7]{18}$`)

func TestIssue(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 500_000_000, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	tests := []struct {
		name     string
		notAfter time.Time
		maxTTL   time.Duration
		wantExp  time.Time
	}{
		{"notAfter first", now.Add(30 * time.Minute), time.Hour, time.Date(2026, 7, 1, 12, 30, 0, 0, time.UTC)},
		{"maxTTL first", now.Add(3 * time.Hour), time.Hour, time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC)},
		{"rounded down to the second", now.Add(90*time.Second + 900*time.Millisecond), time.Hour, time.Date(2026, 7, 1, 12, 1, 31, 0, time.UTC)},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := iss.Issue(testSubject(), testBinding(), tt.notAfter, tt.maxTTL)
			if err != nil {
				t.Fatal(err)
			}
			if !akidPattern.MatchString(cred.AccessKeyID) {
				t.Errorf("access key id %q does not match %s", cred.AccessKeyID, akidPattern)
			}
			if seen[cred.AccessKeyID] {
				t.Errorf("access key id %q issued twice", cred.AccessKeyID)
			}
			seen[cred.AccessKeyID] = true
			if got, want := len(cred.SecretAccessKey), 40; got != want {
				t.Errorf("len(secret) = %d, want %d", got, want)
			}
			if got, want := cred.Expiration, tt.wantExp; !got.Equal(want) {
				t.Errorf("expiration = %v, want %v", got, want)
			}
			if !reflect.DeepEqual(cred.Subject, testSubject()) {
				t.Errorf("subject = %+v", cred.Subject)
			}

			// The token is the documented format: readable JSON and a MAC.
			seg, mac, ok := strings.Cut(cred.SessionToken, ".")
			if !ok {
				t.Fatalf("token %q has no '.'", cred.SessionToken)
			}
			var payload map[string]any
			if err := json.Unmarshal(mustDecodeB64URL(t, seg), &payload); err != nil {
				t.Fatal(err)
			}
			if got, want := payload["akid"], cred.AccessKeyID; got != want {
				t.Errorf("token akid = %v, want %v", got, want)
			}
			if got, want := payload["exp"], float64(tt.wantExp.Unix()); got != want {
				t.Errorf("token exp = %v, want %v", got, want)
			}
			if got, want := len(mustDecodeB64URL(t, mac)), 32; got != want {
				t.Errorf("MAC is %d bytes, want %d", got, want)
			}

			got, err := iss.Lookup(cred.AccessKeyID, cred.SessionToken, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, cred) {
				t.Errorf("Lookup = %+v\nwant     %+v", *got, cred)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	huge := testSubject()
	huge.Claims = map[string]any{"blob": strings.Repeat("x", MaxSessionTokenSize)}
	// wantErr is part of the message: a caller passing a zero maxTTL is told
	// that its lifetime is wrong, not that the credential has expired.
	tests := []struct {
		name     string
		sub      policy.Subject
		notAfter time.Time
		maxTTL   time.Duration
		wantErr  string
	}{
		{"anonymous", policy.Subject{Anonymous: true, ID: "x"}, now.Add(time.Hour), time.Hour, "identified subjects"},
		{"no id", policy.Subject{Name: "Nobody"}, now.Add(time.Hour), time.Hour, "identified subjects"},
		{"no lifetime", testSubject(), now.Add(time.Hour), 0, "lifetime 0s is not positive"},
		{"negative lifetime", testSubject(), now.Add(time.Hour), -time.Second, "lifetime -1s is not positive"},
		{"already expired", testSubject(), now, time.Hour, "already have expired"},
		{"expires within the second", testSubject(), now.Add(999 * time.Millisecond), time.Hour, "already have expired"},
		{"token too large", huge, now.Add(time.Hour), time.Hour, "session token is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := iss.Issue(tt.sub, testBinding(), tt.notAfter, tt.maxTTL)
			if err == nil {
				t.Fatalf("Issue = %+v, want an error", cred)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Issue: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	cred := MustIssue(t, iss, time.Hour)
	second := MustIssue(t, iss, time.Hour)
	other, err := NewIssuer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other.Now = iss.Now
	foreign := MustIssue(t, other, time.Hour)

	seg, mac, _ := strings.Cut(cred.SessionToken, ".")
	// resign makes a token with a valid MAC around any payload, as only a
	// key holder could.
	resign := func(payload string) string {
		s := b64url([]byte(payload))
		return s + "." + b64url(iss.mac(s))
	}
	claimsBound := func(v int, akid string, b Binding, exp int64) string {
		j, _ := json.Marshal(sessionClaims{Version: v, AccessKeyID: akid, Subject: testSubject(), Binding: b, Expires: exp})
		return string(j)
	}
	claims := func(v int, akid string, exp int64) string { return claimsBound(v, akid, testBinding(), exp) }

	tests := []struct {
		name     string
		akid     string
		token    string
		now      time.Time
		wantCode string
	}{
		{"valid", cred.AccessKeyID, cred.SessionToken, now, ""},
		{"valid a second before expiry", cred.AccessKeyID, cred.SessionToken, now.Add(time.Hour - time.Second), ""},
		{"expired at expiry", cred.AccessKeyID, cred.SessionToken, now.Add(time.Hour), CodeExpiredToken},
		{"expired", cred.AccessKeyID, cred.SessionToken, now.Add(48 * time.Hour), CodeExpiredToken},
		{"AWS access key", "AKIAIOSFODNN7EXAMPLE", cred.SessionToken, now, CodeInvalidAccessKeyID},
		{"lower-case access key", strings.ToLower(cred.AccessKeyID), cred.SessionToken, now, CodeInvalidAccessKeyID},
		{"empty access key", "", cred.SessionToken, now, CodeInvalidAccessKeyID},
		{"no token", cred.AccessKeyID, "", now, CodeInvalidToken},
		{"no dot", cred.AccessKeyID, seg + mac, now, CodeInvalidToken},
		{"MAC not base64url", cred.AccessKeyID, seg + ".!!", now, CodeInvalidToken},
		{"MAC truncated", cred.AccessKeyID, seg + "." + mac[:20], now, CodeInvalidToken},
		{"payload changed", cred.AccessKeyID, tamperPayload(t, cred.SessionToken), now, CodeInvalidToken},
		{"another credential's token", cred.AccessKeyID, second.SessionToken, now, CodeInvalidToken},
		{"another key's token", foreign.AccessKeyID, foreign.SessionToken, now, CodeInvalidToken},
		{"too large", cred.AccessKeyID, seg + "." + mac + strings.Repeat("A", MaxSessionTokenSize), now, CodeInvalidToken},
		{"signed, not JSON", cred.AccessKeyID, resign("not json"), now, CodeInvalidToken},
		{"signed, other version", cred.AccessKeyID, resign(claims(3, cred.AccessKeyID, now.Add(time.Hour).Unix())), now, CodeInvalidToken},
		// Version 1 had no binding to the token's issuer and key.
		{"signed, version 1", cred.AccessKeyID, resign(claimsBound(1, cred.AccessKeyID, Binding{}, now.Add(time.Hour).Unix())), now, CodeInvalidToken},
		{"signed, no binding", cred.AccessKeyID, resign(claimsBound(2, cred.AccessKeyID, Binding{}, now.Add(time.Hour).Unix())), now, CodeInvalidToken},
		{"signed, binding without a key", cred.AccessKeyID, resign(claimsBound(2, cred.AccessKeyID, Binding{Issuer: "https://idp.example"}, now.Add(time.Hour).Unix())), now, CodeInvalidToken},
		{"signed, current version", cred.AccessKeyID, resign(claims(2, cred.AccessKeyID, now.Add(time.Hour).Unix())), now, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := iss.Lookup(tt.akid, tt.token, tt.now)
			if code := errCode(err); code != tt.wantCode {
				t.Fatalf("Lookup: %v, want %q", err, tt.wantCode)
			}
			if err != nil {
				if got != nil {
					t.Errorf("Lookup returned a credential with an error")
				}
				return
			}
			if got.SecretAccessKey != iss.secret(tt.akid, strings.SplitN(tt.token, ".", 2)[0]) {
				t.Error("secret is not the derived one")
			}
			if got, want := got.Subject.ID, testSubject().ID; got != want {
				t.Errorf("subject = %q, want %q", got, want)
			}
		})
	}
}

// Credentials are stateless: a new Issuer with the same key (a restarted
// gateway, another replica) recognises them and derives the same secret; one
// with another key does not.
func TestLookupAcrossRestarts(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	cred := MustIssue(t, MustIssuer(t, func() time.Time { return now }), time.Hour)

	restarted := MustIssuer(t, nil)
	got, err := restarted.Lookup(cred.AccessKeyID, cred.SessionToken, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretAccessKey != cred.SecretAccessKey {
		t.Error("a restarted issuer derives another secret")
	}

	rotated, err := NewIssuer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Lookup(cred.AccessKeyID, cred.SessionToken, now); errCode(err) != CodeInvalidToken {
		t.Errorf("issuer with another key: %v, want InvalidToken", err)
	}
}

// MaxSessionTokenSize is inclusive: a token of exactly that many bytes is
// issued and looked up again. The next length a token can have is two bytes
// more (one more would need a base64 segment of a length base64 never
// produces); it is refused by Issue, and by Lookup even when the key signed
// it.
func TestSessionTokenSizeLimit(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })

	// padded returns testSubject with a claim of n 'x's, which JSON
	// encodes as n bytes, so that the payload grows byte for byte.
	padded := func(n int) policy.Subject {
		sub := testSubject()
		sub.Claims["pad"] = strings.Repeat("x", n)
		return sub
	}
	payloadLen := func(tb testing.TB, token string) int {
		tb.Helper()
		seg, _, _ := strings.Cut(token, ".")
		return len(mustDecodeB64URL(tb, seg))
	}
	macLen := base64.RawURLEncoding.EncodedLen(32)
	wantPayload := base64.RawURLEncoding.DecodedLen(MaxSessionTokenSize - 1 - macLen)
	if got := base64.RawURLEncoding.EncodedLen(wantPayload) + 1 + macLen; got != MaxSessionTokenSize {
		t.Fatalf("no payload length makes a %d-byte token (closest %d)", MaxSessionTokenSize, got)
	}
	base, err := iss.Issue(padded(0), testBinding(), now.Add(time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pad := wantPayload - payloadLen(t, base.SessionToken)

	exact, err := iss.Issue(padded(pad), testBinding(), now.Add(time.Hour), time.Hour)
	if err != nil {
		t.Fatalf("Issue of a %d-byte token: %v", MaxSessionTokenSize, err)
	}
	if got, want := len(exact.SessionToken), MaxSessionTokenSize; got != want {
		t.Fatalf("len(token) = %d, want %d", got, want)
	}
	found, err := iss.Lookup(exact.AccessKeyID, exact.SessionToken, now)
	if err != nil {
		t.Fatalf("Lookup of a %d-byte token: %v", MaxSessionTokenSize, err)
	}
	if got, want := found.Subject.Claims["pad"], padded(pad).Claims["pad"]; got != want {
		t.Error("Lookup lost the subject's claims")
	}

	if cred, err := iss.Issue(padded(pad+1), testBinding(), now.Add(time.Hour), time.Hour); err == nil {
		t.Errorf("Issue made a %d-byte token, over the limit", len(cred.SessionToken))
	}

	// The same payload one byte longer, with a valid MAC: only its size is
	// wrong.
	seg, _, _ := strings.Cut(exact.SessionToken, ".")
	payload := string(mustDecodeB64URL(t, seg))
	longer := strings.Replace(payload, `"pad":"`, `"pad":"x`, 1)
	if got, want := len(longer), len(payload)+1; got != want {
		t.Fatalf("pad claim not found in payload %.80q", payload)
	}
	s := b64url([]byte(longer))
	over := s + "." + b64url(iss.mac(s))
	if got, want := len(over), MaxSessionTokenSize+2; got != want {
		t.Fatalf("len(over) = %d, want %d", got, want)
	}
	_, err = iss.Lookup(exact.AccessKeyID, over, now)
	if got, want := errCode(err), CodeInvalidToken; got != want {
		t.Errorf("Lookup of a %d-byte token: %v, want %s", len(over), err, want)
	}
}

// TestIssueBinding: credentials are issued only with a binding to the
// token's issuer and key, and Lookup returns that binding, sealed in the
// session token.
func TestIssueBinding(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	for _, b := range []Binding{{}, {Issuer: "https://idp.example"}, {Thumbprint: "dGh1bWJwcmludA"}} {
		if _, err := iss.Issue(testSubject(), b, now.Add(time.Hour), time.Hour); err == nil {
			t.Errorf("Issue with binding %+v: no error", b)
		}
	}
	cred := MustIssue(t, iss, time.Hour)
	got, err := iss.Lookup(cred.AccessKeyID, cred.SessionToken, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Binding != testBinding() || cred.Binding != testBinding() {
		t.Errorf("binding = %+v (issued %+v), want %+v", got.Binding, cred.Binding, testBinding())
	}
}
