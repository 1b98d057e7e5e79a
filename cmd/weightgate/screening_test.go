package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/geotest"
	"github.com/weightgate/weightgate/whatif"
)

// copyLists copies the sample screening lists into a temp dir and returns
// the dir and the YAML configuring them.
func copyLists(t *testing.T, extra string) (dir, yaml string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"consolidated.csv", "local.json"} {
		b, err := os.ReadFile(repoPath("testdata/screening/" + f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml = "screening:\n  lists:\n    - {name: csl, path: " + filepath.Join(dir, "consolidated.csv") + "}\n" +
		"    - {name: local, path: " + filepath.Join(dir, "local.json") + "}\n" + extra
	return dir, yaml
}

// devToken signs a development token for claims.
func devToken(t *testing.T, c identity.TokenClaims) string {
	t.Helper()
	key, err := identity.LoadPrivateKeyPEM(repoPath("testdata/keys/dev-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c.Issuer, c.Audience = "weightgate-dev", "weightgate"
	// The policy needs a nationality and a parent headquarters for
	// controlled weights: a national of where they are, parented there, as
	// the policy once assumed of the missing claims.
	if len(c.Nationality) == 0 && c.Country != "" {
		c.Nationality = []string{c.Country}
	}
	if c.ParentHQ == "" {
		c.ParentHQ = c.Country
	}
	if c.Subject == "" {
		c.Subject = "tester"
	}
	tok, err := identity.Sign(key, "", c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// shard1Path is the first weights file of frontier-x, a controlled model.
const shard1Path = "/frontier-lab/frontier-x/resolve/main/model-00001-of-00002.safetensors"

// download GETs url+path with a bearer token and extra headers and returns
// the status and the whole body.
func download(t *testing.T, url, path, token string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// getCode downloads the first shard of frontier-x and returns the status and
// the error code of a refusal ("" for a 200).
func getCode(t *testing.T, url, token string, header http.Header) (int, string) {
	t.Helper()
	status, body := download(t, url, shard1Path, token, header)
	if status == 200 {
		return 200, ""
	}
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return status, e.Code
}

// readyScreening returns /readyz's screening check.
func readyScreening(t *testing.T, url string) (check string, detail map[string]any) {
	t.Helper()
	body := readyBody(t, url)
	return body.Checks["screening"], body.Screening
}

// eventually polls cond every 20 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// TestServeScreeningReload: serve rereads the lists on its schedule (a party
// added to the file is refused without a signal), and on SIGHUP a broken
// list is refused: the previous lists stay in force and /readyz says stale.
func TestServeScreeningReload(t *testing.T) {
	dir, lists := copyLists(t, "  reload_interval: 100ms\n")
	cfg := appendConfig(t, writeConfig(t), lists)
	url, logs, cancel, done := startServe(t, cfg)
	defer cancel()

	newcomer := devToken(t, identity.TokenClaims{Country: "US", Entity: "Northwind Analytics GmbH", EntityHQ: "US"})
	helios := devToken(t, identity.TokenClaims{Country: "US", Entity: "HELIOS MICROSYSTEMS LTD", EntityHQ: "US"})
	if st, code := getCode(t, url, newcomer, nil); st != 200 {
		t.Fatalf("unlisted party: %d %s, want 200", st, code)
	}
	// A listed party is refused as if the model did not exist (the policy
	// hides it); the trail has the restricted_party code.
	if st, code := getCode(t, url, helios, nil); st != 404 || code != "repo_not_found" {
		t.Fatalf("listed party: %d %s, want 404 repo_not_found", st, code)
	}
	if check, _ := readyScreening(t, url); check != "ok" {
		t.Fatalf("/readyz screening = %q, want ok", check)
	}

	// On the schedule: a new entry takes effect with no signal.
	csv := filepath.Join(dir, "consolidated.csv")
	good, _ := os.ReadFile(csv)
	row := "new-9,Entity List (EL) - Bureau of Industry and Security,,,,Northwind Analytics GmbH,,,,,,,,,,,,,,,,,,,,,,,\n"
	withNew := append(append([]byte{}, good...), row...)
	if err := os.WriteFile(csv, withNew, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "scheduled reload refusing the newly listed party", func() bool {
		st, code := getCode(t, url, newcomer, nil)
		return st == 404 && code == "repo_not_found"
	})

	// On SIGHUP: a list that does not parse is refused.
	if err := os.WriteFile(csv, []byte("_id,source,name\n1,\"unterminated,x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/readyz reporting stale lists", func() bool {
		check, detail := readyScreening(t, url)
		e, _ := detail["error"].(string)
		return check == "stale" && strings.Contains(e, "consolidated.csv")
	})
	for _, tok := range []string{newcomer, helios} {
		if st, code := getCode(t, url, tok, nil); st != 404 || code != "repo_not_found" {
			t.Errorf("after a refused reload: %d %s, want the hidden 404 repo_not_found from the lists in force", st, code)
		}
	}
	if !strings.Contains(logs.String(), "consolidated.csv") {
		t.Errorf("the refused reload is not logged:\n%s", logs.String())
	}
	cancel()
	<-done

	// The trail says who screened how: every hit is a refusal naming its
	// list, and the clear request is there too.
	trail := filepath.Join(filepath.Dir(cfg), "audit")
	out, stderr, code := runMain(t, "audit", "query", trail, "--screening", "hit", "--format", "json")
	if code != 0 {
		t.Fatalf("audit query --screening hit: exit %d: %s", code, stderr)
	}
	hits := strings.Split(strings.TrimSpace(out), "\n")
	if len(hits) < 4 {
		t.Errorf("audit query --screening hit: %d records, want at least 4 (Helios, then the newly listed party):\n%s", len(hits), out)
	}
	for _, line := range hits {
		var l struct{ Record audit.Record }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		sc := l.Record.Input.Subject.Screening
		if l.Record.Screening != "hit" || l.Record.Code != "restricted_party" || sc.List == "" || sc.Entry == "" {
			t.Errorf("hit record %+v screening %+v; want a restricted_party refusal naming list and entry", l.Record, sc)
		}
	}
	if out, _, _ := runMain(t, "audit", "query", trail, "--screening", "clear", "--format", "csv"); strings.Count(out, "\n") < 2 {
		t.Errorf("audit query --screening clear found no record:\n%s", out)
	}
}

// TestServeLocation: serve with a country database and a trusted proxy
// cross-checks the forwarded client address, and SIGHUP swaps the database.
func TestServeLocation(t *testing.T) {
	mmdb := filepath.Join(t.TempDir(), "countries.mmdb")
	if err := geotest.WriteCountryDB(mmdb, map[string]string{"198.51.100.0/24": "CN", "203.0.113.0/24": "DE"}); err != nil {
		t.Fatal(err)
	}
	cfg := appendConfig(t, writeConfig(t), "location:\n  database: "+mmdb+"\n  trusted_proxies: [127.0.0.1]\n  unknown: deny\n")
	url, _, cancel, done := startServe(t, cfg)
	defer cancel()
	us := devToken(t, identity.TokenClaims{Country: "US"})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	for _, tt := range []struct {
		header http.Header
		status int
		code   string
	}{
		// The model is hidden from an address in a country of concern:
		// a missing model's answer (the trail says ip_country_of_concern).
		{from("198.51.100.7"), 404, "repo_not_found"},
		{from("203.0.113.9"), 403, "location_mismatch"},
		{nil, 403, "location_unknown"},
	} {
		if st, code := getCode(t, url, us, tt.header); st != tt.status || code != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.header, st, code, tt.status, tt.code)
		}
	}

	// A new database, loaded on SIGHUP: the address is now in the US.
	defer func() {
		cancel()
		<-done
		// Every request from the Chinese address, and only those, was
		// refused for it (polls racing the reload add more of them).
		out, _, _ := runMain(t, "audit", "query", filepath.Join(filepath.Dir(cfg), "audit"), "--ip-country", "cn", "--format", "csv")
		rows := strings.Count(strings.TrimSpace(out), "\n") // after the header
		if n := strings.Count(out, "ip_country_of_concern"); n < 1 || n != rows {
			t.Errorf("audit query --ip-country cn: %d rows, %d ip_country_of_concern; want every row, at least one:\n%s", rows, n, out)
		}
	}()
	if err := geotest.WriteCountryDB(mmdb, map[string]string{"198.51.100.0/24": "US"}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reloaded database placing 198.51.100.7 in the US", func() bool {
		st, _ := getCode(t, url, us, from("198.51.100.7"))
		return st == 200
	})
}

// TestCheckScreeningAndLocation: the what-if screens the subject against the
// configured lists and takes the client address's country as a flag.
func TestCheckScreeningAndLocation(t *testing.T) {
	_, lists := copyLists(t, "")
	cfg := appendConfig(t, writeConfig(t), lists)
	for _, tt := range []struct {
		name string
		args []string
		exit int
		code string
	}{
		{"listed entity", []string{"--country", "US", "--entity", "Shenzhen Quantum Dynamics Co Ltd"}, 1, "restricted_party"},
		{"listed person", []string{"--country", "US", "--name", "Dmitri Ivanovich Volkov"}, 1, "restricted_party"},
		{"near miss", []string{"--country", "US", "--entity", "Shenzen Quantum Dynamix"}, 1, "screening_review"},
		{"clear", []string{"--country", "US", "--nationality", "US", "--parent-hq", "US", "--entity", "Northwind Analytics"}, 0, "not_an_export"},
		{"address in a country of concern", []string{"--country", "US", "--ip-country", "cn"}, 1, "ip_country_of_concern"},
		{"address elsewhere", []string{"--country", "US", "--ip-country", "DE"}, 1, "location_mismatch"},
		{"address elsewhere, trusted network", []string{"--country", "US", "--nationality", "US", "--parent-hq", "US", "--ip-country", "DE", "--ip-trusted"}, 0, "not_an_export"},
		{"bad address country", []string{"--country", "US", "--ip-country", "Germany"}, 2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--config", cfg, "--model", "frontier-lab/frontier-x"}, tt.args...)
			out, stderr, exit := runMain(t, args...)
			var res whatif.Result
			_ = json.Unmarshal([]byte(out), &res)
			if exit != tt.exit || res.Decision.Code != tt.code {
				t.Errorf("exit %d code %q, want %d %q (%s)", exit, res.Decision.Code, tt.exit, tt.code, stderr)
			}
		})
	}
}

// TestConfigScreeningLocation: every bad screening or location setting is
// reported with its field.
func TestConfigScreeningLocation(t *testing.T) {
	dir := t.TempDir()
	store, _ := filepath.Abs(repoPath("testdata/store"))
	base := "storage: {backend: dir, dir: {path: " + store + "}}\n"
	for _, tt := range []struct {
		name, yaml, field string
	}{
		{"list without a name", "screening: {lists: [{path: a.csv}]}", "screening.lists[0].name"},
		{"two lists with one name", "screening: {lists: [{name: a, path: a.csv}, {name: a, path: b.csv}]}", "screening.lists[1].name"},
		{"list of another format", "screening: {lists: [{name: a, path: a.xml}]}", "screening.lists[0].path"},
		{"review above hit", "screening: {hit_threshold: 0.8, review_threshold: 0.9}", "screening.hit_threshold"},
		{"threshold above 1", "screening: {hit_threshold: 1.5}", "screening.hit_threshold"},
		{"negative interval", "screening: {reload_interval: -1s}", "screening.reload_interval"},
		{"open weights typo", "screening: {open_weights: block}", "screening.open_weights"},
		{"unknown typo", "location: {unknown: refuse}", "location.unknown"},
		{"deny without a database", "location: {unknown: deny}", "location.unknown"},
		{"bad proxy", "location: {trusted_proxies: [proxy.example]}", "location.trusted_proxies"},
		{"bad network", "location: {trusted_networks: [10.0.0.0/33]}", "location.trusted_networks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(base+tt.yaml+"\n"), dir)
			if err == nil || !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("error %v, want one naming %s", err, tt.field)
			}
		})
	}
	// A list that cannot be loaded stops serve at start.
	cfg := appendConfig(t, writeConfig(t), "screening:\n  lists: [{name: csl, path: "+filepath.Join(dir, "missing.csv")+"}]\n")
	if err := runErr(t, "serve", "--config", cfg); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("serve with a missing list: %v, want a failure naming the file", err)
	}
}

// runErr runs the command and returns its error, which main would print.
func runErr(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return (&Main{Stdout: io.Discard, Stderr: io.Discard}).Run(ctx, args)
}
