// Package console is the security team's web console, served by the gateway
// itself at /console/: an overview of decisions over a time window, a
// searchable table of decisions with a live tail and a detail view (the
// record, its place in the chain, and its replay under a proposed policy),
// each model's classification and country matrix, the integrity of every
// instance's trail, and evidence export.
//
// Everything it serves is embedded (templates, CSS, a few lines of script
// for the live tail): no CDN, no external request, under a
// Content-Security-Policy of default-src 'self'. Charts are SVG drawn here.
// Only auditors get in: a token from a trusted issuer whose role claim holds
// the auditor role, sent as a bearer header (behind oauth2-proxy) or pasted
// once into the sign-in form, which sets a signed session cookie. Every
// console request is itself recorded on the audit trail (kind "console")
// before it is answered; a request that cannot be recorded is not answered.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
)

// Verifier verifies bearer tokens and later re-checks what verified them;
// *identity.Current (the verifier in force in serve) implements it.
type Verifier interface {
	VerifyBound(ctx context.Context, token string) (policy.Subject, identity.KeyBinding, error)
	CheckBinding(ctx context.Context, b identity.KeyBinding) error
}

// Policy decides policy inputs and groups destinations as the bundle in
// effect does; *opa.Engine implements it.
type Policy interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	DestinationGroups(ctx context.Context, t time.Time, countries []string) (map[string]string, error)
}

// Decider decides one policy input (the proposed bundle of a replay).
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
}

// AuditLog records console requests; *audit.Log implements it. Append must
// return once the record is durable.
type AuditLog interface {
	Append(ctx context.Context, kind string, rec any) error
}

// ExpiryWatch lists licences and attestations about to expire;
// *licence.Watch implements it.
type ExpiryWatch interface {
	Expiring() ([]licence.Expiry, error)
}

// Options configure a Console. Index, Verifier, Catalog, Policy and Audit
// are required.
type Options struct {
	Index    *index.Index
	Verifier Verifier
	// RoleClaim and Role: a requester is an auditor when the token's
	// RoleClaim (a string, space-separated words, or a list of strings)
	// holds Role. Empty: DefaultRoleClaim, DefaultRole.
	RoleClaim, Role string
	// SessionTTL bounds a sign-in (never beyond the token's expiry); 0:
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// SessionKey signs session cookies and CSRF tokens; nil: a random key,
	// so that sessions end with the process.
	SessionKey []byte
	Catalog    *catalog.Catalog
	Policy     Policy
	// Proposed replays a decision on its detail page; nil: Policy.
	Proposed Decider
	// ProposedName names Proposed on the page ("" says "the policy in
	// force").
	ProposedName string
	// Screen screens a subject as the gateway does, for the Models page's
	// matrix; nil: screening off.
	Screen func(sub policy.Subject, at time.Time) policy.Screening
	// Expiry lists what is about to expire on the overview; nil: nothing.
	Expiry ExpiryWatch
	Audit  AuditLog
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// KeepAlive is how often an idle live tail gets a comment line, so that
	// proxies keep it open; 0: 15 s.
	KeepAlive time.Duration
}

// Console serves the console. It is an http.Handler for /console/.
type Console struct {
	opts  Options
	log   *slog.Logger
	sign  *signer
	mux   *http.ServeMux
	pages map[string]*template.Template

	// closing ends the live tails (Close), which would otherwise hold a
	// server's Shutdown until its timeout.
	closing   chan struct{}
	closeOnce sync.Once
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// maxFormBytes bounds a posted form (a pasted token is a few KiB).
const maxFormBytes = 64 << 10

// KindConsole is the audit record kind of a console request.
const KindConsole = "console"

// New checks opts and returns a Console.
func New(opts Options) (*Console, error) {
	var missing []string
	if opts.Index == nil {
		missing = append(missing, "Index")
	}
	if opts.Verifier == nil {
		missing = append(missing, "Verifier")
	}
	if opts.Catalog == nil {
		missing = append(missing, "Catalog")
	}
	if opts.Policy == nil {
		missing = append(missing, "Policy")
	}
	if opts.Audit == nil {
		missing = append(missing, "Audit")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("console: missing %s", strings.Join(missing, ", "))
	}
	if opts.RoleClaim == "" {
		opts.RoleClaim = DefaultRoleClaim
	}
	if opts.Role == "" {
		opts.Role = DefaultRole
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Proposed == nil {
		opts.Proposed = opts.Policy
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Screen == nil {
		opts.Screen = func(policy.Subject, time.Time) policy.Screening {
			return policy.Screening{Status: policy.ScreeningOff}
		}
	}
	sign, err := newSigner(opts.SessionKey)
	if err != nil {
		return nil, err
	}
	c := &Console{opts: opts, log: opts.Logger, sign: sign, closing: make(chan struct{}), pages: map[string]*template.Template{}}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Close ends the live tails in progress; the console keeps answering other
// requests. Call it before shutting the listeners down.
func (c *Console) Close() {
	c.closeOnce.Do(func() { close(c.closing) })
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	// Pages for auditors only.
	m.Handle("GET /console/{$}", c.auditor("overview", c.overview))
	m.Handle("GET /console/decisions", c.auditor("decisions", c.decisions))
	m.Handle("GET /console/decisions/{instance}/{seq}", c.auditor("decision", c.decision))
	m.Handle("GET /console/tail", c.auditor("tail", c.tail))
	m.Handle("GET /console/models", c.auditor("models", c.models))
	m.Handle("GET /console/models/{org}/{name}", c.auditor("model", c.model))
	m.Handle("GET /console/integrity", c.auditor("integrity", c.integrity))
	m.Handle("GET /console/evidence", c.auditor("evidence", c.evidenceForm))
	m.Handle("POST /console/evidence", c.auditor("evidence_export", c.evidenceExport))
	m.Handle("POST /console/signout", c.auditor("signout", c.signout))
	// Open to anyone: the sign-in form and what it needs.
	m.Handle("GET /console/signin", c.open("signin", c.signinForm))
	m.Handle("POST /console/signin", c.open("signin", c.signin))
	m.Handle("GET /console/static/{file}", c.open("static", c.static))
	m.Handle("/console/", c.open("other", func(x *exchange) {
		x.fail(&Error{Status: http.StatusNotFound, Code: "not_found", Message: "No such page."})
	}))
	c.mux = m
}

// ServeHTTP answers a console request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// A strict policy: everything from this origin, nothing inline (the
	// SVG charts use presentation attributes, not style attributes), no
	// framing, forms only to here.
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if p := r.URL.Path; p != path.Clean(p) && p != path.Clean(p)+"/" {
		// ServeMux would redirect an unclean path before any handler, and
		// so leave the request unrecorded: refuse it here, on the record.
		c.open("other", func(x *exchange) {
			x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_path", Message: "The path has an empty, \".\" or \"..\" segment."})
		}).ServeHTTP(w, r)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// ReadyState says, for the admin listener's /readyz, whether the index has
// caught up with the trails ("ok") or is still reading them
// ("catching_up": the first read of a big trail takes minutes, and the
// console answers meanwhile from what is indexed so far).
func (c *Console) ReadyState() (string, any) {
	p := c.opts.Index.Progress()
	detail := map[string]any{"caught_up": p.CaughtUp, "syncing": p.Syncing, "read": p.Read}
	if !p.LastSync.IsZero() {
		detail["last_sync"] = p.LastSync
	}
	if p.CaughtUp {
		return "ok", detail
	}
	return "catching_up", detail
}

// Error is a console refusal: its status, a machine-readable code and a
// message for the reader.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error // for the operator's log only
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// exchange is one console request on its way to its answer: every answer
// goes through commit, which records it first.
type exchange struct {
	c    *Console
	w    http.ResponseWriter
	r    *http.Request
	who  principal
	page string
	// detail is what the record says the request asked for beyond its
	// path (an evidence filter, a replay).
	detail string
	done   bool
}

// Record is the audit record of one console request.
type Record struct {
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query,omitempty"`
	Page       string    `json:"page"`
	Subject    string    `json:"subject,omitempty"`
	Auth       string    `json:"auth"` // bearer, session or none
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Status     int       `json:"status"`
	Code       string    `json:"code,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// Bounds of a record's request-controlled strings: a console request is
// recorded whole enough to know what was asked, never so big that a
// request could fill the trail.
const (
	maxRecordPath   = 512
	maxRecordQuery  = 2048
	maxRecordDetail = 2048
)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// commit records the answer about to be sent. It returns false, having
// answered 503 itself, when the record cannot be written: nothing is shown
// that is not on the trail.
func (x *exchange) commit(status int, code string) bool {
	if x.done {
		return false
	}
	x.done = true
	reqID := x.w.Header().Get("X-Request-Id")
	if reqID == "" {
		reqID = randomString()
		x.w.Header().Set("X-Request-Id", reqID)
	}
	rec := Record{
		Time: x.c.opts.Now().UTC(), RequestID: reqID, Method: x.r.Method,
		Path: clip(x.r.URL.Path, maxRecordPath), Query: clip(x.r.URL.RawQuery, maxRecordQuery),
		Page: x.page, Subject: x.who.Subject, Auth: cmpOr(x.who.Via, "none"), RemoteAddr: x.r.RemoteAddr,
		Status: status, Code: code, Detail: clip(x.detail, maxRecordDetail),
	}
	if err := x.c.opts.Audit.Append(x.r.Context(), KindConsole, &rec); err != nil {
		x.c.log.Error("console request not recorded; refused", "err", err, "request_id", reqID)
		x.writeError(&Error{Status: http.StatusServiceUnavailable, Code: "audit_unavailable",
			Message: "The audit log cannot be written, so the console shows nothing; try again later."})
		return false
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// view is what every page template gets.
type view struct {
	Title     string
	Page      string
	Who       principal
	CSRF      string
	RequestID string
	Now       time.Time
	// Index says how far the index has read the trails: until it has
	// caught up, every page says its figures are partial.
	Index index.Progress
	Data  any
}

// render executes page into a buffer (a template error is a 500, not half
// a page), records the request, then sends it.
func (x *exchange) render(status int, page, title string, data any) {
	x.renderCode(status, "", page, title, data)
}

// renderCode is render for a page that answers a refusal (the sign-in form
// shown again), recorded with its code.
func (x *exchange) renderCode(status int, code, page, title string, data any) {
	t := x.c.pages[page]
	if t == nil {
		x.fail(&Error{Status: http.StatusInternalServerError, Code: "internal", Message: "Internal error.", Err: fmt.Errorf("no template %s", page)})
		return
	}
	var buf bytes.Buffer
	v := view{Title: title, Page: x.page, Who: x.who, CSRF: x.csrf(), RequestID: x.w.Header().Get("X-Request-Id"), Now: x.c.opts.Now().UTC(), Index: x.c.opts.Index.Progress(), Data: data}
	if err := t.Execute(&buf, v); err != nil {
		x.fail(&Error{Status: http.StatusInternalServerError, Code: "internal", Message: "Internal error.", Err: err})
		return
	}
	if !x.commit(status, code) {
		return
	}
	if code != "" {
		x.w.Header().Set("X-Weightgate-Code", code)
	}
	x.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	x.w.WriteHeader(status)
	x.w.Write(buf.Bytes())
}

// fail records and sends a refusal or an error.
func (x *exchange) fail(e *Error) {
	if e.Err != nil || e.Status >= 500 {
		x.c.log.Error("console request failed", "page", x.page, "code", e.Code, "err", e.Err)
	}
	if !x.commit(e.Status, e.Code) {
		return
	}
	x.writeError(e)
}

// writeError sends e: an HTML page to a browser, JSON to anything else.
func (x *exchange) writeError(e *Error) {
	h := x.w.Header()
	h.Set("X-Weightgate-Code", e.Code)
	if wantsHTML(x.r) {
		var buf bytes.Buffer
		v := view{Title: http.StatusText(e.Status), Page: "error", Who: x.who, CSRF: x.csrf(), RequestID: h.Get("X-Request-Id"), Now: x.c.opts.Now().UTC(), Index: x.c.opts.Index.Progress(), Data: e}
		if err := x.c.pages["error"].Execute(&buf, v); err == nil {
			h.Set("Content-Type", "text/html; charset=utf-8")
			x.w.WriteHeader(e.Status)
			x.w.Write(buf.Bytes())
			return
		}
	}
	h.Set("Content-Type", "application/json")
	x.w.WriteHeader(e.Status)
	json.NewEncoder(x.w).Encode(map[string]any{"error": map[string]string{
		"code": e.Code, "message": e.Message, "request_id": h.Get("X-Request-Id")}})
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// open wraps a handler anyone may reach.
func (c *Console) open(page string, fn func(*exchange)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{c: c, w: w, r: r, page: page}
		fn(x)
		if !x.done {
			x.fail(&Error{Status: http.StatusInternalServerError, Code: "internal", Message: "Internal error.", Err: errors.New("handler sent no answer")})
		}
	})
}

// auditor wraps a handler for auditors only: it authenticates the request,
// checks the role, and for a state-changing request its origin and CSRF
// token, before fn runs.
func (c *Console) auditor(page string, fn func(*exchange)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := &exchange{c: c, w: w, r: r, page: page}
		who, e := c.authenticate(r)
		x.who = who
		if e != nil {
			if e.Status == http.StatusUnauthorized && r.Method == http.MethodGet && wantsHTML(r) {
				// A browser without a session is sent to sign in, and back.
				if x.commit(http.StatusSeeOther, e.Code) {
					http.Redirect(w, r, "/console/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				}
				return
			}
			if e.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="weightgate console"`)
			}
			x.fail(e)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if e := c.checkCSRF(r, who); e != nil {
				x.fail(e)
				return
			}
		}
		fn(x)
		if !x.done {
			x.fail(&Error{Status: http.StatusInternalServerError, Code: "internal", Message: "Internal error.", Err: errors.New("handler sent no answer")})
		}
	})
}

var funcs = template.FuncMap{
	"bytes":   bytesText,
	"country": countryName,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"verdict": verdict,
	"pct": func(a, b int64) string {
		if b == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	},
	"decisionsBy": func(base, key, value string) string {
		return base + "&" + url.Values{key: {value}}.Encode()
	},
	"seqURL": func(inst string, seq int64) string {
		return "/console/decisions/" + url.PathEscape(inst) + "/" + fmt.Sprint(seq)
	},
	"modelURL": func(id string) string { return "/console/models/" + id },
	"str":      func(b []byte) string { return string(b) },
}

func (c *Console) static(x *exchange) {
	name := x.r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		x.fail(&Error{Status: http.StatusNotFound, Code: "not_found", Message: "No such file."})
		return
	}
	ctype := "application/octet-stream"
	switch {
	case strings.HasSuffix(name, ".css"):
		ctype = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		ctype = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		ctype = "image/svg+xml"
	}
	if !x.commit(http.StatusOK, "") {
		return
	}
	x.w.Header().Set("Content-Type", ctype)
	x.w.Write(b)
}
