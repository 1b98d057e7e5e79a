package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/gateway/s3api"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// s3Creds are temporary S3 credentials.
type s3Creds struct{ AccessKey, SecretKey, SessionToken string }

// stsCredentials exchanges a development token of c at the harness's STS
// endpoint (AssumeRoleWithWebIdentity) for credentials valid 900 s, as an S3
// tool does.
func stsCredentials(tb testing.TB, h *gatewaytest.Harness, c identity.TokenClaims) s3Creds {
	tb.Helper()
	status, cr := stsExchange(tb, h, h.Token(tb, c))
	if status != http.StatusOK || cr.AccessKey == "" || cr.SecretKey == "" || cr.SessionToken == "" {
		tb.Fatalf("STS: %d, credentials %+v", status, cr)
	}
	return cr
}

// withWrongSecret is c with another secret of the same length.
func withWrongSecret(c s3Creds) s3Creds {
	d := byte('x')
	if c.SecretKey[0] == d {
		d = 'y'
	}
	c.SecretKey = string(d) + c.SecretKey[1:]
	return c
}

// s3Signer signs (or otherwise prepares) an S3 request before it is sent.
type s3Signer func(testing.TB, *http.Request) *http.Request

// signedBy signs with Signature V4 in the Authorization header, with an
// unsigned payload, as minio-go does, for region us-east-1.
func signedBy(c s3Creds) s3Signer {
	return signedIn(c, "us-east-1")
}

func signedIn(c s3Creds, region string) s3Signer {
	return func(_ testing.TB, r *http.Request) *http.Request {
		r.Header.Set("X-Amz-Content-Sha256", s3api.UnsignedPayload)
		return signer.SignV4(*r, c.AccessKey, c.SecretKey, c.SessionToken, region)
	}
}

// presignedBy presigns the request's URL, valid for expires seconds.
func presignedBy(c s3Creds, expires int64) s3Signer {
	return func(_ testing.TB, r *http.Request) *http.Request {
		return signer.PreSignV4(*r, c.AccessKey, c.SecretKey, c.SessionToken, "us-east-1", expires)
	}
}

// withWrongSignature signs with sign, then changes the last digit of the
// signature (the Authorization header's or the URL's): every other part of
// the request is as its signer made it.
func withWrongSignature(sign s3Signer) s3Signer {
	return func(tb testing.TB, r *http.Request) *http.Request {
		tb.Helper()
		r = sign(tb, r)
		flip := func(s, marker string) (string, bool) {
			i := strings.Index(s, marker)
			if i < 0 || len(s) < i+len(marker)+64 {
				return s, false
			}
			j := i + len(marker) + 63
			d := byte('0')
			if s[j] == '0' {
				d = '1'
			}
			return s[:j] + string(d) + s[j+1:], true
		}
		if a, ok := flip(r.Header.Get("Authorization"), "Signature="); ok {
			r.Header.Set("Authorization", a)
			return r
		}
		if q, ok := flip(r.URL.RawQuery, "X-Amz-Signature="); ok {
			r.URL.RawQuery = q
			return r
		}
		tb.Fatalf("no signature to change in %s %s", r.Method, r.URL)
		return nil
	}
}

// withHeader sets a header on the request as sign left it.
func withHeader(sign s3Signer, name, value string) s3Signer {
	return func(tb testing.TB, r *http.Request) *http.Request {
		if sign != nil {
			r = sign(tb, r)
		}
		r.Header.Set(name, value)
		return r
	}
}

// s3Send sends method target (path and raw query) to the harness's S3 API,
// prepared by sign when it is not nil, and returns the answer with its
// whole body.
func s3Send(tb testing.TB, h *gatewaytest.Harness, method, target string, header http.Header, sign s3Signer) (*http.Response, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.S3URL+target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if sign != nil {
		req = sign(tb, req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return resp, b
}

// s3Refusal is the refusal an S3 request must get.
type s3Refusal struct {
	status int
	// code is the S3 error code: the XML body's, or X-Error-Code for a
	// HEAD, which has no body. "" = do not check.
	code string
	// record is the decision record's code when it is not code: a
	// download refused by the gateway's checks records the gateway's (or
	// the policy's) code, which S3's answer only summarises.
	record string
}

// s3ErrorBody is S3's XML error document.
type s3ErrorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
}

// assertS3Refused checks an S3 API answer to method: its status is one of
// want's, its S3 code is that refusal's, it carries no closed bytes, its
// request id is in X-Request-Id, x-amz-request-id and the error body, and
// the audit trail has exactly one decision record for it, a deny with the
// answer's status and code and the request's method, and no transfer record.
func assertS3Refused(tb testing.TB, h *gatewaytest.Harness, method string, resp *http.Response, body []byte, want ...s3Refusal) {
	tb.Helper()
	assertNoClosedBytes(tb, "response body", body)
	i := slices.IndexFunc(want, func(w s3Refusal) bool { return w.status == resp.StatusCode })
	if i < 0 {
		tb.Fatalf("%s: status = %d, want one of %v; body %.300s", method, resp.StatusCode, want, body)
	}
	w := want[i]
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		tb.Fatalf("%s: %d answer without X-Request-Id", method, resp.StatusCode)
	}
	if got := resp.Header.Get("x-amz-request-id"); got != id {
		tb.Errorf("x-amz-request-id = %q, want the X-Request-Id %q", got, id)
	}
	code := resp.Header.Get("X-Error-Code")
	if method == http.MethodHead {
		if len(body) != 0 {
			tb.Errorf("HEAD answer has a %d-byte body", len(body))
		}
	} else {
		var e s3ErrorBody
		if err := xml.Unmarshal(body, &e); err != nil {
			tb.Fatalf("%s: %d body %.300q is not S3's XML error: %v", method, resp.StatusCode, body, err)
		}
		if e.RequestID != id {
			tb.Errorf("body RequestId = %q, want the X-Request-Id %q", e.RequestID, id)
		}
		code = e.Code
	}
	if w.code != "" && code != w.code {
		tb.Errorf("%s: S3 code = %q, want %q; body %.300s", method, code, w.code, body)
	}
	decisions, transfers := h.RecordsFor(tb, id)
	if len(decisions) != 1 {
		tb.Fatalf("%s: %d decision records for request %s, want 1: %+v", method, len(decisions), id, decisions)
	}
	d := decisions[0]
	if d.Decision != "deny" || d.Status != resp.StatusCode || d.Method != method || !strings.HasPrefix(d.API, "s3") {
		tb.Errorf("decision record = {decision %q status %d method %q api %q}, want a deny with status %d, method %s, an S3 api",
			d.Decision, d.Status, d.Method, d.API, resp.StatusCode, method)
	}
	if rc := cmp.Or(w.record, w.code); rc != "" && d.Code != rc {
		tb.Errorf("decision record code = %q, want %q", d.Code, rc)
	}
	if len(transfers) != 0 {
		tb.Errorf("refused request has %d transfer records", len(transfers))
	}
}

// offsetClock is time.Now moved by an offset a test sets.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// TestS3Refusals: every kind of refusal of the S3 API, signed or not, GET
// and HEAD where both apply, on both backends, answers S3's error code with
// the request id in its headers and body, and leaves exactly one deny
// decision record of that status and code, and no transfer record.
func TestS3Refusals(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		clock := &offsetClock{}
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}, Now: clock.Now})
		signedOnly := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: false}})
		us := stsCredentials(t, h, gatewaytest.Claims("US"))
		in := stsCredentials(t, h, gatewaytest.Claims("IN"))
		cn := stsCredentials(t, h, gatewaytest.Claims("CN"))
		const closedKey = "frontier-lab/frontier-x/" + gatewaytest.Shard1
		const closed = "/models/" + closedKey
		whole := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)

		// Controls: the requests below differ from these, which are
		// served, in one respect each.
		for name, sign := range map[string]s3Signer{"header": signedBy(us), "presigned": presignedBy(us, 60)} {
			resp, body := s3Send(t, h, http.MethodGet, closed, nil, sign)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, whole) {
				t.Fatalf("control (%s-signed US GET of the closed shard): %d, %d bytes; want 200 and the file", name, resp.StatusCode, len(body))
			}
		}
		if resp, _ := s3Send(t, signedOnly, http.MethodGet, "/models/open-lab/tiny-open/config.json", nil, signedBy(stsCredentials(t, signedOnly, gatewaytest.Claims("US")))); resp.StatusCode != http.StatusOK {
			t.Fatalf("control (signed GET on the signed-only API): %d", resp.StatusCode)
		}

		tests := []struct {
			name    string
			h       *gatewaytest.Harness // nil: h
			methods []string             // nil: GET and HEAD
			target  string
			header  http.Header
			sign    s3Signer
			offset  time.Duration // the gateway's clock, from now
			want    s3Refusal
		}{
			// Signatures and credentials.
			{name: "signature does not match", target: closed, sign: withWrongSignature(signedBy(us)),
				want: s3Refusal{403, "SignatureDoesNotMatch", ""}},
			{name: "wrong secret", target: closed, sign: signedBy(withWrongSecret(us)),
				want: s3Refusal{403, "SignatureDoesNotMatch", ""}},
			{name: "presigned, signature does not match", target: closed, sign: withWrongSignature(presignedBy(us, 60)),
				want: s3Refusal{403, "SignatureDoesNotMatch", ""}},
			{name: "presigned, wrong secret", target: closed, sign: presignedBy(withWrongSecret(us), 60),
				want: s3Refusal{403, "SignatureDoesNotMatch", ""}},
			{name: "unknown access key id", target: closed, sign: signedBy(s3Creds{"AKIAIOSFODNN7EXAMPLE", us.SecretKey, us.SessionToken}),
				want: s3Refusal{403, "InvalidAccessKeyId", ""}},
			{name: "no session token", target: closed, sign: signedBy(s3Creds{us.AccessKey, us.SecretKey, ""}),
				want: s3Refusal{400, "InvalidToken", ""}},
			{name: "another credential's session token", target: closed, sign: signedBy(s3Creds{us.AccessKey, us.SecretKey, cn.SessionToken}),
				want: s3Refusal{400, "InvalidToken", ""}},
			{name: "malformed Authorization", target: closed, header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=" + us.AccessKey}},
				want: s3Refusal{400, "AuthorizationHeaderMalformed", ""}},
			{name: "Signature V2", target: closed, header: http.Header{"Authorization": {"AWS " + us.AccessKey + ":c2lnbmF0dXJl"}},
				want: s3Refusal{400, "InvalidRequest", ""}},
			{name: "bearer token", target: closed, header: http.Header{"Authorization": {"Bearer " + h.Token(t, gatewaytest.Claims("US"))}},
				want: s3Refusal{400, "InvalidRequest", ""}},
			{name: "signed for another region", target: closed, sign: signedIn(us, "eu-west-1"),
				want: s3Refusal{400, "AuthorizationHeaderMalformed", ""}},
			{name: "unsigned x-amz header", target: closed, sign: withHeader(signedBy(us), "X-Amz-Meta-Weights", "open"),
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "request time too skewed", target: closed, sign: signedBy(us), offset: 20 * time.Minute,
				want: s3Refusal{403, "RequestTimeTooSkewed", ""}},
			{name: "presigned URL expired", target: closed, sign: presignedBy(us, 60), offset: 20 * time.Minute,
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "presigned URL not valid yet", target: closed, sign: presignedBy(us, 60), offset: -20 * time.Minute,
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "expired credentials", target: closed, sign: presignedBy(us, 3600), offset: 20 * time.Minute,
				want: s3Refusal{400, "ExpiredToken", ""}},
			// Anonymous requests and the policy.
			{name: "anonymous refused", h: signedOnly, target: "/models/open-lab/tiny-open/config.json",
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "anonymous, closed key", target: closed,
				want: s3Refusal{403, "AccessDenied", "authentication_required"}},
			{name: "policy denial", target: closed, sign: signedBy(in),
				want: s3Refusal{403, "AccessDenied", "license_required"}},
			{name: "policy denial of a missing file", target: "/models/frontier-lab/frontier-x/nope.safetensors", sign: signedBy(in),
				want: s3Refusal{403, "AccessDenied", "license_required"}},
			// A requester the policy hides the model from: a missing key.
			{name: "hidden model", target: closed, sign: signedBy(cn),
				want: s3Refusal{404, "NoSuchKey", "country_of_concern"}},
			{name: "missing file of a hidden model", target: "/models/frontier-lab/frontier-x/nope.safetensors", sign: signedBy(cn),
				want: s3Refusal{404, "NoSuchKey", "country_of_concern"}},
			// Buckets and keys.
			{name: "no such bucket", target: "/weights/" + closedKey, sign: signedBy(us),
				want: s3Refusal{404, "NoSuchBucket", ""}},
			{name: "no such bucket, anonymous", target: "/weights/" + closedKey,
				want: s3Refusal{404, "NoSuchBucket", ""}},
			{name: "no such key in a closed model", target: "/models/frontier-lab/frontier-x/nope.safetensors", sign: signedBy(us),
				want: s3Refusal{404, "NoSuchKey", "entry_not_found"}},
			{name: "key without a file", target: "/models/frontier-lab/frontier-x", sign: signedBy(us),
				want: s3Refusal{404, "NoSuchKey", "entry_not_found"}},
			{name: "stale If-Match", target: closed, sign: signedBy(us), header: http.Header{"If-Match": {`"0123456789abcdef"`}},
				want: s3Refusal{412, "PreconditionFailed", "precondition_failed"}},
			{name: "range past the end", target: closed, sign: signedBy(us), header: http.Header{"Range": {"bytes=999999999-"}},
				want: s3Refusal{416, "InvalidRange", "range_not_satisfiable"}},
			// Operations this API does not have.
			{name: "PUT", methods: []string{http.MethodPut}, target: "/models/open-lab/tiny-open/new.bin",
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "signed PUT", methods: []string{http.MethodPut}, target: closed, sign: signedBy(us),
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "DELETE", methods: []string{http.MethodDelete}, target: closed, sign: signedBy(us),
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "PATCH", methods: []string{http.MethodPatch}, target: closed,
				want: s3Refusal{403, "AccessDenied", ""}},
			{name: "POST select", methods: []string{http.MethodPost}, target: closed + "?select&select-type=2", sign: signedBy(us),
				want: s3Refusal{501, "NotImplemented", ""}},
			{name: "OPTIONS", methods: []string{http.MethodOptions}, target: closed,
				want: s3Refusal{405, "MethodNotAllowed", ""}},
			{name: "HEAD of the service", methods: []string{http.MethodHead}, target: "/", sign: signedBy(us),
				want: s3Refusal{405, "MethodNotAllowed", ""}},
			{name: "acl subresource", target: closed + "?acl", sign: signedBy(us),
				want: s3Refusal{501, "NotImplemented", ""}},
			{name: "versionId", target: closed + "?versionId=1", sign: signedBy(us),
				want: s3Refusal{501, "NotImplemented", ""}},
			{name: "bucket tagging", target: "/models?tagging", sign: signedBy(us),
				want: s3Refusal{501, "NotImplemented", ""}},
			{name: "SSE-C", target: closed, sign: signedBy(us), header: http.Header{"X-Amz-Server-Side-Encryption-Customer-Algorithm": {"AES256"}},
				want: s3Refusal{501, "NotImplemented", ""}},
			// Malformed requests.
			{name: "invalid bucket name", target: "/bad*bucket/" + closedKey, sign: signedBy(us),
				want: s3Refusal{400, "InvalidBucketName", ""}},
			{name: "key too long", target: "/models/frontier-lab/frontier-x/" + strings.Repeat("k", 1100), sign: signedBy(us),
				want: s3Refusal{400, "KeyTooLongError", ""}},
			{name: "parameter twice", target: closed + "?x-id=GetObject&x-id=GetObject", sign: signedBy(us),
				want: s3Refusal{400, "InvalidArgument", ""}},
			{name: "list-type 1", methods: []string{http.MethodGet}, target: "/models?list-type=1", sign: signedBy(us),
				want: s3Refusal{400, "InvalidArgument", ""}},
			{name: "listing with a bad encoding-type", methods: []string{http.MethodGet}, target: "/models?list-type=2&encoding-type=base64", sign: signedBy(us),
				want: s3Refusal{400, "InvalidArgument", ""}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hh := cmp.Or(tt.h, h)
				methods := tt.methods
				if methods == nil {
					methods = []string{http.MethodGet, http.MethodHead}
				}
				for _, method := range methods {
					clock.offset.Store(int64(tt.offset))
					resp, body := s3Send(t, hh, method, tt.target, tt.header, tt.sign)
					clock.offset.Store(0)
					assertS3Refused(t, hh, method, resp, body, tt.want)
				}
			})
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true},
			RateLimit: gateway.RateLimit{PerSecond: 0.01, Burst: 1}})
		if resp, _ := s3Send(t, h, http.MethodHead, "/models/open-lab/tiny-open/config.json", nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("the burst's request: %d", resp.StatusCode)
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, body := s3Send(t, h, method, "/models/open-lab/tiny-open/config.json", nil, nil)
			assertS3Refused(t, h, method, resp, body, s3Refusal{503, "SlowDown", gateway.CodeRateLimited})
		}
	})
}
