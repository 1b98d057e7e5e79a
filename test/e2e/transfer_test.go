package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
	"github.com/weightgate/weightgate/storage/dir"
)

// TestRangesAndHead covers single ranges (206 + Content-Range), HEAD, and
// unsatisfiable or malformed ranges (416 + "bytes */size").
func TestRangesAndHead(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		tok := h.Token(t, gatewaytest.Claims("US"))
		path := gatewaytest.Frontier + "model-00002-of-00002.safetensors"
		full := gatewaytest.StoreFile(t, path)
		size := int64(len(full))

		ranges := []struct {
			header     string
			start, end int64 // inclusive
		}{
			{"bytes=0-99", 0, 99},
			{"bytes=1000-", 1000, size - 1},
			{"bytes=-4096", size - 4096, size - 1},
			{"bytes=10-" + strconv.FormatInt(size+500, 10), 10, size - 1},
			{"bytes=" + strconv.FormatInt(size-1, 10) + "-", size - 1, size - 1},
		}
		for _, rg := range ranges {
			t.Run(rg.header, func(t *testing.T) {
				resp, body := h.Do(t, http.MethodGet, path, tok, http.Header{"Range": {rg.header}})
				if got, want := resp.StatusCode, http.StatusPartialContent; got != want {
					t.Fatalf("status = %d, want %d: %s", got, want, body)
				}
				if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end, size); got != want {
					t.Errorf("Content-Range = %q, want %q", got, want)
				}
				if got, want := string(body), string(full[rg.start:rg.end+1]); got != want {
					t.Errorf("body: %d bytes differ from the stored range (%d bytes)", len(got), len(want))
				}
				if tr := h.TransferFor(t, resp.Header.Get("X-Request-Id")); tr.Bytes != rg.end-rg.start+1 || tr.Outcome != audit.OutcomeComplete {
					t.Errorf("transfer = %d bytes %s, want %d complete", tr.Bytes, tr.Outcome, rg.end-rg.start+1)
				}
			})
		}
		for _, bad := range []struct{ header, code string }{
			{"bytes=" + strconv.FormatInt(size, 10) + "-", "range_not_satisfiable"},
			{"bytes=-0", "range_not_satisfiable"},
			{"bytes=5-1", "invalid_range"},
			{"bytes=0-1,5-6", "multiple_ranges"},
			{"bytes=x-y", "invalid_range"},
		} {
			t.Run(bad.header, func(t *testing.T) {
				resp, body := h.Do(t, http.MethodGet, path, tok, http.Header{"Range": {bad.header}})
				if got, want := resp.StatusCode, http.StatusRequestedRangeNotSatisfiable; got != want {
					t.Fatalf("status = %d, want %d", got, want)
				}
				if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes */%d", size); got != want {
					t.Errorf("Content-Range = %q, want %q", got, want)
				}
				if got, want := gatewaytest.DecodeError(t, body).Code, bad.code; got != want {
					t.Errorf("code = %q, want %q", got, want)
				}
			})
		}
		t.Run("ignored unit", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, path, tok, http.Header{"Range": {"items=0-1"}})
			if resp.StatusCode != 200 || len(body) != len(full) {
				t.Errorf("status %d, %d bytes; want 200 with the whole file", resp.StatusCode, len(body))
			}
		})
		t.Run("HEAD", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodHead, path, tok, nil)
			if got, want := resp.StatusCode, 200; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if len(body) != 0 {
				t.Errorf("HEAD returned %d body bytes", len(body))
			}
			for hd, want := range map[string]string{
				"Content-Length": strconv.FormatInt(size, 10),
				"Accept-Ranges":  "bytes",
				"Content-Type":   "application/octet-stream",
			} {
				if got := resp.Header.Get(hd); got != want {
					t.Errorf("%s = %q, want %q", hd, got, want)
				}
			}
			etag := resp.Header.Get("ETag")
			if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Errorf("ETag = %q, want a quoted tag", etag)
			}
			get, _ := h.Do(t, http.MethodGet, path, tok, nil)
			if got := get.Header.Get("ETag"); got != etag {
				t.Errorf("GET ETag %q differs from HEAD ETag %q", got, etag)
			}
			if c := resp.Header.Get("X-Repo-Commit"); !gatewaytest.Hex40.MatchString(c) || c != get.Header.Get("X-Repo-Commit") {
				t.Errorf("X-Repo-Commit = %q, want the same 40 hex on HEAD and GET", c)
			}
			if got := resp.Header.Get("Content-Encoding"); got != "" {
				t.Errorf("Content-Encoding = %q, want none", got)
			}
			decisions, transfers := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(decisions) != 1 || len(transfers) != 0 {
				t.Errorf("HEAD: %d decision and %d transfer records, want 1 and 0", len(decisions), len(transfers))
			}
		})
		t.Run("HEAD denied", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodHead, path, h.Token(t, gatewaytest.Claims("IN")), nil)
			if resp.StatusCode != 403 || len(body) != 0 || resp.Header.Get("X-Error-Code") != "GatedRepo" {
				t.Errorf("status %d, %d bytes, X-Error-Code %q; want 403, empty, GatedRepo", resp.StatusCode, len(body), resp.Header.Get("X-Error-Code"))
			}
		})
		t.Run("commit revision", func(t *testing.T) {
			head, _ := h.Do(t, http.MethodHead, path, tok, nil)
			commit := head.Header.Get("X-Repo-Commit")
			resp, body := h.Do(t, http.MethodGet, "/frontier-lab/frontier-x/resolve/"+commit+"/model-00002-of-00002.safetensors", tok, nil)
			if resp.StatusCode != 200 || len(body) != len(full) {
				t.Errorf("by commit: status %d, %d bytes; want 200 and the file", resp.StatusCode, len(body))
			}
		})
	})
}

// countingStore counts reads of model files (export.yaml, which the catalog
// reads, aside), to prove none was read.
type countingStore struct {
	storage.ObjectStore
	opens atomic.Int64
	stats atomic.Int64
	// failAfter, when > 0, makes every read of a model file fail after that
	// many bytes.
	failAfter atomic.Int64
}

func (c *countingStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	c.stats.Add(1)
	return c.ObjectStore.Stat(ctx, key)
}

func (c *countingStore) Open(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	rc, err := c.ObjectStore.Open(ctx, key, etag, off, n)
	if strings.HasSuffix(key, "/"+catalog.ManifestName) {
		return rc, err
	}
	c.opens.Add(1)
	failAfter := c.failAfter.Load()
	if err != nil || failAfter == 0 {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, failAfter), failingReader{}), rc}, nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestAuditUnavailable: when the decision cannot be recorded, the answer is
// 503 audit_unavailable and storage is never read.
func TestAuditUnavailable(t *testing.T) {
	t.Parallel()
	cs := &countingStore{ObjectStore: gatewaytest.DirStore(t)}
	audit := &gatewaytest.FailingAudit{}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{Audit: audit})
	for _, path := range []string{gatewaytest.Open + "model.safetensors", gatewaytest.Frontier + gatewaytest.Shard1} {
		resp, body := h.Do(t, http.MethodGet, path, h.Token(t, gatewaytest.Claims("US")), nil)
		if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
			t.Fatalf("%s: status = %d, want %d", path, got, want)
		}
		if got, want := gatewaytest.DecodeError(t, body).Code, "audit_unavailable"; got != want {
			t.Errorf("%s: code = %q, want %q", path, got, want)
		}
	}
	if n := cs.opens.Load(); n != 0 {
		t.Errorf("storage was read %d times with the audit log down", n)
	}
	if audit.Calls.Load() == 0 {
		t.Error("the audit log was never asked")
	}
	resp, _ := h.Do(t, http.MethodGet, "/readyz", "", nil)
	if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
		t.Errorf("/readyz = %d, want %d", got, want)
	}
}

// brokenPolicy fails every evaluation the way opa.Engine does.
type brokenPolicy struct{}

func (brokenPolicy) Decide(context.Context, policy.Input) (policy.Decision, error) {
	return policy.Decision{Code: policy.CodePolicyError, Reason: "evaluation failed", Bundle: "b", Revision: "r"}, errors.New("rego: eval_conflict_error")
}
func (brokenPolicy) Bundle() (string, string) { return "b", "r" }

// allowWithError is a malformed answer: allow set, but with an error.
type allowWithError struct{ brokenPolicy }

func (allowWithError) Decide(context.Context, policy.Input) (policy.Decision, error) {
	return policy.Decision{Allow: true, Code: "open_weights"}, errors.New("half-failed")
}

// TestPolicyErrorFailsClosed: a failed evaluation denies, even for open
// models, even when the decision claims allow, and reads no bytes.
func TestPolicyErrorFailsClosed(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]gateway.Decider{"error": brokenPolicy{}, "allow with error": allowWithError{}} {
		t.Run(name, func(t *testing.T) {
			cs := &countingStore{ObjectStore: gatewaytest.DirStore(t)}
			h := gatewaytest.Start(t, cs, gatewaytest.Options{Policy: p})
			resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", "", nil)
			if got, want := resp.StatusCode, http.StatusInternalServerError; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := gatewaytest.DecodeError(t, body).Code, "policy_error"; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if n := cs.opens.Load(); n != 0 {
				t.Errorf("storage read %d times on a policy error", n)
			}
			d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(d) != 1 || d[0].Decision != "deny" || d[0].Code != "policy_error" {
				t.Errorf("audit = %+v, want one deny policy_error", d)
			}
		})
	}
}

// TestStorageFailsMidTransfer: an error after the first byte aborts the
// connection; the client never sees a complete-looking short 200.
func TestStorageFailsMidTransfer(t *testing.T) {
	t.Parallel()
	cs := &countingStore{ObjectStore: gatewaytest.DirStore(t)}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{})
	// A HEAD first, while storage works: the file's sha256 (its ETag) is
	// then known, and the GET below fails in the stream, not while hashing.
	if resp, _ := h.Do(t, http.MethodHead, gatewaytest.Frontier+"model-00002-of-00002.safetensors", h.Token(t, gatewaytest.Claims("US")), nil); resp.StatusCode != 200 {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	cs.failAfter.Store(1000)
	req, _ := http.NewRequest(http.MethodGet, h.URL+gatewaytest.Frontier+"model-00002-of-00002.safetensors", nil)
	req.Header.Set("Authorization", "Bearer "+h.Token(t, gatewaytest.Claims("US")))
	// The 1000 bytes may still sit in the server's write buffer when the
	// connection is cut, so the failure shows either before the headers or
	// while reading the body; never as a clean response.
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil {
			t.Fatalf("status %d, read %d of %d bytes with no error; want the transfer aborted", resp.StatusCode, n, resp.ContentLength)
		}
	}
	// The only transfer of this fresh harness is the failed one: the last
	// decision's.
	var id string
	for _, r := range h.Records(t) {
		if r.Type == audit.RecordDecision {
			id = r.RequestID
		}
	}
	tr := h.TransferFor(t, id)
	if tr.Outcome != audit.OutcomeError || tr.Bytes != 1000 || tr.Error == "" {
		t.Errorf("transfer = %+v, want outcome error after 1000 bytes", tr)
	}
}

// TestRequestIDIsTheGatewaysOwn: a caller cannot choose the id that keys
// the audit trail.
func TestRequestIDIsTheGatewaysOwn(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	var ids []string
	for range 2 {
		resp, _ := h.Do(t, http.MethodGet, gatewaytest.Open+"config.json", "", http.Header{"X-Request-Id": {"chosen-by-caller"}})
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	if ids[0] == "chosen-by-caller" || ids[0] == ids[1] || len(ids[0]) != 32 {
		t.Errorf("request ids %q: want two distinct gateway-generated ids", ids)
	}
}

// TestClientAbort: a client that hangs up mid-file is recorded as aborted.
func TestClientAbort(t *testing.T) {
	t.Parallel()
	// Big enough that the server cannot have written it all into socket
	// buffers by the time the client hangs up.
	st, err := dir.Open(bigModel(t, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := gatewaytest.Start(t, st, gatewaytest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/big-lab/huge/resolve/main/model.safetensors", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	tr := h.TransferFor(t, resp.Header.Get("X-Request-Id"))
	if tr.Outcome != audit.OutcomeAborted || tr.Bytes >= tr.Expected {
		t.Errorf("transfer = %s, %d of %d bytes; want aborted short", tr.Outcome, tr.Bytes, tr.Expected)
	}
}

// TestStorageDown stops a real S3 server mid-test: downloads then answer 503
// with an error body and no file bytes, and /readyz fails.
func TestStorageDown(t *testing.T) {
	t.Parallel()
	cfg, stop := s3test.Start(t, s3test.StoreDir(t), "models/")
	h := gatewaytest.Start(t, gatewaytest.S3Store(t, cfg), gatewaytest.Options{})
	tok := h.Token(t, gatewaytest.Claims("US"))
	path := gatewaytest.Frontier + gatewaytest.Shard1
	if resp, body := h.Do(t, http.MethodGet, path, tok, nil); resp.StatusCode != 200 || len(body) != len(gatewaytest.StoreFile(t, path)) {
		t.Fatalf("before the outage: status %d, %d bytes", resp.StatusCode, len(body))
	}
	stop()
	start := time.Now()
	// The model's metadata is cached, and so is the stat of the file read
	// before the outage: its GET is allowed and fails at the read (the
	// transfer record says so, with no byte sent). The other files were
	// never stat'ed: they are refused before any decision.
	for i, p := range []string{path, gatewaytest.Open + "model.safetensors", "/frontier-lab/mini-x/resolve/main/model.safetensors"} {
		resp, body := h.Do(t, http.MethodGet, p, tok, nil)
		if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
			t.Fatalf("%s: status = %d, want %d (%d bytes)", p, got, want, len(body))
		}
		if got, want := gatewaytest.DecodeError(t, body).Code, "storage_unavailable"; got != want {
			t.Errorf("%s: code = %q, want %q", p, got, want)
		}
		if resp.Header.Get("Content-Range") != "" || resp.Header.Get("ETag") != "" || resp.Header.Get("Retry-After") == "" && i == 0 {
			t.Errorf("%s: a 503 carries file headers, or no Retry-After: %v", p, resp.Header)
		}
		id := resp.Header.Get("X-Request-Id")
		if i == 0 {
			// The transfer record is written after the response.
			if tr := h.TransferFor(t, id); tr.Outcome != audit.OutcomeError || tr.Bytes != 0 {
				t.Errorf("%s: transfer %+v; want an error transfer of 0 bytes", p, tr)
			}
		}
		d, tr := h.RecordsFor(t, id)
		switch {
		case len(d) != 1:
			t.Errorf("%s: %d decision records, want 1", p, len(d))
		case i == 0 && (d[0].Decision != "allow" || len(tr) != 1):
			t.Errorf("%s: audit %+v, transfers %+v; want an allow and one transfer", p, d[0], tr)
		case i > 0 && (d[0].Decision != "deny" || len(tr) != 0):
			t.Errorf("%s: audit %+v, %d transfers; want 1 deny, 0", p, d[0], len(tr))
		}
	}
	t.Logf("three requests against a dead store answered in %v", time.Since(start))
	if resp, _ := h.Do(t, http.MethodGet, "/readyz", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with storage down, want 503", resp.StatusCode)
	}
}

// TestStalledClientIsCutOff: a client that stops reading is cut off after
// the write idle timeout and recorded as aborted, instead of pinning the
// transfer forever; a keep-alive connection does not carry the deadline over
// to its next request (net/http clears it; this guards that).
func TestStalledClientIsCutOff(t *testing.T) {
	st, err := dir.Open(bigModel(t, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := gatewaytest.Start(t, st, gatewaytest.Options{WriteIdleTimeout: 200 * time.Millisecond})

	// Keep-alive: a whole download, a pause longer than the idle timeout,
	// then another download on the same connection.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for i := range 2 {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) { reused = c.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			http.MethodGet, h.URL+"/big-lab/huge/resolve/main/export.yaml", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("download %d: status %d, %d bytes, %v", i, resp.StatusCode, len(b), err)
		}
		if i == 1 && !reused {
			t.Fatal("the second download did not reuse the connection; the test proves nothing")
		}
		time.Sleep(400 * time.Millisecond)
	}

	resp, err := http.Get(h.URL + "/big-lab/huge/resolve/main/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	// Stop reading; the server's writes block once the socket buffers fill.
	tr := h.TransferFor(t, resp.Header.Get("X-Request-Id"))
	if tr.Outcome != audit.OutcomeAborted || tr.Bytes >= tr.Expected {
		t.Errorf("stalled transfer = %s, %d of %d bytes; want aborted short", tr.Outcome, tr.Bytes, tr.Expected)
	}
}

// TestCloseRecordsTransfersInFlight: Close cuts a transfer still running
// after the shutdown timeout, and returns only once its transfer record is
// written, so the audit log can be closed after it without losing it.
func TestCloseRecordsTransfersInFlight(t *testing.T) {
	st, err := dir.Open(bigModel(t, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	auditDir := filepath.Join(t.TempDir(), "audit")
	trail, err := audit.Open(audit.Config{Dir: auditDir})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := opa.New(context.Background(), opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.NewServer(gateway.Options{Addr: "127.0.0.1:0", Store: st, Policy: eng, Audit: trail,
		ShutdownTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL() + "/big-lab/huge/resolve/main/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	// The client stalls; Close must still come back, with the record written.
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}
	h := &gatewaytest.Harness{AuditDir: auditDir}
	_, transfers := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
	if len(transfers) != 1 || transfers[0].Outcome != audit.OutcomeAborted {
		t.Errorf("transfer records = %+v, want one aborted", transfers)
	}
}
