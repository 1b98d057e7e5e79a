package console

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy"
)

// principal is who a console request comes from.
type principal struct {
	Subject string
	Name    string
	Via     string // "bearer" or "session"; "" when not signed in
	Expires time.Time
	// bound is what the CSRF token of this requester's forms is bound to.
	bound string
}

// Cookie names. Both carry the __Host- prefix: the browser accepts them
// only with Secure, Path=/ and no Domain, so that no other host (a
// sibling subdomain) and no plain-HTTP page can set them.
const (
	sessionCookie = "__Host-weightgate-console"
	signinCookie  = "__Host-weightgate-console-signin"
)

// Refusal codes of the console.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeInvalidToken    = "invalid_token"
	CodeSessionInvalid  = "session_invalid"
	CodeNotAuditor      = "not_auditor"
	CodeCSRF            = "csrf_rejected"
)

// authenticate finds who sent r: a bearer token (verified now, every time)
// or else a session cookie (its MAC and expiry checked, and the issuer and
// key that verified the sign-in token asked about again). A token without
// the auditor role is 403; no credentials or bad ones, 401.
func (c *Console) authenticate(r *http.Request) (principal, *Error) {
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			return principal{}, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "Send one Authorization header, not several."}
		}
		raw, _, err := identity.ParseBearer(vals[0])
		if err != nil {
			return principal{}, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "The Authorization header is not a bearer token.", Err: err}
		}
		sub, _, e := c.verify(r, raw)
		if e != nil {
			return principal{}, e
		}
		return principal{Subject: sub.ID, Name: sub.Name, Via: "bearer", bound: "bearer\x00" + sub.ID}, nil
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "Sign in with an auditor's token."}
	}
	ss, err := c.sign.decode(ck.Value, c.opts.Now())
	if err != nil {
		msg := "The session is not valid; sign in again."
		if errors.Is(err, errSessionExpired) {
			msg = "The session has expired; sign in again."
		}
		return principal{}, &Error{Status: http.StatusUnauthorized, Code: CodeSessionInvalid, Message: msg}
	}
	if err := c.opts.Verifier.CheckBinding(r.Context(), ss.Binding); err != nil {
		// The issuer or key that verified the sign-in is no longer trusted.
		return principal{Subject: ss.Subject}, &Error{Status: http.StatusUnauthorized, Code: CodeSessionInvalid,
			Message: "The issuer or key of the token this session was opened with is no longer trusted; sign in again.", Err: err}
	}
	return principal{Subject: ss.Subject, Name: ss.Name, Via: "session", Expires: time.Unix(ss.Expires, 0).UTC(), bound: "session\x00" + ss.Nonce}, nil
}

// verify checks a token and the auditor role.
func (c *Console) verify(r *http.Request, raw string) (policy.Subject, identity.KeyBinding, *Error) {
	sub, kb, err := c.opts.Verifier.VerifyBound(r.Context(), raw)
	if err != nil {
		msg := "The token was rejected."
		var ie *identity.Error
		if errors.As(err, &ie) && ie.Message != "" {
			msg = ie.Message
		}
		return sub, kb, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: msg}
	}
	if !hasRole(sub.Claims[c.opts.RoleClaim], c.opts.Role) {
		return sub, kb, &Error{Status: http.StatusForbidden, Code: CodeNotAuditor,
			Message: "The console is for auditors: the token's " + c.opts.RoleClaim + " claim does not hold " + c.opts.Role + "."}
	}
	return sub, kb, nil
}

// hasRole reports whether a role claim holds role: a list of strings, or a
// string of space-separated words (as OAuth scopes are sent). Nothing else
// counts.
func hasRole(claim any, role string) bool {
	switch v := claim.(type) {
	case string:
		for _, w := range strings.Fields(v) {
			if w == role {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && s == role {
				return true
			}
		}
	case []string:
		for _, s := range v {
			if s == role {
				return true
			}
		}
	}
	return false
}

// tokenExpiry reads the exp of a token whose signature has been verified.
func tokenExpiry(raw string) (time.Time, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// checkCSRF refuses a state-changing request that another site could have
// made: the browser's Sec-Fetch-Site (or, from an older one, Origin) must
// name this origin, and the form must carry the token bound to the
// requester. A client that sends neither header (curl with a bearer token)
// still needs the token, which only a page of the console gives.
func (c *Console) checkCSRF(r *http.Request, who principal) *Error {
	if !sameOrigin(r) {
		return &Error{Status: http.StatusForbidden, Code: CodeCSRF, Message: "The request did not come from the console's own pages."}
	}
	if !c.sign.checkCSRF(who.bound, r.PostFormValue("csrf")) {
		return &Error{Status: http.StatusForbidden, Code: CodeCSRF, Message: "The form's token is missing or stale; reload the page and try again."}
	}
	return nil
}

// sameOrigin reports whether a browser says r comes from this origin. The
// host is compared, not the scheme: behind a TLS-terminating proxy the
// gateway sees plain HTTP for an https origin.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
	return true
}

// csrf is the CSRF token for the forms of the page being rendered.
func (x *exchange) csrf() string {
	if x.who.bound == "" {
		return ""
	}
	return x.c.sign.csrfToken(x.who.bound)
}

type signinView struct {
	Next    string
	Token   string // CSRF token of the sign-in form
	Problem *Error
}

// signinForm shows the token-paste form. Its CSRF token is bound to a
// random value in a short-lived cookie, so that another site cannot sign a
// browser in as someone else (login CSRF).
func (c *Console) signinForm(x *exchange) {
	nonce := randomString()
	c.setCookie(x.w, signinCookie, nonce, 10*time.Minute)
	x.who.bound = "signin\x00" + nonce
	x.render(http.StatusOK, "signin", "Sign in", signinView{Next: safeNext(x.r.URL.Query().Get("next")), Token: x.csrf()})
}

// signin checks the pasted token and opens a session.
func (c *Console) signin(x *exchange) {
	r := x.r
	again := func(e *Error) {
		// The form is shown again, with a fresh token, and the refusal
		// recorded with its code.
		nonce := randomString()
		c.setCookie(x.w, signinCookie, nonce, 10*time.Minute)
		x.who.bound = "signin\x00" + nonce
		x.renderCode(e.Status, e.Code, "signin", "Sign in", signinView{Next: safeNext(r.PostFormValue("next")), Token: x.csrf(), Problem: e})
	}
	r.Body = http.MaxBytesReader(x.w, r.Body, maxFormBytes)
	ck, err := r.Cookie(signinCookie)
	if !sameOrigin(r) || err != nil || !c.sign.checkCSRF("signin\x00"+ck.Value, r.PostFormValue("csrf")) {
		again(&Error{Status: http.StatusForbidden, Code: CodeCSRF, Message: "The sign-in form was stale or not the console's own; try again."})
		return
	}
	raw := strings.TrimSpace(r.PostFormValue("token"))
	raw = strings.TrimSpace(strings.TrimPrefix(raw, "Bearer "))
	if raw == "" {
		again(&Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "Paste a token."})
		return
	}
	sub, kb, e := c.verify(r, raw)
	if e != nil {
		x.who.Subject = sub.ID
		again(e)
		return
	}
	now := c.opts.Now()
	exp := now.Add(c.opts.SessionTTL)
	if t, ok := tokenExpiry(raw); ok && t.Before(exp) {
		// A session never outlives the token it was opened with.
		exp = t
	}
	ss := session{Subject: sub.ID, Name: sub.Name, Issued: now.Unix(), Expires: exp.Unix(), Binding: kb, Nonce: randomString()}
	v, err := c.sign.encode(ss)
	if err != nil {
		x.fail(&Error{Status: http.StatusInternalServerError, Code: "internal", Message: "Internal error.", Err: err})
		return
	}
	x.who = principal{Subject: sub.ID, Name: sub.Name, Via: "session"}
	if !x.commit(http.StatusSeeOther, "") {
		return
	}
	c.setCookie(x.w, sessionCookie, v, exp.Sub(now))
	c.setCookie(x.w, signinCookie, "", -1)
	http.Redirect(x.w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// signout ends the session in this browser (the cookie is signed, not
// stored, so the signed value itself stays valid until its expiry: say so
// in the docs).
func (c *Console) signout(x *exchange) {
	if !x.commit(http.StatusSeeOther, "") {
		return
	}
	c.setCookie(x.w, sessionCookie, "", -1)
	http.Redirect(x.w, x.r, "/console/signin", http.StatusSeeOther)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
	if ttl < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl / time.Second)
	}
	http.SetCookie(w, ck)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
