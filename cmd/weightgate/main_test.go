package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weightgate/weightgate/whatif"
)

// repoPath resolves a path relative to the repository root.
func repoPath(p string) string { return filepath.Join("..", "..", p) }

// runMain runs one command and returns stdout, stderr and the exit code.
func runMain(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	// A bound against a hang, not a speed check: under -race on a busy
	// 2-core machine a whole matrix takes over 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := m.Run(ctx, args)
	if err != nil {
		// main prints Run's error; here it goes with stderr, so that a
		// failure says why.
		fmt.Fprintf(&errOut, "%v\n", err)
	}
	return out.String(), errOut.String(), exitCode(err)
}

// writeConfig writes a config for the test store with listen and the admin
// listener on free ports and the audit log in a temp dir, returning its
// path. It trusts the development key, so it says dev: true.
func writeConfig(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(repoPath(""))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := `dev: true
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
log: {level: warn}
storage:
  backend: dir
  dir: {path: ` + filepath.Join(root, "testdata/store") + `}
auth:
  issuers:
    - issuer: weightgate-dev
      audience: weightgate
      algorithms: [EdDSA]
      public_keys: [` + filepath.Join(root, "testdata/keys/dev-ed25519.pub.pem") + `]
audit: {dir: audit}
`
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestToken(t *testing.T) {
	out, stderr, code := runMain(t, "token", "--key", repoPath("testdata/keys/dev-ed25519.pem"), "--sub", "alice", "--country", "de", "--nationality", "FR,US", "--parent-hq", "DE", "--veu", "uveu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("output %q is not a JWT", out)
	}
	// The token is accepted by check, which verifies as the gateway does.
	out, stderr, code = runMain(t, "check", "--config", writeConfig(t), "--model", "frontier-lab/frontier-x", "--token", tok)
	if code != 0 {
		t.Fatalf("check with token: exit %d: %s %s", code, out, stderr)
	}
	var res whatif.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// An untrusted veu claim is not passed on (token_test.go covers trust).
	if s := res.Input.Subject; s.ID != "alice" || s.Country != "DE" || s.Entity.VEU != "" || strings.Join(s.Nationality, ",") != "FR,US" {
		t.Errorf("subject = %+v", s)
	}
	for _, args := range [][]string{
		{"token", "--sub", "x"},
		{"token", "--key", repoPath("testdata/keys/dev-ed25519.pem")},
		{"token", "--key", "/nonexistent.pem", "--sub", "x"},
		{"token", "--key", repoPath("testdata/keys/dev-ed25519.pem"), "--sub", "x", "--veu", "gold"},
		{"token", "--key", repoPath("testdata/keys/dev-ed25519.pub.pem"), "--sub", "x"},
	} {
		if _, _, code := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestCheck(t *testing.T) {
	cfg := writeConfig(t)
	tests := []struct {
		name string
		args []string
		exit int
		code string
	}{
		{"aia", []string{"--model", "frontier-lab/frontier-x", "--country", "GB", "--nationality", "GB", "--parent-hq", "GB"}, 0, "license_exception_aia"},
		{"us person", []string{"--model", "frontier-lab/frontier-x", "--country", "US", "--us-person", "--parent-hq", "US"}, 0, "not_an_export"},
		{"concern", []string{"--model", "frontier-lab/frontier-x", "--country", "cn"}, 1, "country_of_concern"},
		{"parent hq", []string{"--model", "frontier-lab/frontier-x", "--country", "GB", "--entity-hq", "GB", "--parent-hq", "RU"}, 1, "country_of_concern"},
		{"tier2", []string{"--model", "frontier-lab/frontier-x", "--country", "IN"}, 1, "license_required"},
		{"other file", []string{"--model", "frontier-lab/frontier-x", "--file", "config.json", "--country", "IN"}, 0, "not_weights"},
		{"anonymous open", []string{"--model", "open-lab/tiny-open", "--anonymous"}, 0, "open_weights"},
		{"anonymous closed", []string{"--model", "frontier-lab/mini-x", "--anonymous"}, 1, "authentication_required"},
		{"unclassified", []string{"--model", "unknown-lab/unlabeled", "--country", "US"}, 1, "unclassified_model"},
		{"below threshold", []string{"--model", "frontier-lab/mini-x", "--country", "IN"}, 0, "not_controlled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runMain(t, append([]string{"check", "--config", cfg}, tt.args...)...)
			if code != tt.exit {
				t.Fatalf("exit = %d, want %d; %s %s", code, tt.exit, out, stderr)
			}
			var res whatif.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if res.Decision.Code != tt.code || res.Decision.Reason == "" || res.Decision.Bundle == "" {
				t.Errorf("decision = %+v, want code %q with reason and bundle", res.Decision, tt.code)
			}
		})
	}
	for name, args := range map[string][]string{
		"missing model":    {"--model", "x/y", "--country", "US"},
		"bad country":      {"--model", "frontier-lab/frontier-x", "--country", "USA"},
		"two subjects":     {"--model", "frontier-lab/frontier-x", "--country", "US", "--anonymous"},
		"no subject":       {"--model", "frontier-lab/frontier-x"},
		"bad token":        {"--model", "frontier-lab/frontier-x", "--token", "abc"},
		"stray argument":   {"--model", "frontier-lab/frontier-x", "--anonymous", "extra"},
		"bad veu":          {"--model", "frontier-lab/frontier-x", "--country", "US", "--veu", "x"},
		"missing --config": nil,
	} {
		t.Run(name, func(t *testing.T) {
			full := append([]string{"check", "--config", cfg}, args...)
			if args == nil {
				full = []string{"check", "--model", "a/b", "--anonymous"}
			}
			if _, _, code := runMain(t, full...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"check", "--help"}, {"token", "--help"}} {
		out, stderr, code := runMain(t, args...)
		if code != 0 || !strings.Contains(out+stderr, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out+stderr)
		}
	}
	if _, _, code := runMain(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if err := (&Main{Stdout: io.Discard, Stderr: io.Discard}).Run(context.Background(), []string{"check", "--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("check --help = %v, want flag.ErrHelp", err)
	}
}

// startServe runs `serve --config cfg` until cancel, and returns its URL once
// it listens, its log, and the channel its result arrives on.
func startServe(t *testing.T, cfg string) (url string, logs *syncBuffer, cancel func(), done chan error) {
	t.Helper()
	url, _, logs, cancel, done = startServeAdmin(t, cfg)
	return url, logs, cancel, done
}

// startServeAdmin is startServe that also returns the admin listener's URL
// ("" without one).
func startServeAdmin(t *testing.T, cfg string) (url, admin string, logs *syncBuffer, cancel func(), done chan error) {
	t.Helper()
	return startServeArgs(t, "serve", "--config", cfg)
}

// startServeArgs is startServeAdmin with serve's whole command line.
func startServeArgs(t *testing.T, args ...string) (url, admin string, logs *syncBuffer, cancel func(), done chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	adminURL := make(chan string, 1)
	done = make(chan error, 1)
	logs = &syncBuffer{}
	m := &Main{Stdout: io.Discard, Stderr: logs, Ready: func(u string) { ready <- u }, AdminReady: func(u string) { adminURL <- u }}
	go func() { done <- m.Run(ctx, args) }()
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("serve did not become ready in 20s")
	}
	// AdminReady is called before Ready.
	select {
	case admin = <-adminURL:
	default:
	}
	return url, admin, logs, cancel, done
}

// TestServe runs the real serve command on a free port and downloads through
// it, then shuts it down with its context.
func TestServe(t *testing.T) {
	cfg := writeConfig(t)
	url, admin, _, cancel, done := startServeAdmin(t, cfg)
	defer cancel()
	resp, err := http.Get(url + "/open-lab/tiny-open/resolve/main/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(repoPath("testdata/store/open-lab/tiny-open/model.safetensors"))
	if resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Errorf("download: %d, %d bytes; want 200 and %d bytes", resp.StatusCode, len(body), len(want))
	}
	// The metrics are wired, on the admin listener: the audit trail's
	// batches and the decision.
	if admin == "" {
		t.Fatal("serve reported no admin listener")
	}
	mresp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{"weightgate_audit_batch_records_count", "weightgate_audit_fsync_duration_seconds_bucket",
		`weightgate_decisions_total{code="open_weights",decision="allow"} 1`, "go_goroutines"} {
		if !bytes.Contains(scrape, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	stopServe(t, cancel, done)
	audit, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "audit", "audit-000001.jsonl"))
	if err != nil || !bytes.Contains(audit, []byte(`"open_weights"`)) {
		t.Errorf("audit log: %v %q", err, audit)
	}
}

// stopServe cancels serve's context and waits, bounded, for it to return
// nil.
func stopServe(t *testing.T, cancel func(), done chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// copyDir copies the top level of src (the bundle's .rego and .json files)
// into a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// readyPolicy returns the policy revision /readyz reports.
func readyPolicy(t *testing.T, url string) string {
	t.Helper()
	return readyBody(t, url).Policy.Revision
}

// readyz is the part of /readyz's body the tests read.
type readyz struct {
	Checks    map[string]string
	Policy    struct{ Revision string }
	Screening map[string]any
}

func readyBody(t *testing.T, url string) readyz {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readyz
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

// TestServeReloadOnSIGHUP: serve with a bundle directory; SIGHUP after a data
// change loads the new revision, and a download in flight goes on to its
// end; SIGHUP after breaking the bundle keeps the old one serving.
func TestServeReloadOnSIGHUP(t *testing.T) {
	bundle := copyDir(t, repoPath("rego/bundles/ai-diffusion-2025"))
	cfg := writeConfig(t)
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("policy: {bundle: "+bundle+"}\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	// The store gets a large open file, downloaded across the reload.
	store := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(store, os.DirFS(repoPath("testdata/store"))); err != nil {
		t.Fatal(err)
	}
	const bigSize = 64 << 20
	big := filepath.Join(store, "big-lab", "huge")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "export.yaml"), []byte("weights: open\ntraining_compute_flop: 1.0e20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Create(filepath.Join(big, "model.safetensors")); err != nil {
		t.Fatal(err)
	} else {
		if err := f.Truncate(bigSize); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	b, _ = os.ReadFile(cfg)
	root, _ := filepath.Abs(repoPath(""))
	b = []byte(strings.Replace(string(b), filepath.Join(root, "testdata/store"), store, 1))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	url, logs, cancel, done := startServe(t, cfg)
	defer cancel()
	inFlight, err := http.Get(url + "/big-lab/huge/resolve/main/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer inFlight.Body.Close()
	if _, err := io.ReadFull(inFlight.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	waitRevision := func(old string) string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if rev := readyPolicy(t, url); rev != old {
				return rev
			}
		}
		return old
	}
	first := readyPolicy(t, url)

	// A change to the bundle's data: a new revision after SIGHUP.
	if err := os.WriteFile(filepath.Join(bundle, "marker.json"), []byte(`{"reload_marker": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	second := waitRevision(first)
	if second == first {
		t.Fatalf("revision still %s after SIGHUP with a changed bundle", first)
	}
	// The download started under the first revision goes on to its end.
	if n, err := io.Copy(io.Discard, inFlight.Body); err != nil || 1<<20+n != bigSize {
		t.Errorf("download across the reload: %d more bytes, %v; want all %d", n, err, bigSize-1<<20)
	}

	// A bundle that does not compile: refused, the second keeps serving.
	if err := os.WriteFile(filepath.Join(bundle, "broken.rego"), []byte("package weightgate\nthis is not rego\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "policy reload refused"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged after SIGHUP with a broken bundle; log:\n%s", logs.String())
		}
	}
	if got := readyPolicy(t, url); got != second {
		t.Errorf("a broken bundle replaced the policy: revision %s, want %s", got, second)
	}
	resp, err := http.Get(url + "/open-lab/tiny-open/resolve/main/config.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after a refused reload: download status %d, want 200", resp.StatusCode)
	}
	cancel()
	<-done
}

// TestCheckWithExtension: the example extension, configured, narrows what
// the export rules allow.
func TestCheckWithExtension(t *testing.T) {
	cfg := writeConfig(t)
	ext, err := filepath.Abs(repoPath("rego/examples/employees_only"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("policy: {extensions: ["+ext+"]}\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		entityID string
		exit     int
		code     string
	}{
		{"", 1, "employees_only"},
		{"other-co", 1, "employees_only"},
		{"frontier-lab", 0, "not_an_export"},
	} {
		out, stderr, code := runMain(t, "check", "--config", cfg, "--model", "frontier-lab/frontier-x", "--country", "US", "--nationality", "US", "--parent-hq", "US", "--entity-id", tt.entityID)
		var res whatif.Result
		_ = json.Unmarshal([]byte(out), &res)
		if code != tt.exit || res.Decision.Code != tt.code {
			t.Errorf("entity %q: exit %d code %q, want %d %q (%s)", tt.entityID, code, res.Decision.Code, tt.exit, tt.code, stderr)
		}
	}
}
