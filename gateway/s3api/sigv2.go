package s3api

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signature Version 2 query-string authentication: the presigned URLs that
// botocore makes by default (boto3's generate_presigned_url, `aws s3
// presign`, in any region with botocore 1.43) carry AWSAccessKeyId, Expires and Signature, the
// base64 HMAC-SHA1 of a canonical string, and the session token as the
// x-amz-security-token parameter, which is signed as an x-amz header. Only
// this form of SigV2 is accepted: a SigV2 Authorization header is still
// refused (errUnsupportedAuth). No library implements the server side of
// SigV2 (minio-go and the AWS SDK for Go only sign), hence this file.
//
// The string to sign (AWS's "Signing and authenticating REST requests"):
//
//	METHOD \n CONTENT-MD5 \n CONTENT-TYPE \n EXPIRES \n
//	CANONICALIZED-AMZ-HEADERS (each "name:value\n") CANONICALIZED-RESOURCE

// SigV2 query parameters.
const (
	queryV2AccessKeyID = "AWSAccessKeyId"
	queryV2Expires     = "Expires"
	queryV2Signature   = "Signature"
	// queryV2SecurityToken is the session token as botocore names it in a
	// SigV2 presigned URL.
	queryV2SecurityToken = "x-amz-security-token"
)

// subResources are the query parameters that enter a SigV2 canonical
// resource (AWS's list, as botocore's HmacV1Auth signs it); every other
// parameter is left out of the signature. Of these, this read-only API
// routes only location and the response-* overrides; Classify refuses the
// rest before a signature is read.
var subResources = []string{
	"accelerate", "acl", "cors", "defaultObjectAcl", "delete", "lifecycle", "location", "logging",
	"metrics", "analytics", "inventory", "notification", "object-lock", "partNumber", "policy",
	"replication", "requestPayment", "restore", "select", "select-type", "storageClass", "tagging",
	"torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires",
}

// parseQueryV2 parses the SigV2 parameters of a presigned URL. A URL that
// also has SigV4 parameters is refused: which one would be obeyed is
// ambiguous.
func (ai *authInfo) parseQueryV2(r *http.Request, q queryPairs) *Error {
	for _, p := range q {
		if strings.HasPrefix(p.key, "X-Amz-") && p.key != querySecurityToken {
			return errInvalidArgument("Only one auth mechanism allowed; a URL presigned with AWSAccessKeyId (Signature Version 2) cannot carry X-Amz-* Signature Version 4 parameters.")
		}
	}
	get := func(name string) (string, bool) {
		vs := q.values(name)
		return strings.Join(vs, ""), len(vs) == 1
	}
	akid, ok1 := get(queryV2AccessKeyID)
	expires, ok2 := get(queryV2Expires)
	sig, ok3 := get(queryV2Signature)
	if !ok1 || !ok2 || !ok3 || akid == "" {
		return ai.malformed("Query-string authentication requires the AWSAccessKeyId, Expires and Signature parameters, each once.")
	}
	n, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || n < 1 {
		return ai.malformed("Expires must be a positive number of seconds since the Unix epoch.")
	}
	// A '+' of the base64 signature left unescaped in the URL decodes as a
	// space; put it back rather than refuse a URL a client pasted by hand.
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(sig, " ", "+"))
	if err != nil || len(raw) != sha1.Size {
		return ai.malformed("Signature must be the base64 of a 20-byte HMAC-SHA1.")
	}
	ai.v2 = true
	ai.accessKeyID = akid
	ai.v2Expires = time.Unix(n, 0).UTC()
	ai.sig = base64.StdEncoding.EncodeToString(raw)
	// No payload is signed; the body is never read.
	ai.payloadHash = UnsignedPayload

	// The token may come as the query parameter (botocore) or as a header;
	// either way it is signed as the amz header, and only once.
	tokens := r.Header.Values("X-Amz-Security-Token")
	for _, p := range q {
		if strings.EqualFold(p.key, queryV2SecurityToken) {
			tokens = append(tokens, p.value)
		}
	}
	switch len(tokens) {
	case 0:
	case 1:
		ai.token = tokens[0]
	default:
		return errInvalidToken("x-amz-security-token appears more than once.")
	}
	return nil
}

// checkTimeV2 accepts a SigV2 URL until its Expires, and refuses one whose
// Expires is further away than a SigV4 URL can be valid (MaxPresignExpiry
// from a date at most maxSkew ahead), so that neither form outlives the
// other; the credential's own expiry bounds both (see Verify).
func (ai *authInfo) checkTimeV2(now time.Time, maxSkew time.Duration) *Error {
	if now.After(ai.v2Expires) {
		return errAccessDenied("Request has expired.")
	}
	if ai.v2Expires.Sub(now) > MaxPresignExpiry+maxSkew {
		return ai.malformed("Expires must be at most seven days (604800 seconds) from now.")
	}
	return nil
}

// signatureV2 is the base64 HMAC-SHA1 of r's SigV2 string to sign under
// secret.
func (ai *authInfo) signatureV2(r *http.Request, secret string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(ai.stringToSignV2(r)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// stringToSignV2 is AWS's SigV2 string to sign for query-string
// authentication, where Expires takes the place of the Date.
func (ai *authInfo) stringToSignV2(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(strings.TrimSpace(strings.Join(r.Header.Values("Content-Md5"), ",")))
	b.WriteByte('\n')
	b.WriteString(strings.TrimSpace(strings.Join(r.Header.Values("Content-Type"), ",")))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(ai.v2Expires.Unix(), 10))
	b.WriteByte('\n')

	// Every x-amz-* header is signed, with the query's
	// x-amz-security-token among them: lower-case names, sorted, values
	// trimmed with inner white space collapsed and repeats joined by ",".
	amz := map[string][]string{}
	for name, vs := range r.Header {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-amz-") {
			for _, v := range vs {
				amz[n] = append(amz[n], strings.Join(strings.Fields(v), " "))
			}
		}
	}
	for _, p := range ai.query {
		if strings.EqualFold(p.key, queryV2SecurityToken) {
			amz[queryV2SecurityToken] = append(amz[queryV2SecurityToken], p.value)
		}
	}
	names := make([]string, 0, len(amz))
	for n := range amz {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strings.Join(amz[n], ","))
		b.WriteByte('\n')
	}

	// The resource is the path as the client sent it (it signed the
	// encoded form) and the sub-resources, decoded, sorted by name.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	var subs []queryPair
	for _, p := range ai.query {
		if slices.Contains(subResources, p.key) {
			subs = append(subs, p)
		}
	}
	slices.SortStableFunc(subs, func(x, y queryPair) int { return strings.Compare(x.key, y.key) })
	for i, p := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		if p.value != "" {
			b.WriteByte('=')
			b.WriteString(p.value)
		}
	}
	return b.String()
}
