package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// logRecorder is a slog.Handler that keeps each record's level and message.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// TestWriteError_LogLevel: the operator is paged (Error) for every server
// error, 500 included, with or without a cause; a refusal is logged at Info
// only when it has an internal cause worth reading, and an ordinary refusal
// (a 404 with nothing behind it) is not logged at all beyond the access log.
func TestWriteError_LogLevel(t *testing.T) {
	t.Parallel()
	boom := errors.New("evaluation failed")
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"PlainError", errors.New("secret internal detail"), []string{"ERROR request failed"}},
		{"InternalWithCause", &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal error.", Err: boom}, []string{"ERROR request failed"}},
		{"UnavailableWithoutCause", &Error{Status: http.StatusServiceUnavailable, Code: CodeStorageUnavailable, Message: "Storage is unavailable."}, []string{"ERROR request failed"}},
		{"RefusalWithCause", &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "The bearer token was rejected.", Err: boom}, []string{"INFO request refused"}},
		{"RefusalWithoutCause", &Error{Status: http.StatusNotFound, Code: CodeEntryNotFound, Message: "Entry not found."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs logRecorder
			w := httptest.NewRecorder()
			writeError(w, MustNewErrorRequest(t, http.MethodGet, "req-log"), slog.New(&logs), tt.err)
			if got, want := logs.Lines(), tt.want; !slices.Equal(got, want) {
				t.Errorf("logged %q, want %q", got, want)
			}
		})
	}
}

// TestWriteError_RetryAfter: Retry-After is sent only for a positive
// RetryAfter; "Retry-After: 0" would tell clients to hammer the gateway.
func TestWriteError_RetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter int
		want       []string
	}{
		{"Unset", 0, nil},
		{"Negative", -1, nil},
		{"OneSecond", 1, []string{"1"}},
		{"HalfAMinute", 30, []string{"30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			err := &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: "Slow down.", RetryAfter: tt.retryAfter}
			writeError(w, MustNewErrorRequest(t, http.MethodGet, "req-retry"), slog.New(slog.DiscardHandler), err)
			if got, want := w.Header().Values("Retry-After"), tt.want; !slices.Equal(got, want) {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
		})
	}
}

// TestHeaderSafe: printable ASCII, space through tilde, travels in a header
// as it is; everything either side of that range becomes a space.
func TestHeaderSafe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"UnitSeparator", "a\x1fb", "a b"},
		{"Space", "a b", "a b"},
		{"Tilde", "~user/model~2", "~user/model~2"},
		{"Delete", "a\x7fb", "a b"},
		{"NUL", "a\x00b", "a b"},
		{"NonASCII", "Côte", "C te"},
		{"Printable", "!09AZaz}", "!09AZaz}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, want := headerSafe(tt.in), tt.want; got != want {
				t.Errorf("headerSafe(%q) = %q, want %q", tt.in, got, want)
			}
		})
	}
}
