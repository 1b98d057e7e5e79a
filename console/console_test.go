package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/console"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// env is a console over a real index and audit trail, served on 127.0.0.1.
type env struct {
	URL      string
	AuditDir string
	Console  *console.Console
	Index    *index.Index
	Auth     *identity.Current
	key      any
	now      *time.Time
}

type envOptions struct {
	Audit console.AuditLog    // default: a trail in AuditDir
	Store storage.ObjectStore // default: gatewaytest.DirStore
}

func startEnv(t *testing.T, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{AuditDir: filepath.Join(t.TempDir(), "audit")}
	trail := gatewaytest.OpenTrail(t, e.AuditDir)
	var audit console.AuditLog = trail
	if eo.Audit != nil {
		audit = eo.Audit
	}
	ix, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	e.Index = ix
	v, err := identity.New(ctx, identity.Config{Issuers: []identity.IssuerConfig{gatewaytest.DevIssuer(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Auth = identity.NewCurrent(v)
	t.Cleanup(func() { e.Auth.Close() })
	eng, err := opa.New(ctx, opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := eo.Store
	if store == nil {
		store = gatewaytest.DirStore(t)
	}
	now := time.Now()
	e.now = &now
	c, err := console.New(console.Options{
		Index: ix, Verifier: e.Auth, Catalog: catalog.NewCatalog(store, 100, time.Minute, nil), Policy: eng,
		Audit: audit, SessionTTL: time.Hour, Now: func() time.Time { return *e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Console = c
	ts := httptest.NewServer(c)
	t.Cleanup(ts.Close)
	t.Cleanup(c.Close)
	e.URL = ts.URL
	e.key, err = identity.LoadPrivateKeyPEM(filepath.Join(s3test.RepoRoot(t), "testdata/keys/dev-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	tok, err := identity.Sign(e.key, "", identity.TokenClaims{Issuer: "weightgate-dev", Audience: "weightgate", Subject: sub, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *env) do(t *testing.T, method, path string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// consoleRecords reads the console's records from the trail.
func consoleRecords(t *testing.T, dir string) []console.Record {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	var out []console.Record
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l struct {
				Kind   string         `json:"kind"`
				Record console.Record `json:"record"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			if l.Kind == console.KindConsole {
				out = append(out, l.Record)
			}
		}
		fh.Close()
	}
	return out
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return b.Error.Code
}

// TestAccess checks who gets in with a bearer token, and that each
// request, let in or not, is on the trail once with its status and code.
func TestAccess(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	auditor := e.token(t, "ann", "weightgate-auditor")
	other := e.token(t, "bob", "weightgate-operator")
	// The classification key is not the issuer's: a token it signs names
	// the right issuer but is not the issuer's.
	foreignKey, err := identity.LoadPrivateKeyPEM(filepath.Join(s3test.RepoRoot(t), "testdata/keys/classify-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := identity.Sign(foreignKey, "", identity.TokenClaims{Issuer: "weightgate-dev", Audience: "weightgate", Subject: "ann", Roles: []string{"weightgate-auditor"}})
	if err != nil {
		t.Fatal(err)
	}
	tampered := auditor[:len(auditor)-4] + "AAAA"
	tests := []struct {
		name     string
		header   http.Header
		status   int
		code     string
		subject  string
		location string
	}{
		{"auditor", http.Header{"Authorization": {"Bearer " + auditor}}, 200, "", "ann", ""},
		{"another role", http.Header{"Authorization": {"Bearer " + other}}, 403, console.CodeNotAuditor, "", ""},
		{"no role", http.Header{"Authorization": {"Bearer " + e.token(t, "cy")}}, 403, console.CodeNotAuditor, "", ""},
		{"bad signature", http.Header{"Authorization": {"Bearer " + tampered}}, 401, console.CodeInvalidToken, "", ""},
		{"another key", http.Header{"Authorization": {"Bearer " + forged}}, 401, console.CodeInvalidToken, "", ""},
		{"two headers", http.Header{"Authorization": {"Bearer " + auditor, "Bearer " + auditor}}, 401, console.CodeInvalidToken, "", ""},
		{"not bearer", http.Header{"Authorization": {"Basic YTpi"}}, 401, console.CodeInvalidToken, "", ""},
		{"nothing", nil, 401, console.CodeUnauthenticated, "", ""},
		{"nothing, a browser", http.Header{"Accept": {"text/html"}}, 303, console.CodeUnauthenticated, "", "/console/signin?next=%2Fconsole%2Fevidence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(consoleRecords(t, e.AuditDir))
			resp, body := e.do(t, "GET", "/console/evidence", tt.header, "")
			if got, want := resp.StatusCode, tt.status; got != want {
				t.Fatalf("status %d, want %d: %s", got, want, body)
			}
			if tt.code != "" && tt.status != 303 {
				if got := errorCode(t, body); got != tt.code {
					t.Errorf("code %q, want %q", got, tt.code)
				}
			}
			if tt.status == 200 && !strings.Contains(body, `id="evidence-form"`) {
				t.Errorf("no evidence form in the page")
			}
			if tt.status != 200 && strings.Contains(body, `evidence-form`) {
				t.Errorf("the page was shown to a refused requester")
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			recs := consoleRecords(t, e.AuditDir)[before:]
			if len(recs) != 1 {
				t.Fatalf("%d console records, want 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if r.Status != tt.status || r.Code != tt.code || r.Subject != tt.subject || r.Page != "evidence" || r.Path != "/console/evidence" {
				t.Errorf("record %+v, want status %d code %q subject %q page evidence", r, tt.status, tt.code, tt.subject)
			}
		})
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn goes through the token-paste form and returns the session cookie.
func (e *env) signIn(t *testing.T, token string) (*http.Response, string, *http.Cookie) {
	t.Helper()
	resp, body := e.do(t, "GET", "/console/signin?next=/console/integrity", nil, "")
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in form: %d", resp.StatusCode)
	}
	pre := cookieOf(resp, "__Host-weightgate-console-signin")
	m := csrfField.FindStringSubmatch(body)
	if pre == nil || m == nil {
		t.Fatalf("sign-in form without its cookie or token")
	}
	form := url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/console/integrity"}}
	resp, body = e.do(t, "POST", "/console/signin", http.Header{
		"Cookie": {pre.Name + "=" + pre.Value}, "Sec-Fetch-Site": {"same-origin"}}, form.Encode())
	return resp, body, cookieOf(resp, "__Host-weightgate-console")
}

// TestSession checks the token-paste sign-in: the cookie's attributes, that
// it lets its holder in, that it cannot be altered, that it ends with its
// TTL and as soon as its token's issuer is no longer trusted, and that a
// non-auditor gets no session.
func TestSession(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	resp, body, ck := e.signIn(t, e.token(t, "ann", "weightgate-auditor"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/integrity" || ck == nil {
		t.Fatalf("sign-in: %d %q cookie %v: %s", resp.StatusCode, resp.Header.Get("Location"), ck, body)
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/, no Domain", ck)
	}
	if ck.MaxAge <= 0 || ck.MaxAge > 3600 {
		t.Errorf("Max-Age %d, want 1..3600 (session_ttl 1h)", ck.MaxAge)
	}
	with := func(v string) http.Header { return http.Header{"Cookie": {ck.Name + "=" + v}} }
	if resp, body := e.do(t, "GET", "/console/evidence", with(ck.Value), ""); resp.StatusCode != 200 || !strings.Contains(body, ">ann<") {
		t.Fatalf("with the session: %d", resp.StatusCode)
	}
	// One byte of the payload changed: the MAC no longer matches.
	alt := []byte(ck.Value)
	alt[5] ^= 1
	if resp, body := e.do(t, "GET", "/console/evidence", with(string(alt)), ""); resp.StatusCode != 401 || errorCode(t, body) != console.CodeSessionInvalid {
		t.Errorf("altered cookie: %d %s", resp.StatusCode, body)
	}

	// A non-auditor is refused at sign-in, and gets no session.
	resp, body, bad := e.signIn(t, e.token(t, "bob", "weightgate-operator"))
	if resp.StatusCode != 403 || bad != nil || !strings.Contains(body, console.CodeNotAuditor) {
		t.Errorf("non-auditor sign-in: %d cookie %v", resp.StatusCode, bad)
	}

	// The issuer is no longer trusted: the session ends with it.
	e.Auth.Replace(nil)
	if resp, body := e.do(t, "GET", "/console/evidence", with(ck.Value), ""); resp.StatusCode != 401 || errorCode(t, body) != console.CodeSessionInvalid {
		t.Errorf("after the issuer was removed: %d %s", resp.StatusCode, body)
	}
	v, err := identity.New(context.Background(), identity.Config{Issuers: []identity.IssuerConfig{gatewaytest.DevIssuer(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Auth.Replace(v)
	if resp, _ := e.do(t, "GET", "/console/evidence", with(ck.Value), ""); resp.StatusCode != 200 {
		t.Errorf("issuer trusted again: %d", resp.StatusCode)
	}
	// Past its TTL.
	*e.now = e.now.Add(time.Hour + time.Second)
	if resp, body := e.do(t, "GET", "/console/evidence", with(ck.Value), ""); resp.StatusCode != 401 || errorCode(t, body) != console.CodeSessionInvalid {
		t.Errorf("expired session: %d %s", resp.StatusCode, body)
	}
}

// TestCSRF checks that a state-changing request needs both the browser's
// word that it comes from the console's origin and the form's token.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	_, _, ck := e.signIn(t, e.token(t, "ann", "weightgate-auditor"))
	if ck == nil {
		t.Fatal("no session")
	}
	resp, body := e.do(t, "GET", "/console/evidence", http.Header{"Cookie": {ck.Name + "=" + ck.Value}}, "")
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("no token in the page: %d", resp.StatusCode)
	}
	token := m[1]
	// Another token: its first character changed (never to itself).
	wrong := "x" + token[1:]
	if token[0] == 'x' {
		wrong = "y" + token[1:]
	}
	tests := []struct {
		name   string
		header http.Header
		csrf   string
		status int
	}{
		{"same origin, token", http.Header{"Sec-Fetch-Site": {"same-origin"}}, token, 303},
		{"no token", http.Header{"Sec-Fetch-Site": {"same-origin"}}, "", 403},
		{"wrong token", http.Header{"Sec-Fetch-Site": {"same-origin"}}, wrong, 403},
		{"cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, token, 403},
		{"same site, other origin", http.Header{"Sec-Fetch-Site": {"same-site"}}, token, 403},
		{"foreign Origin", http.Header{"Origin": {"https://evil.example"}}, token, 403},
		{"own Origin", http.Header{"Origin": {e.URL}}, token, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header.Clone()
			h.Set("Cookie", ck.Name+"="+ck.Value)
			resp, body := e.do(t, "POST", "/console/signout", h, url.Values{"csrf": {tt.csrf}}.Encode())
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 403 && errorCode(t, body) != console.CodeCSRF {
				t.Errorf("code %s, want %s", errorCode(t, body), console.CodeCSRF)
			}
		})
	}
	// Sign-in itself: a form posted without the form's own cookie (another
	// site signing this browser in as someone else) is refused.
	resp, body = e.do(t, "POST", "/console/signin", http.Header{"Sec-Fetch-Site": {"same-origin"}},
		url.Values{"csrf": {token}, "token": {e.token(t, "mallory", "weightgate-auditor")}}.Encode())
	if resp.StatusCode != 403 || cookieOf(resp, "__Host-weightgate-console") != nil || !strings.Contains(body, console.CodeCSRF) {
		t.Errorf("login CSRF: %d", resp.StatusCode)
	}
}

// failingAudit refuses every record, as a full disk does.
type failingAudit struct{}

func (failingAudit) Append(context.Context, string, any) error {
	return errors.New("no space left on device")
}

// TestAuditUnavailable checks that nothing is shown that is not on the
// trail.
func TestAuditUnavailable(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{Audit: failingAudit{}})
	resp, body := e.do(t, "GET", "/console/evidence", http.Header{"Authorization": {"Bearer " + e.token(t, "ann", "weightgate-auditor")}}, "")
	if resp.StatusCode != 503 || errorCode(t, body) != "audit_unavailable" || strings.Contains(body, "evidence-form") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

// TestHeaders checks the strict content policy and the embedded assets.
func TestHeaders(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	resp, body := e.do(t, "GET", "/console/signin", nil, "")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "style=") {
		t.Errorf("the sign-in page names another origin or has a style attribute:\n%s", body)
	}
	for _, f := range []string{"console.css", "tail.js", "icon.svg"} {
		resp, body := e.do(t, "GET", "/console/static/"+f, nil, "")
		if resp.StatusCode != 200 || len(body) == 0 || strings.Contains(body, "://") && f != "icon.svg" {
			t.Errorf("%s: %d", f, resp.StatusCode)
		}
	}
	if resp, _ := e.do(t, "GET", "/console/static/nope.css", nil, ""); resp.StatusCode != 404 {
		t.Errorf("missing asset: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/console/a/../evidence", nil, ""); resp.StatusCode != 400 {
		t.Errorf("unclean path: %d", resp.StatusCode)
	}
	pages := []string{}
	for _, r := range consoleRecords(t, e.AuditDir) {
		pages = append(pages, r.Page)
	}
	if !slices.Contains(pages, "static") || !slices.Contains(pages, "other") {
		t.Errorf("records of pages %v: want static and other among them", pages)
	}
}

// TestCatchingUp: until the index has read the trail once, every page says
// its figures are partial and ReadyState says "catching_up" (the first read
// of a big trail takes minutes, and the console answers meanwhile); after
// a Sync, neither.
func TestCatchingUp(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	h := http.Header{"Authorization": {"Bearer " + e.token(t, "ann", "weightgate-auditor")}, "Accept": {"text/html"}}
	for _, tt := range []struct {
		name   string
		sync   bool
		banner bool
		check  string
	}{
		{"before the first Sync", false, true, "catching_up"},
		{"after it", true, false, "ok"},
	} {
		if tt.sync {
			if err := e.Index.AddDir("gw-1", e.AuditDir); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Index.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		for _, page := range []string{"/console/", "/console/decisions", "/console/integrity"} {
			resp, body := e.do(t, "GET", page, h, "")
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %s: %d", tt.name, page, resp.StatusCode)
			}
			if got := strings.Contains(body, `id="index-catching-up"`); got != tt.banner {
				t.Errorf("%s: %s: catching-up notice %v, want %v", tt.name, page, got, tt.banner)
			}
		}
		check, detail := e.Console.ReadyState()
		caught, _ := detail.(map[string]any)["caught_up"].(bool)
		if check != tt.check || caught != tt.sync {
			t.Errorf("%s: ReadyState %q %v, want %q", tt.name, check, detail, tt.check)
		}
	}
}

// TestModelsPastTheListedMost: a catalog larger than catalog.MaxModelsListed
// lists its first models in id order and says that there are more, rather
// than failing the page.
func TestModelsPastTheListedMost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range catalog.MaxModelsListed + 1 {
		p := filepath.Join(dir, fmt.Sprintf("org%03d", i/100), fmt.Sprintf("model%02d", i%100))
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "config.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := dirstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := startEnv(t, envOptions{Store: st})
	resp, body := e.do(t, "GET", "/console/models", http.Header{"Authorization": {"Bearer " + e.token(t, "ann", "weightgate-auditor")}}, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="models-more"`) ||
		!strings.Contains(body, "org000/model00") || strings.Contains(body, "org100/model00") {
		t.Fatalf("models page over %d models: %d; want 200 with the first %d and the notice; body starts %.300q",
			catalog.MaxModelsListed+1, resp.StatusCode, catalog.MaxModelsListed, body)
	}
}
