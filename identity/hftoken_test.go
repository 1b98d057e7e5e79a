package identity

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyHFToken: hf_ followed by a JWT verifies exactly as the JWT alone
// (same subject, same failures); hf_ followed by anything else is
// ReasonHubToken, without the token in the error.
func TestVerifyHFToken(t *testing.T) {
	v := MustNewVerifier(t, testConfig())
	dev := MustLoadPrivateKey(t, "dev-ed25519.pem")
	good := MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", baseClaims())

	plain, err := v.Verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	prefixed, err := v.Verify(context.Background(), HFToken(good))
	if err != nil {
		t.Fatalf("hf_<JWT>: %v", err)
	}
	if !reflect.DeepEqual(plain, prefixed) || prefixed.ID != "alice" {
		t.Errorf("hf_<JWT> subject %+v, want %+v", prefixed, plain)
	}

	expired := baseClaims()
	expired["exp"] = testNow.Add(-time.Hour).Unix()
	hubToken := "hf_" + strings.Repeat("Ab1", 12)
	tests := []struct {
		name, raw, want string
	}{
		{"huggingface.co token", hubToken, ReasonHubToken},
		{"prefix only", "hf_", ReasonHubToken},
		{"prefix and garbage", "hf_a.b", ReasonHubToken},
		{"prefix twice", "hf_" + HFToken(good), ReasonMalformedToken},
		{"upper-case prefix", "HF_" + good, ReasonMalformedToken},
		{"expired behind the prefix", HFToken(MustSignRaw(t, jwt.SigningMethodEdDSA, dev, "", expired)), ReasonTokenExpired},
		{"bad signature behind the prefix", HFToken(good[:len(good)-6] + "AAAAAA"), ReasonBadSignature},
		{"oversized", "hf_" + strings.Repeat("a.", MaxTokenSize), ReasonMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.raw)
			assertReason(t, err, tt.want, strings.TrimPrefix(tt.raw, "hf_"))
		})
	}
}
