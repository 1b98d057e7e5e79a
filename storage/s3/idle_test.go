package s3_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/storage/s3"
)

// TestReadIdleTimeout: a storage that stops sending in the middle of a body
// ends the read after the store's timeout, with an error that says so; one
// that keeps sending, however slowly, is read to the end.
func TestReadIdleTimeout(t *testing.T) {
	const size = 50
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Length", "50")
		h.Set("ETag", `"abc"`)
		h.Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for i := range 5 {
			if _, err := w.Write([]byte(strings.Repeat("x", 10))); err != nil {
				return
			}
			rc.Flush()
			if strings.HasSuffix(r.URL.Path, "/stalls") && i == 1 {
				select { // send nothing more until the client gives up
				case <-r.Context().Done():
				case <-stall:
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}))
	defer srv.Close()
	defer close(stall) // before srv.Close, which waits for the handlers
	st, err := s3.New(s3.Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "models", Region: "us-east-1",
		AccessKey: "k", SecretKey: "secret-secret", MaxRetries: 1, Timeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key   string
		stall bool
	}{{"lab/m/slow", false}, {"lab/m/stalls", true}} {
		start := time.Now()
		rc, err := st.Open(context.Background(), tc.key, "abc", 0, size)
		if err != nil {
			t.Fatalf("%s: Open: %v", tc.key, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		d := time.Since(start)
		switch {
		case tc.stall && (err == nil || !strings.Contains(err.Error(), "sent nothing") || d > 3*time.Second):
			t.Errorf("%s: %d bytes, err %v after %v; want the idle timeout's error within seconds", tc.key, len(b), err, d)
		case !tc.stall && (err != nil || len(b) != size):
			t.Errorf("%s: %d bytes, err %v after %v; want all %d (each pause is shorter than the timeout)", tc.key, len(b), err, d, size)
		}
	}
}
