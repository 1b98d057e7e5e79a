package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"

	"github.com/weightgate/weightgate/policy"
)

// scope is the request-scoped state the middleware chain builds up.
type scope struct {
	RequestID string
	Subject   policy.Subject
}

type scopeKey struct{}

func withScope(ctx context.Context, s *scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

func scopeFrom(ctx context.Context) *scope {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		return s
	}
	return &scope{Subject: policy.Subject{Anonymous: true}}
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string { return scopeFrom(ctx).RequestID }

// validRequestID limits a caller-supplied X-Request-Id to something safe to
// log and echo.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestScope gives every request an id (the caller's X-Request-Id when it
// is well formed, so a client can correlate) and an anonymous subject.
func requestScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		s := &scope{RequestID: id, Subject: policy.Subject{Anonymous: true}}
		next.ServeHTTP(w, r.WithContext(withScope(r.Context(), s)))
	})
}
