package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway/s3api"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy"
)

// The S3-compatible API: a second listener that serves the catalog as one
// read-only bucket, keys ORG/NAME/PATH, to the S3 tools pipelines already
// use (aws s3, rclone, s3cmd, minio-go). A request is signed (AWS Signature
// V4) with temporary credentials the same listener's STS endpoint
// (AssumeRoleWithWebIdentity) issues for a JWT the gateway trusts, so an S3
// request is the token's subject, decided by the same policy and recorded
// on the same audit trail as a Hub download. Unsigned requests are
// anonymous, when S3Options.Anonymous allows them: open weights, nothing
// else. The protocol itself (signatures, credentials, XML, listing pages)
// is package s3api; this file ties it to the catalog, the policy and the
// audit trail.

// S3Options configure the S3-compatible API (Options.S3).
type S3Options struct {
	// Addr is its listen address, separate from the Hub API's.
	Addr string
	// Bucket is the one bucket it serves; Region the region clients sign
	// for (AWS's default, us-east-1, unless configured).
	Bucket string
	Region string
	// Issuer issues and checks the temporary credentials.
	Issuer *s3api.Issuer
	// MaxSession bounds a credential's lifetime (never beyond its token's
	// exp); ClockSkew how far a request's date may be from the clock.
	MaxSession time.Duration
	ClockSkew  time.Duration
	// Anonymous admits unsigned requests as anonymous requesters.
	Anonymous bool
	// BucketCreated is the bucket's creation date in ListBuckets; zero =
	// when the server was made (which moves with each restart).
	BucketCreated time.Time
}

// S3 audit API names, on records and metrics.
const (
	apiS3Get     = "s3_get"
	apiS3Head    = "s3_head"
	apiS3List    = "s3_list"
	apiS3Buckets = "s3_buckets"
	apiS3Auth    = "s3_auth"
	apiS3STS     = "s3_sts"
)

// S3Handler returns the S3 listener's handler with its middleware chain.
func (s *Server) S3Handler() http.Handler {
	o := s.opts.S3
	sts := s3api.STSHandler(stsVerifier{s.opts.Auth}, o.Issuer, s3api.STSOptions{
		MaxTTL: o.MaxSession, Now: s.opts.Now, Logger: s.logger,
		RequestID: func(r *http.Request) string { return RequestID(r.Context()) },
		Record:    s.recordSTS,
	})
	// The same order as the Hub API's chain: request id, access log,
	// per-address limit, authentication, rate limit, handler. STS
	// authenticates by the token it exchanges, so it branches off before
	// the signature check, after the per-address limit.
	var api http.Handler = http.HandlerFunc(s.serveS3)
	api = s.rateLimited(api, nil, s.s3Throttled)
	api = s.s3Authenticate(api)
	// STS is limited by client address, before the token is verified:
	// verifying is the work a flood would cost.
	sts = s.rateLimited(sts, nil, s.stsThrottled)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isSTS(r) {
			sts.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	h = s.addressLimited(h, nil, s.s3AddressThrottled)
	limited := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// For load balancers, as on the Hub listener: neither limited nor
		// authenticated (s3.bucket cannot be named after these).
		switch {
		case !isS3Health(r):
			limited.ServeHTTP(w, r)
		case r.URL.Path == "/healthz":
			s.handleHealthz(w, r)
		default:
			s.handleReadyz(w, r)
		}
	})
	h = s.accessLogAs(h, func(r *http.Request) string {
		if isS3Health(r) {
			return r.URL.Path[1:]
		}
		return "s3"
	})
	h = s.boundBody(h)
	return requestScope(h)
}

// isHealthPath reports whether p is one of the health endpoints every
// listener serves.
func isHealthPath(p string) bool { return p == "/healthz" || p == "/readyz" }

// isS3Health reports whether r asks the S3 listener for /healthz or
// /readyz: a GET or HEAD of exactly that path, with no query (an S3 request
// always has a bucket, and these are not bucket names it serves).
func isS3Health(r *http.Request) bool {
	return isHealthPath(r.URL.Path) && r.URL.RawQuery == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

// isSTS reports whether r is an STS call: AWS's and MinIO's clients POST a
// form with Action= to the endpoint's root, or GET it with the same query.
func isSTS(r *http.Request) bool {
	if r.URL.Path != "/" {
		return false
	}
	if r.Method == http.MethodPost {
		return true
	}
	return r.Method == http.MethodGet && r.URL.Query().Has("Action")
}

// recordSTS writes the decision record of an STS call: who was given
// credentials, or why none were. Credentials whose record cannot be written
// are not sent.
func (s *Server) recordSTS(r *http.Request, sub policy.Subject, refusal *s3api.Error) *s3api.Error {
	scopeFrom(r.Context()).Subject = sub
	rec := s.newRecord(r)
	rec.API = apiS3STS
	v := allowed(http.StatusOK, "credentials_issued", "Temporary S3 credentials were issued for the web identity token.")
	if refusal != nil {
		v = s3Refused(refusal)
	}
	if err := s.settle(r.Context(), rec, v); err != nil {
		return s3AuditUnavailable()
	}
	return nil
}

// stsThrottled answers an STS call over its client's rate: S3's SlowDown,
// which S3 and STS clients back off on, in an STS ErrorResponse, with
// Retry-After, on the record as an s3_sts refusal with code rate_limited.
func (s *Server) stsThrottled(w http.ResponseWriter, r *http.Request, e *Error) {
	se := &s3api.Error{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: e.Message}
	rec := s.newRecord(r)
	rec.API = apiS3STS
	v := refused(e)
	v.status = se.Status
	s.conclude(w, r, rec, v, stsAPI{}, func() {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		w.Header().Set("x-amzn-RequestId", rec.RequestID)
		w.Header().Set("Cache-Control", "no-store")
		s3api.WriteSTSError(w, se, rec.RequestID)
	})
}

// stsAPI answers STS calls in STS's XML errors.
type stsAPI struct{}

func (stsAPI) auditUnavailable(w http.ResponseWriter, _ *http.Request, rec *audit.Record, _ error) {
	s3api.WriteSTSError(w, s3AuditUnavailable(), rec.RequestID)
}

// stsVerifier is the gateway's Authenticator as STS uses it: credentials
// are sealed with the binding of the token's issuer and key, so only a
// KeyBinder can have tokens exchanged; without one, none can.
type stsVerifier struct{ a Authenticator }

func (v stsVerifier) VerifyWebIdentity(ctx context.Context, token string) (policy.Subject, s3api.Binding, error) {
	kb, ok := v.a.(KeyBinder)
	if !ok {
		return policy.Subject{}, s3api.Binding{}, errors.New("this gateway trusts no token issuer that credentials can be bound to")
	}
	sub, b, err := kb.VerifyBound(ctx, token)
	return sub, s3api.Binding(b), err
}

// credentialTrusted checks a verified credential's binding against the
// issuers in force: credentials stop working as soon as their token's
// issuer is removed or its key withdrawn (a reload, a JWKS rotation), not
// at their expiry. A credential refused here is answered 403
// InvalidAccessKeyId, as AWS answers a revoked key; the record keeps the
// precise reason.
func (s *Server) credentialTrusted(ctx context.Context, cred *s3api.Credential) *s3api.Error {
	var err error
	if kb, ok := s.opts.Auth.(KeyBinder); ok {
		err = kb.CheckBinding(ctx, identity.KeyBinding(cred.Binding))
	} else {
		err = errors.New("this gateway trusts no token issuer that credentials can be bound to")
	}
	if err == nil {
		return nil
	}
	return &s3api.Error{Status: http.StatusForbidden, Code: s3api.CodeInvalidAccessKeyID,
		Message: "These credentials were issued for a token whose issuer or signing key is no longer trusted; get new ones with AssumeRoleWithWebIdentity.",
		Err:     err}
}

// s3Target is what an S3 request asks for.
type s3Target struct {
	op          s3api.Op
	bucket, key string
}

// s3Authenticate is the S3 API's authentication middleware: it parses the
// request and checks its signature (or admits it as anonymous), refusing on
// the record what fails, before any handler reads storage.
func (s *Server) s3Authenticate(next http.Handler) http.Handler {
	o := s.opts.S3
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := scopeFrom(r.Context())
		op, bucket, key, perr := s3api.Classify(r)
		if perr != nil {
			// Refused whoever signs it (a write, on a read-only API); the
			// record names the signer when the signature holds, so that a
			// write attempt is laid at its author's door, not at an
			// anonymous one's.
			if s3api.Signed(r) {
				s.identifySigner(r)
			}
			s.s3Refuse(w, r, apiS3Auth, perr, r.URL.Path)
			return
		}
		sc.S3 = s3Target{op: op, bucket: bucket, key: key}
		// Authenticate before anything else: which buckets exist is not
		// for a requester whose signature failed.
		if s3api.Signed(r) {
			cred, err := s3api.Verify(r, o.Issuer, s.opts.Now(), s3api.VerifyOptions{Region: o.Region, MaxSkew: o.ClockSkew})
			if err != nil {
				var e *s3api.Error
				if !errors.As(err, &e) {
					e = &s3api.Error{Status: http.StatusForbidden, Code: s3api.CodeAccessDenied, Message: "Access Denied", Err: err}
				}
				s.s3Refuse(w, r, apiS3Auth, e, r.URL.Path)
				return
			}
			// The record of a credential no longer trusted names whom it
			// was issued to: whoever holds it still has its secret.
			sc.Subject = cred.Subject
			if e := s.credentialTrusted(r.Context(), cred); e != nil {
				s.s3RefuseUntrusted(w, r, e)
				return
			}
		} else if !o.Anonymous {
			s.s3Refuse(w, r, apiS3Auth, &s3api.Error{Status: http.StatusForbidden, Code: s3api.CodeAccessDenied,
				Message: "Sign requests with credentials from this endpoint's AssumeRoleWithWebIdentity."}, r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CodeCredentialsUntrusted is the decision record's code of an S3 request
// signed with credentials whose token's issuer is no longer configured or
// no longer offers the key that verified the token.
const CodeCredentialsUntrusted = "credentials_untrusted"

// s3RefuseUntrusted records and answers a request signed with credentials
// credentialTrusted refused: the answer is S3's InvalidAccessKeyId, the
// record has CodeCredentialsUntrusted and the identity reason behind it
// (unknown_issuer, key_not_trusted, ...).
func (s *Server) s3RefuseUntrusted(w http.ResponseWriter, r *http.Request, e *s3api.Error) {
	rec := s.newRecord(r)
	rec.API = apiS3Auth
	s.logger.Info("s3 credentials no longer trusted", "request_id", rec.RequestID, "subject", rec.Subject, "err", e.Err)
	v := s3Refused(e)
	v.code = CodeCredentialsUntrusted
	reason := "not_a_key_binder"
	var ie *identity.Error
	if errors.As(e.Err, &ie) {
		reason = ie.Reason
	}
	v.reason = "The credentials' token issuer or key is no longer trusted (" + reason + ")."
	s.conclude(w, r, rec, v, s3API{r.URL.Path}, func() { s3WriteError(w, r, e, r.URL.Path, rec.RequestID) })
}

// identifySigner puts in r's scope the subject of the credential that signed
// r, for the record of a request refused before authentication, when the
// signature holds and the credential is still trusted; otherwise r stays
// anonymous. The payload hash is taken as signed: the body is never read.
func (s *Server) identifySigner(r *http.Request) {
	o := s.opts.S3
	cred, err := s3api.Verify(r, o.Issuer, s.opts.Now(), s3api.VerifyOptions{Region: o.Region, MaxSkew: o.ClockSkew, AnyPayload: true})
	if err != nil || s.credentialTrusted(r.Context(), cred) != nil {
		return
	}
	scopeFrom(r.Context()).Subject = cred.Subject
}

// s3Throttled answers a request over its requester's rate with S3's own
// throttling error, SlowDown, which every S3 client backs off on.
func (s *Server) s3Throttled(w http.ResponseWriter, r *http.Request, e *Error) {
	se := &s3api.Error{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: e.Message}
	rec := s.newRecord(r)
	rec.API = "s3"
	// The record has the status sent; its code stays rate_limited.
	v := refused(e)
	v.status = se.Status
	s.conclude(w, r, rec, v, s3API{r.URL.Path}, func() {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		s3WriteError(w, r, se, r.URL.Path, rec.RequestID)
	})
}

// serveS3 routes an authenticated S3 request.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	o := s.opts.S3
	sc := scopeFrom(r.Context())
	op, bucket, key := sc.S3.op, sc.S3.bucket, sc.S3.key
	if bucket != "" && bucket != o.Bucket {
		s.s3Refuse(w, r, apiS3List, &s3api.Error{Status: http.StatusNotFound, Code: "NoSuchBucket",
			Message: "The specified bucket does not exist."}, "/"+bucket)
		return
	}
	switch op {
	case s3api.OpListBuckets:
		s.s3ListBuckets(w, r)
	case s3api.OpGetBucketLocation:
		s.s3Answer(w, r, apiS3List, func() { s3api.WriteLocation(w, r, o.Region, sc.RequestID) })
	case s3api.OpHeadBucket:
		s.s3Answer(w, r, apiS3List, func() {
			w.Header().Set("x-amz-bucket-region", o.Region)
			w.WriteHeader(http.StatusOK)
		})
	case s3api.OpListObjects, s3api.OpListObjectsV2:
		s.s3ListObjects(w, r)
	case s3api.OpGetObject, s3api.OpHeadObject:
		s.s3Object(w, r, op, key)
	default:
		s.s3Refuse(w, r, apiS3List, &s3api.Error{Status: http.StatusNotImplemented, Code: s3api.CodeNotImplemented,
			Message: "This operation is not implemented."}, r.URL.Path)
	}
}

// s3Refuse records a refused S3 request and answers it in S3's XML.
func (s *Server) s3Refuse(w http.ResponseWriter, r *http.Request, api string, e *s3api.Error, resource string) {
	rec := s.newRecord(r)
	rec.API = api
	if e.Err != nil {
		s.logger.Info("s3 request refused", "request_id", rec.RequestID, "code", e.Code, "err", e.Err)
	}
	s.conclude(w, r, rec, s3Refused(e), s3API{resource}, func() { s3WriteError(w, r, e, resource, rec.RequestID) })
}

// s3Refused is the verdict of an S3 request refused with e.
func s3Refused(e *s3api.Error) verdict {
	return verdict{status: e.Status, code: e.Code, reason: e.Message}
}

// s3WriteError writes an S3 error. A HEAD answer has no body, so its code
// and message go in headers: X-Error-Code, as the Hub API sends it;
// x-amz-error-code and x-amz-error-message, S3's names for them; and
// x-minio-error-code and x-minio-error-desc, which minio-go (and so mc)
// shows in place of a body. They carry exactly what a GET's body would.
func s3WriteError(w http.ResponseWriter, r *http.Request, e *s3api.Error, resource, requestID string) {
	if r.Method == http.MethodHead {
		h := w.Header()
		msg := headerSafe(e.Message)
		h.Set("X-Error-Code", e.Code)
		h.Set("x-amz-error-code", e.Code)
		h.Set("x-amz-error-message", msg)
		h.Set("x-minio-error-code", e.Code)
		h.Set("x-minio-error-desc", strconv.Quote(msg))
	}
	s3api.WriteError(w, r, e, resource, requestID)
}

// s3Answer records an answered listing and writes it.
func (s *Server) s3Answer(w http.ResponseWriter, r *http.Request, api string, write func()) {
	rec := s.newRecord(r)
	rec.API = api
	s.conclude(w, r, rec, allowed(http.StatusOK, "ok", ""), s3API{r.URL.Path}, write)
}

func (s *Server) s3ListBuckets(w http.ResponseWriter, r *http.Request) {
	o := s.opts.S3
	s.s3Answer(w, r, apiS3Buckets, func() {
		s3api.WriteListBuckets(w, r, s3api.Owner{ID: "weightgate", DisplayName: "weightgate"},
			[]s3api.BucketInfo{{Name: o.Bucket, CreationDate: o.BucketCreated}}, RequestID(r.Context()))
	})
}

// s3ListObjects lists the models the requester may see, by the Hub API's
// rule (visible.go), as keys ORG/NAME/PATH.
func (s *Server) s3ListObjects(w http.ResponseWriter, r *http.Request) {
	q, perr := s3api.ParseListQuery(r)
	if perr != nil {
		s.s3Refuse(w, r, apiS3List, perr, r.URL.Path)
		return
	}
	view := s.newViewer(r, apiS3List)
	bound := []string{"s3", view.sub.ID, q.Prefix, q.Delimiter}
	after := q.Marker
	if !q.V2 {
		// A V1 marker is a key, or the sealed NextMarker of a page that
		// passed over models hidden from the requester.
		if pos, ok := s.cursors.open(bound, q.Marker); ok {
			after = pos
		}
	} else {
		after = q.StartAfter
		if q.ContinuationToken != "" {
			pos, ok := s.cursors.open(bound, q.ContinuationToken)
			if !ok {
				s.s3Refuse(w, r, apiS3List, &s3api.Error{Status: http.StatusBadRequest, Code: s3api.CodeInvalidArgument,
					Message: "The continuation token provided is incorrect."}, r.URL.Path)
				return
			}
			after = max(after, pos)
		}
	}
	page, next, err := s.s3Page(r.Context(), view, q, after)
	if err != nil {
		s.metrics.storageError("list")
		s.s3Refuse(w, r, apiS3List, &s3api.Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
			Message: "Model storage is unavailable; try again later.", Err: err}, r.URL.Path)
		return
	}
	if page.IsTruncated {
		// Sealed either way: the position may be past hidden models.
		page.NextMarker = s.cursors.seal(bound, next)
		if q.V2 {
			page.NextContinuationToken = page.NextMarker
		}
	}
	s.s3Answer(w, r, apiS3List, func() {
		s3api.WriteListObjects(w, r, s.opts.S3.Bucket, q, page, RequestID(r.Context()))
	})
}

// s3Object serves GetObject and HeadObject: the same checks, decision,
// audit records and stream as a Hub download of the model's main revision,
// with the storage's ETag and S3's error format.
func (s *Server) s3Object(w http.ResponseWriter, r *http.Request, op s3api.Op, key string) {
	s.downloads.Add(1)
	defer s.downloads.Done()
	rec := s.newRecord(r)
	rec.API = apiS3Get
	if op == s3api.OpHeadObject {
		rec.API = apiS3Head
	}
	var t transfer
	var refusal *Error
	org, rest, _ := strings.Cut(key, "/")
	name, file, ok := strings.Cut(rest, "/")
	if !ok || org == "" || name == "" || file == "" {
		refusal = &Error{Status: http.StatusNotFound, Code: CodeEntryNotFound, Message: "The specified key does not exist."}
	} else {
		rec.Model, rec.Object = org+"/"+name, file
		t, refusal = s.resolve(r, rec, target{id: org + "/" + name, rev: "main", file: file, storageETag: true})
	}
	resource := "/" + s.opts.S3.Bucket + "/" + key
	if refusal != nil {
		// The record has the status of S3's answer and the gateway's (or
		// the policy's) code, which S3's code only summarises.
		se := s3Error(refusal, rec.RequestID)
		v := refused(refusal)
		v.status = se.Status
		s.conclude(w, r, rec, v, s3API{resource}, func() {
			if se.Status == http.StatusRequestedRangeNotSatisfiable && t.info.Size >= 0 {
				w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(t.info.Size, 10))
			}
			s3WriteError(w, r, se, resource, rec.RequestID)
		})
		return
	}
	s.conclude(w, r, rec, allowed(t.status, rec.Policy.Code, rec.Policy.Reason), s3API{resource}, func() {
		w.Header().Set("x-amz-request-id", rec.RequestID)
		s.stream(w, r, t, rec)
	})
}

// s3Error is a gateway refusal in S3's terms. A policy denial keeps its
// reason and names the decision, so that `aws s3 cp` prints why.
func s3Error(e *Error, requestID string) *s3api.Error {
	out := &s3api.Error{Status: e.Status, Message: e.Message, Err: e.Err}
	switch {
	case e.Policy != nil:
		out.Status, out.Code = http.StatusForbidden, s3api.CodeAccessDenied
		out.Message = fmt.Sprintf("%s (%s; decision %s)", e.Message, e.Code, requestID)
	case e.Status == http.StatusUnauthorized:
		// An anonymous requester asked for a model that is not open: S3
		// does not say whether the key exists.
		out.Status, out.Code, out.Message = http.StatusForbidden, s3api.CodeAccessDenied, "Access Denied: sign the request with credentials from this endpoint's AssumeRoleWithWebIdentity."
	case e.Status == http.StatusNotFound:
		out.Code, out.Message = "NoSuchKey", "The specified key does not exist."
	case e.Status == http.StatusBadRequest:
		out.Code = s3api.CodeInvalidArgument
	case e.Status == http.StatusPreconditionFailed:
		out.Code = "PreconditionFailed"
	case e.Status == http.StatusRequestedRangeNotSatisfiable:
		out.Code = "InvalidRange"
	case e.Status == http.StatusServiceUnavailable:
		out.Code = "ServiceUnavailable"
	default:
		out.Status, out.Code = http.StatusInternalServerError, "InternalError"
	}
	return out
}
