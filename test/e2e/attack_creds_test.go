package e2e

import (
	"bytes"
	"crypto"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// credsIssuer is the identity provider the credential tests rotate.
const credsIssuer = "https://idp.creds.test"

// credsIssuerConfig trusts credsIssuer with key under kid.
func credsIssuerConfig(tb testing.TB, kid string, key crypto.Signer) identity.IssuerConfig {
	return identity.IssuerConfig{Issuer: credsIssuer, Audience: "weightgate", Algorithms: []string{identity.AlgEdDSA},
		PublicKeys: []string{kid + "=" + writePublicPEM(tb, key)}}
}

// credsToken signs a token of credsIssuer for a US requester with key under
// kid.
func credsToken(tb testing.TB, kid string, key crypto.Signer, sub string) string {
	tb.Helper()
	c := gatewaytest.Claims("US")
	c.Issuer, c.Audience, c.Subject = credsIssuer, "weightgate", sub
	tok, err := identity.Sign(key, kid, c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// stsExchange exchanges token at the harness's STS endpoint, returning the
// status and, on 200, the credentials.
func stsExchange(tb testing.TB, h *gatewaytest.Harness, token string) (int, s3Creds) {
	tb.Helper()
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
		"WebIdentityToken": {token}, "DurationSeconds": {"900"}}
	resp, err := http.PostForm(h.S3URL+"/", form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, s3Creds{}
	}
	var out credentials.AssumeRoleWithWebIdentityResponse
	if err := xml.Unmarshal(body, &out); err != nil {
		tb.Fatalf("STS: %.300s (%v)", body, err)
	}
	cr := out.Result.Credentials
	return resp.StatusCode, s3Creds{cr.AccessKey, cr.SecretKey, cr.SessionToken}
}

// TestAttackCredsAfterKeyRemoved: S3 credentials are bound to the issuer and
// the key that verified their token. Once the gateway's issuers are
// replaced (serve's SIGHUP) without that key, or without that issuer, the
// credentials, already issued and far from expiry, are refused at once:
// header-signed, presigned before the change, GET and HEAD, 403
// InvalidAccessKeyId, one deny record naming the credential's subject with
// code credentials_untrusted, and not a byte of the closed shard. The token
// itself is refused too, and a token of the key now trusted works. On both
// backends.
func TestAttackCredsAfterKeyRemoved(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		const closed = "/models/frontier-lab/frontier-x/" + gatewaytest.Shard1
		whole := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
		oldKey, newKey := newEd25519(t), newEd25519(t)
		dev := gatewaytest.DevIssuer(t)
		tests := []struct {
			name    string
			issuers func() []identity.IssuerConfig // in force after the change
			newKID  string                         // "" when credsIssuer is gone
			devOK   bool                           // the dev issuer's credentials still work
			reason  string                         // the identity reason in the record
		}{
			{"key rotated under the same kid", func() []identity.IssuerConfig {
				return []identity.IssuerConfig{dev, credsIssuerConfig(t, "k1", newKey)}
			}, "k1", true, identity.ReasonKeyNotTrusted},
			{"key removed, another kid added", func() []identity.IssuerConfig {
				return []identity.IssuerConfig{dev, credsIssuerConfig(t, "k2", newKey)}
			}, "k2", true, identity.ReasonKeyNotTrusted},
			{"issuer removed", func() []identity.IssuerConfig { return []identity.IssuerConfig{dev} }, "", true, identity.ReasonUnknownIssuer},
			{"every issuer removed", func() []identity.IssuerConfig { return nil }, "", false, identity.ReasonUnknownIssuer},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{},
					Issuers: []identity.IssuerConfig{credsIssuerConfig(t, "k1", oldKey)}})
				oldToken := credsToken(t, "k1", oldKey, "rotated-user")
				status, old := stsExchange(t, h, oldToken)
				if status != http.StatusOK {
					t.Fatalf("STS with the old key before the change: %d", status)
				}
				devCreds := stsCredentials(t, h, gatewaytest.Claims("US"))
				// Presigned before the change, valid for an hour.
				presigned := presignedBy(old, 3600)(t, mustRequest(t, http.MethodGet, h.S3URL+closed))
				for name, sign := range map[string]s3Signer{"old": signedBy(old), "dev": signedBy(devCreds)} {
					if resp, body := s3Send(t, h, http.MethodGet, closed, nil, sign); resp.StatusCode != http.StatusOK || !bytes.Equal(body, whole) {
						t.Fatalf("control (%s credentials before the change): %d, %d bytes", name, resp.StatusCode, len(body))
					}
				}

				h.ReplaceIssuers(t, tt.issuers()...)

				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, body := s3Send(t, h, method, closed, nil, signedBy(old))
					assertS3Refused(t, h, method, resp, body, s3Refusal{403, "InvalidAccessKeyId", gateway.CodeCredentialsUntrusted})
					assertUntrustedRecord(t, h, resp, "rotated-user", tt.reason)
				}
				resp, err := http.DefaultClient.Do(presigned)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assertS3Refused(t, h, http.MethodGet, resp, body, s3Refusal{403, "InvalidAccessKeyId", gateway.CodeCredentialsUntrusted})
				assertUntrustedRecord(t, h, resp, "rotated-user", tt.reason)

				// The token is refused on the Hub API and at STS.
				if resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, oldToken, nil); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("Hub download with the old token: %d, want 401", resp.StatusCode)
				} else {
					assertNoClosedBytes(t, "Hub answer to the old token", body)
				}
				if status, _ := stsExchange(t, h, oldToken); status != http.StatusBadRequest {
					t.Errorf("STS with the old token after the change: %d, want 400", status)
				}

				if tt.newKID != "" {
					status, fresh := stsExchange(t, h, credsToken(t, tt.newKID, newKey, "rotated-user"))
					if status != http.StatusOK {
						t.Fatalf("STS with the new key: %d", status)
					}
					if resp, body := s3Send(t, h, http.MethodGet, closed, nil, signedBy(fresh)); resp.StatusCode != http.StatusOK || !bytes.Equal(body, whole) {
						t.Errorf("new credentials after the change: %d, %d bytes; want 200 and the file", resp.StatusCode, len(body))
					}
				}
				resp, body = s3Send(t, h, http.MethodGet, closed, nil, signedBy(devCreds))
				if tt.devOK {
					if resp.StatusCode != http.StatusOK || !bytes.Equal(body, whole) {
						t.Errorf("the dev issuer's credentials, untouched by the change: %d", resp.StatusCode)
					}
				} else {
					assertS3Refused(t, h, http.MethodGet, resp, body, s3Refusal{403, "InvalidAccessKeyId", gateway.CodeCredentialsUntrusted})
				}
			})
		}
	})
}

func mustRequest(tb testing.TB, method, u string) *http.Request {
	tb.Helper()
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// assertUntrustedRecord checks that the decision record of resp names the
// credential's subject and the identity reason.
func assertUntrustedRecord(tb testing.TB, h *gatewaytest.Harness, resp *http.Response, subject, reason string) {
	tb.Helper()
	d, _ := h.RecordsFor(tb, resp.Header.Get("X-Request-Id"))
	if len(d) != 1 {
		return // assertS3Refused said so
	}
	if d[0].Subject != subject || d[0].Anonymous || !strings.Contains(d[0].Reason, reason) {
		tb.Errorf("record: subject %q anonymous %v reason %q; want subject %q and a reason naming %s",
			d[0].Subject, d[0].Anonymous, d[0].Reason, subject, reason)
	}
}

// TestAttackCredsRefusedWrites: every write on the read-only S3 API is
// refused (403 AccessDenied) and recorded; signed with valid credentials,
// the record names the signer (subject, country), whatever payload hash it
// signed; with a wrong signature or secret, or unsigned, it stays
// anonymous. On both backends.
func TestAttackCredsRefusedWrites(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{}})
		us := stsCredentials(t, h, gatewaytest.Claims("US"))
		const closed = "/models/frontier-lab/frontier-x/" + gatewaytest.Shard1
		const newKey = "/models/open-lab/tiny-open/new.bin"
		withPayload := func(c s3Creds, hash string) s3Signer {
			return func(_ testing.TB, r *http.Request) *http.Request {
				r.Header.Set("X-Amz-Content-Sha256", hash)
				return signer.SignV4(*r, c.AccessKey, c.SecretKey, c.SessionToken, "us-east-1")
			}
		}
		writes := []struct{ method, target string }{
			{http.MethodPut, newKey},
			{http.MethodPut, closed},
			{http.MethodDelete, closed},
			{http.MethodPost, newKey + "?uploads"},
			{http.MethodPut, newKey + "?partNumber=1&uploadId=abc"},
			{http.MethodPost, newKey + "?uploadId=abc"},
			{http.MethodDelete, newKey + "?uploadId=abc"},
			{http.MethodPost, "/models?delete"},
			{http.MethodPut, "/models"},
			{http.MethodDelete, "/models"},
			{http.MethodPut, closed + "?tagging"},
			{http.MethodPatch, closed},
		}
		signers := []struct {
			name    string
			sign    s3Signer
			subject string // "" = anonymous
		}{
			{"unsigned payload", signedBy(us), "user-US"},
			{"payload hash of a body", withPayload(us, strings.Repeat("ab", 32)), "user-US"},
			{"streaming payload", withPayload(us, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), "user-US"},
			{"presigned", presignedBy(us, 60), "user-US"},
			{"wrong secret", signedBy(withWrongSecret(us)), ""},
			{"wrong signature", withWrongSignature(signedBy(us)), ""},
			{"unsigned", nil, ""},
		}
		for _, s := range signers {
			t.Run(s.name, func(t *testing.T) {
				for _, w := range writes {
					resp, body := s3Send(t, h, w.method, w.target, nil, s.sign)
					assertS3Refused(t, h, w.method, resp, body, s3Refusal{403, "AccessDenied", ""})
					d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
					if len(d) != 1 {
						continue
					}
					if s.subject == "" {
						if d[0].Subject != "" || !d[0].Anonymous {
							t.Errorf("%s %s: record subject %q anonymous %v, want anonymous", w.method, w.target, d[0].Subject, d[0].Anonymous)
						}
						continue
					}
					if d[0].Subject != s.subject || d[0].Anonymous || d[0].Country != "US" {
						t.Errorf("%s %s: record subject %q anonymous %v country %q, want %s (US)",
							w.method, w.target, d[0].Subject, d[0].Anonymous, d[0].Country, s.subject)
					}
				}
			})
		}
	})
}
