package s3api

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Op is an S3 operation this package routes. Its value is the S3 API name,
// fit for logs, metrics and audit records.
type Op string

// The operations of the read-only API.
const (
	OpListBuckets       Op = "ListBuckets"
	OpGetBucketLocation Op = "GetBucketLocation"
	OpListObjectsV2     Op = "ListObjectsV2"
	OpListObjects       Op = "ListObjects"
	OpHeadBucket        Op = "HeadBucket"
	OpGetObject         Op = "GetObject"
	OpHeadObject        Op = "HeadObject"
)

// MaxKeyLength is S3's limit on an object key, in bytes.
const MaxKeyLength = 1024

// Query parameters each operation accepts besides the presigned-URL ones.
// Anything else is a feature this API does not have (a subresource such as
// acl or tagging, or a parameter such as versionId or partNumber that would
// change the answer), and is refused rather than ignored.
var (
	// x-id is the operation name newer AWS SDKs add to every request.
	// max-buckets is accepted (and checked) but every bucket is returned,
	// untruncated: paginating clients then stop after one page.
	serviceParams  = []string{"x-id", "max-buckets"}
	listParams     = []string{"x-id", "list-type", "prefix", "delimiter", "max-keys", "encoding-type", "marker", "start-after", "continuation-token", "fetch-owner"}
	locationParams = []string{"x-id", "location"}
	headParams     = []string{"x-id"}
	objectParams   = []string{"x-id", "response-content-type", "response-content-language", "response-expires",
		"response-cache-control", "response-content-disposition", "response-content-encoding"}
	presignParams = []string{queryAlgorithm, queryCredential, queryDate, queryExpires, querySignedHeaders,
		querySignature, querySecurityToken, queryContentSHA256,
		queryV2AccessKeyID, queryV2Expires, queryV2Signature, queryV2SecurityToken}
)

// Classify routes a path-style S3 request (/bucket/key...) to its operation.
// The key is everything after "/bucket/", decoded once (so it may contain
// slashes, encoded or not, and any UTF-8), and is "" for bucket and service
// operations. It does not authenticate: call it before Verify so that
// requests this API can never serve are refused without reading a
// signature. The mapping:
//
//	GET  /                     ListBuckets
//	GET  /b?location           GetBucketLocation
//	GET  /b?list-type=2        ListObjectsV2
//	GET  /b                    ListObjects
//	HEAD /b                    HeadBucket
//	GET  /b/k                  GetObject
//	HEAD /b/k                  HeadObject
//
// Every error is an *Error:
//
//   - AccessDenied (403) for PUT, POST, DELETE and PATCH anywhere: the API
//     is read-only (except POST ?select, a read, which is NotImplemented).
//   - MethodNotAllowed (405) for other methods, and HEAD /.
//   - NotImplemented (501) for a GET or HEAD with any other query
//     parameter (acl, tagging, versioning, uploads, versions, versionId,
//     partNumber, ...), or with SSE-C headers.
//   - InvalidArgument (400) for list-type other than 2, max-buckets not
//     from 1 to 10000, a query string that cannot be parsed or has a
//     parameter twice.
//   - InvalidBucketName (400), KeyTooLongError (400), InvalidURI (400) for
//     a bad bucket name, a key over MaxKeyLength bytes, a path that is not
//     valid UTF-8 or has a NUL.
//
// Classify reads r.URL.Path, which must not have been cleaned or stripped:
// "/b//k" names key "/k", and "/b/./k" key "./k".
func Classify(r *http.Request) (op Op, bucket, key string, err *Error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch:
		if q, _ := parseQuery(r.URL.RawQuery); r.Method == http.MethodPost && q.has("select") {
			return "", "", "", errNotImplemented("SelectObjectContent is not implemented.")
		}
		return "", "", "", errAccessDenied("This endpoint is read-only.")
	default:
		return "", "", "", newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "The specified method is not allowed against this resource.")
	}

	path := r.URL.Path
	if !strings.HasPrefix(path, "/") || !utf8.ValidString(path) || strings.ContainsRune(path, 0) {
		return "", "", "", newError(http.StatusBadRequest, CodeInvalidURI, "Couldn't parse the specified URI.")
	}
	bucket, key, _ = strings.Cut(path[1:], "/")
	q, e := parseQuery(r.URL.RawQuery)
	if e != nil {
		return "", "", "", e
	}
	for _, p := range q {
		if len(q.values(p.key)) > 1 {
			return "", "", "", errInvalidArgument("A query parameter appears more than once.")
		}
	}
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-server-side-encryption-customer-") {
			return "", "", "", errNotImplemented("Server-side encryption with customer-provided keys is not implemented.")
		}
	}

	switch {
	case bucket == "":
		if r.Method == http.MethodHead {
			return "", "", "", newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "The specified method is not allowed against this resource.")
		}
		op = OpListBuckets
		if mb := q.values("max-buckets"); len(mb) == 1 {
			if n, err := strconv.Atoi(mb[0]); err != nil || n < 1 || n > 10000 {
				return "", "", "", errInvalidArgument("max-buckets must be an integer from 1 to 10000.")
			}
		}
		e = onlyParams(q, serviceParams)
	case !validBucketName(bucket):
		return "", "", "", newError(http.StatusBadRequest, CodeInvalidBucketName, "The specified bucket is not valid.")
	case key == "" && r.Method == http.MethodHead:
		op = OpHeadBucket
		e = onlyParams(q, headParams)
	case key == "" && q.has("location"):
		op = OpGetBucketLocation
		e = onlyParams(q, locationParams)
	case key == "":
		op = OpListObjects
		switch lt := q.values("list-type"); {
		case len(lt) == 0:
		case lt[0] == "2":
			op = OpListObjectsV2
		default:
			return "", "", "", errInvalidArgument("list-type must be 2 when present.")
		}
		e = onlyParams(q, listParams)
	case len(key) > MaxKeyLength:
		return "", "", "", newError(http.StatusBadRequest, CodeKeyTooLong, "Your key is too long.")
	case r.Method == http.MethodHead:
		op = OpHeadObject
		e = onlyParams(q, objectParams)
	default:
		op = OpGetObject
		e = onlyParams(q, objectParams)
	}
	if e != nil {
		return "", "", "", e
	}
	return op, bucket, key, nil
}

// onlyParams refuses, as NotImplemented, any parameter outside allowed and
// the presigned-URL parameters.
func onlyParams(q queryPairs, allowed []string) *Error {
	for _, p := range q {
		if !contains(allowed, p.key) && !contains(presignParams, p.key) {
			return errNotImplemented("A parameter you provided implies functionality that is not implemented.")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// validBucketName accepts 1 to 255 characters of [A-Za-z0-9._-], the
// legacy S3 rule; which buckets exist is for the caller to say.
func validBucketName(b string) bool {
	if len(b) == 0 || len(b) > 255 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !isUnreserved(c) || c == '~' {
			return false
		}
	}
	return true
}
