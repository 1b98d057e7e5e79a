// Package gateway is weightgate's HTTP side: it authenticates requesters,
// reads model classifications from storage, asks the policy, and streams the
// bytes the policy allows, recording every decision.
//
// It reaches policy, storage, identity and the audit log through the small
// interfaces declared here; cmd/weightgate wires the concrete types.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// Decider decides one request; *opa.Engine (policy/opa) implements it. Decide always
// returns a usable Decision (a deny with code policy_error when evaluation
// fails, together with the error).
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	Bundle() (name, revision string)
}

// Lister is what a Decider may also implement to answer listings more
// cheaply than a Decision per model: Listed reports whether the requester
// of in may know that in's model exists, d.Allow || d.Visible for the
// Decision d that Decide would return (false for a d whose code is
// policy_error or empty), and fails as Decide fails.
// *opa.Engine implements it.
type Lister interface {
	Listed(ctx context.Context, in policy.Input) (bool, error)
}

// Authenticator turns a bearer token into a verified subject.
// *identity.Verifier implements it.
type Authenticator interface {
	Verify(ctx context.Context, token string) (policy.Subject, error)
}

// Options configure a Server. Store, Policy and Audit are required.
type Options struct {
	Addr string // listen address; ":0" picks a free port
	// CursorKey (CursorKeySize bytes) seals listing cursors (cursor.go);
	// nil: a random key, so that cursors end with the process. A fleet
	// shares one (CursorKeyFrom) so that any gateway resumes any cursor.
	CursorKey []byte
	Store     storage.ObjectStore
	Catalog   *catalog.Catalog // nil: a catalog over Store with default cache settings
	// ScanLimits bound what one listing page reads beyond what it returns
	// (listing.go); zero: catalog.DefaultScanLimits. Tests lower them.
	ScanLimits catalog.ScanLimits
	Policy     Decider
	// Auth verifies bearer tokens. Nil means no issuer is trusted: requests
	// without a token are anonymous, and any token is refused (401).
	Auth   Authenticator
	Audit  AuditLog
	Logger *slog.Logger
	// Now is the clock (tests replace it); nil means time.Now.
	Now func() time.Time
	// WriteIdleTimeout bounds each write of a file to the client: a client
	// that reads nothing for this long is cut off (recorded as aborted).
	// Zero means DefaultWriteIdleTimeout.
	WriteIdleTimeout time.Duration
	// ShutdownTimeout bounds how long Close waits for transfers in flight
	// before cutting them off. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Metrics records the gateway's metrics; nil records none.
	Metrics *Metrics
	// MetricsHandler, when set, serves GET /metrics on the admin listener
	// only (promhttp over the registry Metrics was registered with).
	MetricsHandler http.Handler
	// AdminAddr, when set, is the operator listener's address: /metrics,
	// /healthz and /readyz (see AdminHandler).
	AdminAddr string
	// Screener screens each authenticated requester against
	// restricted-party lists; nil means screening is off.
	Screener Screener
	// Locator places the client address; nil trusts no proxy and knows no
	// country.
	Locator *Locator
	// S3, when set, serves the read-only S3-compatible API on a listener
	// of its own (see s3.go).
	S3 *S3Options
	// RateLimit bounds each requester's request rate, on both APIs
	// together; the zero value sets no limit.
	RateLimit RateLimit
	// MaxBodyBytes and BodyReadTimeout bound every request body on both
	// listeners, in size and in the time it may take to arrive (counted
	// from the request's start). Zero means DefaultMaxBodyBytes,
	// DefaultBodyReadTimeout.
	MaxBodyBytes    int64
	BodyReadTimeout time.Duration
	// Releases counts the releases made under capped licences; nil keeps
	// no count, and then a release the policy makes under a capped licence
	// is refused.
	Releases ReleaseCounter
	// Expiry reports the registry's licences and attestations that expire
	// soon, on the admin listener's /readyz; nil reports none.
	Expiry ExpiryWatch
	// TLS, when set, is served on every listener (Hub API, S3 API, admin):
	// HTTP/1.1 and HTTP/2 over TLS, and URLs say https. Nil serves plain
	// HTTP/1.1. Certificates are its business (tlsconf.Reloader swaps
	// them under it).
	TLS *tls.Config
	// Console, when set, is served at /console/ on the admin listener, and
	// on the Hub API's too with ConsolePublic. It authenticates, records
	// and answers its own requests (package console); the gateway only
	// routes to it. A Console with a Close method has it called when the
	// listeners shut down, to end its long-lived streams; one that is a
	// ConsoleState is reported on the admin listener's /readyz.
	Console       http.Handler
	ConsolePublic bool
}

// ReleaseCounter counts releases under capped licences;
// *licence.Counter implements it.
type ReleaseCounter interface {
	Counts() map[string]int
	// Reserve counts one release under each, all or none, durably; an
	// error wrapping licence.ErrExhausted when one has none left.
	Reserve([]policy.Release) error
}

// ExpiryWatch lists the licences and attestations about to expire;
// *licence.Watch implements it.
type ExpiryWatch interface {
	Expiring() ([]licence.Expiry, error)
}

// ConsoleState is a console that says whether it is ready to answer in full
// (its index may still be reading a long trail): check is "ok" or another
// word, detail goes into the admin /readyz as it is. It never makes the
// gateway unready: downloads do not need the console.
type ConsoleState interface {
	ReadyState() (check string, detail any)
}

// DefaultWriteIdleTimeout is Options.WriteIdleTimeout's default.
const DefaultWriteIdleTimeout = time.Minute

// Server is the gateway's HTTP server.
type Server struct {
	opts    Options
	logger  *slog.Logger
	metrics *Metrics
	cursors *cursorSealer
	srv     *http.Server
	ln      net.Listener
	// s3srv and s3ln are the S3 API's, when Options.S3 is set.
	s3srv *http.Server
	s3ln  net.Listener
	// adminsrv and adminln are the operator listener's, when
	// Options.AdminAddr is set.
	adminsrv *http.Server
	adminln  net.Listener
	// downloads counts handlers in flight and transfer records being
	// written, so that Close returns only once each transfer record is on
	// the trail: the audit log is closed after.
	downloads sync.WaitGroup
	// limiter holds the requesters' token buckets; nil without a RateLimit.
	limiter *limiter
	// addrLimiter holds the client addresses' buckets; nil without a
	// RateLimit.PerAddress.
	addrLimiter *addrLimiter
}

// NewServer checks opts and returns a Server that is not yet listening.
func NewServer(opts Options) (*Server, error) {
	var missing []error
	if opts.Store == nil {
		missing = append(missing, errors.New("gateway: no object store"))
	}
	if opts.Policy == nil {
		missing = append(missing, errors.New("gateway: no policy"))
	}
	if opts.Audit == nil {
		missing = append(missing, errors.New("gateway: no audit log"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WriteIdleTimeout <= 0 {
		opts.WriteIdleTimeout = DefaultWriteIdleTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if opts.Catalog == nil {
		opts.Catalog = catalog.NewCatalog(opts.Store, catalog.DefaultCacheSize, catalog.DefaultCacheTTL, opts.Logger)
	}
	if o := opts.S3; o != nil && (o.Issuer == nil || o.Bucket == "" || o.Region == "") {
		return nil, errors.New("gateway: the S3 API needs a credential issuer, a bucket and a region")
	}
	if o := opts.S3; o != nil && o.BucketCreated.IsZero() {
		c := *o
		c.BucketCreated = opts.Now().UTC().Truncate(time.Second)
		opts.S3 = &c
	}
	if opts.CursorKey == nil {
		opts.CursorKey = make([]byte, CursorKeySize)
		if _, err := rand.Read(opts.CursorKey); err != nil {
			return nil, fmt.Errorf("gateway: cursor key: %w", err)
		}
	}
	cursors, err := newCursorSealer(opts.CursorKey)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, logger: opts.Logger, metrics: opts.Metrics, limiter: newLimiter(opts.RateLimit),
		addrLimiter: newAddrLimiter(opts.RateLimit.PerAddress, maxAddresses), cursors: cursors}
	s.srv = s.httpServer(s.Handler())
	if c, ok := opts.Console.(interface{ Close() }); ok {
		s.srv.RegisterOnShutdown(c.Close)
	}
	if opts.S3 != nil {
		s.s3srv = s.httpServer(s.S3Handler())
	}
	if opts.AdminAddr != "" {
		s.adminsrv = s.httpServer(s.AdminHandler())
		if c, ok := opts.Console.(interface{ Close() }); ok {
			s.adminsrv.RegisterOnShutdown(c.Close)
		}
	}
	return s, nil
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: h,
		// A copy each: net/http's HTTP/2 setup writes to the server's
		// TLSConfig, and the three listeners start at once.
		TLSConfig:         s.opts.TLS.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
		// No WriteTimeout: a multi-gigabyte shard legitimately takes long;
		// streams set a deadline per write instead (WriteIdleTimeout).
	}
}

// Handler returns the gateway's HTTP handler with its middleware chain.
func (s *Server) Handler() http.Handler {
	notFound := func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such endpoint."})
	}
	// The Hub's file URLs, /{org}/{name}/resolve/..., would overlap the API's
	// patterns (an org named "api"), so the API gets a mux of its own.
	api := http.NewServeMux()
	api.HandleFunc("GET /api/models", s.handleCatalog)
	api.HandleFunc("GET /api/models/{org}/{name}", s.handleModelInfo)
	api.HandleFunc("GET /api/models/{org}/{name}/revision/{rev}", s.handleModelInfo)
	api.HandleFunc("GET /api/models/{org}/{name}/tree/{rev}", s.handleTree)
	api.HandleFunc("GET /api/models/{org}/{name}/tree/{rev}/{path...}", s.handleTree)
	api.HandleFunc("POST /api/models/{org}/{name}/paths-info/{rev}", s.handlePathsInfo)
	api.HandleFunc("/api/models/{org}/{name}/xet-read-token/{rev...}", s.handleXet)
	api.HandleFunc("/api/models/{org}/{name}/xet-write-token/{rev...}", s.handleXet)
	api.HandleFunc("GET /api/whoami-v2", s.handleWhoami)
	api.HandleFunc("GET /api/telemetry/{topic...}", s.handleTelemetry)
	api.HandleFunc("/", notFound)

	files := http.NewServeMux()
	files.HandleFunc("GET /healthz", s.handleHealthz)
	files.HandleFunc("GET /readyz", s.handleReadyz)
	// "GET" patterns also match HEAD.
	files.HandleFunc("GET /{org}/{name}/resolve/{rev}/{path...}", s.handleResolve)
	// The Hub's raw URLs serve git blobs; here there are no LFS pointers, so
	// raw is the same download, under the same policy and audit.
	files.HandleFunc("GET /{org}/{name}/raw/{rev}/{path...}", s.handleResolve)
	files.HandleFunc("/", notFound)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ServeMux would redirect an unclean path (//, /./, /../, as sent,
		// not as decoded) to its clean form before any handler, so the
		// request would leave no record. Refuse it here instead, on the
		// record. Encoded slashes stay inside one segment and are judged
		// by the handlers (checkFilePath).
		// A target that is not a path ("GET *") would get ServeMux's bare
		// 400 without a record; answer it here, on the record.
		if p := r.URL.EscapedPath(); p != cleanPath(p) || !strings.HasPrefix(p, "/") {
			s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidPath,
				Message: "The path has an empty, \".\" or \"..\" segment."})
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})

	// Order matters: the request id comes first so that every later log line
	// and error body carries it; the access log wraps authentication so that
	// 401s are logged; the per-address limit comes before authentication, so
	// that bad tokens are limited too; authentication runs before any
	// handler reads storage.
	isOperational := func(r *http.Request) bool { return operational(apiOf(r.URL.Path)) }
	var h http.Handler = mux
	h = s.rateLimited(h, isOperational, s.hubThrottled)
	h = s.authenticate(h)
	h = s.addressLimited(h, isOperational, s.hubAddressThrottled)
	h = s.accessLog(h)
	h = s.boundBody(h)
	if s.opts.Console != nil && s.opts.ConsolePublic {
		// The console authenticates its own requests (an auditor's token or
		// session), records them with its own kind, and is not a download:
		// the Hub chain's authentication, limits and records are not its.
		hub, console := h, s.accessLogAs(s.opts.Console, func(*http.Request) string { return "console" })
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/console/") {
				console.ServeHTTP(w, r)
				return
			}
			hub.ServeHTTP(w, r)
		})
	}
	h = requestScope(h)
	return h
}

// Open starts listening and serving in the background. Listening here, not in
// a goroutine, reports a bad or busy address at once.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.opts.Addr, err)
	}
	if s.s3srv != nil {
		s3ln, err := net.Listen("tcp", s.opts.S3.Addr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("s3: listen %s: %w", s.opts.S3.Addr, err)
		}
		s.s3ln = s3ln
	}
	if s.adminsrv != nil {
		adminln, err := net.Listen("tcp", s.opts.AdminAddr)
		if err != nil {
			ln.Close()
			if s.s3ln != nil {
				s.s3ln.Close()
			}
			return fmt.Errorf("admin: listen %s: %w", s.opts.AdminAddr, err)
		}
		s.adminln = adminln
		go s.serve(s.adminsrv, adminln)
	}
	if s.s3ln != nil {
		go s.serve(s.s3srv, s.s3ln)
	}
	s.ln = ln
	go s.serve(s.srv, ln)
	return nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	var err error
	if s.opts.TLS != nil {
		// The certificate comes from TLSConfig; ServeTLS also turns on
		// HTTP/2, which plain Serve does not offer.
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.logger.Error("server stopped", "addr", ln.Addr().String(), "err", err)
	}
}

// S3URL is the base URL of the S3 API, "" when it is not served.
func (s *Server) S3URL() string {
	if s.s3ln == nil {
		return ""
	}
	return s.scheme() + s.s3ln.Addr().String()
}

// scheme is the URLs' scheme, with its "://".
func (s *Server) scheme() string {
	if s.opts.TLS != nil {
		return "https://"
	}
	return "http://"
}

// URL is the base URL the server listens on, for logs and tests.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return s.scheme() + s.ln.Addr().String()
}

// DefaultShutdownTimeout is Options.ShutdownTimeout's default.
const DefaultShutdownTimeout = 30 * time.Second

// Close stops accepting requests and waits up to opts.ShutdownTimeout for those in
// flight; then it cuts the connections of any still running and waits for
// their handlers to record how the transfer ended.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	servers := []*http.Server{s.srv}
	if s.s3srv != nil {
		servers = append(servers, s.s3srv)
	}
	if s.adminsrv != nil {
		servers = append(servers, s.adminsrv)
	}
	// The listeners stop accepting at once; their transfers share the
	// one timeout.
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() {
			err := srv.Shutdown(ctx)
			if errors.Is(err, context.DeadlineExceeded) {
				s.logger.Warn("transfers still running after the shutdown timeout; cutting them off", "timeout", s.opts.ShutdownTimeout)
				err = srv.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	s.downloads.Wait()
	return errors.Join(errs...)
}

// statusWriter records the status and body size of a response for the access
// log. Unwrap keeps http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom hands r to the ResponseWriter's own ReadFrom, which net/http
// turns into sendfile(2) for a file on a plain TCP connection; bytes are
// counted as Write counts them.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) accessLog(next http.Handler) http.Handler {
	return s.accessLogAs(next, func(r *http.Request) string { return apiOf(r.URL.Path) })
}

// accessLogAs is accessLog with the metrics' API label given by apiFor.
func (s *Server) accessLogAs(next http.Handler, apiFor func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		// Deferred so that a transfer aborted with http.ErrAbortHandler is
		// logged too; the panic continues to net/http afterwards.
		defer func() {
			sc := scopeFrom(r.Context())
			api := apiFor(r)
			s.metrics.requestDone(api, sw.status, time.Since(start))
			level := slog.LevelInfo
			if operational(api) {
				level = slog.LevelDebug
			}
			s.logger.Log(r.Context(), level, "request",
				"request_id", sc.RequestID, "method", r.Method, "path", logPath(r.URL.Path),
				"status", sw.status, "bytes", sw.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000,
				"subject", sc.Subject.ID, "remote_addr", r.RemoteAddr)
		}()
		next.ServeHTTP(sw, r)
	})
}

// maxLogPath bounds the path in the access log: a client may send a path of
// up to a megabyte, and the log is on a disk too.
const maxLogPath = 1024

// logPath is p for the access log, cut to maxLogPath bytes (at a rune
// boundary) and marked so when longer.
func logPath(p string) string {
	if len(p) <= maxLogPath {
		return p
	}
	i := maxLogPath
	for i > 0 && !utf8.RuneStart(p[i]) {
		i--
	}
	return p[:i] + "…(" + strconv.Itoa(len(p)) + " bytes)"
}

// apiOf names the API a request path belongs to, for audit records and
// metrics (a bounded set of values).
func apiOf(p string) string {
	switch p {
	// /metrics is not among them: on the public listeners it is an unknown
	// path like any other, recorded and rate limited (see AdminHandler).
	case "/healthz", "/readyz":
		return strings.TrimPrefix(p, "/")
	case "/api/models":
		return "catalog"
	case "/api/whoami-v2":
		return "whoami"
	}
	if strings.HasPrefix(p, "/api/telemetry/") {
		return "telemetry"
	}
	if rest, ok := strings.CutPrefix(p, "/api/models/"); ok {
		// p is decoded: a revision such as refs%2Fpr%2F1 spans several
		// parts, so everything after the marker counts.
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) == 2, len(parts) >= 4 && parts[2] == "revision":
			return "model_info"
		case len(parts) >= 4 && parts[2] == "tree":
			return "tree"
		case len(parts) >= 4 && parts[2] == "paths-info":
			return "paths_info"
		}
		return "other"
	}
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 4)
	if len(parts) == 4 && (parts[2] == "resolve" || parts[2] == "raw") {
		return parts[2]
	}
	return "other"
}

// operational reports whether api is a probe or scrape endpoint: those are
// not audited (they serve no model data) and log at debug level.
func operational(api string) bool {
	return api == "healthz" || api == "readyz" || api == "metrics"
}

// cleanPath is p as ServeMux would clean it: path.Clean, keeping a trailing
// slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}
