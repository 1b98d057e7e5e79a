package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// fakeAuthenticator is a gateway.Authenticator whose method is its field.
type fakeAuthenticator struct {
	VerifyFn func(ctx context.Context, token string) (policy.Subject, error)
}

var _ gateway.Authenticator = (*fakeAuthenticator)(nil)

func (f *fakeAuthenticator) Verify(ctx context.Context, token string) (policy.Subject, error) {
	return f.VerifyFn(ctx, token)
}

// MustOpenGateway is a gateway over real HTTP with the options o, which
// MustOpenHarness cannot all express (no issuer trusted, a logger): Store
// defaults to the dir backend, Policy to the embedded bundle, Audit to a
// file audit trail in the harness's AuditDir.
func MustOpenGateway(tb testing.TB, o gateway.Options) *gatewaytest.Harness {
	tb.Helper()
	h := &gatewaytest.Harness{AuditDir: filepath.Join(tb.TempDir(), "audit")}
	if o.Store == nil {
		o.Store = gatewaytest.DirStore(tb)
	}
	if o.Policy == nil {
		eng, err := opa.New(context.Background(), opa.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		o.Policy = eng
	}
	if o.Audit == nil {
		o.Audit = gatewaytest.OpenTrail(tb, h.AuditDir)
	}
	h.Store = o.Store
	srv, err := gateway.NewServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	h.URL = ts.URL
	return h
}

// TestRefuseToken_Record: a rejected token is answered 401 with the
// authenticator's own message, and its deny record names the reason (the
// machine-readable reason before the message, so that dashboards can count
// them) and, for a download path, the model and file asked for, although
// the request never reached the router. A gateway that trusts no issuer
// refuses every token as coming from an unknown issuer, but a header that
// is not a bearer token at all is still reported as malformed.
func TestRefuseToken_Record(t *testing.T) {
	t.Parallel()
	rejected := &fakeAuthenticator{VerifyFn: func(context.Context, string) (policy.Subject, error) {
		return policy.Subject{}, errors.New("directory unreachable")
	}}
	tests := []struct {
		name        string
		auth        gateway.Authenticator
		path        string
		header      string // Authorization
		wantMessage string
		wantReason  string
		wantModel   string
		wantObject  string
	}{
		{
			name:        "NoIssuerTrusted",
			path:        "/open-lab/tiny-open/resolve/main/config.json",
			header:      "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
			wantMessage: "This gateway trusts no token issuer.",
			wantReason:  identity.ReasonUnknownIssuer + ": This gateway trusts no token issuer.",
			wantModel:   "open-lab/tiny-open",
			wantObject:  "config.json",
		},
		{
			name:        "NoIssuerTrustedMalformedHeader",
			path:        "/open-lab/tiny-open/raw/main/dir/config.json",
			header:      "Basic dXNlcjpwYXNz",
			wantMessage: `The Authorization header must have the form "Bearer <token>".`,
			wantReason:  identity.ReasonMalformedAuthorization + `: The Authorization header must have the form "Bearer <token>".`,
			wantModel:   "open-lab/tiny-open",
			wantObject:  "dir/config.json",
		},
		{
			name:        "NotAnIdentityError",
			auth:        rejected,
			path:        "/open-lab/tiny-open/resolve/main/config.json",
			header:      "Bearer abc.def.ghi",
			wantMessage: "The bearer token was rejected.",
			wantReason:  "The bearer token was rejected.",
			wantModel:   "open-lab/tiny-open",
			wantObject:  "config.json",
		},
		{
			// The path is split as sent and each part decoded, as the
			// router would have.
			name:        "EncodedPath",
			path:        "/open-lab/tiny-open/resolve/main/dir%20one/config%2Ejson",
			header:      "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
			wantMessage: "This gateway trusts no token issuer.",
			wantReason:  identity.ReasonUnknownIssuer + ": This gateway trusts no token issuer.",
			wantModel:   "open-lab/tiny-open",
			wantObject:  "dir one/config.json",
		},
		{
			// An org named "api" would shadow the Hub API's own paths, so
			// such a path names no model even though it is shaped like a
			// download.
			name:        "APIPathNamesNoModel",
			path:        "/api/tiny-open/resolve/main/config.json",
			header:      "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
			wantMessage: "This gateway trusts no token issuer.",
			wantReason:  identity.ReasonUnknownIssuer + ": This gateway trusts no token issuer.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := MustOpenGateway(t, gateway.Options{Auth: tt.auth})
			// The path goes out as written, its escapes undecoded.
			req, err := http.NewRequest(http.MethodGet, h.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = tt.path
			req.Header.Set("Authorization", tt.header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
				t.Fatalf("status = %d, want %d; body %s", got, want, body)
			}
			e := gatewaytest.DecodeError(t, body)
			if got, want := e.Code, gateway.CodeInvalidToken; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if got, want := e.Error, tt.wantMessage; got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
			decisions, transfers := h.RecordsFor(t, e.RequestID)
			if len(decisions) != 1 || len(transfers) != 0 {
				t.Fatalf("records of %s: %d decisions, %d transfers; want 1 and 0", e.RequestID, len(decisions), len(transfers))
			}
			d := decisions[0]
			if got, want := d.Decision, "deny"; got != want {
				t.Errorf("decision = %q, want %q", got, want)
			}
			if got, want := d.Reason, tt.wantReason; got != want {
				t.Errorf("record reason = %q, want %q", got, want)
			}
			if got, want := d.Model, tt.wantModel; got != want {
				t.Errorf("record model = %q, want %q", got, want)
			}
			if got, want := d.Object, tt.wantObject; got != want {
				t.Errorf("record object = %q, want %q", got, want)
			}
		})
	}
}

// MustOpenStoreWithEmptyFile is the dir backend over a copy of
// open-lab/tiny-open that also holds an empty file, empty.txt.
func MustOpenStoreWithEmptyFile(tb testing.TB) storage.ObjectStore {
	tb.Helper()
	dir := tb.TempDir()
	model := filepath.Join(dir, "open-lab", "tiny-open")
	if err := os.CopyFS(model, os.DirFS(filepath.Join(s3test.StoreDir(tb), "open-lab", "tiny-open"))); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "empty.txt"), nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	st, err := dirstore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// TestUnsatisfiableRange_EmptyFile: no range of an empty file can be
// satisfied; either answer still tells the client the file's size, zero, in
// "Content-Range: bytes */0" (RFC 9110 §15.5.17), so that a probing or
// resuming client learns it has the whole file: the S3 API's 416, and the
// Hub API's 200 with the empty body.
func TestUnsatisfiableRange_EmptyFile(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, MustOpenStoreWithEmptyFile(t), gatewaytest.Options{S3: &gateway.S3Options{}})
	tok, creds := h.Token(t, gatewaytest.Claims("US")), stsCredentials(t, h, gatewaytest.Claims("US"))
	// The Hub API ignores a range on an empty file (RFC 9110 allows it) and
	// answers 200 with the size in Content-Range, which is what the Hub's
	// clients read after their bytes=0-0 probe; the S3 API answers as S3
	// does, 416.
	tests := []struct {
		name       string
		send       func(t *testing.T, rng string) *http.Response
		rangeState int
	}{
		{"Hub", func(t *testing.T, rng string) *http.Response {
			resp, _ := h.Do(t, http.MethodGet, "/open-lab/tiny-open/resolve/main/empty.txt", tok, http.Header{"Range": {rng}})
			return resp
		}, http.StatusOK},
		{"S3", func(t *testing.T, rng string) *http.Response {
			resp, _ := s3Send(t, h, http.MethodGet, "/models/open-lab/tiny-open/empty.txt", http.Header{"Range": {rng}}, signedBy(creds))
			return resp
		}, http.StatusRequestedRangeNotSatisfiable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The control: the file is there and served whole.
			if resp := tt.send(t, ""); resp.StatusCode != http.StatusOK || resp.ContentLength != 0 {
				t.Fatalf("without a range: status %d, length %d; want 200 and an empty file", resp.StatusCode, resp.ContentLength)
			}
			for _, rng := range []string{"bytes=0-", "bytes=0-0", "bytes=-1"} {
				resp := tt.send(t, rng)
				if got, want := resp.StatusCode, tt.rangeState; got != want {
					t.Fatalf("%s: status = %d, want %d", rng, got, want)
				}
				if got, want := resp.Header.Get("Content-Range"), "bytes */0"; got != want {
					t.Errorf("%s: Content-Range = %q, want %q", rng, got, want)
				}
			}
		})
	}
}

// TestTransferRecord_Duration: a transfer record's duration is in
// milliseconds, so it is never longer than the client saw the request take.
func TestTransferRecord_Duration(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	start := time.Now()
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", h.Token(t, gatewaytest.Claims("US")), nil)
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("status %d, %d bytes; want 200 with the file", resp.StatusCode, len(body))
	}
	tr := h.TransferFor(t, resp.Header.Get("X-Request-Id"))
	// The transfer began after start and was timed before its record was
	// written, so no duration it records can exceed this one.
	wallMS := float64(time.Since(start).Microseconds()) / 1000
	if tr.Outcome != audit.OutcomeComplete || tr.DurationMS <= 0 || tr.DurationMS > wallMS {
		t.Errorf("transfer %s in %g ms; want complete in more than 0 and at most the %g ms since the request was sent", tr.Outcome, tr.DurationMS, wallMS)
	}
}

// logWatcher is a slog.Handler that reports, once, a record of the given
// level and message on Seen.
type logWatcher struct {
	level slog.Level
	msg   string
	once  sync.Once
	Seen  chan struct{}
}

func newLogWatcher(level slog.Level, msg string) *logWatcher {
	return &logWatcher{level: level, msg: msg, Seen: make(chan struct{})}
}

func (l *logWatcher) Enabled(context.Context, slog.Level) bool { return true }

func (l *logWatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Level == l.level && r.Message == l.msg {
		l.once.Do(func() { close(l.Seen) })
	}
	return nil
}

func (l *logWatcher) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logWatcher) WithGroup(string) slog.Handler      { return l }

// transferRefusingAudit records decisions in the trail and refuses transfer
// records.
type transferRefusingAudit struct{ *audit.Log }

func (a transferRefusingAudit) Record(ctx context.Context, rec *audit.Record) error {
	if rec.Type == audit.RecordTransfer {
		return errors.New("no space left on device")
	}
	return a.Log.Record(ctx, rec)
}

// TestTransferRecordLost_Logged: the bytes are already out when the
// transfer record fails to be written, so the client cannot be told; the
// operator must be, at Error level.
func TestTransferRecordLost_Logged(t *testing.T) {
	t.Parallel()
	watch := newLogWatcher(slog.LevelError, "audit: transfer record lost")
	dir := filepath.Join(t.TempDir(), "audit")
	h := MustOpenGateway(t, gateway.Options{
		Audit:  transferRefusingAudit{gatewaytest.OpenTrail(t, dir)},
		Logger: slog.New(watch),
	})
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"config.json", "", nil)
	if got, want := string(body), string(gatewaytest.StoreFile(t, gatewaytest.Open+"config.json")); resp.StatusCode != http.StatusOK || got != want {
		t.Fatalf("status %d, body %q; want 200 with the file", resp.StatusCode, body)
	}
	select {
	case <-watch.Seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no error logged after 10s for the transfer record that could not be written")
	}
}

// kernelStore is an ObjectStore whose bodies hand the kernel copy the
// source Src opens instead of the object's own.
type kernelStore struct {
	storage.ObjectStore
	Src func() io.ReadCloser
}

func (s *kernelStore) Open(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	body, err := s.ObjectStore.Open(ctx, key, etag, offset, length)
	if err != nil {
		return nil, err
	}
	return &kernelBody{ReadCloser: body, src: s.Src()}, nil
}

type kernelBody struct {
	io.ReadCloser
	src io.ReadCloser
}

var _ storage.KernelBody = (*kernelBody)(nil)

func (b *kernelBody) KernelSource() ([]byte, io.Reader) { return nil, b.src }

func (b *kernelBody) Close() error { return errors.Join(b.ReadCloser.Close(), b.src.Close()) }

// getCut sends an anonymous GET that may be cut off before or after its
// status line, reads what comes, and returns the transfer record of the
// harness's one download (waiting, bounded, for it to be written).
func getCut(tb testing.TB, h *gatewaytest.Harness, path string) audit.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var transfers []audit.Record
		for _, r := range h.Records(tb) {
			if r.Type == audit.RecordTransfer {
				transfers = append(transfers, r)
			}
		}
		if len(transfers) > 1 {
			tb.Fatalf("%d transfer records, want 1", len(transfers))
		}
		if len(transfers) == 1 {
			return transfers[0]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no transfer record for GET %s after 10s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKernelCopy_StorageFails: when the kernel copies from storage, a read
// error is storage's failure (outcome error, with its cause), not the
// client's; and storage that stops sending is cut off after the write idle
// timeout, as a stalled client is, rather than holding the transfer open.
func TestKernelCopy_StorageFails(t *testing.T) {
	t.Parallel()
	t.Run("ReadError", func(t *testing.T) {
		t.Parallel()
		// Reading a directory fails (EISDIR) as a failing disk would.
		dir := t.TempDir()
		h := MustOpenGateway(t, gateway.Options{Store: &kernelStore{ObjectStore: gatewaytest.DirStore(t), Src: func() io.ReadCloser {
			f, err := os.Open(dir)
			if err != nil {
				t.Error(err)
			}
			return f
		}}})
		tr := getCut(t, h, gatewaytest.Open+"config.json")
		if tr.Outcome != audit.OutcomeError || tr.Bytes != 0 || !strings.Contains(tr.Error, "directory") {
			t.Errorf("transfer = %s, %d bytes, error %q; want error, 0 bytes, the read's cause", tr.Outcome, tr.Bytes, tr.Error)
		}
	})
	t.Run("Stall", func(t *testing.T) {
		t.Parallel()
		// A pipe that is never written to is storage that has stopped
		// sending; its writer is closed at the end, before the server.
		var writers []*os.File
		var mu sync.Mutex
		h := MustOpenGateway(t, gateway.Options{WriteIdleTimeout: 200 * time.Millisecond, Store: &kernelStore{ObjectStore: gatewaytest.DirStore(t), Src: func() io.ReadCloser {
			r, w, err := os.Pipe()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			writers = append(writers, w)
			mu.Unlock()
			return r
		}}})
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, w := range writers {
				w.Close()
			}
		})
		tr := getCut(t, h, gatewaytest.Open+"config.json")
		if tr.Outcome == audit.OutcomeComplete || tr.Bytes != 0 {
			t.Errorf("transfer = %s, %d bytes; want cut off with 0 bytes", tr.Outcome, tr.Bytes)
		}
	})
}

// TestRangeAcrossChunks: a range longer than one copy chunk that ends
// before the end of the file gets exactly its bytes, however the kernel
// copy splits it, and the transfer is complete.
func TestRangeAcrossChunks(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	full := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
	// Two chunks of 256 KiB and part of a third, well short of the end.
	const end = 600_000
	if len(full) <= end+1 {
		t.Fatalf("the shard is %d bytes; the range must end before the file does", len(full))
	}
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, h.Token(t, gatewaytest.Claims("US")), http.Header{"Range": {"bytes=0-" + strconv.Itoa(end)}})
	if got, want := resp.StatusCode, http.StatusPartialContent; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if !bytes.Equal(body, full[:end+1]) {
		t.Errorf("body: %d bytes, not the file's first %d", len(body), end+1)
	}
	if tr := h.TransferFor(t, resp.Header.Get("X-Request-Id")); tr.Outcome != audit.OutcomeComplete || tr.Bytes != end+1 {
		t.Errorf("transfer = %s, %d bytes; want complete, %d", tr.Outcome, tr.Bytes, end+1)
	}
}

// TestFilePath_ControlCharacters: a control character in a file path is
// refused as an invalid path, while a space, the first printable character,
// is a legitimate part of a file name (the file is then simply not there).
func TestFilePath_ControlCharacters(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	tests := []struct {
		name       string
		file       string // escaped
		wantStatus int
		wantCode   string
	}{
		{"Space", "my%20notes.txt", http.StatusNotFound, gateway.CodeEntryNotFound},
		{"UnitSeparator", "my%1Fnotes.txt", http.StatusBadRequest, gateway.CodeInvalidPath},
		{"Delete", "my%7Fnotes.txt", http.StatusBadRequest, gateway.CodeInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+tt.file, h.Token(t, gatewaytest.Claims("US")), nil)
			if got, want := resp.StatusCode, tt.wantStatus; got != want {
				t.Errorf("status = %d, want %d: %s", got, want, body)
			}
			if got, want := gatewaytest.DecodeError(t, body).Code, tt.wantCode; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
		})
	}
}

// TestContentType: a file that is not weights is sent with the media type
// of its extension; weights are always opaque bytes.
func TestContentType(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	tests := []struct {
		file string
		want string
	}{
		{"config.json", "application/json"},
		{"model.safetensors", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			resp, _ := h.Do(t, http.MethodHead, gatewaytest.Open+tt.file, h.Token(t, gatewaytest.Claims("US")), nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if got, want := resp.Header.Get("Content-Type"), tt.want; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
		})
	}
}
