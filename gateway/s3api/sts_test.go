package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weightgate/weightgate/policy"
)

// WebIdentityVerifier is a fake verifier: a struct of function fields.
type WebIdentityVerifierFake struct {
	VerifyFn func(ctx context.Context, token string) (policy.Subject, error)
	calls    int
}

var _ WebIdentityVerifier = (*WebIdentityVerifierFake)(nil)

// VerifyWebIdentity returns VerifyFn's answer, bound to testBinding when
// it verified the token.
func (v *WebIdentityVerifierFake) VerifyWebIdentity(ctx context.Context, token string) (policy.Subject, Binding, error) {
	v.calls++
	sub, err := v.VerifyFn(ctx, token)
	if err != nil {
		return sub, Binding{}, err
	}
	return sub, testBinding(), nil
}

// acceptAll verifies any token as testSubject, as a real verifier would a
// valid one.
func acceptAll() *WebIdentityVerifierFake {
	return &WebIdentityVerifierFake{VerifyFn: func(context.Context, string) (policy.Subject, error) { return testSubject(), nil }}
}

// MustJWT returns a compact JWT with claims. Its signature is irrelevant:
// the fake verifiers decide, and TokenExpiry does not verify.
func MustJWT(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("test-only-signing-key"))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTokenExpiry(t *testing.T) {
	exp := time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		token   string
		want    time.Time
		wantErr bool
	}{
		{"exp", MustJWT(t, jwt.MapClaims{"sub": "a", "exp": exp.Unix()}), exp, false},
		{"exp as float", MustJWT(t, jwt.MapClaims{"exp": float64(exp.Unix())}), exp, false},
		{"no exp", MustJWT(t, jwt.MapClaims{"sub": "a"}), time.Time{}, true},
		{"exp as string", MustJWT(t, jwt.MapClaims{"exp": "tomorrow"}), time.Time{}, true},
		{"not a JWT", "abc.def", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TokenExpiry(tt.token)
			if (err != nil) != tt.wantErr {
				t.Fatalf("TokenExpiry: %v, wantErr %v", err, tt.wantErr)
			}
			if !got.Equal(tt.want) {
				t.Errorf("TokenExpiry = %v, want %v", got, tt.want)
			}
		})
	}
}

// stsResponse is the success document, decoded with minio-go's own type so
// that the namespace and element names are checked by an independent client.
type stsResponse = credentials.AssumeRoleWithWebIdentityResponse

func TestSTSHandler(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokenExp := now.Add(3 * time.Hour)
	token := MustJWT(t, jwt.MapClaims{"sub": "alice", "aud": "weightgate", "exp": tokenExp.Unix()})
	shortToken := MustJWT(t, jwt.MapClaims{"sub": "alice", "aud": []string{"weightgate", "other"}, "exp": now.Add(20 * time.Minute).Unix()})
	deadToken := MustJWT(t, jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Second).Unix()})
	noExpToken := MustJWT(t, jwt.MapClaims{"sub": "alice"})
	form := func(kv ...string) url.Values {
		v := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {STSVersion}, "WebIdentityToken": {token}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				v.Del(kv[i])
				continue
			}
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	deny := &WebIdentityVerifierFake{VerifyFn: func(context.Context, string) (policy.Subject, error) {
		return policy.Subject{}, errors.New("identity: invalid_token (bad_signature): crypto/rsa: verification error")
	}}
	forbid := &WebIdentityVerifierFake{VerifyFn: func(context.Context, string) (policy.Subject, error) {
		return policy.Subject{}, &Error{Status: 403, Code: CodeAccessDenied, Message: "Not for you."}
	}}
	anon := &WebIdentityVerifierFake{VerifyFn: func(context.Context, string) (policy.Subject, error) {
		return policy.Subject{Anonymous: true}, nil
	}}

	tests := []struct {
		name        string
		verifier    *WebIdentityVerifierFake
		opts        STSOptions
		method      string
		contentType string
		params      url.Values // body for POST, query for GET
		rawBody     string     // instead of params
		wantStatus  int
		wantCode    string
		wantExp     time.Time
		wantARN     string
		wantAud     string
	}{
		{name: "POST, default duration", params: form(), wantStatus: 200, wantExp: now.Add(time.Hour), wantAud: "weightgate"},
		{name: "GET", method: http.MethodGet, params: form(), wantStatus: 200, wantExp: now.Add(time.Hour)},
		{name: "shortest duration", params: form("DurationSeconds", "900"), wantStatus: 200, wantExp: now.Add(15 * time.Minute)},
		{name: "capped by MaxTTL", opts: STSOptions{MaxTTL: 2 * time.Hour}, params: form("DurationSeconds", "43200"),
			wantStatus: 200, wantExp: now.Add(2 * time.Hour)},
		{name: "default MaxTTL", params: form("DurationSeconds", "7200"), wantStatus: 200, wantExp: now.Add(DefaultSTSMaxTTL)},
		{name: "capped by the token", params: form("WebIdentityToken", shortToken, "DurationSeconds", "3600"),
			wantStatus: 200, wantExp: now.Add(20 * time.Minute), wantAud: "weightgate"},
		{name: "role and session", params: form("RoleArn", "arn:aws:iam::123456789012:role/team/weights-reader", "RoleSessionName", "alice@ci"),
			wantStatus: 200, wantExp: now.Add(time.Hour), wantARN: "arn:aws:sts::123456789012:assumed-role/weights-reader/alice@ci"},
		{name: "configured role", opts: STSOptions{RoleARN: "arn:aws:iam::123456789012:role/weightgate"},
			params: form("RoleArn", "arn:aws:iam::123456789012:role/weightgate"), wantStatus: 200, wantExp: now.Add(time.Hour)},
		{name: "content type with charset", contentType: "application/x-www-form-urlencoded; charset=utf-8", params: form(),
			wantStatus: 200, wantExp: now.Add(time.Hour)},
		{name: "extra MinIO parameters ignored", params: form("WebIdentityAccessToken", "x", "TokenRevokeType", "y"),
			wantStatus: 200, wantExp: now.Add(time.Hour)},

		{name: "no action", params: form("Action", "-"), wantStatus: 400, wantCode: CodeMissingParameter},
		{name: "other action", params: form("Action", "AssumeRole"), wantStatus: 400, wantCode: CodeInvalidAction},
		{name: "GetCallerIdentity", method: http.MethodGet, params: url.Values{"Action": {"GetCallerIdentity"}, "Version": {STSVersion}},
			wantStatus: 400, wantCode: CodeInvalidAction},
		{name: "no version", params: form("Version", "-"), wantStatus: 400, wantCode: CodeMissingParameter},
		{name: "other version", params: form("Version", "2010-01-01"), wantStatus: 400, wantCode: CodeInvalidAction},
		{name: "no token", params: form("WebIdentityToken", "-"), wantStatus: 400, wantCode: CodeMissingParameter},
		{name: "duration too short", params: form("DurationSeconds", "899"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "duration too long", params: form("DurationSeconds", "43201"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "duration not a number", params: form("DurationSeconds", "1h"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "session policy", params: form("Policy", `{"Version":"2012-10-17"}`), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "managed session policy", params: form("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/ReadOnly"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "provider id", params: form("ProviderId", "graph.facebook.com"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "short role ARN", params: form("RoleArn", "arn:aws:iam::1:r"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "bad session name", params: form("RoleSessionName", "alice smith"), wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "other role", opts: STSOptions{RoleARN: "arn:aws:iam::123456789012:role/weightgate"},
			params: form("RoleArn", "arn:aws:iam::123456789012:role/admin"), wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "duplicate action", rawBody: form().Encode() + "&Action=AssumeRoleWithWebIdentity", wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "JSON body", contentType: "application/json", rawBody: `{"Action":"AssumeRoleWithWebIdentity"}`, wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "body over 1 MiB", rawBody: form().Encode() + "&pad=" + strings.Repeat("x", MaxSTSBodySize), wantStatus: 400, wantCode: "EntityTooLarge"},
		{name: "malformed body", rawBody: form().Encode() + "&x=%zz", wantStatus: 400, wantCode: CodeInvalidParameterValue},
		{name: "PUT", method: http.MethodPut, params: form(), wantStatus: 405, wantCode: CodeMethodNotAllowed},
		{name: "token refused", verifier: deny, params: form(), wantStatus: 400, wantCode: CodeInvalidIdentityToken},
		{name: "verifier's own error", verifier: forbid, params: form(), wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "anonymous subject", verifier: anon, params: form(), wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "token without exp", params: form("WebIdentityToken", noExpToken), wantStatus: 400, wantCode: CodeInvalidIdentityToken},
		{name: "token expired since verification", params: form("WebIdentityToken", deadToken), wantStatus: 400, wantCode: CodeExpiredToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := MustIssuer(t, clock)
			v := tt.verifier
			if v == nil {
				v = acceptAll()
			}
			tt.opts.RequestID = func(*http.Request) string { return "REQ-1" }
			srv := httptest.NewServer(STSHandler(v, iss, tt.opts))
			defer srv.Close()

			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			target, body := srv.URL+"/", tt.rawBody
			if body == "" && method == http.MethodGet {
				target += "?" + tt.params.Encode()
			} else if body == "" {
				body = tt.params.Encode()
			}
			req, err := http.NewRequest(method, target, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)

			if got, want := resp.StatusCode, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; body %s", got, want, raw)
			}
			if got, want := resp.Header.Get("x-amzn-RequestId"), "REQ-1"; got != want {
				t.Errorf("x-amzn-RequestId = %q, want %q", got, want)
			}
			if got, want := resp.Header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			if got, want := resp.Header.Get("Content-Type"), "text/xml"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}

			if tt.wantCode != "" {
				var e credentials.ErrorResponse
				if err := xml.Unmarshal(raw, &e); err != nil {
					t.Fatalf("error body %s: %v", raw, err)
				}
				if got, want := e.STSError.Code, tt.wantCode; got != want {
					t.Errorf("code = %q, want %q (%s)", got, want, e.STSError.Message)
				}
				if got, want := e.STSError.Type, "Sender"; got != want {
					t.Errorf("type = %q, want %q", got, want)
				}
				if got, want := e.RequestID, "REQ-1"; got != want {
					t.Errorf("RequestId = %q, want %q", got, want)
				}
				if strings.Contains(string(raw), "crypto/rsa") {
					t.Errorf("the verifier's internal error reached the client: %s", raw)
				}
				return
			}

			var got stsResponse
			if err := xml.Unmarshal(raw, &got); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			c := got.Result.Credentials
			if !got.Result.Credentials.Expiration.Equal(tt.wantExp) {
				t.Errorf("Expiration = %v, want %v", c.Expiration, tt.wantExp)
			}
			if !strings.Contains(string(raw), "<Expiration>"+tt.wantExp.Format("2006-01-02T15:04:05Z")+"</Expiration>") {
				t.Errorf("Expiration is not RFC 3339 UTC: %s", raw)
			}
			if got, want := got.Result.SubjectFromWebIdentityToken, testSubject().ID; got != want {
				t.Errorf("SubjectFromWebIdentityToken = %q, want %q", got, want)
			}
			if got, want := got.Result.Audience, tt.wantAud; tt.wantAud != "" && got != want {
				t.Errorf("Audience = %q, want %q", got, want)
			}
			if got, want := got.Result.AssumedRoleUser.Arn, tt.wantARN; got != want {
				t.Errorf("AssumedRoleUser.Arn = %q, want %q", got, want)
			}
			if got, want := got.ResponseMetadata.RequestID, "REQ-1"; got != want {
				t.Errorf("RequestId = %q, want %q", got, want)
			}
			// The credentials work, bound to the subject, for their lifetime.
			cred, err := iss.Lookup(c.AccessKey, c.SessionToken, now)
			if err != nil {
				t.Fatalf("Lookup of the issued credential: %v", err)
			}
			if cred.SecretAccessKey != c.SecretKey || cred.Subject.ID != testSubject().ID {
				t.Errorf("Lookup = %+v", cred)
			}
			if _, err := iss.Lookup(c.AccessKey, c.SessionToken, tt.wantExp); errCode(err) != CodeExpiredToken {
				t.Errorf("Lookup at expiry: %v, want ExpiredToken", err)
			}
		})
	}
}

// The token is verified before anything is issued, and refused parameters
// never reach the verifier.
func TestSTSHandlerVerifiesOnce(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	v := acceptAll()
	h := STSHandler(v, iss, STSOptions{})
	token := MustJWT(t, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()})

	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&DurationSeconds=1&WebIdentityToken="+token))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if v.calls != 0 {
		t.Errorf("verifier called %d times for a refused request", v.calls)
	}

	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken="+token))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if got, want := w.Code, 200; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, w.Body)
	}
	if v.calls != 1 {
		t.Errorf("verifier called %d times, want 1", v.calls)
	}
	if w.Header().Get("x-amzn-RequestId") == "" {
		t.Error("no default request id")
	}
}

// minio-go's STS client, unmodified, gets credentials from the handler.
func TestSTSHandlerMinioClient(t *testing.T) {
	iss := MustIssuer(t, time.Now)
	srv := httptest.NewServer(STSHandler(acceptAll(), iss, STSOptions{}))
	defer srv.Close()
	token := MustJWT(t, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})

	creds, err := credentials.NewSTSWebIdentity(srv.URL, func() (*credentials.WebIdentityToken, error) {
		return &credentials.WebIdentityToken{Token: token}, nil
	}, func(i *credentials.STSWebIdentity) { i.RoleARN = "arn:aws:iam::123456789012:role/any" })
	if err != nil {
		t.Fatal(err)
	}
	v, err := creds.GetWithContext(&credentials.CredContext{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if !akidPattern.MatchString(v.AccessKeyID) || v.SessionToken == "" {
		t.Fatalf("credentials = %+v", v)
	}
	if _, err := iss.Lookup(v.AccessKeyID, v.SessionToken, time.Now()); err != nil {
		t.Error(err)
	}

	// And minio-go understands the refusal.
	denied := httptest.NewServer(STSHandler(&WebIdentityVerifierFake{VerifyFn: func(context.Context, string) (policy.Subject, error) {
		return policy.Subject{}, errors.New("no")
	}}, iss, STSOptions{}))
	defer denied.Close()
	creds, _ = credentials.NewSTSWebIdentity(denied.URL, func() (*credentials.WebIdentityToken, error) {
		return &credentials.WebIdentityToken{Token: token}, nil
	})
	_, err = creds.GetWithContext(&credentials.CredContext{Client: denied.Client()})
	var er credentials.ErrorResponse
	if !errors.As(err, &er) || er.STSError.Code != CodeInvalidIdentityToken {
		t.Errorf("minio-go error = %#v, want InvalidIdentityToken", err)
	}
}

func TestValidSessionName(t *testing.T) {
	for s, want := range map[string]bool{
		"ab": true, "alice@example.com": true, "a_b+c=d,e.f@g-h": true,
		"a": false, "a b": false, "a~b": false, "a/b": false, strings.Repeat("a", 65): false, strings.Repeat("a", 64): true,
	} {
		if got := validSessionName(s); got != want {
			t.Errorf("validSessionName(%q) = %v, want %v", s, got, want)
		}
	}
}
