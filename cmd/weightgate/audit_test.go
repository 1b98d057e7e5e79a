package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/weightgate/weightgate/audit"
)

// servedTrail runs the gateway, makes a few requests, stops it and returns
// its audit directory: a real trail for the audit commands.
func servedTrail(t *testing.T, extraConfig string) (dir string, shardSize int) {
	t.Helper()
	cfg := writeConfig(t)
	if extraConfig != "" {
		b, _ := os.ReadFile(cfg)
		b = bytes.Replace(b, []byte("audit: {dir: audit}\n"), []byte(extraConfig), 1)
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	url, logs, cancel, done := startServe(t, cfg)
	token := func(country string) string {
		out, stderr, code := runMain(t, "token", "--key", repoPath("testdata/keys/dev-ed25519.pem"), "--sub", "user-"+country, "--country", country, "--nationality", country, "--parent-hq", country, "--entity", "lab-"+country)
		if code != 0 {
			t.Fatalf("token: %s", stderr)
		}
		return strings.TrimSpace(out)
	}
	get := func(path, tok string) int {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return int(n)
	}
	us, cn := token("US"), token("CN")
	shardSize = get("/frontier-lab/frontier-x/resolve/main/model-00001-of-00002.safetensors", us)
	get("/frontier-lab/frontier-x/resolve/main/model-00001-of-00002.safetensors", cn)
	get("/frontier-lab/frontier-x/resolve/main/model-00002-of-00002.safetensors", cn)
	get("/open-lab/tiny-open/resolve/main/config.json", "")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	return filepath.Join(filepath.Dir(cfg), "audit"), shardSize
}

func TestAuditVerifyAndQuery(t *testing.T) {
	dir, shardSize := servedTrail(t, "")

	out, stderr, code := runMain(t, "audit", "verify", dir)
	if code != 0 || !strings.HasPrefix(out, "OK ") {
		t.Fatalf("verify: exit %d, %q %q", code, out, stderr)
	}

	// CSV of the CN requester's records: two denials, no transfer.
	out, stderr, code = runMain(t, "audit", "query", dir, "--country", "cn", "--format", "csv")
	if code != 0 {
		t.Fatalf("query: exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("query --country CN: %d rows, want header + 2:\n%s", len(rows), out)
	}
	for _, r := range rows[1:] {
		if r[2] != "decision" || r[5] != "deny" || r[7] != "country_of_concern" || r[12] != "CN" {
			t.Errorf("row %q, want a CN country_of_concern denial", r)
		}
	}

	// JSON lines carry the chain fields and the full record.
	out, _, code = runMain(t, "audit", "query", dir, "--decision", "allow", "--model", "frontier-lab/frontier-x", "--format", "json")
	if code != 0 {
		t.Fatalf("query json: exit %d", code)
	}
	// The decision and its transfer (which repeats the decision).
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"kind":"decision"`) || !strings.Contains(lines[1], `"kind":"transfer"`) {
		t.Fatalf("allowed frontier-x records: %d lines, want the decision and its transfer:\n%s", len(lines), out)
	}
	var line struct {
		Seq    uint64 `json:"seq"`
		Hash   string `json:"hash"`
		Record struct {
			Input struct {
				Subject struct{ Country string } `json:"subject"`
			} `json:"input"`
			Policy struct{ Code, Basis string } `json:"policy"`
		} `json:"record"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line.Seq == 0 || len(line.Hash) != 64 || line.Record.Input.Subject.Country != "US" || line.Record.Policy.Code != "not_an_export" || line.Record.Policy.Basis == "" {
		t.Errorf("json line = %+v", line)
	}

	// Summary: requests, denials and bytes per model x country x decision.
	out, _, code = runMain(t, "audit", "query", dir, "--summary", "--format", "csv")
	if code != 0 {
		t.Fatalf("summary: exit %d", code)
	}
	// Filters on the decision keep the transfers' bytes.
	out, _, _ = runMain(t, "audit", "query", dir, "--summary", "--format", "csv", "--decision", "allow", "--code", "not_an_export")
	if want := "frontier-lab/frontier-x,US,allow,1,0," + strconv.Itoa(shardSize); !strings.Contains(out, want) {
		t.Errorf("summary --decision allow --code not_an_export lacks %q:\n%s", want, out)
	}
	out, _, code = runMain(t, "audit", "query", dir, "--summary", "--format", "csv")
	for _, want := range []string{
		"frontier-lab/frontier-x,CN,deny,2,2,0",
		"frontier-lab/frontier-x,US,allow,1,0," + strconv.Itoa(shardSize),
		"open-lab/tiny-open,,allow,1,0,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// The table format and the time filters parse.
	out, _, code = runMain(t, "audit", "query", dir, "--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z")
	if code != 0 || !strings.Contains(out, "country_of_concern") || !strings.HasPrefix(out, "SEQ") {
		t.Errorf("table: exit %d:\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"audit", "query", dir, "--decision", "maybe"},
		{"audit", "query", dir, "--format", "xml"},
		{"audit", "query", dir, "--since", "yesterday"},
		{"audit", "query"},
		{"audit", "verify"},
		{"audit", "verify", filepath.Join(dir, "nope")},
		{"audit", "frobnicate"},
	} {
		if _, _, code := runMain(t, bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2", bad, code)
		}
	}
}

func TestAuditVerifyCatchesAnEdit(t *testing.T) {
	dir, _ := servedTrail(t, "")
	file := filepath.Join(dir, "audit-000001.jsonl")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`"country_of_concern"`), []byte(`"license_exception_aia"`), 1)
	if bytes.Equal(edited, b) {
		t.Fatal("nothing to edit")
	}
	if err := os.WriteFile(file, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := runMain(t, "audit", "verify", dir)
	if code != 1 || !strings.HasPrefix(out, "FAIL ") || !strings.Contains(out, "audit-000001.jsonl:") {
		t.Errorf("verify of an edited trail: exit %d, %q; want 1 and FAIL naming the line", code, out)
	}
}

// TestAuditCheckpointsAndMirror: with a checkpoint key configured, verify
// --key checks every signature (and a different key fails); with a mirror
// URL, the SIEM endpoint receives exactly the lines of the files.
func TestAuditCheckpointsAndMirror(t *testing.T) {
	var mu sync.Mutex
	var mirrored bytes.Buffer
	siem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/x-ndjson" {
			http.Error(w, "want ndjson", http.StatusUnsupportedMediaType)
			return
		}
		mu.Lock()
		mirrored.Write(b)
		mu.Unlock()
	}))
	defer siem.Close()
	key, err := filepath.Abs(repoPath("testdata/keys/dev-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := servedTrail(t, "audit:\n  dir: audit\n  checkpoint: {key: "+key+", every: 2}\n  mirror: "+siem.URL+"\n")

	out, _, code := runMain(t, "audit", "verify", "--key", repoPath("testdata/keys/dev-ed25519.pub.pem"), dir)
	if code != 0 || !strings.Contains(out, "verified") || strings.Contains(out, " 0 verified") {
		t.Fatalf("verify --key: exit %d: %s", code, out)
	}
	out, _, code = runMain(t, "audit", "verify", "--key", repoPath("testdata/keys/test-ec-p256.pub.pem"), dir)
	if code != 2 {
		t.Errorf("verify with an EC key: exit %d, want 2 (not an Ed25519 key): %s", code, out)
	}
	other := filepath.Join(t.TempDir(), "other.pub.pem")
	pub, _, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	if err := os.WriteFile(other, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = runMain(t, "audit", "verify", "--key", other, dir)
	if code != 1 || !strings.HasPrefix(out, "FAIL ") {
		t.Errorf("verify with another key: exit %d, %q; want 1 FAIL", code, out)
	}

	file, err := os.ReadFile(filepath.Join(dir, "audit-000001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(mirrored.Bytes(), file) {
		t.Errorf("the mirror received %d bytes, the file holds %d; want the same lines", mirrored.Len(), len(file))
	}
}

// TestAuditVerifyPartial: a trail whose first file is gone fails unless
// --partial says the older files were archived; an emptied trail fails.
func TestAuditVerifyPartial(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := audit.Open(audit.Config{Dir: dir, MaxFileBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := l.Append(context.Background(), "decision", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := audit.Files(dir)
	if len(files) < 3 {
		t.Fatalf("want a rotated trail, got %q", files)
	}
	if out, _, code := runMain(t, "audit", "verify", dir); code != 0 {
		t.Fatalf("verify: %d %s", code, out)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	out, _, code := runMain(t, "audit", "verify", dir)
	if code != 1 || !strings.Contains(out, "not 1") {
		t.Errorf("verify without the first file: exit %d, %q; want 1 FAIL", code, out)
	}
	out, _, code = runMain(t, "audit", "verify", "--partial", dir)
	if code != 0 || !strings.Contains(out, "NOTE the chain starts at seq") {
		t.Errorf("verify --partial: exit %d, %q; want OK with a NOTE", code, out)
	}
	for _, f := range files[1:] {
		os.WriteFile(f, nil, 0o600)
	}
	out, _, code = runMain(t, "audit", "verify", "--head", "-", dir)
	if code != 1 || !strings.HasPrefix(out, "FAIL ") {
		t.Errorf("verify of an emptied trail: exit %d, %q; want 1 FAIL", code, out)
	}
	if _, _, code := runMain(t, "audit", "verify", "--head", filepath.Join(dir, "nope"), dir); code != 2 {
		t.Errorf("verify with a missing --head: exit %d, want 2", code)
	}
}
