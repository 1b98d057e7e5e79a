package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weightgate/weightgate/policy"
)

// STS constants.
const (
	// STSVersion is the only STS API version served.
	STSVersion = "2011-06-15"
	// STSNamespace is the XML namespace of STS responses.
	STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// DefaultSTSDuration is the credential lifetime asked for when
	// DurationSeconds is absent; MinSTSDuration and MaxSTSDuration bound
	// DurationSeconds, as AWS does.
	DefaultSTSDuration = time.Hour
	MinSTSDuration     = 15 * time.Minute
	MaxSTSDuration     = 12 * time.Hour
	// DefaultSTSMaxTTL caps credential lifetimes when STSOptions.MaxTTL is
	// zero: the subject (and its screening) in a credential is a snapshot,
	// refreshed only when the client comes back with a new token.
	DefaultSTSMaxTTL = time.Hour
	// MaxSTSBodySize bounds an STS request body.
	MaxSTSBodySize = 1 << 20
)

// WebIdentityVerifier verifies a web identity token (an OIDC ID token) and
// returns the subject it establishes and the binding of the issuer and key
// that verified it, sealed in the credentials. The gateway adapts its
// identity verifier to it. An error that is, or wraps, an *Error is sent as
// it is; any other error is sent as InvalidIdentityToken and logged.
type WebIdentityVerifier interface {
	VerifyWebIdentity(ctx context.Context, token string) (policy.Subject, Binding, error)
}

// TokenExpiry returns the exp claim of a JWT, read WITHOUT verifying the
// token. It must only be called on a token a WebIdentityVerifier has just
// verified, to learn what the verifier checked but does not return. It is an
// error for the token to have no exp.
func TokenExpiry(token string) (time.Time, error) {
	claims, err := unverifiedClaims(token)
	if err != nil {
		return time.Time{}, err
	}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return time.Time{}, fmt.Errorf("s3api: token exp: %w", err)
	}
	if exp == nil {
		return time.Time{}, errors.New("s3api: token has no exp claim")
	}
	return exp.Time, nil
}

// unverifiedClaims parses a JWT's claims without verifying it; see
// TokenExpiry for when that is acceptable.
func unverifiedClaims(token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		return nil, fmt.Errorf("s3api: parse token: %w", err)
	}
	return claims, nil
}

// STSOptions configure STSHandler.
type STSOptions struct {
	// MaxTTL caps the lifetime of issued credentials; DefaultSTSMaxTTL when
	// zero.
	MaxTTL time.Duration
	// RoleARN, when set, is the only RoleArn accepted (others are
	// AccessDenied). When empty any well-formed RoleArn is accepted: the
	// gateway has no roles, only subjects, and AWS SDKs insist on sending
	// one.
	RoleARN string
	// Now is the clock; the issuer's when nil.
	Now func() time.Time
	// RequestID returns the request's id, sent in RequestId and
	// x-amzn-RequestId; a random id when nil.
	RequestID func(*http.Request) string
	// Logger receives why tokens were refused (never the tokens);
	// discarded when nil.
	Logger *slog.Logger
	// Record is called once per request, before the answer is written,
	// with the subject the token named (the zero Subject when no token was
	// verified) and the refusal (nil when credentials are about to be
	// issued). When it returns an error, that error is the answer instead
	// and no credentials are sent: credentials are never issued without
	// their record. Nil records nothing.
	Record func(r *http.Request, sub policy.Subject, refused *Error) *Error
}

// STSHandler answers AssumeRoleWithWebIdentity, as AWS STS and MinIO do:
// GET with a query string, or POST with a form body (at most
// MaxSTSBodySize), Action=AssumeRoleWithWebIdentity, Version=2011-06-15,
// WebIdentityToken, and optionally DurationSeconds (900 to 43200, default
// 3600), RoleArn and RoleSessionName. The request is not signed: the token
// is the authentication, and an Authorization header is ignored.
//
// The credentials expire at the earliest of now+DurationSeconds, the
// token's exp and now+MaxTTL. Errors are STS ErrorResponse documents:
//
//   - MissingParameter (400): Action, Version or WebIdentityToken absent.
//   - InvalidAction (400): another action, or another version.
//   - InvalidParameterValue (400): a malformed parameter, one given twice, a
//     body that is too large or not a form, and the session policies
//     (Policy, PolicyArns) and ProviderId this endpoint cannot honour.
//   - InvalidIdentityToken (400): the verifier refused the token.
//   - ExpiredToken (400): the token expired between verification and now.
//   - AccessDenied (403): a RoleArn other than STSOptions.RoleARN, or an
//     anonymous subject.
//   - MethodNotAllowed (405) for other methods, InternalFailure (500) when
//     no credential can be issued.
func STSHandler(v WebIdentityVerifier, iss *Issuer, opts STSOptions) http.Handler {
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = DefaultSTSMaxTTL
	}
	if opts.Now == nil {
		opts.Now = iss.now
	}
	if opts.RequestID == nil {
		opts.RequestID = func(*http.Request) string { return newRequestID() }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &stsHandler{v: v, iss: iss, opts: opts}
	return h
}

type stsHandler struct {
	v    WebIdentityVerifier
	iss  *Issuer
	opts STSOptions
}

func (h *stsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := h.opts.RequestID(r)
	w.Header().Set("x-amzn-RequestId", reqID)
	// Responses carry credentials or refusals of them; neither is cacheable.
	w.Header().Set("Cache-Control", "no-store")

	resp, sub, e := h.assume(w, r)
	if h.opts.Record != nil {
		if re := h.opts.Record(r, sub, e); re != nil {
			e = re
		}
	}
	if e != nil {
		writeSTSError(w, e, reqID)
		return
	}
	resp.RequestID = reqID
	writeXMLBody(w, http.StatusOK, "text/xml", resp)
}

// assume answers the request: the response, or the refusal and, once the
// token has been verified, the subject it names.
func (h *stsHandler) assume(w http.ResponseWriter, r *http.Request) (*assumeRoleWithWebIdentityResponse, policy.Subject, *Error) {
	var none policy.Subject
	params, e := stsParams(w, r)
	if e != nil {
		return nil, none, e
	}
	get := func(name string) string {
		vs := params.values(name)
		if len(vs) == 0 {
			return ""
		}
		return vs[0]
	}
	for _, name := range []string{"Action", "Version", "WebIdentityToken", "DurationSeconds", "RoleArn", "RoleSessionName"} {
		if len(params.values(name)) > 1 {
			return nil, none, stsInvalidParameter("Parameter " + name + " appears more than once.")
		}
	}

	switch action := get("Action"); {
	case action == "":
		return nil, none, newError(http.StatusBadRequest, CodeMissingParameter, "The request must contain the parameter Action.")
	case action != "AssumeRoleWithWebIdentity":
		return nil, none, newError(http.StatusBadRequest, CodeInvalidAction, "Only AssumeRoleWithWebIdentity is supported.")
	}
	switch version := get("Version"); {
	case version == "":
		return nil, none, newError(http.StatusBadRequest, CodeMissingParameter, "The request must contain the parameter Version.")
	case version != STSVersion:
		return nil, none, newError(http.StatusBadRequest, CodeInvalidAction, "Could not find operation AssumeRoleWithWebIdentity for this version; use Version="+STSVersion+".")
	}
	for _, p := range params {
		if p.key == "Policy" || strings.HasPrefix(p.key, "PolicyArns.") {
			return nil, none, stsInvalidParameter("Session policies are not supported.")
		}
		if p.key == "ProviderId" {
			return nil, none, stsInvalidParameter("ProviderId is not supported: pass an OpenID Connect ID token.")
		}
	}
	token := get("WebIdentityToken")
	if token == "" {
		return nil, none, newError(http.StatusBadRequest, CodeMissingParameter, "The request must contain the parameter WebIdentityToken.")
	}
	duration := DefaultSTSDuration
	if s := get("DurationSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < int(MinSTSDuration/time.Second) || n > int(MaxSTSDuration/time.Second) {
			return nil, none, stsInvalidParameter("DurationSeconds must be an integer from 900 to 43200.")
		}
		duration = time.Duration(n) * time.Second
	}
	roleARN := get("RoleArn")
	if roleARN != "" {
		if len(roleARN) < 20 || len(roleARN) > 2048 {
			return nil, none, stsInvalidParameter("RoleArn must be 20 to 2048 characters long.")
		}
		if h.opts.RoleARN != "" && roleARN != h.opts.RoleARN {
			return nil, none, newError(http.StatusForbidden, CodeAccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity.")
		}
	}
	session := get("RoleSessionName")
	if session != "" && !validSessionName(session) {
		return nil, none, stsInvalidParameter("RoleSessionName must be 2 to 64 characters of [A-Za-z0-9_+=,.@-].")
	}

	sub, binding, err := h.v.VerifyWebIdentity(r.Context(), token)
	if err != nil {
		h.opts.Logger.Info("sts: web identity token refused", "err", err)
		var se *Error
		if errors.As(err, &se) {
			return nil, none, se
		}
		return nil, none, newError(http.StatusBadRequest, CodeInvalidIdentityToken, "The web identity token is not valid.")
	}
	if sub.Anonymous || sub.ID == "" {
		return nil, sub, newError(http.StatusForbidden, CodeAccessDenied, "Credentials are issued only to identified subjects.")
	}
	// The token has been verified: reading its claims unverified now reads
	// what the verifier checked.
	claims, err := unverifiedClaims(token)
	if err != nil {
		h.opts.Logger.Warn("sts: verified token does not parse", "err", err)
		return nil, sub, newError(http.StatusBadRequest, CodeInvalidIdentityToken, "The web identity token is not valid.")
	}
	exp, err := TokenExpiry(token)
	if err != nil {
		h.opts.Logger.Warn("sts: verified token has no usable exp", "err", err)
		return nil, sub, newError(http.StatusBadRequest, CodeInvalidIdentityToken, "The web identity token has no expiration time.")
	}
	now := h.opts.Now()
	if !exp.After(now) {
		return nil, sub, newError(http.StatusBadRequest, CodeExpiredToken, "The web identity token has expired.")
	}
	notAfter := now.Add(duration)
	if exp.Before(notAfter) {
		notAfter = exp
	}
	cred, err := h.iss.Issue(sub, binding, notAfter, h.opts.MaxTTL)
	if err != nil {
		h.opts.Logger.Error("sts: cannot issue credentials", "subject", sub.ID, "err", err)
		return nil, sub, newError(http.StatusInternalServerError, "InternalFailure", "Credentials could not be issued.")
	}

	resp := &assumeRoleWithWebIdentityResponse{}
	res := &resp.Result
	res.Credentials = stsCredentials{
		AccessKeyID:     cred.AccessKeyID,
		SecretAccessKey: cred.SecretAccessKey,
		SessionToken:    cred.SessionToken,
		Expiration:      cred.Expiration.UTC().Format(time.RFC3339),
	}
	res.SubjectFromWebIdentityToken = sub.ID
	if aud, _ := claims.GetAudience(); len(aud) > 0 {
		res.Audience = aud[0]
	}
	res.AssumedRoleUser = assumedRoleUser(roleARN, session, cred.AccessKeyID)
	return resp, sub, nil
}

// stsParams returns the request's parameters: the query string, and for
// POST the form body after it.
func stsParams(w http.ResponseWriter, r *http.Request) (queryPairs, *Error) {
	switch r.Method {
	case http.MethodGet, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		return nil, newError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "STS accepts GET and POST.")
	}
	params, e := parseQuery(r.URL.RawQuery)
	if e != nil {
		return nil, stsInvalidParameter(e.Message)
	}
	if r.Method != http.MethodPost {
		return params, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, stsInvalidParameter("The body must be application/x-www-form-urlencoded.")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSTSBodySize))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newError(http.StatusBadRequest, "EntityTooLarge", fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The gateway bounds how long a body may take to arrive.
			return nil, newError(http.StatusBadRequest, "RequestTimeout", "The request body was not sent in time.")
		}
		return nil, stsInvalidParameter("The request body could not be read.")
	}
	form, e := parseQuery(string(body))
	if e != nil {
		return nil, stsInvalidParameter(e.Message)
	}
	return append(params, form...), nil
}

func stsInvalidParameter(msg string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidParameterValue, msg)
}

// validSessionName applies AWS's RoleSessionName rule: [\w+=,.@-]{2,64}.
func validSessionName(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isUnreserved(c) && c != '~' || strings.IndexByte("+=,@", c) >= 0) {
			return false
		}
	}
	return true
}

// assumedRoleUser describes the session as AWS would,
// arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION, when RoleArn is an
// IAM role ARN and a session name was given; nil otherwise.
func assumedRoleUser(roleARN, session, akid string) *stsAssumedRoleUser {
	// arn:aws:iam::123456789012:role/path/name
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || session == "" {
		return nil
	}
	role := parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	return &stsAssumedRoleUser{
		Arn:           "arn:" + parts[1] + ":sts::" + parts[4] + ":assumed-role/" + role + "/" + session,
		AssumedRoleID: akid + ":" + session,
	}
}

type assumeRoleWithWebIdentityResponse struct {
	XMLName   xml.Name                        `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result    assumeRoleWithWebIdentityResult `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string                          `xml:"ResponseMetadata>RequestId"`
}

type assumeRoleWithWebIdentityResult struct {
	Credentials                 stsCredentials      `xml:"Credentials"`
	SubjectFromWebIdentityToken string              `xml:"SubjectFromWebIdentityToken"`
	AssumedRoleUser             *stsAssumedRoleUser `xml:"AssumedRoleUser,omitempty"`
	Audience                    string              `xml:"Audience,omitempty"`
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsAssumedRoleUser struct {
	Arn           string `xml:"Arn"`
	AssumedRoleID string `xml:"AssumedRoleId"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// WriteSTSError writes e as an STS ErrorResponse, for refusals the caller
// makes before STSHandler (a rate limit). Type is Sender for client errors
// and Receiver for server errors, as AWS.
func WriteSTSError(w http.ResponseWriter, e *Error, requestID string) {
	writeSTSError(w, e, requestID)
}

func writeSTSError(w http.ResponseWriter, e *Error, requestID string) {
	var body stsErrorResponse
	body.Error.Type = "Sender"
	if e.Status >= 500 {
		body.Error.Type = "Receiver"
	}
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	body.RequestID = requestID
	writeXMLBody(w, e.Status, "text/xml", body)
}
