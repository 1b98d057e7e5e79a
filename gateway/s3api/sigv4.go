package s3api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SigV4 constants.
const (
	// DefaultRegion is the region requests must be signed for when
	// VerifyOptions.Region is empty.
	DefaultRegion = "us-east-1"
	// DefaultMaxSkew is how far a header-signed request's date may be from
	// the server's clock (S3's 15 minutes).
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the longest X-Amz-Expires accepted: seven days,
	// as S3. A presigned URL never outlives its credential (see Verify).
	MaxPresignExpiry = 7 * 24 * time.Hour
	// UnsignedPayload is the x-amz-content-sha256 value of a request whose
	// body is not signed.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptyPayloadHash is the hex SHA-256 of an empty body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	sigV4Algorithm = "AWS4-HMAC-SHA256"
	iso8601Basic   = "20060102T150405Z"
	scopeDate      = "20060102"
	scopeTerminal  = "aws4_request"
)

// Presigned-URL query parameters.
const (
	queryAlgorithm     = "X-Amz-Algorithm"
	queryCredential    = "X-Amz-Credential"
	queryDate          = "X-Amz-Date"
	queryExpires       = "X-Amz-Expires"
	querySignedHeaders = "X-Amz-SignedHeaders"
	querySignature     = "X-Amz-Signature"
	querySecurityToken = "X-Amz-Security-Token"
	queryContentSHA256 = "X-Amz-Content-Sha256"
)

// CredentialLookup finds the credential an access key id and session token
// name. *Issuer implements it. Lookup returns an *Error: InvalidAccessKeyId
// for an unknown key, InvalidToken for a missing, malformed or mismatched
// token, ExpiredToken for an expired one. Other errors are reported to the
// client as AccessDenied and kept as the cause.
type CredentialLookup interface {
	Lookup(accessKeyID, sessionToken string, now time.Time) (*Credential, error)
}

// VerifyOptions configure Verify. The zero value verifies S3 requests signed
// for us-east-1 with S3's 15-minute clock skew.
type VerifyOptions struct {
	// Region is the only region accepted in the credential scope;
	// DefaultRegion when empty.
	Region string
	// Service is the only service accepted in the credential scope; "s3"
	// when empty ("sts" for a signed STS endpoint).
	Service string
	// MaxSkew is the largest accepted difference between a header-signed
	// request's date and now, and how far in the future a presigned URL's
	// date may be; DefaultMaxSkew when zero.
	MaxSkew time.Duration
	// AnyPayload accepts whatever payload hash the request signed (a
	// body's, a streaming one), without comparing it with the body, which
	// is never read. It is for learning who signed a request that is
	// refused anyway (a write), never for serving one.
	AnyPayload bool
}

func (o VerifyOptions) withDefaults() VerifyOptions {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Service == "" {
		o.Service = "s3"
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	return o
}

// Signed reports whether r carries AWS authentication of any kind (an
// Authorization header, or presigned-URL parameters of either signature
// version), valid or not; a query string that cannot be parsed counts as
// signed, so that Verify refuses it. A server that answers anonymous
// requests itself calls Verify only for signed ones.
func Signed(r *http.Request) bool {
	if len(r.Header.Values("Authorization")) > 0 {
		return true
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		// Let Verify refuse it rather than serve it as anonymous.
		return true
	}
	return q.has(queryAlgorithm) || q.has(queryCredential) || q.has(querySignature) ||
		q.has(queryV2AccessKeyID) || q.has(queryV2Signature)
}

// Verify authenticates r, signed with AWS Signature Version 4 either in the
// Authorization header or as a presigned URL, or presigned with Signature
// Version 2 (sigv2.go), and returns the credential that signed it. It never reads the body. Every error is an *Error:
//
//   - AccessDenied (403): no authentication at all; a missing or bad date;
//     an x-amz-* header that is not signed; a presigned URL that has expired
//     or is not valid yet; a streaming (chunked-signature) payload, since
//     the API is read-only.
//   - InvalidRequest (400): a Signature Version 2 Authorization header, or
//     another scheme.
//   - InvalidArgument (400): both the header and the query forms, a
//     malformed query string, a malformed x-amz-content-sha256.
//   - AuthorizationHeaderMalformed (400) / AuthorizationQueryParametersError
//     (400): the header or query form is malformed, host is not signed, or
//     the scope names another region (Region is then set to ours), service
//     or date.
//   - RequestTimeTooSkewed (403): the date is more than MaxSkew from now.
//   - MissingSecurityHeader (400): the header form without
//     x-amz-content-sha256 (required for s3; for another service a
//     request without a body is taken to sign the empty body's hash).
//   - XAmzContentSHA256Mismatch (400): a payload hash that is not that of
//     an empty body (this API accepts no bodies).
//   - InvalidToken (400): no X-Amz-Security-Token. Gateway credentials are
//     always temporary, so a request without a session token cannot be
//     ours.
//   - InvalidAccessKeyId, InvalidToken, ExpiredToken: from creds.Lookup.
//   - SignatureDoesNotMatch (403): the signature is wrong.
//
// A presigned URL is valid until X-Amz-Date+X-Amz-Expires (SigV2: until
// Expires, at most MaxPresignExpiry away) and, because the credential is
// looked up at now, never after the credential expires.
func Verify(r *http.Request, creds CredentialLookup, now time.Time, opts VerifyOptions) (*Credential, error) {
	opts = opts.withDefaults()
	ai, e := parseAuth(r, opts)
	if e != nil {
		return nil, e
	}
	if e := ai.checkTime(now, opts.MaxSkew); e != nil {
		return nil, e
	}
	if e := ai.checkSignedHeaders(r); e != nil {
		return nil, e
	}
	checkPayload := ai.checkPayloadHash
	if opts.AnyPayload {
		checkPayload = ai.readPayloadHash
	}
	if e := checkPayload(r); e != nil {
		return nil, e
	}
	if ai.token == "" {
		return nil, errInvalidToken("The request has no X-Amz-Security-Token: this endpoint accepts only temporary credentials from its STS endpoint.")
	}

	cred, err := creds.Lookup(ai.accessKeyID, ai.token, now)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return nil, se
		}
		e := errAccessDenied("Access Denied")
		e.Err = err
		return nil, e
	}
	if cred == nil || cred.AccessKeyID != ai.accessKeyID {
		// A lookup bug, not a client error: refuse rather than trust it.
		e := errAccessDenied("Access Denied")
		e.Err = errors.New("credential lookup returned no credential or another access key id")
		return nil, e
	}

	want := ai.signature(r, cred.SecretAccessKey)
	if ai.v2 {
		want = ai.signatureV2(r, cred.SecretAccessKey)
	}
	if !hmac.Equal([]byte(want), []byte(ai.sig)) {
		return nil, newError(http.StatusForbidden, CodeSignatureDoesNotMatch,
			"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return cred, nil
}

// authInfo is what a request claims about its signature, in either form.
type authInfo struct {
	presigned     bool
	accessKeyID   string
	scopeDate     string // YYYYMMDD, as in the credential scope
	region        string
	service       string
	signedHeaders []string
	sig           string // lower-case hex
	date          time.Time
	expires       time.Duration // presigned only
	token         string
	payloadHash   string // presigned: from the query, UnsignedPayload when absent
	query         []queryPair
	v2            bool      // a SigV2 presigned URL; sig is then base64
	v2Expires     time.Time // SigV2 only
}

// malformed returns the malformed-authorization error of ai's form.
func (ai *authInfo) malformed(msg string) *Error {
	if ai.presigned {
		return newError(http.StatusBadRequest, CodeAuthorizationQueryParametersError, msg)
	}
	return newError(http.StatusBadRequest, CodeAuthorizationHeaderMalformed, "The authorization header is malformed; "+msg)
}

// parseAuth parses r's authentication, in whichever form it comes, and checks
// that the credential scope is ours.
func parseAuth(r *http.Request, opts VerifyOptions) (*authInfo, *Error) {
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	hasV4Query := query.has(queryAlgorithm) || query.has(queryCredential) || query.has(querySignature)
	hasV2Query := query.has(queryV2AccessKeyID) || query.has(queryV2Signature)
	auths := r.Header.Values("Authorization")
	switch {
	case len(auths) > 0 && (hasV4Query || hasV2Query):
		return nil, errInvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.")
	case hasV2Query:
		// Only the account's own scope exists in SigV2: no region,
		// service or date to check.
		ai := &authInfo{presigned: true, query: query}
		return ai, ai.parseQueryV2(r, query)
	case hasV4Query:
		ai := &authInfo{presigned: true, query: query}
		if e := ai.parseQueryForm(query); e != nil {
			return nil, e
		}
		return ai, ai.checkScope(opts)
	case len(auths) == 0:
		return nil, errAccessDenied("Access Denied")
	case len(auths) > 1:
		return nil, newError(http.StatusBadRequest, CodeAuthorizationHeaderMalformed, "The authorization header is malformed; it appears more than once.")
	}
	ai := &authInfo{query: query}
	if e := ai.parseHeaderForm(r, auths[0]); e != nil {
		return nil, e
	}
	return ai, ai.checkScope(opts)
}

func errUnsupportedAuth() *Error {
	return newError(http.StatusBadRequest, CodeInvalidRequest,
		"The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
}

// parseHeaderForm parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...` and the request date.
func (ai *authInfo) parseHeaderForm(r *http.Request, auth string) *Error {
	alg, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	if alg != sigV4Algorithm {
		return errUnsupportedAuth()
	}
	var cred, signed, sig string
	seen := map[string]bool{}
	for _, field := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || seen[k] {
			return ai.malformed("expecting \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\".")
		}
		seen[k] = true
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		default:
			return ai.malformed("expecting \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\".")
		}
	}
	if len(seen) != 3 {
		return ai.malformed("expecting \"AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...\".")
	}
	if e := ai.parseFields(cred, signed, sig); e != nil {
		return e
	}

	// The date is X-Amz-Date, or Date when that is absent; either way it
	// enters the string to sign in ISO 8601 basic format.
	missing := errAccessDenied("AWS authentication requires a valid Date or x-amz-date header.")
	switch v := r.Header.Values("X-Amz-Date"); len(v) {
	case 0:
		d := r.Header.Values("Date")
		if len(d) != 1 {
			return missing
		}
		t, err := http.ParseTime(d[0])
		if err != nil {
			return missing
		}
		ai.date = t.UTC()
	case 1:
		t, err := time.Parse(iso8601Basic, v[0])
		if err != nil {
			return missing
		}
		ai.date = t
	default:
		return missing
	}

	switch v := r.Header.Values("X-Amz-Security-Token"); len(v) {
	case 0:
	case 1:
		ai.token = v[0]
	default:
		return errInvalidToken("X-Amz-Security-Token appears more than once.")
	}
	return nil
}

// parseFields parses the three parts both forms carry: the credential
// scope, the signed headers and the signature.
func (ai *authInfo) parseFields(cred, signed, sig string) *Error {
	if e := ai.parseCredential(cred); e != nil {
		return e
	}
	if e := ai.parseSignedHeaders(signed); e != nil {
		return e
	}
	return ai.parseSignature(sig)
}

// parseQueryForm parses the X-Amz-* parameters of a presigned URL.
func (ai *authInfo) parseQueryForm(q queryPairs) *Error {
	get := func(name string) (string, bool) {
		vs := q.values(name)
		return strings.Join(vs, ""), len(vs) == 1
	}
	required := ai.malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters, each once.")
	alg, ok1 := get(queryAlgorithm)
	cred, ok2 := get(queryCredential)
	date, ok3 := get(queryDate)
	expires, ok4 := get(queryExpires)
	signed, ok5 := get(querySignedHeaders)
	sig, ok6 := get(querySignature)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return required
	}
	if alg != sigV4Algorithm {
		return ai.malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".")
	}
	if e := ai.parseFields(cred, signed, sig); e != nil {
		return e
	}
	t, err := time.Parse(iso8601Basic, date)
	if err != nil {
		return ai.malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	ai.date = t
	n, err := strconv.ParseInt(expires, 10, 64)
	switch {
	case err != nil || n < 1:
		// AWS documents 1 to 604800 seconds; a URL valid for no time at
		// all is a mistake, not a request.
		return ai.malformed("X-Amz-Expires must be a number of seconds from 1 to 604800.")
	case n > int64(MaxPresignExpiry/time.Second):
		return ai.malformed("X-Amz-Expires must be less than a week (in seconds) that is; 604800.")
	}
	ai.expires = time.Duration(n) * time.Second

	switch vs := q.values(querySecurityToken); len(vs) {
	case 0:
	case 1:
		ai.token = vs[0]
	default:
		return errInvalidToken("X-Amz-Security-Token appears more than once.")
	}
	switch vs := q.values(queryContentSHA256); len(vs) {
	case 0:
		ai.payloadHash = UnsignedPayload
	case 1:
		ai.payloadHash = vs[0]
	default:
		return errInvalidArgument("X-Amz-Content-Sha256 appears more than once.")
	}
	return nil
}

// parseCredential parses AKID/YYYYMMDD/REGION/SERVICE/aws4_request.
func (ai *authInfo) parseCredential(cred string) *Error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" || parts[4] != scopeTerminal {
		return ai.malformed("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	if _, err := time.Parse(scopeDate, parts[1]); err != nil {
		return ai.malformed("the Credential's date is not in YYYYMMDD format.")
	}
	ai.accessKeyID, ai.scopeDate, ai.region, ai.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// parseSignedHeaders parses a semicolon-separated list of lower-case header
// names. The order is kept: it is part of what the client signed.
func (ai *authInfo) parseSignedHeaders(s string) *Error {
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || !isToken(n) || seen[n] {
			return ai.malformed("SignedHeaders must be a semicolon-separated list of distinct lower-case header names.")
		}
		seen[n] = true
	}
	if !seen["host"] {
		return ai.malformed("SignedHeaders must include host.")
	}
	ai.signedHeaders = names
	return nil
}

func (ai *authInfo) parseSignature(sig string) *Error {
	if len(sig) != sha256.Size*2 || !isLowerHex(sig) {
		return ai.malformed("the Signature must be 64 lower-case hexadecimal digits.")
	}
	ai.sig = sig
	return nil
}

// checkScope checks that the credential scope names our region and service
// and the request's date.
func (ai *authInfo) checkScope(opts VerifyOptions) *Error {
	if ai.region != opts.Region {
		e := ai.malformed("the region in the credential scope is wrong; expecting '" + opts.Region + "'.")
		e.Region = opts.Region
		return e
	}
	if ai.service != opts.Service {
		return ai.malformed("the service in the credential scope is wrong; expecting '" + opts.Service + "'.")
	}
	if ai.scopeDate != ai.date.Format(scopeDate) {
		return ai.malformed("the date in the credential scope does not match the request date.")
	}
	return nil
}

// checkTime applies S3's clock rules: a header-signed request within maxSkew
// of now; a presigned URL not before its date (less maxSkew) nor after its
// date plus X-Amz-Expires.
func (ai *authInfo) checkTime(now time.Time, maxSkew time.Duration) *Error {
	if ai.v2 {
		return ai.checkTimeV2(now, maxSkew)
	}
	if !ai.presigned {
		if d := now.Sub(ai.date); d > maxSkew || d < -maxSkew {
			return newError(http.StatusForbidden, CodeRequestTimeTooSkewed,
				"The difference between the request time and the server's time is too large.")
		}
		return nil
	}
	if ai.date.After(now.Add(maxSkew)) {
		return errAccessDenied("Request is not valid yet.")
	}
	if now.After(ai.date.Add(ai.expires)) {
		return errAccessDenied("Request has expired.")
	}
	return nil
}

// checkSignedHeaders refuses x-amz-* headers that are not signed, as S3
// does: they change what a request means (the session token among them).
func (ai *authInfo) checkSignedHeaders(r *http.Request) *Error {
	if ai.v2 {
		// SigV2 signs every x-amz-* header there is.
		return nil
	}
	for name := range r.Header {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-amz-") && !slices.Contains(ai.signedHeaders, n) {
			return errAccessDenied("There were headers present in the request which were not signed.")
		}
	}
	return nil
}

// checkPayloadHash reads the payload hash (x-amz-content-sha256 for the
// header form) and accepts only what a read-only API can honour.
func (ai *authInfo) checkPayloadHash(r *http.Request) *Error {
	if e := ai.readPayloadHash(r); e != nil {
		return e
	}
	h := ai.payloadHash
	switch {
	case h == UnsignedPayload:
		return nil
	case strings.HasPrefix(h, "STREAMING-"):
		return errAccessDenied("Streaming payloads are refused: this endpoint is read-only.")
	case len(h) != sha256.Size*2 || !isLowerHex(h):
		return errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lower-case hexadecimal SHA-256.")
	case h != EmptyPayloadHash || r.ContentLength > 0:
		// The body is never read, so a hash can only be honoured when it is
		// that of the empty body the request has.
		return newError(http.StatusBadRequest, CodeXAmzContentSHA256Mismatch,
			"Request bodies are not accepted: x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the SHA-256 of an empty body.")
	}
	return nil
}

// readPayloadHash sets ai.payloadHash, the value the signature covers, from
// the header form's x-amz-content-sha256 (the query form's is set already).
func (ai *authInfo) readPayloadHash(r *http.Request) *Error {
	if !ai.presigned {
		switch v := r.Header.Values("X-Amz-Content-Sha256"); {
		case len(v) == 0 && ai.service != "s3" && r.ContentLength == 0:
			// x-amz-content-sha256 is S3's; other services sign the
			// body's hash without sending it.
			ai.payloadHash = EmptyPayloadHash
		case len(v) == 0:
			return newError(http.StatusBadRequest, CodeMissingSecurityHeader, "Your request was missing a required header: x-amz-content-sha256.")
		case len(v) == 1:
			ai.payloadHash = v[0]
		default:
			return errInvalidArgument("x-amz-content-sha256 appears more than once.")
		}
	}
	return nil
}

// signature computes the signature of r under secret, as the client should
// have: HMAC-SHA256 of the string to sign with the key derived from secret
// and the credential scope.
func (ai *authInfo) signature(r *http.Request, secret string) string {
	scope := ai.scopeDate + "/" + ai.region + "/" + ai.service + "/" + scopeTerminal
	creq := sha256.Sum256([]byte(ai.canonicalRequest(r)))
	stringToSign := sigV4Algorithm + "\n" + ai.date.Format(iso8601Basic) + "\n" + scope + "\n" + hex.EncodeToString(creq[:])

	key := hmacSHA256([]byte("AWS4"+secret), ai.scopeDate)
	key = hmacSHA256(key, ai.region)
	key = hmacSHA256(key, ai.service)
	key = hmacSHA256(key, scopeTerminal)
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

// canonicalRequest is AWS's canonical request for S3:
//
//	METHOD \n URI \n QUERY \n HEADERS \n \n SIGNED-HEADERS \n PAYLOAD-HASH
//
// The URI is the decoded path re-encoded once with AWS's rules (S3 does not
// double-encode nor normalise); the query is every parameter but
// X-Amz-Signature, each name and value AWS-encoded, sorted by name then
// value; each signed header is "name:value" with its values trimmed, inner
// runs of white space collapsed and repeated headers joined with ",".
func (ai *authInfo) canonicalRequest(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	b.WriteString(awsEncode(path, true))
	b.WriteByte('\n')
	b.WriteString(ai.canonicalQuery())
	b.WriteByte('\n')
	for _, name := range ai.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(ai.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(ai.payloadHash)
	return b.String()
}

func (ai *authInfo) canonicalQuery() string {
	pairs := make([]queryPair, 0, len(ai.query))
	for _, p := range ai.query {
		if ai.presigned && p.key == querySignature {
			continue
		}
		pairs = append(pairs, queryPair{awsEncode(p.key, false), awsEncode(p.value, false)})
	}
	slices.SortFunc(pairs, func(a, b queryPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalHeaderValue returns the canonical value of header name. Go moves
// Host out of the header map into r.Host.
func canonicalHeaderValue(r *http.Request, name string) string {
	if name == "host" {
		if r.Host != "" {
			return r.Host
		}
		return r.URL.Host
	}
	vs := r.Header.Values(name)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// awsEncode percent-encodes s with AWS's rules: the unreserved characters
// A-Z a-z 0-9 - _ . ~ are kept, and '/' too when keepSlash; every other byte
// becomes %XX with upper-case hex digits (a space is %20, never '+').
func awsEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+^`|", rune(c)) {
			return false
		}
	}
	return s != ""
}
