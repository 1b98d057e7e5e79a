package s3api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	presigned := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Date=x&X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-Signature=x&X-Amz-Security-Token=x"
	longKey := "/b/" + strings.Repeat("k", MaxKeyLength+1)
	tests := []struct {
		method     string
		target     string
		header     string // "Name: value"
		wantOp     Op
		wantBucket string
		wantKey    string
		wantStatus int
		wantCode   string
	}{
		{method: "GET", target: "/", wantOp: OpListBuckets},
		{method: "GET", target: "/?x-id=ListBuckets", wantOp: OpListBuckets},
		{method: "GET", target: "/?max-buckets=1000", wantOp: OpListBuckets},
		{method: "GET", target: "/b?location", wantOp: OpGetBucketLocation, wantBucket: "b"},
		{method: "GET", target: "/b?location=", wantOp: OpGetBucketLocation, wantBucket: "b"},
		{method: "GET", target: "/b/?location", wantOp: OpGetBucketLocation, wantBucket: "b"},
		{method: "GET", target: "/b?list-type=2&prefix=a%2F&delimiter=%2F&encoding-type=url&max-keys=10&start-after=a&continuation-token=YQ&fetch-owner=true",
			wantOp: OpListObjectsV2, wantBucket: "b"},
		{method: "GET", target: "/b?prefix=&delimiter=&marker=m", wantOp: OpListObjects, wantBucket: "b"},
		{method: "GET", target: "/b", wantOp: OpListObjects, wantBucket: "b"},
		{method: "GET", target: "/b/", wantOp: OpListObjects, wantBucket: "b"},
		{method: "HEAD", target: "/b", wantOp: OpHeadBucket, wantBucket: "b"},
		{method: "HEAD", target: "/b/", wantOp: OpHeadBucket, wantBucket: "b"},
		{method: "GET", target: "/b/k", wantOp: OpGetObject, wantBucket: "b", wantKey: "k"},
		{method: "HEAD", target: "/b/k", wantOp: OpHeadObject, wantBucket: "b", wantKey: "k"},
		{method: "GET", target: "/models.v1/org/model/weights-00001.safetensors", wantOp: OpGetObject, wantBucket: "models.v1", wantKey: "org/model/weights-00001.safetensors"},
		{method: "GET", target: "/b/a%2Fb%20c%2Bd+e%C3%A9", wantOp: OpGetObject, wantBucket: "b", wantKey: "a/b c+d+eé"},
		{method: "GET", target: "/b//k/", wantOp: OpGetObject, wantBucket: "b", wantKey: "/k/"},
		{method: "GET", target: "/b/./k", wantOp: OpGetObject, wantBucket: "b", wantKey: "./k"},
		{method: "GET", target: "/b/k?" + presigned, wantOp: OpGetObject, wantBucket: "b", wantKey: "k"},
		{method: "GET", target: "/b/k?AWSAccessKeyId=x&Signature=x&x-amz-security-token=x&Expires=1", wantOp: OpGetObject, wantBucket: "b", wantKey: "k"},
		{method: "HEAD", target: "/b/k?AWSAccessKeyId=x&Signature=x&x-amz-security-token=x&Expires=1", wantOp: OpHeadObject, wantBucket: "b", wantKey: "k"},
		{method: "GET", target: "/b/k?x-id=GetObject&response-content-type=text%2Fplain&response-content-disposition=attachment", wantOp: OpGetObject, wantBucket: "b", wantKey: "k"},
		{method: "GET", target: "/b?list-type=2&" + presigned, wantOp: OpListObjectsV2, wantBucket: "b"},
		{method: "GET", target: longKey[:len(longKey)-1], wantOp: OpGetObject, wantBucket: "b", wantKey: strings.Repeat("k", MaxKeyLength)},
		{method: "GET", target: "/b/k", header: "X-Amz-Checksum-Mode: ENABLED", wantOp: OpGetObject, wantBucket: "b", wantKey: "k"},

		// Writes.
		{method: "PUT", target: "/b/k", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "PUT", target: "/b", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "PUT", target: "/b/k?acl", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "POST", target: "/b?delete", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "POST", target: "/b/k?uploads", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "POST", target: "/b/k?restore", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "DELETE", target: "/b/k", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "DELETE", target: "/b", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "PATCH", target: "/b/k", wantStatus: 403, wantCode: CodeAccessDenied},
		{method: "POST", target: "/b/k?select&select-type=2", wantStatus: 501, wantCode: CodeNotImplemented},
		// Other methods.
		{method: "OPTIONS", target: "/b/k", wantStatus: 405, wantCode: CodeMethodNotAllowed},
		{method: "TRACE", target: "/b/k", wantStatus: 405, wantCode: CodeMethodNotAllowed},
		{method: "HEAD", target: "/", wantStatus: 405, wantCode: CodeMethodNotAllowed},
		// Reads this API does not have.
		{method: "GET", target: "/b?acl", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?policy", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?tagging", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?versioning", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?uploads", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?versions", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?cors", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?lifecycle", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?metadata=true", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b?location&prefix=a", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "HEAD", target: "/b?acl", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?acl", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?tagging", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?attributes", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?torrent", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?versionId=3", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?partNumber=1", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k?uploadId=1", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "HEAD", target: "/b/k?prefix=a", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/?prefix=a", wantStatus: 501, wantCode: CodeNotImplemented},
		{method: "GET", target: "/b/k", header: "X-Amz-Server-Side-Encryption-Customer-Algorithm: AES256", wantStatus: 501, wantCode: CodeNotImplemented},
		// Malformed.
		{method: "GET", target: "/b?list-type=1", wantStatus: 400, wantCode: CodeInvalidArgument},
		{method: "GET", target: "/?max-buckets=0", wantStatus: 400, wantCode: CodeInvalidArgument},
		{method: "GET", target: "/?max-buckets=10001", wantStatus: 400, wantCode: CodeInvalidArgument},
		{method: "GET", target: "/b/k?x-id=a&x-id=b", wantStatus: 400, wantCode: CodeInvalidArgument},
		{method: "GET", target: "/b?prefix=a;marker=b", wantStatus: 400, wantCode: CodeInvalidArgument},
		{method: "GET", target: "/b?prefix=%zz", wantStatus: 400, wantCode: CodeInvalidArgument},
		{method: "GET", target: "/b%20c/k", wantStatus: 400, wantCode: CodeInvalidBucketName},
		{method: "GET", target: "/b~c", wantStatus: 400, wantCode: CodeInvalidBucketName},
		{method: "GET", target: "/" + strings.Repeat("b", 256), wantStatus: 400, wantCode: CodeInvalidBucketName},
		{method: "GET", target: longKey, wantStatus: 400, wantCode: CodeKeyTooLong},
		{method: "GET", target: "/b/%FF", wantStatus: 400, wantCode: CodeInvalidURI},
		{method: "GET", target: "/b/a%00b", wantStatus: 400, wantCode: CodeInvalidURI},
	}
	for _, tt := range tests {
		name := tt.method + " " + tt.target
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.header != "" {
				k, v, _ := strings.Cut(tt.header, ": ")
				r.Header.Set(k, v)
			}
			op, bucket, key, e := Classify(r)
			if tt.wantCode != "" {
				if e == nil {
					t.Fatalf("Classify = %s %q %q, want %s", op, bucket, key, tt.wantCode)
				}
				if got, want := e.Code, tt.wantCode; got != want {
					t.Errorf("code = %s, want %s (%s)", got, want, e.Message)
				}
				if got, want := e.Status, tt.wantStatus; got != want {
					t.Errorf("status = %d, want %d", got, want)
				}
				if op != "" || bucket != "" || key != "" {
					t.Errorf("an error came with %s %q %q", op, bucket, key)
				}
				return
			}
			if e != nil {
				t.Fatalf("Classify: %v", e)
			}
			if op != tt.wantOp || bucket != tt.wantBucket || key != tt.wantKey {
				t.Errorf("Classify = %s %q %q, want %s %q %q", op, bucket, key, tt.wantOp, tt.wantBucket, tt.wantKey)
			}
		})
	}
}

// Classify's error is a nil *Error on success, so that callers comparing
// with nil are not fooled by a typed nil in an error interface.
func TestClassifyNilError(t *testing.T) {
	_, _, _, e := Classify(httptest.NewRequest(http.MethodGet, "/b/k", nil))
	if e != nil {
		t.Fatal(e)
	}
}
