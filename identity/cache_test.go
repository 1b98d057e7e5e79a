package identity

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyRemembersToken: a verified token is remembered until its exp
// plus the leeway, with the key that verified it, and the next Verify of the
// same token is answered from memory instead of parsing it again.
func TestVerifyRemembersToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := MustNewVerifier(t, testConfig())
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	raw := MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", baseClaims())
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	key := sha256.Sum256([]byte(raw))
	vt, ok := v.verified.Peek(key)
	if !ok {
		t.Fatal("a verified token is not remembered")
	}
	if got, want := vt.until, testNow.Add(time.Hour+DefaultLeeway); !got.Equal(want) {
		t.Errorf("remembered until %v, want exp plus leeway %v", got, want)
	}
	// The keys are what lets a withdrawn key end the memory early.
	if got, want := len(vt.keys), 1; got != want {
		t.Fatalf("remembered with %d keys, want %d", got, want)
	}
	if !sameKey(vt.keys[0], dev.Public()) {
		t.Errorf("remembered key is not the dev key that verified the token")
	}

	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"now", testNow, true},
		{"just before exp plus leeway", vt.until.Add(-time.Nanosecond), true},
		{"at exp plus leeway", vt.until, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := vt.stillValid(ctx, tt.at), tt.want; got != want {
				t.Errorf("stillValid(%v) = %v, want %v", tt.at, got, want)
			}
		})
	}

	// An entry whose subject Verify could not have produced from the token
	// shows where the answer came from.
	marked := vt
	marked.subject.ID = "from memory"
	v.verified.Add(key, marked)
	sub, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify again: %v", err)
	}
	if got, want := sub.ID, "from memory"; got != want {
		t.Errorf("second Verify: subject ID = %q, want %q from the remembered entry", got, want)
	}
}

// TestJWKSKeyReplacedUnderSameKID: when the IdP publishes a new key under a
// kid, a token signed with the old key stops verifying as soon as the set is
// refreshed, although it was verified, and remembered, before.
func TestJWKSKeyReplacedUnderSameKID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keyA, keyB := newEd25519(t), newEd25519(t)
	srv := MustJWKSServer(t, map[string]crypto.Signer{"k": keyA})
	v := MustNewVerifier(t, jwksConfig(srv.URL, 50*time.Millisecond))
	rawA, rawB := MustSign(t, keyA, "k"), MustSign(t, keyB, "k")

	if _, err := v.Verify(ctx, rawA); err != nil {
		t.Fatalf("before the replacement, old key: %v", err)
	}
	srv.Set(t, map[string]crypto.Signer{"k": keyB})

	// The new key verifying shows that the refresh has happened.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := v.Verify(ctx, rawB); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new key under kid k does not verify 2s after the replacement: no periodic refresh")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := v.Verify(ctx, rawA)
	assertReason(t, err, ReasonBadSignature, rawA)
}
