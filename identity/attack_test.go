package identity

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// signJSON signs header and payload exactly as written (so duplicate member
// names survive) with key.
func signJSON(header, payload string, key ed25519.PrivateKey) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return in + "." + enc.EncodeToString(ed25519.Sign(key, []byte(in)))
}

// TestVerifyRefusesDuplicateMembers: a token whose header or claims name a
// member twice is malformed, signed by a trusted key or not: the issuer (or
// a proxy) may have read the first value where a last-wins parser reads the
// second (the attack suite).
func TestVerifyRefusesDuplicateMembers(t *testing.T) {
	v := MustNewVerifier(t, testConfig())
	key := MustLoadPrivateKey(t, "dev-ed25519.pem").(ed25519.PrivateKey)
	base, err := json.Marshal(baseClaims())
	if err != nil {
		t.Fatal(err)
	}
	claims := string(base[:len(base)-1])
	hdr := `{"alg":"EdDSA","typ":"JWT"}`
	// The control: the same construction without a duplicate verifies.
	if _, err := v.Verify(context.Background(), signJSON(hdr, claims+`,"country":"US"}`, key)); err != nil {
		t.Fatalf("control token: %v", err)
	}
	for name, tok := range map[string]string{
		"country twice":       signJSON(hdr, claims+`,"country":"CN","country":"US"}`, key),
		"sub twice":           signJSON(hdr, claims+`,"sub":"bob"}`, key),
		"exp twice":           signJSON(hdr, claims+`,"exp":99999999999}`, key),
		"nested object":       signJSON(hdr, claims+`,"x":[{"a":1,"a":2}]}`, key),
		"alg twice in header": signJSON(`{"alg":"none","alg":"EdDSA"}`, claims+`}`, key),
		"kid twice in header": signJSON(`{"alg":"EdDSA","kid":"rsa","kid":"x"}`, claims+`}`, key),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tok)
			assertReason(t, err, ReasonMalformedToken, tok)
		})
	}
}
