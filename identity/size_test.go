package identity

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// MustSignSize signs a valid token for testIssuer at testNow that is exactly
// size bytes long. Base64 makes some lengths unreachable by padding the
// claims alone, so the header is padded too when needed.
func MustSignSize(tb testing.TB, size int) string {
	tb.Helper()
	key := MustLoadPrivateKey(tb, "dev-ed25519.pem")
	sign := func(headerPad, claimsPad int) string {
		c := baseClaims()
		c["pad"] = strings.Repeat("x", claimsPad)
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		if headerPad > 0 {
			tok.Header["pad"] = strings.Repeat("x", headerPad)
		}
		s, err := tok.SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	for headerPad := range 4 {
		// Each claims byte adds 4/3 of a base64 byte.
		est := (size - len(sign(headerPad, 0))) * 3 / 4
		for claimsPad := max(0, est-4); claimsPad <= est+4; claimsPad++ {
			if s := sign(headerPad, claimsPad); len(s) == size {
				return s
			}
		}
	}
	tb.Fatalf("no token of exactly %d bytes", size)
	return ""
}

// TestVerifyTokenSize: a token of MaxTokenSize bytes verifies, with or
// without HFTokenPrefix in front (the prefix does not count); one byte more
// is ReasonMalformedToken.
func TestVerifyTokenSize(t *testing.T) {
	t.Parallel()
	v := MustNewVerifier(t, testConfig())
	atLimit := MustSignSize(t, MaxTokenSize)
	overLimit := MustSignSize(t, MaxTokenSize+1)
	// Not an hf_ token, and longer than the limit by the prefix's length:
	// the prefix allowance must not let it through.
	overByPrefix := MustSignSize(t, MaxTokenSize+len(HFTokenPrefix))
	tests := []struct {
		name string
		raw  string
		want string // "" for success
	}{
		{"MaxTokenSize bytes", atLimit, ""},
		{"hf_ and MaxTokenSize bytes", HFToken(atLimit), ""},
		{"MaxTokenSize+1 bytes", overLimit, ReasonMalformedToken},
		{"hf_ and MaxTokenSize+1 bytes", HFToken(overLimit), ReasonMalformedToken},
		{"MaxTokenSize+len(hf_) bytes without hf_", overByPrefix, ReasonMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sub, err := v.Verify(context.Background(), tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify (%d bytes): %v", len(tt.raw), err)
				}
				if got, want := sub.ID, "alice"; got != want {
					t.Errorf("subject ID = %q, want %q", got, want)
				}
				return
			}
			assertReason(t, err, tt.want, tt.raw)
		})
	}
}
