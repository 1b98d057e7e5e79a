package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/xml"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// stsAnswer is what the STS endpoint answered: its status, the error code
// of an ErrorResponse (empty on success), the request id in each place it
// is sent, and the body.
type stsAnswer struct {
	status                int
	code                  string
	headerID, amznID, bID string
	body                  []byte
}

func sts(tb testing.TB, h *gatewaytest.Harness, method string, form url.Values) stsAnswer {
	tb.Helper()
	_, a := stsDo(tb, h, method, form, nil)
	return a
}

// TestSTSRecords: every call of the STS endpoint, refused or answered with
// credentials, has exactly one decision record, found by the request id the
// answer carries, with the status and code sent and the subject of the token
// once it has been verified.
func TestSTSRecords(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{}})
	good := func() url.Values {
		return url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
			"WebIdentityToken": {h.Token(t, gatewaytest.Claims("US"))}, "DurationSeconds": {"900"}}
	}
	edit := func(kv ...string) url.Values {
		v := good()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	// A valid token whose signature's last characters are replaced.
	tok := h.Token(t, gatewaytest.Claims("US"))
	forged := tok[:len(tok)-4] + "AAAA"
	dup := good()
	dup.Add("Action", "AssumeRoleWithWebIdentity")
	expired := h.Token(t, identity.TokenClaims{Subject: "user-US", Country: "US", IssuedAt: time.Now().Add(-2 * time.Hour), TTL: time.Hour})
	foreign, err := identity.Sign(otherKey(t), "", identity.TokenClaims{Issuer: "https://idp.elsewhere", Audience: "weightgate", Subject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		method   string
		form     url.Values
		status   int
		code     string // the STS error code; "" for credentials
		recCode  string // the record's code
		decision string
		subject  string // the record's subject
	}{
		{"credentials issued", http.MethodPost, good(), 200, "", "credentials_issued", "allow", "user-US"},
		{"credentials issued, GET", http.MethodGet, good(), 200, "", "credentials_issued", "allow", "user-US"},
		{"no action", http.MethodPost, edit("Action", ""), 400, "MissingParameter", "MissingParameter", "deny", ""},
		{"another action", http.MethodPost, edit("Action", "AssumeRole"), 400, "InvalidAction", "InvalidAction", "deny", ""},
		{"another version", http.MethodPost, edit("Version", "2012-01-01"), 400, "InvalidAction", "InvalidAction", "deny", ""},
		{"parameter twice", http.MethodPost, dup, 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
		{"no token", http.MethodPost, edit("WebIdentityToken", ""), 400, "MissingParameter", "MissingParameter", "deny", ""},
		{"forged token", http.MethodPost, edit("WebIdentityToken", forged), 400, "InvalidIdentityToken", "InvalidIdentityToken", "deny", ""},
		{"bad duration", http.MethodPost, edit("DurationSeconds", "5"), 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
		{"session policy", http.MethodPost, edit("Policy", "{}"), 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
		{"bad session name", http.MethodPost, edit("RoleSessionName", "a b"), 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
		{"malformed token", http.MethodPost, edit("WebIdentityToken", "not-a-jwt"), 400, "InvalidIdentityToken", "InvalidIdentityToken", "deny", ""},
		{"expired token", http.MethodPost, edit("WebIdentityToken", expired), 400, "InvalidIdentityToken", "InvalidIdentityToken", "deny", ""},
		{"token of an unknown issuer", http.MethodPost, edit("WebIdentityToken", foreign), 400, "InvalidIdentityToken", "InvalidIdentityToken", "deny", ""},
		{"duration not a number", http.MethodGet, edit("DurationSeconds", "1h"), 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
		{"duration too long", http.MethodPost, edit("DurationSeconds", "43201"), 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
		{"no version", http.MethodGet, edit("Version", ""), 400, "MissingParameter", "MissingParameter", "deny", ""},
		{"provider id", http.MethodPost, edit("ProviderId", "www.amazon.com"), 400, "InvalidParameterValue", "InvalidParameterValue", "deny", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sts(t, h, tt.method, tt.form)
			if a.status != tt.status || a.code != tt.code {
				t.Fatalf("answer = %d %q, want %d %q; %.300s", a.status, a.code, tt.status, tt.code, a.body)
			}
			if got := strings.Contains(string(a.body), "SecretAccessKey"); got != (tt.code == "") {
				t.Errorf("credentials in the answer: %v; %.300s", got, a.body)
			}
			if a.headerID == "" || a.amznID != a.headerID || a.bID != a.headerID {
				t.Fatalf("request ids: X-Request-Id %q, x-amzn-RequestId %q, body %q; want one id in all three", a.headerID, a.amznID, a.bID)
			}
			decisions, transfers := h.RecordsFor(t, a.headerID)
			if len(decisions) != 1 || len(transfers) != 0 {
				t.Fatalf("records = %+v, %+v; want one decision record and no transfer", decisions, transfers)
			}
			d := decisions[0]
			if d.API != "s3_sts" || d.Decision != tt.decision || d.Status != tt.status || d.Code != tt.recCode || d.Subject != tt.subject {
				t.Errorf("record = api %q, %s %d %q, subject %q; want s3_sts, %s %d %q, subject %q",
					d.API, d.Decision, d.Status, d.Code, d.Subject, tt.decision, tt.status, tt.recCode, tt.subject)
			}
			if d.Type != audit.RecordDecision {
				t.Errorf("record type = %q", d.Type)
			}
		})
	}
}

// TestSTSUnrecorded: credentials whose record cannot be written are not
// sent; the answer is a 503.
func TestSTSUnrecorded(t *testing.T) {
	t.Parallel()
	audit := &gatewaytest.FailingAudit{}
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{Audit: audit, S3: &gateway.S3Options{}})
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
		"WebIdentityToken": {h.Token(t, gatewaytest.Claims("US"))}, "DurationSeconds": {"900"}}
	a := sts(t, h, http.MethodPost, form)
	if a.status != http.StatusServiceUnavailable || a.code != "ServiceUnavailable" {
		t.Errorf("answer = %d %q, want 503 ServiceUnavailable; %.300s", a.status, a.code, a.body)
	}
	for _, secret := range []string{"SecretAccessKey", "SessionToken", "AccessKeyId"} {
		if strings.Contains(string(a.body), secret) {
			t.Errorf("the answer carries %s: %.300s", secret, a.body)
		}
	}
	if audit.Calls.Load() == 0 {
		t.Error("the audit log was never asked")
	}
}

// otherKey is a signing key no harness trusts.
func otherKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestSTSRateLimited: STS calls spend their client address's requests, as
// anonymous requests do, before the token is verified: a call over the rate
// is answered 503 SlowDown in an STS ErrorResponse with Retry-After, sends
// no credentials, and has exactly one decision record (s3_sts, code
// rate_limited). Another client address, here a trusted proxy's
// X-Forwarded-For, has a bucket of its own.
func TestSTSRateLimited(t *testing.T) {
	t.Parallel()
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{},
		RateLimit: gateway.RateLimit{PerSecond: 0.01, Burst: 1},
		Locator:   &gateway.Locator{TrustedProxies: []netip.Prefix{loopback}}})
	form := func() url.Values {
		return url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"},
			"WebIdentityToken": {h.Token(t, gatewaytest.Claims("US"))}, "DurationSeconds": {"900"}}
	}
	if a := sts(t, h, http.MethodPost, form()); a.status != http.StatusOK {
		t.Fatalf("the burst's call: %d %q", a.status, a.code)
	}
	for _, tt := range []struct {
		name string
		form url.Values
	}{
		{"a valid token", form()},
		{"a forged token", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {"x.y.z"}}},
		{"no parameters", url.Values{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, a := stsSend(t, h, tt.form, nil)
			if a.status != http.StatusServiceUnavailable || a.code != "SlowDown" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("answer = %d %q, Retry-After %q; want 503 SlowDown with Retry-After; %.300s",
					a.status, a.code, resp.Header.Get("Retry-After"), a.body)
			}
			if strings.Contains(string(a.body), "SecretAccessKey") {
				t.Errorf("a refused call carries credentials: %.300s", a.body)
			}
			if a.headerID == "" || a.amznID != a.headerID || a.bID != a.headerID {
				t.Errorf("request ids: X-Request-Id %q, x-amzn-RequestId %q, body %q; want one id in all three", a.headerID, a.amznID, a.bID)
			}
			decisions, transfers := h.RecordsFor(t, a.headerID)
			if len(decisions) != 1 || len(transfers) != 0 {
				t.Fatalf("records = %+v, %+v; want one decision record and no transfer", decisions, transfers)
			}
			if d := decisions[0]; d.API != "s3_sts" || d.Decision != "deny" || d.Status != 503 || d.Code != gateway.CodeRateLimited || d.Type != audit.RecordDecision {
				t.Errorf("record = %s %s %s %d %q; want a decision, s3_sts deny 503 %q", d.Type, d.API, d.Decision, d.Status, d.Code, gateway.CodeRateLimited)
			}
		})
	}
	// Another client, behind the trusted proxy: its own bucket.
	if _, a := stsSend(t, h, form(), http.Header{"X-Forwarded-For": {"192.0.2.7"}}); a.status != http.StatusOK {
		t.Errorf("another client's call: %d %q, want 200", a.status, a.code)
	}
}

// stsSend POSTs form to the STS endpoint with header and returns the
// response (body read) and the answer.
func stsSend(tb testing.TB, h *gatewaytest.Harness, form url.Values, header http.Header) (*http.Response, stsAnswer) {
	tb.Helper()
	return stsDo(tb, h, http.MethodPost, form, header)
}

// stsDo calls the STS endpoint: a POST sends form as its body, any other
// method in the query.
func stsDo(tb testing.TB, h *gatewaytest.Harness, method string, form url.Values, header http.Header) (*http.Response, stsAnswer) {
	tb.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, h.S3URL+"/", strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, h.S3URL+"/?"+form.Encode(), nil)
	}
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		Error struct {
			Code string
		}
		RequestID        string `xml:"RequestId"`
		ResponseMetadata struct {
			RequestID string `xml:"RequestId"`
		}
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		tb.Fatalf("STS answer is not XML: %v; %.300s", err, body)
	}
	return resp, stsAnswer{status: resp.StatusCode, code: doc.Error.Code,
		headerID: resp.Header.Get("X-Request-Id"), amznID: resp.Header.Get("x-amzn-RequestId"),
		bID: doc.RequestID + doc.ResponseMetadata.RequestID, body: body}
}
