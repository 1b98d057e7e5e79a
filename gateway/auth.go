package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy"
)

// KeyBinder is an Authenticator that also says which issuer and key verified
// a token, and later whether they are still trusted. *identity.Verifier and
// *identity.Current implement it. The S3 API issues credentials only through
// one and checks their binding on every request, so that credentials stop
// working when their token's issuer or key does; with an Authenticator
// that is not a KeyBinder, no credentials are issued or accepted.
type KeyBinder interface {
	VerifyBound(ctx context.Context, token string) (policy.Subject, identity.KeyBinding, error)
	CheckBinding(ctx context.Context, b identity.KeyBinding) error
}

var (
	_ KeyBinder = (*identity.Verifier)(nil)
	_ KeyBinder = (*identity.Current)(nil)
)

// authenticate verifies the bearer token, if any, and puts the subject in the
// request scope. No Authorization header means anonymous: the policy decides
// what anonymous requesters get (open weights need no token). A present but
// bad token is always 401, never downgraded to anonymous.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw string
		var present bool
		var err error
		if vals := r.Header.Values("Authorization"); len(vals) > 1 {
			// Which one would count? Neither: a token is never ignored.
			err = &identity.Error{Code: identity.CodeInvalidToken, Reason: identity.ReasonMalformedAuthorization,
				Message: "Send one Authorization header, not several."}
		} else {
			raw, present, err = identity.ParseBearer(r.Header.Get("Authorization"))
		}
		// The token has been read; nothing downstream (storage, logs) needs it.
		r.Header.Del("Authorization")
		if err == nil && !present {
			next.ServeHTTP(w, r)
			return
		}
		if err == nil && s.opts.Auth == nil {
			err = &identity.Error{Code: identity.CodeInvalidToken, Reason: identity.ReasonUnknownIssuer, Message: "This gateway trusts no token issuer."}
		}
		if err == nil {
			sub, verr := s.opts.Auth.Verify(r.Context(), raw)
			if verr == nil {
				scopeFrom(r.Context()).Subject = sub
				next.ServeHTTP(w, r)
				return
			}
			err = verr
		}
		s.refuseToken(w, r, err)
	})
}

// refuseToken answers 401 for a rejected token, after recording the
// decision: the request never reaches its handler.
func (s *Server) refuseToken(w http.ResponseWriter, r *http.Request, err error) {
	e := &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "The bearer token was rejected.", Err: err}
	var ie *identity.Error
	if errors.As(err, &ie) && ie.Message != "" {
		e.Message = ie.Message
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="weightgate", error="invalid_token"`)
	if operational(apiOf(r.URL.Path)) {
		writeError(w, r, s.logger, e)
		return
	}
	v := refused(e)
	if ie != nil {
		v.reason = ie.Reason + ": " + ie.Message
	}
	s.conclude(w, r, s.newRecord(r), v, hubAPI{s}, func() { writeError(w, r, s.logger, e) })
}

// resolveParts splits a download path, /{org}/{name}/{resolve|raw}/{rev}/{path},
// for the requests that are refused before routing.
func resolveParts(p string) (model, file string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) != 5 || (parts[2] != "resolve" && parts[2] != "raw") || parts[0] == "api" {
		return "", "", false
	}
	return parts[0] + "/" + parts[1], parts[4], true
}
