package s3api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// AWS's published S3 SigV4 examples ("Examples: Signature Calculations in
// AWS Signature Version 4", and the presigned URL example), with the
// documentation's example credentials. They have no session token, so
// Verify refuses them with InvalidToken after every other check has passed;
// the signature itself is checked against the documented value.
func TestSignatureAWSExamples(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	const cred = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	now := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	header := func(target, signed, sig string, h map[string]string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com"+target, nil)
			for k, v := range h {
				r.Header.Set(k, v)
			}
			r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
			r.Header.Set("X-Amz-Date", "20130524T000000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+cred+",SignedHeaders="+signed+",Signature="+sig)
			return r
		}
	}
	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"GetObject with Range", header("/test.txt", "host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", map[string]string{"Range": "bytes=0-9"})},
		{"GetBucketLifecycle", header("/?lifecycle", "host;x-amz-content-sha256;x-amz-date",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", nil)},
		{"ListObjects, query out of order", header("/?prefix=J&max-keys=2", "host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", nil)},
		{"presigned GetObject", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt"+
				"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"+
				"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"+
				"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req()
			ai, e := parseAuth(r, VerifyOptions{}.withDefaults())
			if e != nil {
				t.Fatal(e)
			}
			if e := ai.checkPayloadHash(r); e != nil {
				t.Fatal(e)
			}
			if got, want := ai.signature(r, secret), ai.sig; got != want {
				t.Errorf("signature = %s, want %s\ncanonical request:\n%s", got, want, ai.canonicalRequest(r))
			}
			if got, want := ai.signature(r, secret+"x"), ai.sig; got == want {
				t.Error("signature does not depend on the secret")
			}

			// Through Verify, everything passes but the missing token.
			lookups := 0
			lookup := lookupFunc(func(string, string, time.Time) (*Credential, error) { lookups++; return nil, nil })
			_, err := Verify(r, lookup, now, VerifyOptions{})
			if got, want := errCode(err), CodeInvalidToken; got != want {
				t.Errorf("Verify: %v, want %s", err, want)
			}
			if lookups != 0 {
				t.Error("credentials were looked up without a session token")
			}
		})
	}
}

// lookupFunc adapts a function to CredentialLookup.
type lookupFunc func(akid, token string, now time.Time) (*Credential, error)

func (f lookupFunc) Lookup(akid, token string, now time.Time) (*Credential, error) {
	return f(akid, token, now)
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "not an *Error: " + err.Error()
	}
	return ""
}

func TestAWSEncode(t *testing.T) {
	tests := []struct {
		in        string
		keepSlash bool
		want      string
	}{
		{"AZaz09-_.~", false, "AZaz09-_.~"},
		{"a b+c", false, "a%20b%2Bc"},
		{"a/b", true, "a/b"},
		{"a/b", false, "a%2Fb"},
		{"ü(1)*!'=&?#%", true, "%C3%BC%281%29%2A%21%27%3D%26%3F%23%25"},
		{"", true, ""},
	}
	for _, tt := range tests {
		if got := awsEncode(tt.in, tt.keepSlash); got != tt.want {
			t.Errorf("awsEncode(%q, %v) = %q, want %q", tt.in, tt.keepSlash, got, tt.want)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"location", false, "location="},
		{"prefix=J&max-keys=2", false, "max-keys=2&prefix=J"},
		{"z=2&z=1&z=10&a=", false, "a=&z=1&z=10&z=2"},
		{"k=a+b&k2=a%20b&k3=a%2Bb", false, "k=a%20b&k2=a%20b&k3=a%2Bb"},
		// Sorted after encoding, as AWS specifies.
		{"%C3%BC=%7E*&B=1&a=1", false, "%C3%BC=~%2A&B=1&a=1"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", true, "X-Amz-Date=1"},
		{"X-Amz-Signature=abc&X-Amz-Date=1", false, "X-Amz-Date=1&X-Amz-Signature=abc"},
	}
	for _, tt := range tests {
		q, e := parseQuery(tt.raw)
		if e != nil {
			t.Fatal(e)
		}
		ai := &authInfo{presigned: tt.presigned, query: q}
		if got := ai.canonicalQuery(); got != tt.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestParseQueryRefuses(t *testing.T) {
	for _, raw := range []string{"a=%zz", "a%=1", "a=1;b=2", "a;b"} {
		if _, e := parseQuery(raw); e == nil || e.Code != CodeInvalidArgument {
			t.Errorf("parseQuery(%q) = %v, want InvalidArgument", raw, e)
		}
	}
}

// verifyServer answers every request with Verify's verdict: 200 and the
// subject's id in X-Subject, or the S3 error document.
func verifyServer(t *testing.T, creds CredentialLookup, now func() time.Time, opts VerifyOptions) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, err := Verify(r, creds, now(), opts)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("Verify returned %T, not *Error: %v", err, err)
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			WriteError(w, r, e, r.URL.Path, "REQ")
			return
		}
		w.Header().Set("X-Subject", cred.Subject.ID)
		w.Header().Set("X-Access-Key", cred.AccessKeyID)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Requests signed by minio-go's signer, an independent SigV4
// implementation, sent over real HTTP.
func TestVerify(t *testing.T) {
	iss := MustIssuer(t, time.Now)
	cred := MustIssue(t, iss, time.Hour)
	past := MustIssuer(t, func() time.Time { return time.Now().Add(-3 * time.Hour) })
	expired := MustIssue(t, past, time.Hour)
	other, err := NewIssuer([]byte("another-key-another-key-another-"))
	if err != nil {
		t.Fatal(err)
	}
	other.Now = time.Now
	foreign := MustIssue(t, other, time.Hour)

	// get returns a GET for path (decoded) and query, with an empty-body
	// payload hash.
	get := func(base, path string, query url.Values) *http.Request {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = path
		u.RawQuery = query.Encode()
		r, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
		return r
	}
	sign := func(r *http.Request, c Credential) *http.Request {
		return signer.SignV4(*r, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, "us-east-1")
	}
	presign := func(r *http.Request, c Credential, region string, expires int64) *http.Request {
		r.Header.Del("X-Amz-Content-Sha256")
		return signer.PreSignV4(*r, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, region, expires)
	}
	awkward := "/models/dir with space/a+b~c(1)!é*'=&;@$,.bin"

	tests := []struct {
		name       string
		skew       time.Duration // added to the server's clock
		opts       VerifyOptions
		req        func(base string) *http.Request
		wantStatus int
		wantCode   string
		wantRegion string
	}{
		{name: "header form", req: func(b string) *http.Request { return sign(get(b, "/models/weights.bin", nil), cred) },
			wantStatus: 200},
		{name: "header form, awkward key and query", req: func(b string) *http.Request {
			return sign(get(b, awkward, url.Values{"prefix": {"a b+c/ü~*"}, "list-type": {"2"}, "delimiter": {"/"}, "empty": {""}}), cred)
		}, wantStatus: 200},
		// minio-go keeps repeated parameters in request order, AWS sorts
		// them by value (TestCanonicalQuery): they agree when the request
		// has them sorted.
		{name: "header form, repeated query parameter", req: func(b string) *http.Request {
			return sign(get(b, "/b", url.Values{"z": {"1", "10", "2"}}), cred)
		}, wantStatus: 200},
		{name: "header form, range and repeated header with inner spaces", req: func(b string) *http.Request {
			r := get(b, "/models/w", nil)
			r.Header.Set("Range", "bytes=0-9")
			r.Header.Add("X-Custom", "  a   b  ")
			r.Header.Add("X-Custom", "c")
			return sign(r, cred)
		}, wantStatus: 200},
		{name: "header form, UNSIGNED-PAYLOAD", req: func(b string) *http.Request {
			r := get(b, "/models/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			return sign(r, cred)
		}, wantStatus: 200},
		{name: "presigned", req: func(b string) *http.Request { return presign(get(b, awkward, nil), cred, "us-east-1", 3600) },
			wantStatus: 200},
		{name: "presigned with response overrides", req: func(b string) *http.Request {
			return presign(get(b, "/m/w", url.Values{"response-content-disposition": {`attachment; filename="w b.bin"`}}), cred, "us-east-1", 60)
		}, wantStatus: 200},
		{name: "presigned seven days", req: func(b string) *http.Request { return presign(get(b, "/m/w", nil), cred, "us-east-1", 604800) },
			wantStatus: 200},
		{name: "header form, clock ahead within skew", skew: 14 * time.Minute,
			req: func(b string) *http.Request { return sign(get(b, "/m/w", nil), cred) }, wantStatus: 200},

		{name: "anonymous", req: func(b string) *http.Request { return get(b, "/m/w", nil) },
			wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "tampered signature", req: func(b string) *http.Request {
			r := sign(get(b, "/m/w", nil), cred)
			auth := r.Header.Get("Authorization")
			last := auth[len(auth)-1]
			r.Header.Set("Authorization", auth[:len(auth)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
			return r
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "wrong secret", req: func(b string) *http.Request {
			c := cred
			c.SecretAccessKey = strings.Repeat("x", 40)
			return sign(get(b, "/m/w", nil), c)
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "path changed after signing", req: func(b string) *http.Request {
			r := sign(get(b, "/m/w", nil), cred)
			r.URL.Path = "/m/x"
			return r
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "encoded slash is the same key", req: func(b string) *http.Request {
			r := sign(get(b, "/m/a/b", nil), cred)
			r.URL.RawPath = "/m/a%2Fb"
			return r
		}, wantStatus: 200},
		{name: "query added after signing", req: func(b string) *http.Request {
			r := sign(get(b, "/m/w", nil), cred)
			r.URL.RawQuery = "versionId=1"
			return r
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "presigned, query added after signing", req: func(b string) *http.Request {
			r := presign(get(b, "/m/w", nil), cred, "us-east-1", 60)
			r.URL.RawQuery += "&response-content-type=text%2Fhtml"
			return r
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "method changed after signing", req: func(b string) *http.Request {
			r := sign(get(b, "/m/w", nil), cred)
			r.Method = http.MethodHead
			return r
		}, wantStatus: 403},
		{name: "signed header changed", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("Range", "bytes=0-9")
			r = sign(r, cred)
			r.Header.Set("Range", "bytes=0-99")
			return r
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "unsigned x-amz header", req: func(b string) *http.Request {
			r := sign(get(b, "/m/w", nil), cred)
			r.Header.Set("X-Amz-Request-Payer", "requester")
			return r
		}, wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "other region", req: func(b string) *http.Request {
			return signer.SignV4(*get(b, "/m/w", nil), cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "eu-west-1")
		}, wantStatus: 400, wantCode: CodeAuthorizationHeaderMalformed, wantRegion: "us-east-1"},
		{name: "configured region", opts: VerifyOptions{Region: "eu-central-1"}, req: func(b string) *http.Request {
			return signer.SignV4(*get(b, "/m/w", nil), cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "eu-central-1")
		}, wantStatus: 200},
		{name: "us-east-1 when another is configured", opts: VerifyOptions{Region: "eu-central-1"},
			req:        func(b string) *http.Request { return sign(get(b, "/m/w", nil), cred) },
			wantStatus: 400, wantCode: CodeAuthorizationHeaderMalformed, wantRegion: "eu-central-1"},
		{name: "presigned, other region", req: func(b string) *http.Request { return presign(get(b, "/m/w", nil), cred, "eu-west-1", 60) },
			wantStatus: 400, wantCode: CodeAuthorizationQueryParametersError, wantRegion: "us-east-1"},
		{name: "other service", req: func(b string) *http.Request {
			return signer.SignV4WithServiceType(*get(b, "/m/w", nil), cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "us-east-1", "sts")
		}, wantStatus: 400, wantCode: CodeAuthorizationHeaderMalformed},
		{name: "sts when configured", opts: VerifyOptions{Service: "sts"}, req: func(b string) *http.Request {
			return signer.SignV4WithServiceType(*get(b, "/", nil), cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "us-east-1", "sts")
		}, wantStatus: 200},
		{name: "clock skew", skew: 16 * time.Minute, req: func(b string) *http.Request { return sign(get(b, "/m/w", nil), cred) },
			wantStatus: 403, wantCode: CodeRequestTimeTooSkewed},
		{name: "clock skew behind", skew: -16 * time.Minute, req: func(b string) *http.Request { return sign(get(b, "/m/w", nil), cred) },
			wantStatus: 403, wantCode: CodeRequestTimeTooSkewed},
		{name: "configured skew", skew: 2 * time.Minute, opts: VerifyOptions{MaxSkew: time.Minute},
			req:        func(b string) *http.Request { return sign(get(b, "/m/w", nil), cred) },
			wantStatus: 403, wantCode: CodeRequestTimeTooSkewed},
		{name: "presigned, expired", skew: 61 * time.Second, req: func(b string) *http.Request { return presign(get(b, "/m/w", nil), cred, "us-east-1", 60) },
			wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "presigned, not valid yet", skew: -16 * time.Minute, req: func(b string) *http.Request { return presign(get(b, "/m/w", nil), cred, "us-east-1", 3600) },
			wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "presigned, over seven days", req: func(b string) *http.Request { return presign(get(b, "/m/w", nil), cred, "us-east-1", 604801) },
			wantStatus: 400, wantCode: CodeAuthorizationQueryParametersError},
		{name: "presigned, outlives its credential", skew: 2 * time.Hour, opts: VerifyOptions{MaxSkew: 3 * time.Hour},
			req:        func(b string) *http.Request { return presign(get(b, "/m/w", nil), cred, "us-east-1", 604800) },
			wantStatus: 400, wantCode: CodeExpiredToken},
		{name: "presigned, missing parameter", req: func(b string) *http.Request {
			r := presign(get(b, "/m/w", nil), cred, "us-east-1", 60)
			q := r.URL.Query()
			q.Del("X-Amz-Expires")
			r.URL.RawQuery = q.Encode()
			return r
		}, wantStatus: 400, wantCode: CodeAuthorizationQueryParametersError},
		{name: "presigned, other algorithm", req: func(b string) *http.Request {
			r := presign(get(b, "/m/w", nil), cred, "us-east-1", 60)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)
			return r
		}, wantStatus: 400, wantCode: CodeAuthorizationQueryParametersError},
		{name: "presigned, duplicate signature", req: func(b string) *http.Request {
			r := presign(get(b, "/m/w", nil), cred, "us-east-1", 60)
			r.URL.RawQuery += "&X-Amz-Signature=" + strings.Repeat("0", 64)
			return r
		}, wantStatus: 400, wantCode: CodeAuthorizationQueryParametersError},
		{name: "no session token", req: func(b string) *http.Request {
			c := cred
			c.SessionToken = ""
			return sign(get(b, "/m/w", nil), c)
		}, wantStatus: 400, wantCode: CodeInvalidToken},
		{name: "presigned, no session token", req: func(b string) *http.Request {
			c := cred
			c.SessionToken = ""
			return presign(get(b, "/m/w", nil), c, "us-east-1", 60)
		}, wantStatus: 400, wantCode: CodeInvalidToken},
		{name: "expired credential", req: func(b string) *http.Request { return sign(get(b, "/m/w", nil), expired) },
			wantStatus: 400, wantCode: CodeExpiredToken},
		{name: "token of another access key", req: func(b string) *http.Request {
			c := cred
			c.SessionToken = MustIssue(t, iss, time.Hour).SessionToken
			return sign(get(b, "/m/w", nil), c)
		}, wantStatus: 400, wantCode: CodeInvalidToken},
		{name: "token from another key", req: func(b string) *http.Request { return sign(get(b, "/m/w", nil), foreign) },
			wantStatus: 400, wantCode: CodeInvalidToken},
		{name: "tampered token", req: func(b string) *http.Request {
			c := cred
			c.SessionToken = tamperPayload(t, c.SessionToken)
			return sign(get(b, "/m/w", nil), c)
		}, wantStatus: 400, wantCode: CodeInvalidToken},
		{name: "access key not ours", req: func(b string) *http.Request {
			c := cred
			c.AccessKeyID = "AKIAIOSFODNN7EXAMPLE"
			return sign(get(b, "/m/w", nil), c)
		}, wantStatus: 403, wantCode: CodeInvalidAccessKeyID},
		{name: "missing x-amz-content-sha256", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Del("X-Amz-Content-Sha256")
			return sign(r, cred)
		}, wantStatus: 400, wantCode: CodeMissingSecurityHeader},
		{name: "streaming payload", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
			return sign(r, cred)
		}, wantStatus: 403, wantCode: CodeAccessDenied},
		{name: "hash of a body", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("ab", 32))
			return sign(r, cred)
		}, wantStatus: 400, wantCode: CodeXAmzContentSHA256Mismatch},
		// AnyPayload identifies the signer of a request refused anyway
		// (a write): the signature must still match, the body is not
		// compared.
		{name: "streaming payload, any payload", opts: VerifyOptions{AnyPayload: true}, req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
			return sign(r, cred)
		}, wantStatus: 200},
		{name: "hash of a body, any payload", opts: VerifyOptions{AnyPayload: true}, req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("ab", 32))
			return sign(r, cred)
		}, wantStatus: 200},
		{name: "hash of a body, any payload, hash changed after signing", opts: VerifyOptions{AnyPayload: true}, req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("ab", 32))
			r = sign(r, cred)
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("cd", 32))
			return r
		}, wantStatus: 403, wantCode: CodeSignatureDoesNotMatch},
		{name: "malformed payload hash", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("X-Amz-Content-Sha256", strings.ToUpper(EmptyPayloadHash))
			return sign(r, cred)
		}, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "both forms", req: func(b string) *http.Request {
			r := presign(get(b, "/m/w", nil), cred, "us-east-1", 60)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			return r
		}, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "signature version 2", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("Authorization", "AWS "+cred.AccessKeyID+":c2lnbmF0dXJl")
			return r
		}, wantStatus: 400, wantCode: CodeInvalidRequest},
		// SigV2 presigned URLs are accepted (sigv2_test.go); a malformed
		// one is refused as such.
		{name: "signature version 2, query, malformed", req: func(b string) *http.Request {
			return get(b, "/m/w", url.Values{"AWSAccessKeyId": {cred.AccessKeyID}, "Signature": {"x"}, "Expires": {"1"}})
		}, wantStatus: 400, wantCode: CodeAuthorizationQueryParametersError},
		{name: "bearer token", req: func(b string) *http.Request {
			r := get(b, "/m/w", nil)
			r.Header.Set("Authorization", "Bearer eyJ")
			return r
		}, wantStatus: 400, wantCode: CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := verifyServer(t, iss, func() time.Time { return time.Now().Add(tt.skew) }, tt.opts)
			resp, err := srv.Client().Do(tt.req(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			e := readS3Error(t, resp)
			if got, want := resp.StatusCode, tt.wantStatus; got != want {
				t.Errorf("status = %d, want %d (%s: %s)", got, want, e.Code, e.Message)
			}
			if tt.wantCode != "" || resp.Request.Method != http.MethodHead {
				if got, want := e.Code, tt.wantCode; got != want {
					t.Errorf("code = %q, want %q (%s)", got, want, e.Message)
				}
			}
			if got, want := e.Region, tt.wantRegion; got != want {
				t.Errorf("region = %q, want %q", got, want)
			}
			if got, want := resp.Header.Get("x-amz-bucket-region"), tt.wantRegion; got != want {
				t.Errorf("x-amz-bucket-region = %q, want %q", got, want)
			}
			if tt.wantStatus == 200 {
				if got, want := resp.Header.Get("X-Subject"), testSubject().ID; got != want {
					t.Errorf("subject = %q, want %q", got, want)
				}
			}
		})
	}
}

// tamperPayload changes the subject in a session token's payload and
// re-encodes it, keeping the old MAC.
func tamperPayload(tb testing.TB, token string) string {
	tb.Helper()
	seg, mac, _ := strings.Cut(token, ".")
	payload := mustDecodeB64URL(tb, seg)
	changed := strings.Replace(string(payload), "alice@example.com", "mallory@example.com", 1)
	if changed == string(payload) {
		tb.Fatal("subject not found in token payload")
	}
	return b64url([]byte(changed)) + "." + mac
}

// Malformed Authorization headers and dates, written by hand.
func TestVerifyMalformed(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	const akid = "WGAAAAAAAAAAAAAAAAAA"
	sig := strings.Repeat("a", 64)
	good := map[string]string{
		"Credential":    akid + "/20260701/us-east-1/s3/aws4_request",
		"SignedHeaders": "host;x-amz-content-sha256;x-amz-date;x-amz-security-token",
		"Signature":     sig,
	}
	auth := func(change map[string]string) string {
		parts := []string{}
		for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
			v, ok := good[k]
			if c, changed := change[k]; changed {
				v, ok = c, c != "-"
			}
			if ok {
				parts = append(parts, k+"="+v)
			}
		}
		return "AWS4-HMAC-SHA256 " + strings.Join(parts, ", ")
	}
	tests := []struct {
		name     string
		auth     string
		date     string // X-Amz-Date; "-" for none
		httpDate string
		extra    http.Header // added after the others
		wantCode string
		// wantMsg, when set, is part of the message: where a later check
		// would refuse the request with the same code, it shows which check
		// did.
		wantMsg string
	}{
		{name: "well formed, reaches the signature check", auth: auth(nil), wantCode: CodeSignatureDoesNotMatch},
		{name: "no space after commas", auth: strings.ReplaceAll(auth(nil), ", ", ","), wantCode: CodeSignatureDoesNotMatch},
		{name: "missing SignedHeaders", auth: auth(map[string]string{"SignedHeaders": "-"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "unknown field", auth: auth(nil) + ", Foo=bar", wantCode: CodeAuthorizationHeaderMalformed},
		{name: "duplicate field", auth: auth(nil) + ", Signature=" + sig, wantCode: CodeAuthorizationHeaderMalformed},
		{name: "credential with four parts", auth: auth(map[string]string{"Credential": akid + "/20260701/us-east-1/s3"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "credential terminal", auth: auth(map[string]string{"Credential": akid + "/20260701/us-east-1/s3/aws5_request"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "credential date format", auth: auth(map[string]string{"Credential": akid + "/2026-07-01/us-east-1/s3/aws4_request"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "credential date is not the request date", auth: auth(map[string]string{"Credential": akid + "/20260630/us-east-1/s3/aws4_request"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "host not signed", auth: auth(map[string]string{"SignedHeaders": "x-amz-content-sha256;x-amz-date;x-amz-security-token"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "upper-case signed header", auth: auth(map[string]string{"SignedHeaders": "Host;x-amz-content-sha256;x-amz-date;x-amz-security-token"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "duplicate signed header", auth: auth(map[string]string{"SignedHeaders": "host;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "empty signed header", auth: auth(map[string]string{"SignedHeaders": "host;;x-amz-content-sha256;x-amz-date;x-amz-security-token"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "short signature", auth: auth(map[string]string{"Signature": sig[:63]}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "upper-case signature", auth: auth(map[string]string{"Signature": strings.ToUpper(sig)}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "no algorithm", auth: "Credential=" + good["Credential"], wantCode: CodeInvalidRequest},
		{name: "x-amz-date not signed", auth: auth(map[string]string{"SignedHeaders": "host;x-amz-content-sha256;x-amz-security-token"}), wantCode: CodeAccessDenied},
		{name: "no date", auth: auth(nil), date: "-", wantCode: CodeAccessDenied},
		{name: "bad x-amz-date", auth: auth(nil), date: "2026-07-01T12:00:00Z", wantCode: CodeAccessDenied},
		{name: "Date header instead", auth: auth(map[string]string{"SignedHeaders": "date;host;x-amz-content-sha256;x-amz-security-token"}),
			date: "-", httpDate: "Wed, 01 Jul 2026 12:00:00 GMT", wantCode: CodeSignatureDoesNotMatch},
		{name: "bad Date header", auth: auth(nil), date: "-", httpDate: "yesterday", wantCode: CodeAccessDenied},
		{name: "signed header name not a token", auth: auth(map[string]string{"SignedHeaders": "host;x y;x-amz-content-sha256;x-amz-date;x-amz-security-token"}), wantCode: CodeAuthorizationHeaderMalformed},
		{name: "Authorization twice", auth: auth(nil), extra: http.Header{"Authorization": {auth(nil)}}, wantCode: CodeAuthorizationHeaderMalformed},
		{name: "x-amz-date twice", auth: auth(nil), extra: http.Header{"X-Amz-Date": {now.Format(iso8601Basic)}}, wantCode: CodeAccessDenied},
		{name: "Date twice", auth: auth(map[string]string{"SignedHeaders": "date;host;x-amz-content-sha256;x-amz-security-token"}),
			date: "-", httpDate: "Wed, 01 Jul 2026 12:00:00 GMT", extra: http.Header{"Date": {"Wed, 01 Jul 2026 12:00:00 GMT"}}, wantCode: CodeAccessDenied},
		{name: "x-amz-security-token twice", auth: auth(nil), extra: http.Header{"X-Amz-Security-Token": {"x"}}, wantCode: CodeInvalidToken, wantMsg: "more than once"},
		{name: "x-amz-content-sha256 twice", auth: auth(nil), extra: http.Header{"X-Amz-Content-Sha256": {EmptyPayloadHash}}, wantCode: CodeInvalidArgument, wantMsg: "more than once"},
	}
	iss := MustIssuer(t, func() time.Time { return now })
	cred := MustIssue(t, iss, time.Hour)
	good["Credential"] = cred.AccessKeyID + "/20260701/us-east-1/s3/aws4_request"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://gw.example/b/k", nil)
			r.Header.Set("Authorization", strings.ReplaceAll(tt.auth, akid, cred.AccessKeyID))
			r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
			r.Header.Set("X-Amz-Security-Token", cred.SessionToken)
			switch tt.date {
			case "":
				r.Header.Set("X-Amz-Date", now.Format(iso8601Basic))
			case "-":
			default:
				r.Header.Set("X-Amz-Date", tt.date)
			}
			if tt.httpDate != "" {
				r.Header.Set("Date", tt.httpDate)
			}
			for k, vs := range tt.extra {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
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

// Malformed presigned URLs, written by hand.
func TestVerifyMalformedPresigned(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	iss := MustIssuer(t, func() time.Time { return now })
	cred := MustIssue(t, iss, time.Hour)
	good := url.Values{
		"X-Amz-Algorithm":      {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":     {cred.AccessKeyID + "/20260701/us-east-1/s3/aws4_request"},
		"X-Amz-Date":           {"20260701T120000Z"},
		"X-Amz-Expires":        {"3600"},
		"X-Amz-SignedHeaders":  {"host"},
		"X-Amz-Signature":      {strings.Repeat("a", 64)},
		"X-Amz-Security-Token": {cred.SessionToken},
	}
	tests := []struct {
		name     string
		set      map[string]string // replaces a parameter; "-" removes it
		extra    url.Values        // added after the others
		wantCode string
		wantMsg  string // as in TestVerifyMalformed
	}{
		{name: "well formed, reaches the signature check", wantCode: CodeSignatureDoesNotMatch},
		{name: "seven days", set: map[string]string{"X-Amz-Expires": "604800"}, wantCode: CodeSignatureDoesNotMatch},
		{name: "over seven days", set: map[string]string{"X-Amz-Expires": "604801"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "negative expiry", set: map[string]string{"X-Amz-Expires": "-1"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "zero expiry", set: map[string]string{"X-Amz-Expires": "0"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "one second", set: map[string]string{"X-Amz-Expires": "1"}, wantCode: CodeSignatureDoesNotMatch},
		{name: "expiry not a number", set: map[string]string{"X-Amz-Expires": "1h"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "no date", set: map[string]string{"X-Amz-Date": "-"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "bad date", set: map[string]string{"X-Amz-Date": "2026-07-01T12:00:00Z"}, wantCode: CodeAuthorizationQueryParametersError, wantMsg: "X-Amz-Date"},
		{name: "credential with four parts", set: map[string]string{"X-Amz-Credential": cred.AccessKeyID + "/20260701/us-east-1/s3"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "signed header name not a token", set: map[string]string{"X-Amz-SignedHeaders": "host;x y"}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "short signature", set: map[string]string{"X-Amz-Signature": strings.Repeat("a", 63)}, wantCode: CodeAuthorizationQueryParametersError},
		{name: "security token twice", extra: url.Values{"X-Amz-Security-Token": {"x"}}, wantCode: CodeInvalidToken, wantMsg: "more than once"},
		{name: "content sha256 twice", extra: url.Values{"X-Amz-Content-Sha256": {UnsignedPayload, UnsignedPayload}}, wantCode: CodeInvalidArgument, wantMsg: "more than once"},
		{name: "content sha256 of a body", set: map[string]string{"X-Amz-Content-Sha256": strings.Repeat("ab", 32)}, wantCode: CodeXAmzContentSHA256Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := editQuery(good, tt.set, tt.extra)
			r := httptest.NewRequest(http.MethodGet, "http://gw.example/b/k?"+q.Encode(), nil)
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

// A lookup that fails with a plain error is AccessDenied, with the cause
// kept for the log; one that returns another key's credential is refused.
func TestVerifyLookupFailures(t *testing.T) {
	iss := MustIssuer(t, time.Now)
	cred := MustIssue(t, iss, time.Hour)
	r := httptest.NewRequest(http.MethodGet, "http://gw.example/b/k", nil)
	r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
	r = signer.SignV4(*r, cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "us-east-1")
	cause := errors.New("database on fire")
	tests := []struct {
		name     string
		lookup   lookupFunc
		wantCode string
	}{
		{"plain error", func(string, string, time.Time) (*Credential, error) { return nil, cause }, CodeAccessDenied},
		{"nil credential", func(string, string, time.Time) (*Credential, error) { return nil, nil }, CodeAccessDenied},
		{"other access key", func(string, string, time.Time) (*Credential, error) {
			c := cred
			c.AccessKeyID = "WGBBBBBBBBBBBBBBBBBB"
			return &c, nil
		}, CodeAccessDenied},
		{"the issuer", iss.Lookup, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(r, tt.lookup, time.Now(), VerifyOptions{})
			if got, want := errCode(err), tt.wantCode; got != want {
				t.Errorf("Verify: %v, want %s", err, want)
			}
			if tt.name == "plain error" && !errors.Is(err, cause) {
				t.Errorf("cause lost: %v", err)
			}
		})
	}
}

func TestSigned(t *testing.T) {
	tests := []struct {
		target string
		auth   string
		want   bool
	}{
		{"/b/k", "", false},
		{"/b/k?prefix=x", "", false},
		{"/b/k", "AWS4-HMAC-SHA256 Credential=x", true},
		{"/b/k?X-Amz-Credential=x", "", true},
		{"/b/k?X-Amz-Signature=x", "", true},
		{"/b/k?AWSAccessKeyId=x&Signature=y", "", true},
		{"/b/k?a=1;X-Amz-Signature=x", "", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.target, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if got := Signed(r); got != tt.want {
			t.Errorf("Signed(%s, %q) = %v, want %v", tt.target, tt.auth, got, tt.want)
		}
	}
}

// The clock limits are inclusive: a header-signed request exactly MaxSkew
// from now, or a presigned URL exactly at its expiry or exactly MaxSkew
// before its date, is accepted, and one nanosecond further is not.
func TestVerifyClockBoundaries(t *testing.T) {
	iss := MustIssuer(t, time.Now)
	cred := MustIssue(t, iss, 24*time.Hour)
	const expires = 60
	// signed returns a request signed by minio-go at its own clock, and the
	// date it signed.
	signed := func(tb testing.TB, presigned bool) (*http.Request, time.Time) {
		tb.Helper()
		r := httptest.NewRequest(http.MethodGet, "http://gw.example/b/k", nil)
		var date string
		if presigned {
			r = signer.PreSignV4(*r, cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "us-east-1", expires)
			date = r.URL.Query().Get("X-Amz-Date")
		} else {
			r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
			r = signer.SignV4(*r, cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, "us-east-1")
			date = r.Header.Get("X-Amz-Date")
		}
		d, err := time.Parse(iso8601Basic, date)
		if err != nil {
			tb.Fatal(err)
		}
		return r, d
	}
	tests := []struct {
		name      string
		presigned bool
		maxSkew   time.Duration
		offset    time.Duration // now, less the signed date
		wantCode  string
	}{
		{name: "clock ahead by exactly MaxSkew", offset: DefaultMaxSkew},
		{name: "clock ahead by more than MaxSkew", offset: DefaultMaxSkew + time.Nanosecond, wantCode: CodeRequestTimeTooSkewed},
		{name: "clock behind by exactly MaxSkew", offset: -DefaultMaxSkew},
		{name: "clock behind by more than MaxSkew", offset: -DefaultMaxSkew - time.Nanosecond, wantCode: CodeRequestTimeTooSkewed},
		{name: "configured skew, ahead", maxSkew: time.Minute, offset: time.Minute},
		{name: "configured skew, too far ahead", maxSkew: time.Minute, offset: time.Minute + time.Nanosecond, wantCode: CodeRequestTimeTooSkewed},
		{name: "configured skew, behind", maxSkew: time.Minute, offset: -time.Minute},
		{name: "configured skew, too far behind", maxSkew: time.Minute, offset: -time.Minute - time.Nanosecond, wantCode: CodeRequestTimeTooSkewed},
		{name: "presigned, at its expiry", presigned: true, offset: expires * time.Second},
		{name: "presigned, after its expiry", presigned: true, offset: expires*time.Second + time.Nanosecond, wantCode: CodeAccessDenied},
		{name: "presigned, MaxSkew before its date", presigned: true, offset: -DefaultMaxSkew},
		{name: "presigned, earlier than MaxSkew before its date", presigned: true, offset: -DefaultMaxSkew - time.Nanosecond, wantCode: CodeAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, date := signed(t, tt.presigned)
			c, err := Verify(r, iss, date.Add(tt.offset), VerifyOptions{MaxSkew: tt.maxSkew})
			if got, want := errCode(err), tt.wantCode; got != want {
				t.Fatalf("Verify: %v, want %q", err, want)
			}
			if err == nil && c.AccessKeyID != cred.AccessKeyID {
				t.Errorf("Verify = credential %s, want %s", c.AccessKeyID, cred.AccessKeyID)
			}
		})
	}
}

func TestIsToken(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"plain", "host", true},
		{"with hyphens", "x-amz-date", true},
		{"every symbol RFC 9110 allows", "a!#$%&'*+^`|~.-_Z9", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"colon", "a:b", false},
		{"slash", "a/b", false},
		{"quote", `a"b`, false},
		{"parentheses", "a(b)", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isToken(tt.in); got != tt.want {
				t.Errorf("isToken(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// editQuery is a copy of good with set's values set ("-" deletes the key)
// and extra's added.
func editQuery(good url.Values, set map[string]string, extra url.Values) url.Values {
	q := url.Values{}
	for k, vs := range good {
		q[k] = slices.Clone(vs) // extra's values are appended: never into good's
	}
	for k, v := range set {
		if v == "-" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	for k, vs := range extra {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	return q
}
