package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// MustNewErrorRequest returns a request whose scope carries requestID.
func MustNewErrorRequest(tb testing.TB, method, requestID string) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(method, "/api/models/org/name", nil)
	return r.WithContext(withScope(r.Context(), &scope{RequestID: requestID}))
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantCode    string // body "code"
		wantHeader  string // X-Error-Code
		wantMessage string // body "error"
		wantXMsg    string // X-Error-Message
	}{
		{
			name:        "Error",
			err:         &Error{Status: 404, Code: CodeEntryNotFound, Message: "Entry not found."},
			wantStatus:  404,
			wantCode:    CodeEntryNotFound,
			wantHeader:  CodeEntryNotFound,
			wantMessage: "Entry not found.",
			wantXMsg:    "Entry not found.",
		},
		{
			name:        "HubCode",
			err:         &Error{Status: 404, Code: CodeRepoNotFound, Message: "Repository not found.", HubCode: HubRepoNotFound},
			wantStatus:  404,
			wantCode:    CodeRepoNotFound,
			wantHeader:  HubRepoNotFound,
			wantMessage: "Repository not found.",
			wantXMsg:    "Repository not found.",
		},
		{
			name:        "Wrapped",
			err:         fmt.Errorf("serve: %w", &Error{Status: 416, Code: CodeInvalidRange, Message: "Bad range."}),
			wantStatus:  416,
			wantCode:    CodeInvalidRange,
			wantHeader:  CodeInvalidRange,
			wantMessage: "Bad range.",
			wantXMsg:    "Bad range.",
		},
		{
			name:        "HeaderUnsafeMessage",
			err:         &Error{Status: 403, Code: "forbidden", Message: "Export to Côte d'Ivoire\r\nX-Injected: 1\tdenied\x7f", HubCode: HubGatedRepo},
			wantStatus:  403,
			wantCode:    "forbidden",
			wantHeader:  HubGatedRepo,
			wantMessage: "Export to Côte d'Ivoire\r\nX-Injected: 1\tdenied\x7f",
			wantXMsg:    "Export to C te d'Ivoire  X-Injected: 1 denied ",
		},
		{
			name:        "CauseStaysInternal",
			err:         &Error{Status: 503, Code: CodeStorageUnavailable, Message: "Storage is unavailable.", Err: errors.New("secret dial tcp 10.0.0.7:9000")},
			wantStatus:  503,
			wantCode:    CodeStorageUnavailable,
			wantHeader:  CodeStorageUnavailable,
			wantMessage: "Storage is unavailable.",
			wantXMsg:    "Storage is unavailable.",
		},
		{
			name:        "PlainError",
			err:         errors.New("secret internal detail"),
			wantStatus:  500,
			wantCode:    CodeInternal,
			wantHeader:  CodeInternal,
			wantMessage: "Internal error.",
			wantXMsg:    "Internal error.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logBuf, nil))
			w := httptest.NewRecorder()
			// Headers a handler may have set before failing must not leak
			// into the error response.
			w.Header().Set("Content-Length", "12345")
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Accept-Ranges", "bytes")
			r := MustNewErrorRequest(t, http.MethodGet, "req-123")

			writeError(w, r, logger, tt.err)

			res := w.Result()
			if got, want := res.StatusCode, tt.wantStatus; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := res.Header.Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := res.Header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			if got, want := res.Header.Get("X-Error-Code"), tt.wantHeader; got != want {
				t.Errorf("X-Error-Code = %q, want %q", got, want)
			}
			if got, want := res.Header.Get("X-Error-Message"), tt.wantXMsg; got != want {
				t.Errorf("X-Error-Message = %q, want %q", got, want)
			}
			for _, h := range []string{"Content-Length", "ETag", "Accept-Ranges"} {
				if got := res.Header.Get(h); got != "" {
					t.Errorf("%s = %q, want it removed", h, got)
				}
			}
			for _, v := range res.Header.Values("X-Error-Message") {
				for _, c := range []byte(v) {
					if c < 0x20 || c > 0x7e {
						t.Errorf("X-Error-Message %q holds byte %#x", v, c)
					}
				}
			}

			body := w.Body.Bytes()
			var got struct {
				Error     *string `json:"error"`
				Code      *string `json:"code"`
				RequestID *string `json:"request_id"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if got.Error == nil || got.Code == nil || got.RequestID == nil {
				t.Fatalf("body %s lacks error, code or request_id", body)
			}
			if got, want := *got.Error, tt.wantMessage; got != want {
				t.Errorf("body error = %q, want %q", got, want)
			}
			if got, want := *got.Code, tt.wantCode; got != want {
				t.Errorf("body code = %q, want %q", got, want)
			}
			if got, want := *got.RequestID, "req-123"; got != want {
				t.Errorf("body request_id = %q, want %q", got, want)
			}
			if bytes.Contains(body, []byte("secret")) {
				t.Errorf("body %s leaks the internal cause", body)
			}
			for k, vs := range res.Header {
				for _, v := range vs {
					if strings.Contains(v, "secret") {
						t.Errorf("header %s = %q leaks the internal cause", k, v)
					}
				}
			}
			// The operator still learns the cause of a server error.
			if tt.wantStatus >= 500 && !strings.Contains(logBuf.String(), "secret") {
				t.Errorf("log %q lacks the internal cause", logBuf.String())
			}
		})
	}
}

func TestWriteError_Head(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
	}{
		{"Error", &Error{Status: 404, Code: CodeRepoNotFound, Message: "Repository not found.", HubCode: HubRepoNotFound}, 404, HubRepoNotFound},
		{"PlainError", errors.New("secret internal detail"), 500, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger := slog.New(slog.DiscardHandler)
			w := httptest.NewRecorder()
			writeError(w, MustNewErrorRequest(t, http.MethodHead, "req-head"), logger, tt.err)
			if got, want := w.Code, tt.wantStatus; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := w.Header().Get("X-Error-Code"), tt.wantCode; got != want {
				t.Errorf("X-Error-Code = %q, want %q", got, want)
			}
			if got := w.Body.Len(); got != 0 {
				t.Errorf("HEAD body = %q, want none", w.Body.String())
			}
		})
	}
}

func TestWriteError_NoRequestID(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	writeError(w, r, slog.New(slog.DiscardHandler), &Error{Status: 404, Code: CodeNotFound, Message: "Not found."})
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if got, want := got["request_id"], ""; got != want {
		t.Errorf("request_id = %v, want %q", got, want)
	}
}
