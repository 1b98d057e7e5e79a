package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/weightgate/weightgate/policy"
)

// scope is the request-scoped state the middleware chain builds up.
type scope struct {
	RequestID string
	Subject   policy.Subject
	// S3 is the S3 API request's operation, bucket and key, once parsed.
	S3 s3Target
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

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestScope gives every request an id and an anonymous subject. The id is
// always the gateway's own, never a caller's X-Request-Id: it keys the audit
// trail, and a caller must not be able to make two requests look like one.
func requestScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		s := &scope{RequestID: id, Subject: policy.Subject{Anonymous: true}}
		next.ServeHTTP(w, r.WithContext(withScope(r.Context(), s)))
	})
}
