package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
)

// mfaExtension denies closed weights to a token without "mfa" in its amr
// claim, reading the claim through an alias of the input inside a
// comprehension: the form the decision cache's footprint once missed.
const mfaExtension = `package weightgate.extensions.mfa

deny contains {"code": "mfa_required", "reason": "closed weights need a token with mfa in amr", "basis": "lab policy"} if {
	input.model.weights == "closed"
	not _mfa
}

_mfa if {
	some ok in [true | i := input; "mfa" in i.subject.claims.amr]
	ok
}
`

// TestAttackCacheMFA: an organisation extension requires MFA for closed
// weights. A token with "mfa" in amr downloads a closed shard; right after,
// in the same second on the gateway's clock, a token of the same subject
// without it is refused, with no byte of the shard, however the policy's
// decisions are remembered; and the MFA token is still served after.
func TestAttackCacheMFA(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "mfa.rego"), []byte(mfaExtension), 0o644); err != nil {
			t.Fatal(err)
		}
		eng, err := opa.New(context.Background(), opa.Options{Extensions: []string{dir}})
		if err != nil {
			t.Fatal(err)
		}
		// One instant for every request: the decision cache's key holds the
		// request's time, so a clock that moved on would hide a key that
		// misses amr.
		now := time.Now().Truncate(time.Second)
		h := gatewaytest.Start(t, store, gatewaytest.Options{Policy: eng, Now: func() time.Time { return now }})

		path := gatewaytest.Frontier + gatewaytest.Shard1
		want := gatewaytest.StoreFile(t, path)
		withMFA := amrToken(t, "US", "pwd", "mfa")
		withoutMFA := amrToken(t, "US", "pwd")

		get := func(what, token string) {
			t.Helper()
			resp, body := h.Do(t, http.MethodGet, path, token, nil)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Fatalf("%s: status %d, %d bytes; want 200 and the shard's %d bytes: %.300s", what, resp.StatusCode, len(body), len(want), body)
			}
		}
		get("with mfa", withMFA)
		for _, method := range []string{http.MethodHead, http.MethodGet} {
			resp, body := h.Do(t, method, path, withoutMFA, nil)
			code := "mfa_required"
			if method == http.MethodHead {
				code = "" // no body
			}
			assertRefused(t, h, resp, body, refusal{status: http.StatusForbidden, code: code})
		}
		get("with mfa, after the refusal", withMFA)
	})
}

// amrToken is a development token for subject user-<country> with the amr
// claim, which identity.TokenClaims has no field for.
func amrToken(tb testing.TB, country string, amr ...string) string {
	tb.Helper()
	key, err := identity.LoadPrivateKeyPEM(filepath.Join(s3test.RepoRoot(tb), "testdata/keys/dev-ed25519.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "weightgate-dev", "aud": "weightgate", "sub": "user-" + country, "country": country,
		"nationality": []string{country}, "parent_hq": country, "amr": amr, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
