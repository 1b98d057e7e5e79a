package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestBoundBody: a body sent too slowly fails its read with a deadline
// error while the request's context stays alive, so that the refusal can
// still be recorded; a body over the size bound fails with
// *http.MaxBytesError; a body sent in time is read whole.
func TestBoundBody(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	s := &Server{opts: Options{BodyReadTimeout: timeout, MaxBodyBytes: 1 << 10}}
	srv := httptest.NewServer(s.boundBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && r.Context().Err() == nil:
			w.WriteHeader(http.StatusRequestTimeout)
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.WriteHeader(http.StatusGone) // the context was cancelled
		case errors.As(err, &tooLarge):
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.Write(b)
		}
	})))
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL, "text/plain", strings.NewReader("ab"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ab" {
		t.Errorf("a body in time: %d %q, want 200 ab", resp.StatusCode, body)
	}

	resp, err = srv.Client().Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 2<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over the bound: status %d, want 413", resp.StatusCode)
	}

	// One byte of ten, then nothing.
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a stalled body: status %d, want 408 with the request's context alive", resp.StatusCode)
	}
}

// TestLogPath: the access log's path is bounded, cut at a rune boundary.
func TestLogPath(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
	}{
		{"short", "/a/b/resolve/main/c"},
		{"at the bound", "/" + strings.Repeat("a", maxLogPath-1)},
		{"long", "/" + strings.Repeat("a", 900<<10)},
		{"long, multi-byte", strings.Repeat("é", 900<<10)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := logPath(tt.in)
			if len(tt.in) <= maxLogPath {
				if got != tt.in {
					t.Errorf("logPath changed a short path: %q", got)
				}
				return
			}
			if len(got) > maxLogPath+32 || !strings.HasPrefix(tt.in, strings.SplitN(got, "…(", 2)[0]) || !utf8.ValidString(got) {
				t.Errorf("logPath = %.60q… (%d bytes), want a valid prefix of at most %d bytes and a marker", got, len(got), maxLogPath)
			}
		})
	}
}
