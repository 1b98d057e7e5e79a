package s3api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// AWS's documented query-string authentication example ("Signing and
// authenticating REST requests", S3 Signature Version 2): GET
// /johnsmith/photos/puppy.jpg, Expires 1175139620, the documentation's
// example secret, signature NpgCjnDzrM+WFzoENXmpNDUsSn8=.
func TestSignatureV2AWSExample(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet,
		"http://johnsmith.s3.amazonaws.com/johnsmith/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", nil)
	q, _ := parseQuery(r.URL.RawQuery)
	ai := &authInfo{presigned: true, query: q}
	if e := ai.parseQueryV2(r, q); e != nil {
		t.Fatal(e)
	}
	if got, want := ai.stringToSignV2(r), "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg"; got != want {
		t.Errorf("string to sign %q, want %q", got, want)
	}
	if got, want := ai.signatureV2(r, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "NpgCjnDzrM+WFzoENXmpNDUsSn8="; got != want || ai.sig != want {
		t.Errorf("signature %q (parsed %q), want %q", got, ai.sig, want)
	}
}

// botocoreFixture is testdata/sigv2-botocore.json: presigned URLs made by
// botocore's default S3 presigner (see sigv2-botocore.py).
type botocoreFixture struct {
	Now             int64  `json:"now"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Cases           []struct{ Name, Method, URL string }
}

func loadBotocoreFixture(t *testing.T) (botocoreFixture, CredentialLookup) {
	t.Helper()
	b, err := os.ReadFile("testdata/sigv2-botocore.json")
	if err != nil {
		t.Fatal(err)
	}
	var f botocoreFixture
	if err := json.Unmarshal(b, &f); err != nil || len(f.Cases) == 0 {
		t.Fatalf("testdata/sigv2-botocore.json: %v", err)
	}
	lookup := lookupFunc(func(akid, token string, _ time.Time) (*Credential, error) {
		if akid != f.AccessKeyID {
			return nil, newError(http.StatusForbidden, CodeInvalidAccessKeyID, "unknown key")
		}
		if token != f.SessionToken {
			return nil, errInvalidToken("wrong token")
		}
		return &Credential{AccessKeyID: akid, SecretAccessKey: f.SecretAccessKey, SessionToken: token, Subject: testSubject()}, nil
	})
	return f, lookup
}

// Every URL botocore presigns verifies, at its signing time and at its
// last valid second; altered in any signed part, or used a second late, it
// does not.
func TestVerifyV2Botocore(t *testing.T) {
	f, lookup := loadBotocoreFixture(t)
	signedAt := time.Unix(f.Now, 0)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			u, err := url.Parse(c.URL)
			if err != nil {
				t.Fatal(err)
			}
			expires, _ := strconv.ParseInt(u.Query().Get("Expires"), 10, 64)
			other := http.MethodHead
			if c.Method == http.MethodHead {
				other = http.MethodGet
			}
			tests := []struct {
				name     string
				method   string
				url      string
				now      time.Time
				header   map[string]string
				wantCode string
			}{
				{name: "as signed", now: signedAt},
				{name: "at expiry", now: time.Unix(expires, 0)},
				{name: "a second late", now: time.Unix(expires, 0).Add(time.Second), wantCode: CodeAccessDenied},
				{name: "other method", method: other, now: signedAt, wantCode: CodeSignatureDoesNotMatch},
				{name: "later Expires", url: strings.Replace(c.URL, "Expires="+strconv.FormatInt(expires, 10), "Expires="+strconv.FormatInt(expires+60, 10), 1),
					now: signedAt, wantCode: CodeSignatureDoesNotMatch},
				{name: "other key", url: strings.Replace(c.URL, "/models/", "/models/x", 1), now: signedAt, wantCode: CodeSignatureDoesNotMatch},
				{name: "an x-amz header added", header: map[string]string{"X-Amz-Meta-X": "1"}, now: signedAt, wantCode: CodeSignatureDoesNotMatch},
				{name: "token removed", url: strings.Replace(c.URL, "x-amz-security-token=", "x-amz-removed=", 1), now: signedAt, wantCode: CodeInvalidToken},
				{name: "token also as a header", header: map[string]string{"X-Amz-Security-Token": f.SessionToken}, now: signedAt, wantCode: CodeInvalidToken},
			}
			for _, tt := range tests {
				method, target := c.Method, c.URL
				if tt.method != "" {
					method = tt.method
				}
				if tt.url != "" {
					target = tt.url
				}
				r := httptest.NewRequest(method, target, nil)
				for k, v := range tt.header {
					r.Header.Set(k, v)
				}
				cred, err := Verify(r, lookup, tt.now, VerifyOptions{})
				if got, want := errCode(err), tt.wantCode; got != want {
					t.Errorf("%s: Verify: %v, want %q", tt.name, err, want)
				}
				if err == nil && cred.Subject.ID != testSubject().ID {
					t.Errorf("%s: subject %q", tt.name, cred.Subject.ID)
				}
			}
		})
	}
}

// The same route to a credential as SigV4: a key the issuer does not know,
// or a token it did not issue, is refused by Lookup; a real credential of
// the issuer verifies.
func TestVerifyV2Issuer(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	cred := MustIssue(t, iss, time.Hour)
	presign := func(c Credential, method string, expires int64) *http.Request {
		q := url.Values{"AWSAccessKeyId": {c.AccessKeyID}, "Expires": {strconv.FormatInt(expires, 10)},
			"x-amz-security-token": {c.SessionToken}, "Signature": {"AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}
		r := httptest.NewRequest(method, "http://gw.example/models/org/m/w.bin?"+q.Encode(), nil)
		pq, _ := parseQuery(r.URL.RawQuery)
		ai := &authInfo{presigned: true, query: pq}
		if e := ai.parseQueryV2(r, pq); e != nil {
			t.Fatal(e)
		}
		q.Set("Signature", ai.signatureV2(r, c.SecretAccessKey))
		return httptest.NewRequest(method, "http://gw.example/models/org/m/w.bin?"+q.Encode(), nil)
	}
	if _, err := Verify(presign(cred, http.MethodGet, now.Add(time.Hour).Unix()), iss, now, VerifyOptions{}); err != nil {
		t.Errorf("GET: %v", err)
	}
	if _, err := Verify(presign(cred, http.MethodHead, now.Add(time.Hour).Unix()), iss, now, VerifyOptions{}); err != nil {
		t.Errorf("HEAD: %v", err)
	}
	// Valid by its Expires, but past the credential's expiry.
	if _, err := Verify(presign(cred, http.MethodGet, now.Add(3*time.Hour).Unix()), iss, now.Add(2*time.Hour), VerifyOptions{}); errCode(err) != CodeExpiredToken {
		t.Errorf("after the credential expired: %v, want ExpiredToken", err)
	}
	forged := cred
	forged.SecretAccessKey = "not-the-secret"
	if _, err := Verify(presign(forged, http.MethodGet, now.Add(time.Hour).Unix()), iss, now, VerifyOptions{}); errCode(err) != CodeSignatureDoesNotMatch {
		t.Errorf("wrong secret: %v, want SignatureDoesNotMatch", err)
	}
}

func TestVerifyMalformedV2(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	cred := MustIssue(t, iss, time.Hour)
	good := url.Values{
		"AWSAccessKeyId":       {cred.AccessKeyID},
		"Expires":              {strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
		"Signature":            {"NpgCjnDzrM+WFzoENXmpNDUsSn8="},
		"x-amz-security-token": {cred.SessionToken},
	}
	week := now.Add(MaxPresignExpiry + DefaultMaxSkew)
	tests := []struct {
		name     string
		set      map[string]string // replaces a parameter; "-" removes it
		extra    url.Values
		auth     string
		wantCode string
		wantMsg  string
	}{
		{name: "well formed, reaches the signature check", wantCode: CodeSignatureDoesNotMatch},
		{name: "unpadded signature", set: map[string]string{"Signature": "NpgCjnDzrM+WFzoENXmpNDUsSn8"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "signature not base64", set: map[string]string{"Signature": "!!!!"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "signature of SHA-256 length", set: map[string]string{"Signature": strings.Repeat("A", 43) + "="}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "no signature", set: map[string]string{"Signature": "-"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "signature alone", set: map[string]string{"AWSAccessKeyId": "-"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "empty access key", set: map[string]string{"AWSAccessKeyId": ""}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "no expiry", set: map[string]string{"Expires": "-"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "expiry not a number", set: map[string]string{"Expires": "tomorrow"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "negative expiry", set: map[string]string{"Expires": "-5"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "expired", set: map[string]string{"Expires": strconv.FormatInt(now.Add(-time.Second).Unix(), 10)}, wantCode: CodeAccessDenied, wantMsg: "expired"},
		{name: "seven days away", set: map[string]string{"Expires": strconv.FormatInt(week.Unix(), 10)}, wantCode: CodeSignatureDoesNotMatch},
		{name: "over seven days away", set: map[string]string{"Expires": strconv.FormatInt(week.Unix()+1, 10)}, wantCode: CodeAuthorizationQueryParametersError, wantMsg: "seven days"},
		{name: "no token", set: map[string]string{"x-amz-security-token": "-"}, wantCode: CodeInvalidToken},
		{name: "token twice, two spellings", extra: url.Values{"X-Amz-Security-Token": {cred.SessionToken}}, wantCode: CodeInvalidToken, wantMsg: "more than once"},
		{name: "with SigV4 parameters", extra: url.Values{"X-Amz-Date": {"20260701T120000Z"}}, wantCode: CodeInvalidArgument, wantMsg: "Only one auth mechanism"},
		{name: "with an Authorization header", auth: "AWS " + cred.AccessKeyID + ":x", wantCode: CodeInvalidArgument, wantMsg: "Only one auth mechanism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := editQuery(good, tt.set, tt.extra)
			r := httptest.NewRequest(http.MethodGet, "http://gw.example/b/k?"+q.Encode(), nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if !Signed(r) {
				t.Fatalf("Signed = false for %s", r.URL)
			}
			_, err := Verify(r, iss, now, VerifyOptions{})
			if got, want := errCode(err), tt.wantCode; got != want {
				t.Errorf("Verify: %v, want %s", err, want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Verify: %v, want a message containing %q", err, tt.wantMsg)
			}
		})
	}
}

// A SigV2 Authorization header is still refused with the message that
// names the signature to use.
func TestVerifyV2HeaderRefused(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://gw.example/b/k", nil)
	r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:NpgCjnDzrM+WFzoENXmpNDUsSn8=")
	r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_, err := Verify(r, lookupFunc(func(string, string, time.Time) (*Credential, error) { return nil, nil }), time.Now(), VerifyOptions{})
	if errCode(err) != CodeInvalidRequest || !strings.Contains(err.Error(), "AWS4-HMAC-SHA256") {
		t.Errorf("Verify: %v, want InvalidRequest naming AWS4-HMAC-SHA256", err)
	}
}
