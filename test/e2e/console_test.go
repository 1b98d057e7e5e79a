package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/console"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/internal/testenv"
	"github.com/weightgate/weightgate/policy/opa"
)

// chromiumPath finds Debian's chromium, or skips (fails under
// WEIGHTGATE_TEST_CLIENTS_REQUIRED=1: scripts/test.sh installs it).
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Skip(tb, testenv.Clients, "chromium is not on PATH")
	return ""
}

// TestConsoleBrowser drives the console in a real browser: it seeds a trail
// through real downloads, signs in by pasting a token, checks that each page
// shows the seeded numbers, that a filter narrows the table, that a new
// download reaches the live tail, that the evidence archive verifies
// offline, that a non-auditor is refused, and that the page never asks
// anything of another origin. Each page's screenshot goes to var/console/.
func TestConsoleBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root := s3test.RepoRoot(t)

	// The command that checks the evidence archive offline, built while the
	// browser works: from a cold cache it compiles OPA, a minute or more on
	// two busy cores, so it has a bound of its own.
	bin := filepath.Join(t.TempDir(), "weightgate")
	buildCtx, stopBuild := context.WithTimeout(context.Background(), 6*time.Minute)
	var buildErr error
	built := make(chan struct{})
	go func() {
		defer close(built)
		cmd := exec.CommandContext(buildCtx, "go", "build", "-o", bin, "./cmd/weightgate")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	}()
	t.Cleanup(func() {
		// Before the temporary directory goes: the build writes into it.
		stopBuild()
		<-built
	})

	// The gateway and the console share one trail, as in serve; the index
	// follows it.
	// Its checkpoints are signed, so that the evidence archive's are checked
	// with the public key as an auditor would.
	auditDir := filepath.Join(t.TempDir(), "audit")
	trail, err := audit.Open(audit.Config{Dir: auditDir, CheckpointKey: anchorKey, CheckpointEvery: 4,
		CheckpointInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := trail.Close(); err != nil {
			t.Errorf("closing the audit trail: %v", err)
		}
	})
	eng, err := opa.New(ctx, opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	if err := ix.AddDir("gw-1", auditDir); err != nil {
		t.Fatal(err)
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	followDone := make(chan struct{})
	go func() { defer close(followDone); ix.Follow(followCtx, 100*time.Millisecond) }()
	t.Cleanup(func() { stopFollow(); <-followDone })

	v, err := identity.New(ctx, identity.Config{Issuers: []identity.IssuerConfig{gatewaytest.DevIssuer(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth := identity.NewCurrent(v)
	t.Cleanup(func() { auth.Close() })
	store := gatewaytest.DirStore(t)
	cat := catalog.NewCatalog(store, 100, time.Minute, nil)
	cat.SetClassificationKeys(gatewaytest.TestClassificationKeys(t))
	con, err := console.New(console.Options{Index: ix, Verifier: auth, Catalog: cat, Policy: eng, Audit: trail,
		KeepAlive: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := gatewaytest.Start(t, store, gatewaytest.Options{Audit: trail, AuditDir: auditDir, Policy: eng,
		ClassificationKeys: gatewaytest.TestClassificationKeys(t), Console: con})
	// Registered after the harness's servers: runs before they close, so
	// that the live tail's stream ends and the admin server can.
	t.Cleanup(con.Close)

	// The seeded trail: three downloads of an open model from the United
	// States, and refusals of a closed one from a country of concern, an
	// embargoed country and a Tier 2 one.
	const openFile = "/open-lab/tiny-open/resolve/main/model.safetensors"
	const closedFile = "/frontier-lab/frontier-x/resolve/main/model-00001-of-00002.safetensors"
	openSize := int64(len(gatewaytest.StoreFile(t, openFile)))
	type req struct {
		country, path string
		n             int
	}
	seed := []req{{"US", openFile, 3}, {"CN", closedFile, 2}, {"IR", closedFile, 1}, {"IN", closedFile, 1}}
	total, refused := 0, map[string]int{}
	for _, s := range seed {
		tok := h.Token(t, gatewaytest.Claims(s.country))
		for range s.n {
			resp, _ := h.Do(t, "GET", s.path, tok, nil)
			total++
			if resp.StatusCode != 200 {
				refused[s.country]++
			}
		}
	}
	if refused["US"] != 0 || refused["CN"] != 2 || refused["IR"] != 1 || refused["IN"] != 1 {
		t.Fatalf("seed: refusals by country %v, want CN 2, IR 1, IN 1", refused)
	}
	waitIndexed(t, ctx, ix, index.Filter{}, int64(total))

	// The browser, recording every request its pages make.
	dl := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-gpu", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var mu sync.Mutex
	// A request's URL and the page that made it.
	type request struct{ url, page string }
	var requested []request
	// The status of every page the browser loaded.
	type page struct {
		url    string
		status int64
	}
	var pages []page
	lastStatus := func(prefix string) int64 {
		mu.Lock()
		defer mu.Unlock()
		for i := len(pages) - 1; i >= 0; i-- {
			if strings.HasPrefix(pages[i].url, prefix) {
				return pages[i].status
			}
		}
		return 0
	}
	downloaded := make(chan string, 1)
	listenErr := chromedp.Listen(bctx, func(ev any) {
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			mu.Lock()
			requested = append(requested, request{url: e.Request.URL, page: e.DocumentURL})
			mu.Unlock()
		case *network.EventResponseReceived:
			if e.Type != network.ResourceTypeDocument {
				return
			}
			mu.Lock()
			pages = append(pages, page{url: e.Response.URL, status: e.Response.Status})
			mu.Unlock()
		}
	})
	if listenErr != nil {
		t.Fatal(listenErr)
	}
	if err := chromedp.ListenBrowser(bctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			select {
			case downloaded <- e.GUID:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	base := h.AdminURL
	shots := filepath.Join(root, "var", "console")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			b, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644)
		})
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	attr := func(sel, name string) string {
		t.Helper()
		a, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil {
			t.Fatalf("read %s of %s: %v", name, sel, err)
		}
		return a.Value
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	// Every request a page makes is recorded, and downloads go to dl.
	run("network", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	}))
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: new(true)}); err != nil {
		t.Fatal(err)
	}

	// Sign in: the console sends a browser without a session to the form.
	auditor := h.Token(t, identity.TokenClaims{Subject: "ann-auditor", Roles: []string{"weightgate-auditor"}})
	run("sign-in form", chromedp.Navigate(base+"/console/"), visible("#token"), shot("signin"))
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, base+"/console/signin") {
		t.Fatalf("not sent to sign in: %s", loc)
	}
	run("sign in", chromedp.SetValue(css("#token"), auditor), chromedp.Click(css("#signin")), visible("#total-decisions"))

	// Overview.
	run("overview", shot("overview"))
	if got, want := text("#total-decisions"), strconv.Itoa(total); got != want {
		t.Errorf("overview: %s decisions, want %s", got, want)
	}
	if got, want := text("#total-denials"), "4"; got != want {
		t.Errorf("overview: %s refused, want %s", got, want)
	}
	for code, n := range map[string]string{"CN": "2", "IR": "1", "IN": "1"} {
		if got := text(`td[data-country="` + code + `"]`); got != n {
			t.Errorf("overview: refusals from %s %q, want %s", code, got, n)
		}
	}
	for group, n := range map[string]string{"country_of_concern": "2", "embargoed": "1", "tier2": "1"} {
		if got := text(`h3[data-group="` + group + `"] .n`); got != n {
			t.Errorf("overview: group %s %q, want %s", group, got, n)
		}
	}
	if got := text(`#refusals`); !strings.Contains(got, "China") || !strings.Contains(got, "Iran") || !strings.Contains(got, "India") {
		t.Errorf("overview: refusals without country names: %s", got)
	}
	if got := text(`td[data-model-downloads="open-lab/tiny-open"]`); got != "3" {
		t.Errorf("overview: tiny-open downloads %q, want 3", got)
	}
	bytesTitle := attr(`td[data-model-bytes="open-lab/tiny-open"]`, "title")
	if want := fmt.Sprintf("%d bytes", 3*openSize); bytesTitle != want {
		t.Errorf("overview: tiny-open bytes %q, want %q", bytesTitle, want)
	}
	if got := text(`td[data-subject="user-CN"]`); got != "2" {
		t.Errorf("overview: user-CN %q, want 2", got)
	}

	// Decisions: everything, then narrowed by a filter.
	run("decisions", chromedp.Navigate(base+"/console/decisions"), visible("#decisions"))
	if got := text("#total"); got != strconv.Itoa(total) {
		t.Errorf("decisions: %s matching, want %d", got, total)
	}
	run("filter", chromedp.SetValue(css(`#filters input[name="subject"]`), "user-CN"),
		chromedp.Click(css("#search")), chromedp.WaitVisible(css(`input[name="subject"][value="user-CN"]`)), visible("#decisions"))
	if got := text("#total"); got != "2" {
		t.Errorf("decisions filtered by subject user-CN: %s matching, want 2", got)
	}
	rows := count("#decisions tbody tr")
	if got := text("#decisions tbody"); rows != 2 || strings.Contains(got, "user-US") {
		t.Errorf("filtered table: %d rows: %s", rows, got)
	}
	run("decisions shot", shot("decisions"))

	// The live tail: a new download appears within 2 s.
	run("tail connected", chromedp.Navigate(base+"/console/decisions"), visible("#live.connected"))
	tok := h.Token(t, identity.TokenClaims{Subject: "live-user", Country: "US", Nationality: []string{"US"}, ParentHQ: "US"})
	if resp, _ := h.Do(t, "GET", openFile, tok, nil); resp.StatusCode != 200 {
		t.Fatalf("live download: %d", resp.StatusCode)
	}
	tailCtx, tailCancel := context.WithTimeout(bctx, 2*time.Second)
	err = chromedp.Do(tailCtx, chromedp.WaitVisible(chromedp.Search(`//tbody[@id="tail-rows"]/tr/td[text()="live-user"]`)))
	tailCancel()
	if err != nil {
		t.Errorf("the new download did not reach the live tail within 2 s: %v", err)
	}
	run("tail shot", shot("decisions-live"))

	// A record's detail: its chain and its replay.
	run("detail", chromedp.Click(css(`#decisions tbody tr a`)), visible("#chain"), shot("decision"))
	if got := text("#verified"); !strings.HasPrefix(got, "Verified") {
		t.Errorf("detail: %q, want the record verified", got)
	}
	if got := text("#replay-code"); got == "" {
		t.Errorf("detail: no replayed code")
	}

	// Models: the classification, and the matrix grouped by the policy.
	run("models", chromedp.Navigate(base+"/console/models"), visible("#models"), shot("models"))
	if got := text(`td[data-model-class="frontier-lab/frontier-x"]`); !strings.Contains(got, "closed weights") {
		t.Errorf("models: frontier-x %q", got)
	}
	run("model", chromedp.Navigate(base+"/console/models/frontier-lab/frontier-x"), visible("#matrix"), shot("model"))
	for _, g := range []string{"tier1", "tier2", "country_of_concern", "embargoed"} {
		if n := count(`table[data-group="` + g + `"] tbody tr`); n == 0 {
			t.Errorf("matrix: no country in group %s", g)
		}
	}
	cnTitle := attr(`table[data-group="country_of_concern"] tr[data-country="CN"] td`, "title")
	if !strings.Contains(cnTitle, "Basis:") || len(cnTitle) < 40 {
		t.Errorf("matrix: China's cell title %q, want the reason and basis", cnTitle)
	}
	if got := text(`table[data-group="country_of_concern"] tr[data-country="CN"] th`); !strings.Contains(got, "China") {
		t.Errorf("matrix: China's row %q", got)
	}
	if got := text("#model-signed"); got == "unsigned" || got == "" {
		t.Errorf("model: signed by %q", got)
	}

	// Integrity.
	run("integrity", chromedp.Navigate(base+"/console/integrity"), visible("#integrity"), shot("integrity"))
	if got := text(`tr[data-instance="gw-1"]`); !strings.Contains(got, "continuous") {
		t.Errorf("integrity: %q", got)
	}

	// Evidence: the refusals from China, as one archive, checked offline.
	run("evidence", chromedp.Navigate(base+"/console/evidence?subject=user-CN"), visible("#evidence-form"),
		shot("evidence"), chromedp.Click(css("#export")))
	var guid string
	for guid == "" {
		select {
		case guid = <-downloaded:
		case <-ctx.Done():
			t.Fatal("the evidence archive was not downloaded")
		case <-time.After(200 * time.Millisecond):
			// An export that fails is an error page, not a download.
			if count("#error-code") > 0 {
				t.Fatalf("evidence export refused: %s: %s", text("#error-code"), text("#error-message"))
			}
		}
	}
	archive := filepath.Join(dl, guid)
	<-built
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	cmd := exec.CommandContext(ctx, bin, "audit", "verify", "--evidence", archive, "--key", writePublicPEM(t, anchorKey))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("audit verify --evidence: %v\n%s", err, out)
	}
	// The two refusals from China, proved by signed checkpoints.
	okLine := regexp.MustCompile(`(?m)^OK evidence \S+: 2 records from gw-1 in \d+ segments of \d+ lines, ([1-9]\d*) checkpoints, ([1-9]\d*) verified`).FindSubmatch(out)
	if okLine == nil || string(okLine[1]) != string(okLine[2]) {
		t.Errorf("audit verify --evidence: want 2 records and every checkpoint verified:\n%s", out)
	}

	// A non-auditor: refused, in the browser and over HTTP.
	run("sign out", chromedp.Navigate(base+"/console/"), visible("#total-decisions"),
		chromedp.Click(css(`form[action="/console/signout"] button`)), visible("#token"))
	other := h.Token(t, identity.TokenClaims{Subject: "bob-operator", Roles: []string{"weightgate-operator"}})
	run("non-auditor", chromedp.SetValue(css("#token"), other), chromedp.Click(css("#signin")), visible("#signin-problem"), shot("refused"))
	if got := text("#signin-problem"); !strings.Contains(got, "not_auditor") {
		t.Errorf("non-auditor sign-in: %q", got)
	}
	if got := lastStatus(base + "/console/signin"); got != 403 {
		t.Errorf("non-auditor sign-in: the browser got %d, want 403", got)
	}
	// The same token as a bearer header, as oauth2-proxy would pass it.
	setHeaders := func(h network.Headers) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
			return err
		})
	}
	run("non-auditor bearer", setHeaders(network.Headers{"Authorization": "Bearer " + other}),
		chromedp.Navigate(base+"/console/decisions"), visible("#error-code"), shot("refused-bearer"),
		setHeaders(network.Headers{}))
	if got, status := text("#error-code"), lastStatus(base+"/console/decisions"); got != "not_auditor" || status != 403 {
		t.Errorf("non-auditor bearer in the browser: %d %q, want 403 not_auditor", status, got)
	}
	hreq, _ := http.NewRequestWithContext(ctx, "GET", base+"/console/", nil)
	hreq.Header.Set("Authorization", "Bearer "+other)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("non-auditor bearer: %d, want 403", resp.StatusCode)
	}

	// Nothing came from anywhere but the gateway.
	mu.Lock()
	defer mu.Unlock()
	if len(requested) < 10 {
		t.Errorf("only %d requests recorded: %v", len(requested), requested)
	}
	local := 0
	for _, r := range requested {
		switch {
		case !strings.HasPrefix(r.page, base+"/"):
			t.Errorf("a request for %s came from %s, which is not a page of the gateway %s", r.url, r.page, base)
		case strings.HasPrefix(r.url, base+"/"):
		case strings.HasPrefix(r.url, "data:"):
			// Decoded in the browser: nothing leaves it. Chromium draws
			// a datetime-local field's calendar icon from a data: URL of
			// its own stylesheet; the console's CSP (default-src 'self')
			// would refuse one the page itself asked for.
			local++
		default:
			t.Errorf("a page requested %s, which is not the gateway's origin %s", r.url, base)
		}
	}
	t.Logf("%d requests, %d to %s and %d of the browser's own data: URLs; screenshots in %s", len(requested), len(requested)-local, base, local, shots)
}

// waitIndexed waits, bounded by ctx, until the index holds want rows
// matching f.
func waitIndexed(t *testing.T, ctx context.Context, ix *index.Index, f index.Filter, want int64) {
	t.Helper()
	for {
		p, err := ix.Query(ctx, f, 1, "")
		if err == nil && p.Total >= want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the index holds %d rows, want %d (err %v)", p.Total, want, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
