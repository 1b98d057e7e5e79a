package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Request body bounds (Options.MaxBodyBytes, Options.BodyReadTimeout). The
// bodies the gateway reads are small: a paths-info list, an STS form with
// one token.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultBodyReadTimeout = 10 * time.Second
)

// Codes of a body refused for its size or its slowness.
const (
	CodeBodyTooLarge = "body_too_large"
	CodeBodyTimeout  = "body_timeout"
)

// boundBody bounds every request body, on both listeners, in size
// (MaxBodyBytes: a read past it fails with *http.MaxBytesError) and in time
// (BodyReadTimeout from the request's start, as the connection's read
// deadline: a read after it fails with os.ErrDeadlineExceeded), so that a
// client trickling a body cannot hold a connection, and with it a file
// descriptor, for longer. A body no handler reads (a refused S3 write) is
// read by net/http afterwards, at most 256 KiB of it, under the same
// deadline. http.Server's ReadTimeout is not used: it would hold every
// request, bodiless downloads included, to one deadline for all its reads.
func (s *Server) boundBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		// Not every ResponseWriter has a connection (tests'); the size
		// bound applies all the same.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.BodyReadTimeout))
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		// net/http cancels the request's context when a read of the
		// connection fails, the deadline passing included: the refusal of
		// a body too slow could then not be recorded. A request with a
		// body loses nothing by not being cancelled so: a handler reading
		// the body sees the failure as the read's error, and one answering
		// after it notices a client gone when its writes fail.
		r = r.WithContext(context.WithoutCancel(r.Context()))
		next.ServeHTTP(w, r)
	})
}

// bodyError is the refusal of a body that could not be read: too large
// (413), too slow (408), or cut off (400).
func (s *Server) bodyError(err error) *Error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Err: err,
			Message: fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &Error{Status: http.StatusRequestTimeout, Code: CodeBodyTimeout, Err: err,
			Message: fmt.Sprintf("The request body was not sent within %v.", s.opts.BodyReadTimeout)}
	}
	return nil
}
