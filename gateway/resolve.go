package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway/httpsem"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// A download that passed every check: what to send.
type transfer struct {
	model *catalog.Model
	key   string             // storage key
	info  storage.ObjectInfo // the stat; info.ETag is the storage ETag, sent to storage only (If-Match)
	// etag is the ETag clients see, unquoted: the content's sha256 for a
	// weights file (linked is then true, and it goes out as X-Linked-Etag
	// too), the storage ETag for any other file.
	etag   string
	linked bool
	// commit is the model's commit id, set once the requester may learn it:
	// the policy allowed the request and the revision matched.
	commit string
	rng    httpsem.Range
	status int // 200, 206 or 304
	// emptyProbe: a range asked of an empty file, answered with the whole
	// (empty) file and its size in Content-Range (see target.emptyWhole).
	emptyProbe bool
}

// handleResolve serves GET/HEAD /{org}/{name}/resolve/{rev}/{path...}, the
// Hub's file download. Every request gets exactly one decision record, written
// before the status line; a GET that streams gets a transfer record too.
func (s *Server) handleResolve(w http.ResponseWriter, r *http.Request) {
	s.downloads.Add(1)
	defer s.downloads.Done()
	rec := s.newRecord(r)
	t, refusal := s.resolve(r, rec, target{id: r.PathValue("org") + "/" + r.PathValue("name"), rev: r.PathValue("rev"), file: r.PathValue("path"), emptyWhole: true})
	if refusal != nil {
		s.conclude(w, r, rec, refused(refusal), hubAPI{s}, func() {
			if refusal.Status == http.StatusRequestedRangeNotSatisfiable && t.info.Size >= 0 {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", t.info.Size))
			}
			if t.commit != "" {
				// huggingface_hub caches "no such file at this commit"
				// from a 404 EntryNotFound that names the commit.
				w.Header().Set("X-Repo-Commit", t.commit)
			}
			writeError(w, r, s.logger, refusal)
		})
		return
	}
	s.conclude(w, r, rec, allowed(t.status, rec.Policy.Code, rec.Policy.Reason), hubAPI{s}, func() { s.stream(w, r, t, rec) })
}

// target is what a download asks for: a model, its revision and a file.
type target struct {
	id, rev, file string
	// storageETag makes the storage's ETag the one clients see and
	// condition on, for the S3 API: S3 tools compare it with their own
	// listings (and rclone with the MD5 it computes), and never ask for a
	// sha256, so a weights file is not hashed for them.
	storageETag bool
	// emptyWhole answers a range on an empty file with the whole file (200,
	// as RFC 9110 lets a server ignore Range) rather than 416, for the Hub
	// API: @huggingface/hub probes every file with "Range: bytes=0-0" and
	// throws on anything but a 2xx carrying the size in Content-Range. The
	// S3 API keeps S3's 416 InvalidRange, which S3 tools expect.
	emptyWhole bool
}

// resolve runs every check of a download in order and fills rec with what it
// learns. It returns the transfer to make or the refusal to send.
func (s *Server) resolve(r *http.Request, rec *audit.Record, tg target) (transfer, *Error) {
	ctx := r.Context()
	sc := scopeFrom(ctx)
	id, rev, file := tg.id, tg.rev, tg.file
	t := transfer{info: storage.ObjectInfo{Size: -1}}
	// The policy input, filled in as the request is examined; the decision
	// record carries it whatever step ends the request.
	now := s.opts.Now()
	input := catalog.NewInput(sc.Subject, id, file, s.policyRequest(r, rec.API, now))
	in := &input
	in.Subject.Screening = Screen(s.opts.Screener, sc.Subject, now)
	rec.Input = in
	rec.Screening, rec.ClientIP, rec.IPCountry = in.Subject.Screening.Status, in.Request.ClientIP, in.Request.IPCountry
	if err := checkFilePath(file); err != nil {
		return t, err
	}

	m, err := s.opts.Catalog.Model(ctx, id)
	if errors.Is(err, catalog.ErrModelNotFound) {
		return t, repoNotFound(sc.Subject.Anonymous, id)
	}
	if err != nil {
		return t, s.storageUnavailable("list", err)
	}
	t.model = m
	rec.ModelError = m.ParseError
	if err := s.opts.Catalog.Describe(ctx, in, m); err != nil {
		return t, s.storageUnavailable("list", err)
	}

	// Stat before deciding: the policy sees the object's real size, and
	// nothing is written before storage has answered. A missing file is still
	// decided first, so that a refused requester cannot probe which files a
	// model has.
	t.key = id + "/" + file
	info, err := s.opts.Catalog.Stat(ctx, t.key)
	exists := err == nil
	if err != nil && !errors.Is(err, storage.ErrObjectNotFound) {
		return t, s.storageUnavailable("stat", err)
	}
	if exists {
		t.info = info
		in.Object.Size = info.Size
	}

	if s.opts.Releases != nil {
		in.LicenceReleases = s.opts.Releases.Counts()
	}
	d, refusal := s.decide(ctx, rec, in, m, sc.Subject.Anonymous, id)
	if refusal != nil {
		return t, refusal
	}

	if !revisionMatches(rev, m.Revision) {
		return t, &Error{Status: http.StatusNotFound, Code: CodeRevisionNotFound, HubCode: HubRevisionNotFound,
			Message: fmt.Sprintf("Revision %q not found for %s; use main or %s.", rev, id, m.Revision)}
	}
	t.commit = m.Revision
	if !exists {
		return t, &Error{Status: http.StatusNotFound, Code: CodeEntryNotFound, HubCode: HubEntryNotFound,
			Message: fmt.Sprintf("%s has no file %q at revision %s.", id, file, m.Revision)}
	}
	if err := s.anchorRefuses(ctx); err != nil {
		return t, err
	}

	// The ETag clients see. For weights it is the content's sha256, as the
	// Hub's clients expect (huggingface_hub's local_dir check, blob names);
	// finding it may mean reading the whole file once, and only now, after
	// the policy allowed this requester the file. The storage ETag stays
	// in t.info for the If-Match of the read.
	t.etag = info.ETag
	if in.Object.Kind == policy.KindWeights && !tg.storageETag {
		sum := s.opts.Catalog.KnownSHA256(m, file, info)
		if sum == "" {
			// Hashing is this request's first read of the file: none while
			// its decision could not be recorded.
			if err := s.opts.Audit.Healthy(ctx); err != nil {
				return t, auditUnavailable(err)
			}
			if sum, err = s.opts.Catalog.SHA256(ctx, m, file, info); err != nil {
				if ctx.Err() != nil {
					// The client gave up waiting (huggingface_hub's HEAD
					// timeout is 10 s); the computation goes on for the
					// next request, and storage has not failed.
					return t, &Error{Status: http.StatusServiceUnavailable, Code: CodeStorageUnavailable,
						Message: "The file's sha256 is still being computed; retry.", Err: err}
				}
				if errors.Is(err, storage.ErrObjectChanged) {
					s.opts.Catalog.ForgetStat(t.key)
				}
				return t, s.storageUnavailable("hash", err)
			}
		}
		t.etag, t.linked = sum, true
	}

	// Conditional requests, in RFC 9110 §13.2.2's order, on the ETag this
	// API shows (one implementation for the Hub and S3 APIs).
	t.rng, t.status = httpsem.Range{Start: 0, Length: info.Size}, http.StatusOK
	switch httpsem.CheckConditions(r, t.etag, info.ModTime) {
	case http.StatusPreconditionFailed:
		return t, &Error{Status: http.StatusPreconditionFailed, Code: CodePreconditionFailed,
			Message: fmt.Sprintf("%s at revision %s does not meet the request's conditions (If-Match, If-Unmodified-Since); its ETag is %q.", file, m.Revision, t.etag)}
	case http.StatusNotModified:
		t.status = http.StatusNotModified
		return t, nil
	}
	rangeHeader := r.Header.Get("Range")
	if v := r.Header.Get("If-Range"); v != "" && !ifRangeMatches(v, t.etag, info.ModTime) {
		// The client's partial copy is of another version: send it all.
		rangeHeader = ""
	}
	if tg.emptyWhole && info.Size == 0 && rangeHeader != "" {
		rangeHeader, t.emptyProbe = "", true
	}
	rng, partial, rerr := parseRange(rangeHeader, info.Size)
	if rerr != nil {
		return t, rerr.(*Error)
	}
	if partial {
		t.rng, t.status = rng, http.StatusPartialContent
	}
	// A release is a GET that sends bytes of a weights file: a HEAD or a
	// 304 sends none. A range counts as a whole release, since ranges can
	// add up to the file.
	if r.Method == http.MethodGet && len(d.Releases) > 0 {
		if e := s.reserve(ctx, rec, in, m, sc.Subject.Anonymous, id, d); e != nil {
			return t, e
		}
	}
	return t, nil
}

// decide asks the policy about in and records its decision in rec; it
// returns the refusal to send when the policy denies or fails.
func (s *Server) decide(ctx context.Context, rec *audit.Record, in *policy.Input, m *catalog.Model, anonymous bool, id string) (policy.Decision, *Error) {
	start := time.Now()
	d, perr := s.opts.Policy.Decide(ctx, *in)
	s.metrics.policyEvaluated(time.Since(start))
	if perr != nil || d.Code == policy.CodePolicyError || d.Code == "" {
		// Whatever else the decision says, a failed or malformed evaluation
		// is a denial.
		s.logger.Error("policy evaluation failed", "request_id", RequestID(ctx), "model", id, "err", perr, "code", d.Code)
		d.Allow, d.Code = false, policy.CodePolicyError
		d.Reason = "The export policy could not be evaluated; access is denied."
		d.Releases = nil
	}
	rec.Policy = &d
	if d.Code == policy.CodePolicyError {
		return d, &Error{Status: http.StatusInternalServerError, Code: policy.CodePolicyError, Message: d.Reason, Err: perr}
	}
	if !d.Allow {
		if hides(m, d) || d.Code == CodeAuthenticationRequired {
			// Same answer as for a model that does not exist: the
			// requester does not learn that this model exists.
			return d, hiddenModel(anonymous, id, in, d)
		}
		return d, &Error{Status: http.StatusForbidden, Code: d.Code, Message: d.Reason, HubCode: HubGatedRepo, Policy: &d}
	}
	return d, nil
}

// maxReserveAttempts bounds how often one request asks the policy again
// after a licence it relied on was used up by another request meanwhile.
const maxReserveAttempts = 4

// reserve counts, durably, one release under each capped licence d relies
// on, before a byte is sent. Should one have been used up meanwhile (two
// requests for a licence's last release: only one reservation succeeds), the
// policy is asked again with the new counts, and may rely on another
// licence or refuse (license_exhausted): whether a licence is exhausted is
// the policy's call, never the gateway's. A release that cannot be counted
// is not made.
func (s *Server) reserve(ctx context.Context, rec *audit.Record, in *policy.Input, m *catalog.Model, anonymous bool, id string, d policy.Decision) *Error {
	for attempt := 1; len(d.Releases) > 0; attempt++ {
		if s.opts.Releases == nil {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeLicenceCountUnavailable,
				Message: "This file is released under a licence that caps its releases, and this gateway keeps no count of them (policy.licence_counts); nothing is served.",
				Err:     errors.New("no licence release counter configured")}
		}
		err := s.opts.Releases.Reserve(d.Releases)
		if err == nil {
			return nil
		}
		if !errors.Is(err, licence.ErrExhausted) || attempt >= maxReserveAttempts {
			s.logger.Error("licence release not counted", "request_id", RequestID(ctx), "model", id, "err", err)
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeLicenceCountUnavailable,
				Message: "The licence's release count could not be recorded, so nothing is served; try again later.", Err: err, RetryAfter: 1}
		}
		in.LicenceReleases = s.opts.Releases.Counts()
		var refusal *Error
		if d, refusal = s.decide(ctx, rec, in, m, anonymous, id); refusal != nil {
			return refusal
		}
	}
	return nil
}

// ifRangeMatches reports whether an If-Range value still describes the
// object: a strong ETag equal to etag, or its exact Last-Modified date.
func ifRangeMatches(v, etag string, mod time.Time) bool {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, `"`) {
		return v == strconv.Quote(etag)
	}
	if strings.HasPrefix(v, "W/") {
		return false
	}
	t, err := http.ParseTime(v)
	return err == nil && !mod.IsZero() && t.Equal(mod.UTC().Truncate(time.Second))
}

// stream sends the transfer. Headers come from the stat; the storage read is
// opened (and so has answered) before the status line; after the first byte
// an error aborts the connection, so a client never takes a short body for a
// whole one.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, t transfer, rec *audit.Record) {
	h := w.Header()
	h.Set("Content-Type", contentType(t.key, rec.Input.Object.Kind))
	// The same ETag on HEAD, GET and every range of one version; never the
	// storage ETag of a weights file. No Xet header, ever: a client that
	// saw one would fetch from a Xet store, around this gateway.
	h.Set("ETag", strconv.Quote(t.etag))
	if t.linked {
		// Where the Hub's clients look first for an LFS file's sha256
		// and size (huggingface_hub, @huggingface/hub).
		h.Set("X-Linked-Etag", strconv.Quote(t.etag))
		h.Set("X-Linked-Size", strconv.FormatInt(t.info.Size, 10))
	}
	h.Set("X-Repo-Commit", t.commit)
	h.Set("Accept-Ranges", "bytes")
	if !t.info.ModTime.IsZero() {
		h.Set("Last-Modified", t.info.ModTime.UTC().Format(http.TimeFormat))
	}
	if t.status == http.StatusNotModified {
		w.WriteHeader(t.status)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(t.rng.Length, 10))
	if t.status == http.StatusPartialContent {
		h.Set("Content-Range", t.rng.ContentRange(t.info.Size))
	} else if t.emptyProbe {
		// Meaningless to HTTP on a 200 (RFC 9110 14.4), but it is where
		// @huggingface/hub reads a file's size after its range probe.
		h.Set("Content-Range", "bytes */0")
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(t.status)
		return
	}

	start := time.Now()
	// The transfer carries its request's decision and code, so that queries
	// filtering on them see the bytes too.
	done := &audit.Record{Type: audit.RecordTransfer, RequestID: rec.RequestID, API: rec.API,
		Decision: rec.Decision, Code: rec.Code,
		Subject: rec.Subject, Anonymous: rec.Anonymous, Entity: rec.Entity, EntityID: rec.EntityID, Country: rec.Country,
		Model: rec.Model, Object: rec.Object, Expected: t.rng.Length}
	finish := func(n int64, outcome string, err error) {
		done.Time, done.Bytes, done.Outcome = s.opts.Now().UTC(), n, outcome
		done.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			done.Error = err.Error()
		}
		s.metrics.transferred(rec.Model, outcome, n)
		// The bytes are out: waiting here for the record to be durable
		// would only hold up the next request on this kept-alive
		// connection (net/http reads it once the handler returns) by an
		// fsync. The record goes into the trail's next group commit
		// instead, written even if the client hung up, and Close waits
		// for it (downloads).
		ctx := context.WithoutCancel(r.Context())
		s.downloads.Add(1)
		go func() {
			defer s.downloads.Done()
			if aerr := s.record(ctx, done); aerr != nil {
				s.logger.Error("audit: transfer record lost", "request_id", rec.RequestID, "err", aerr)
			}
		}()
	}

	body, err := s.opts.Store.Open(r.Context(), t.key, t.info.ETag, t.rng.Start, t.rng.Length)
	if err != nil {
		finish(0, audit.OutcomeError, err)
		var e *Error
		if errors.Is(err, storage.ErrObjectChanged) {
			s.opts.Catalog.ForgetStat(t.key)
			e = &Error{Status: http.StatusServiceUnavailable, Code: CodeStorageUnavailable,
				Message: "The file changed while it was being served; retry.", Err: err}
		} else {
			e = s.storageUnavailable("read", err)
		}
		e.RetryAfter = 1
		writeError(w, r, s.logger, e)
		return
	}
	defer body.Close()
	w.WriteHeader(t.status)
	n, readErr, err := s.copyBody(w, r, body, t.rng.Length)
	switch {
	case readErr != nil:
		finish(n, audit.OutcomeError, readErr)
	case err != nil:
		finish(n, audit.OutcomeAborted, err)
	case n != t.rng.Length:
		finish(n, audit.OutcomeError, fmt.Errorf("storage returned %d of %d bytes", n, t.rng.Length))
	default:
		finish(n, audit.OutcomeComplete, nil)
		return
	}
	s.logger.Warn("transfer aborted", "request_id", rec.RequestID, "model", rec.Model, "object", rec.Object,
		"bytes", n, "expected", t.rng.Length, "outcome", done.Outcome, "err", done.Error)
	// net/http closes the connection without completing the response.
	panic(http.ErrAbortHandler)
}

// copyBody sends length bytes of body to the client and returns how many it
// sent, and the error of the storage (readErr) or of the client (err) that
// stopped it short. A KernelBody goes by sendfile(2) or splice(2), anything
// else through a pooled buffer. Either way each chunk of at most copyBufSize
// bytes gets its own write deadline (WriteIdleTimeout), so that a client
// that stops reading is cut off and a slow one never is.
func (s *Server) copyBody(w http.ResponseWriter, r *http.Request, body io.Reader, length int64) (n int64, readErr, err error) {
	rc := http.NewResponseController(w)
	if kb, ok := body.(storage.KernelBody); ok {
		if rf, ok := w.(io.ReaderFrom); ok {
			head, src := kb.KernelSource()
			n, err = s.kernelCopy(w, rf, rc, head, src, length)
			if err != nil && !clientGone(r, err) {
				// The kernel's copy cannot tell which side failed; an
				// error that is not the client's is the storage's.
				return n, err, nil
			}
			return n, nil, err
		}
	}
	src := &readErrTracker{r: body}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	// net/http clears the write deadline after the request, so a kept-alive
	// connection does not carry it over.
	dst := &idleDeadlineWriter{w: w, rc: rc, idle: s.opts.WriteIdleTimeout}
	n, err = io.CopyBuffer(dst, src, *buf)
	return n, src.err, err
}

// kernelCopy sends head, then the rest of n bytes from src (an *os.File or a
// *net.TCPConn) through w's ReadFrom, which net/http turns into sendfile(2)
// or splice(2) on a plain TCP connection, chunk by chunk: each chunk gets a
// fresh write deadline, and a source that can have one (a storage
// connection) a fresh read deadline, so a stalled client or a stalled
// storage ends the transfer. It stops early, without an error, if src ends
// first.
func (s *Server) kernelCopy(w io.Writer, rf io.ReaderFrom, rc *http.ResponseController, head []byte, src io.Reader, n int64) (int64, error) {
	idle := s.opts.WriteIdleTimeout
	srcDeadline, _ := src.(interface{ SetReadDeadline(time.Time) error })
	var sent int64
	if len(head) > 0 {
		m, err := (&idleDeadlineWriter{w: w, rc: rc, idle: idle}).Write(head)
		if sent += int64(m); err != nil {
			return sent, err
		}
	}
	for sent < n {
		if err := rc.SetWriteDeadline(time.Now().Add(idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return sent, err
		}
		if srcDeadline != nil {
			// Regular files have no deadlines; the error says so.
			_ = srcDeadline.SetReadDeadline(time.Now().Add(idle))
		}
		m, err := rf.ReadFrom(&io.LimitedReader{R: src, N: min(copyBufSize, n-sent)})
		sent += m
		if err != nil || m == 0 {
			return sent, err
		}
	}
	return sent, nil
}

// clientGone reports whether err, from a write to the client, is the
// client's doing: it hung up, reset the connection or stopped reading.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// copyBufSize is the size of the pooled copy buffers, and of the chunks a
// file is sent in.
const copyBufSize = 256 << 10

// copyBufs are the buffers streams are copied through: 256 KiB, so that a
// large file moves in few syscalls, and pooled, so that memory stays flat
// whatever the number of transfers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// idleDeadlineWriter gives every write to the client its own deadline, so
// that a client that stops reading cannot pin a transfer (its goroutine,
// buffer and storage connection) forever, while a slow but moving download
// of any size is never cut. Being a plain Writer, it also hides the
// ResponseWriter's ReadFrom, which would copy through net/http's own 32 KiB
// buffer instead of ours.
type idleDeadlineWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	idle time.Duration
}

func (d *idleDeadlineWriter) Write(p []byte) (int, error) {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return d.w.Write(p)
}

// readErrTracker remembers a read error so that a storage failure can be told
// apart from a client that went away.
type readErrTracker struct {
	r   io.Reader
	err error
}

func (t *readErrTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// revisionMatches accepts the model's one branch, main (also as
// refs/heads/main), HEAD (what @huggingface/hub's modelInfo sends by
// default), and the model's own commit id. Clients percent-encode a
// revision into one path segment (refs%2Fheads%2Fmain); the router has
// decoded it.
func revisionMatches(rev, commit string) bool {
	switch rev {
	case "main", "refs/heads/main", "HEAD", commit:
		return true
	}
	return false
}

// checkFilePath refuses, as a bad request, a file path catalog.CheckFilePath
// refuses.
func checkFilePath(p string) *Error {
	if err := catalog.CheckFilePath(p); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidPath, Message: err.Error()}
	}
	return nil
}

// contentType is the Content-Type of key, whose kind (as the policy saw it,
// by its path in the model) is kind.
func contentType(key, kind string) string {
	if ct := mime.TypeByExtension(path.Ext(key)); ct != "" && kind == policy.KindOther {
		return ct
	}
	return "application/octet-stream"
}

// repoNotFound is the answer for a missing model, and for an anonymous caller
// the answer for any model it may not see: the same bytes either way.
func repoNotFound(anonymous bool, id string) *Error {
	if anonymous {
		return &Error{Status: http.StatusUnauthorized, Code: CodeAuthenticationRequired, HubCode: HubRepoNotFound,
			Message: fmt.Sprintf("Repository %s not found, or it requires authentication.", id)}
	}
	return &Error{Status: http.StatusNotFound, Code: CodeRepoNotFound, HubCode: HubRepoNotFound,
		Message: fmt.Sprintf("Repository %s not found.", id)}
}

// storageUnavailable is the answer when storage fails; op (list, stat,
// read) labels the storage error metric.
func (s *Server) storageUnavailable(op string, err error) *Error {
	s.metrics.storageError(op)
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeStorageUnavailable,
		Message: "Model storage is unavailable; try again later.", Err: err}
}

// anchorRefuses is the answer to an allowed download while a required audit
// anchor is not taking the trail's checkpoints: as for a full audit disk, no
// byte leaves without proof of its record kept off the host.
func (s *Server) anchorRefuses(ctx context.Context) *Error {
	a, ok := s.opts.Audit.(AnchoredAuditLog)
	if !ok || !a.AnchorRequired() {
		return nil
	}
	if err := a.AnchorHealthy(ctx); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeAuditAnchorUnavailable,
			Message: "The audit trail cannot be anchored, so nothing is served; try again later.", Err: err}
	}
	return nil
}

func auditUnavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeAuditUnavailable,
		Message: "The audit log cannot be written, so nothing is served; try again later.", Err: err}
}

// newRecord starts the decision record of a request.
func (s *Server) newRecord(r *http.Request) *audit.Record {
	sub := scopeFrom(r.Context()).Subject
	rec := &audit.Record{
		Type: audit.RecordDecision, Time: s.opts.Now().UTC(), RequestID: RequestID(r.Context()),
		API: apiOf(r.URL.Path), Method: r.Method, Path: r.URL.Path, RemoteAddr: r.RemoteAddr,
		Subject: sub.ID, Anonymous: sub.Anonymous, Entity: sub.Entity.Name, EntityID: sub.Entity.ID, Country: sub.Country,
	}
	if org, name := r.PathValue("org"), r.PathValue("name"); org != "" {
		// Routed: the router has split the path, segment by segment, so
		// that an encoded slash in a revision stays in the revision.
		rec.Model = org + "/" + name
		if rec.API == "resolve" || rec.API == "raw" {
			rec.Object = r.PathValue("path")
		}
	} else if model, file, ok := resolveParts(r.URL.EscapedPath()); ok {
		// Refused before routing (a bad token): split the path as sent.
		rec.Model, rec.Object = unescapePath(model), unescapePath(file)
	}
	return rec
}

// unescapePath decodes a path as sent; one that does not decode is kept as
// it is (it names nothing in storage either way).
func unescapePath(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// record writes rec to the audit log and counts the decision.
func (s *Server) record(ctx context.Context, rec *audit.Record) error {
	if err := s.opts.Audit.Record(ctx, rec); err != nil {
		return err
	}
	if rec.Type == audit.RecordDecision {
		s.metrics.decided(rec.Decision, rec.Code)
	}
	return nil
}

func (s *Server) policyRequest(r *http.Request, api string, now time.Time) policy.Request {
	req := policy.Request{Method: r.Method, API: api, Range: r.Header.Get("Range"),
		RemoteAddr: r.RemoteAddr, Time: now.UTC().Format(time.RFC3339)}
	s.opts.Locator.locate(r, &req)
	return req
}
