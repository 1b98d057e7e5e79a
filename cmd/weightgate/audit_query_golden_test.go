package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/audittest"
)

// auditQueryCases are the `audit query` invocations whose output is kept
// in testdata/golden/audit-query: written by the streaming implementation
// that read the files for every query, and kept byte for byte since the
// command reads the index.
var auditQueryCases = []struct{ name, args string }{
	{"all-table", ""},
	{"all-csv", "--format csv"},
	{"all-json", "--format json"},
	{"cn-deny-csv", "--country cn --decision deny --format csv"},
	{"subject-table", "--subject user-0007"},
	{"entity-name-csv", "--entity Entity+7+Ltd --format csv"},
	{"entity-id-json", "--entity E0007 --format json"},
	{"model-window-csv", "--model lab-03/model-07 --since 2026-03-01T02:00:00Z --until 2026-03-01T09:00:00Z --format csv"},
	{"code-table", "--code no_licence"},
	{"screening-json", "--screening review --format json"},
	{"ip-country-csv", "--ip-country de --decision allow --format csv"},
	{"date-since-csv", "--since 2026-03-01 --until 2026-03-01T01:00:00Z --format csv"},
	{"code-deny-csv", "--code screening_hit --format csv"},
	{"nothing-csv", "--subject nobody --format csv"},
	{"summary-table", "--summary"},
	{"summary-csv", "--summary --format csv"},
	{"summary-json", "--summary --country US --format json"},
}

// goldenTrail is the trail the golden outputs were made from:
// deterministic, several files.
func goldenTrail(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := audittest.Generate(dir, audittest.GenOptions{Records: 600, Seed: 11, CheckpointEvery: 40,
		MaxFileBytes: 96 << 10, Subjects: 30, Step: 97 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkGolden holds out, the output of what, to
// testdata/golden/audit-query/NAME.golden (or writes it there with -update).
func checkGolden(t *testing.T, name, what, out string) {
	t.Helper()
	path := filepath.Join(repoPath("testdata/golden/audit-query"), name+".golden")
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("%s (%s): output differs from %s:\n%s", name, what, path, firstLineDiff(out, string(want)))
	}
}

func goldenArgs(s string) []string {
	var out []string
	for _, a := range strings.Fields(s) {
		out = append(out, strings.ReplaceAll(a, "+", " "))
	}
	return out
}

// TestAuditQueryGolden: `audit query` prints, for every filter and format,
// exactly what the streaming implementation printed.
func TestAuditQueryGolden(t *testing.T) {
	t.Parallel()
	dir := goldenTrail(t)
	for _, tc := range auditQueryCases {
		out, stderr, code := runMain(t, append(append([]string{"audit", "query", dir}, goldenArgs(tc.args)...), queryIndexArgs(t)...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
		}
		checkGolden(t, tc.name, "audit query "+tc.args, out)
	}
}

// TestAuditQueryGoldenAnchor: the same over a fleet's anchor, with its
// instance column.
func TestAuditQueryGoldenAnchor(t *testing.T) {
	t.Parallel()
	m, url := testAnchor(t)
	for i, inst := range []string{"gw-b", "gw-a"} {
		dir := t.TempDir()
		if _, err := audittest.Generate(dir, audittest.GenOptions{Records: 300, Seed: uint64(20 + i), CheckpointEvery: 40,
			MaxFileBytes: 48 << 10, Subjects: 30, Step: 97 * time.Second}); err != nil {
			t.Fatal(err)
		}
		audittest.Anchor(t, m, inst, dir)
	}
	for _, tc := range []struct{ name, args string }{
		{"anchor-csv", "--format csv"},
		{"anchor-json-deny", "--decision deny --format json"},
		{"anchor-instance-table", "--anchor-instance gw-b --country us"},
		{"anchor-summary", "--summary"},
	} {
		out, stderr, code := runMain(t, append(append([]string{"audit", "query", "--anchor", url}, goldenArgs(tc.args)...), queryIndexArgs(t)...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
		}
		checkGolden(t, tc.name, "audit query --anchor "+tc.args, out)
	}
}

func firstLineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + itoa(i+1) + ":\n got  " + g[i] + "\n want " + w[i]
		}
	}
	return "got " + itoa(len(g)) + " lines, want " + itoa(len(w))
}

func itoa(n int) string { return strconv.Itoa(n) }

// queryIndexArgs keep a test's index in its own temporary directory.
func queryIndexArgs(t *testing.T) []string {
	return []string{"--index", filepath.Join(t.TempDir(), "index.db")}
}

// TestAuditQueryBrokenChain: over a trail altered in its middle, `audit
// query` prints the records before the break, names the break and fails,
// rather than answer from part of the trail as if it were all of it.
func TestAuditQueryBrokenChain(t *testing.T) {
	t.Parallel()
	dir := goldenTrail(t)
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	b, _ := os.ReadFile(files[1])
	b = []byte(strings.Replace(string(b), `"subject":"user-`, `"subject":"usex-`, 1))
	if err := os.WriteFile(files[1], b, 0o640); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runMain(t, append([]string{"audit", "query", dir, "--format", "csv"}, queryIndexArgs(t)...)...)
	if code != 1 || !strings.Contains(stderr, "the chain breaks at "+files[1]+":") || !strings.Contains(stderr, "hash mismatch") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want, _ := os.ReadFile(repoPath("testdata/golden/audit-query/all-csv.golden"))
	if n := strings.Count(out, "\n"); n < 2 || !strings.HasPrefix(string(want), out) {
		t.Fatalf("printed %d lines, not the beginning of the whole trail's", n)
	}
}

// TestAuditQueryFileFilter: --file narrows to one file of the models.
func TestAuditQueryFileFilter(t *testing.T) {
	t.Parallel()
	dir := goldenTrail(t)
	out, stderr, code := runMain(t, append([]string{"audit", "query", dir, "--file", "model-00003-of-00004.safetensors", "--format", "csv"}, queryIndexArgs(t)...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 10 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, ",model-00003-of-00004.safetensors,") {
			t.Fatalf("row of another file: %s", l)
		}
	}
}

// TestAuditEvidenceRoundTrip: `audit query --evidence` writes an archive
// that `audit verify --evidence --key --anchor` accepts; the same archive
// with one byte changed fails with exit 1 naming the segment.
func TestAuditEvidenceRoundTrip(t *testing.T) {
	t.Parallel()
	m, url := testAnchor(t)
	dir := goldenTrail(t)
	audittest.Anchor(t, m, "gw-1", dir)
	out := filepath.Join(t.TempDir(), "evidence.tar.gz")
	stdout, stderr, code := runMain(t, append([]string{"audit", "query", dir, "--anchor-instance", "gw-1", "--country", "CN", "--evidence", out}, queryIndexArgs(t)...)...)
	if code != 0 || !strings.HasPrefix(stdout, "wrote "+out) {
		t.Fatalf("export: exit %d: %s %s", code, stdout, stderr)
	}
	key := pubKeyFile(t)
	stdout, stderr, code = runMain(t, "audit", "verify", "--evidence", out, "--key", key)
	if code != 0 || !strings.HasPrefix(stdout, "OK evidence ") || !strings.Contains(stdout, "verified") {
		t.Fatalf("verify: exit %d: %s %s", code, stdout, stderr)
	}
	// The anchor holds its checkpoints, byte for byte.
	stdout, _, code = runMain(t, "audit", "verify", "--evidence", out, "--key", key, "--anchor", url)
	if code != 0 || strings.Contains(stdout, ", 0 anchored") || !strings.Contains(stdout, " anchored") {
		t.Fatalf("verify --anchor: exit %d: %s", code, stdout)
	}

	b, _ := os.ReadFile(out)
	ms := audittest.ReadArchive(t, b)
	for i := range ms {
		if strings.HasSuffix(ms[i].Name, ".jsonl") {
			ms[i].Body = []byte(strings.Replace(string(ms[i].Body), `"country":"CN"`, `"country":"CA"`, 1))
			break
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	os.WriteFile(bad, audittest.WriteArchive(t, ms), 0o600)
	stdout, _, code = runMain(t, "audit", "verify", "--evidence", bad, "--key", key)
	if code != 1 || !strings.HasPrefix(stdout, "FAIL segments/gw-1/") || !strings.Contains(stdout, "hash mismatch") {
		t.Fatalf("tampered archive: exit %d: %s", code, stdout)
	}
}

// TestAuditQueryNoCacheDir: without a usable cache directory (no $HOME, a
// read-only one, as on some CI runners) `audit query` still answers, from an
// index built in a temporary directory that it removes, and says so. Not
// parallel: it replaces indexCacheDir and $TMPDIR.
func TestAuditQueryNoCacheDir(t *testing.T) {
	dir := goldenTrail(t)
	want, _, code := runMain(t, append([]string{"audit", "query", dir, "--format", "csv"}, queryIndexArgs(t)...)...)
	if code != 0 {
		t.Fatalf("audit query --index: exit %d", code)
	}
	// A cache directory under a regular file: not even root can make it.
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	saved := indexCacheDir
	indexCacheDir = func() (string, error) { return filepath.Join(blocker, "weightgate"), nil }
	t.Cleanup(func() { indexCacheDir = saved })
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	got, stderr, code := runMain(t, "audit", "query", dir, "--format", "csv")
	if code != 0 || got != want {
		t.Fatalf("audit query without a cache directory: exit %d, output equal %v; stderr:\n%s", code, got == want, stderr)
	}
	if !strings.Contains(stderr, "no cache directory for the index") {
		t.Errorf("stderr does not say the index was temporary:\n%s", stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the temporary index was left behind: %v", left)
	}
}
