package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/internal/testenv"
)

// docBlock returns the shell block of docs/clients.md between
// <!-- name:begin --> and <!-- name:end -->.
func docBlock(tb testing.TB, name string) string {
	tb.Helper()
	doc := string(gatewaytest.ReadFile(tb, filepath.Join(s3test.RepoRoot(tb), "docs", "clients.md")))
	_, rest, ok := strings.Cut(doc, "<!-- "+name+":begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- "+name+":end -->")
	if !ok || !ok2 {
		tb.Fatalf("docs/clients.md has no %s block", name)
	}
	block = strings.TrimSpace(block)
	body, ok := strings.CutPrefix(block, "```sh\n")
	body, ok2 = strings.CutSuffix(body, "```")
	if !ok || !ok2 {
		tb.Fatalf("docs/clients.md's %s block is not one ```sh fence:\n%s", name, block)
	}
	return body
}

// needTool finds a program the documented commands use; without it the test
// skips, or fails under WEIGHTGATE_TEST_CLIENTS_REQUIRED=1.
func needTool(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		testenv.Skip(tb, testenv.Clients, "%s is not on PATH", name)
	}
}

// TestDocsHFTools runs docs/clients.md's commands for Hugging Face clients,
// as a user would paste them, against a gateway of its own (the only change:
// its URL for 127.0.0.1:8080), and checks what they print and download.
func TestDocsHFTools(t *testing.T) {
	findHFClient(t)
	for _, tool := range []string{"bash", "curl", "go"} {
		needTool(t, tool)
	}
	script := docBlock(t, "hf-tools")
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	if !strings.Contains(script, "http://127.0.0.1:8080") {
		t.Fatal("the docs/clients.md block does not use the Quick start's http://127.0.0.1:8080")
	}
	script = strings.ReplaceAll(script, "http://127.0.0.1:8080", h.URL)

	// The Hub cache goes to a temp dir; nothing of the caller's HF_* counts.
	cache := filepath.Join(t.TempDir(), "hub")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HF_") && !strings.HasPrefix(kv, "HUGGINGFACE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "HF_HUB_CACHE="+cache, "NO_COLOR=1")

	// go run may compile the command from scratch (OPA dominates: about a
	// minute on two cores).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = s3test.RepoRoot(t)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the docs/clients.md block failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	content := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
	sum := gatewaytest.SHA256Hex(content)

	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`"name":"alice"`),                                                                     // whoami-v2
		regexp.MustCompile(`(?mi)^etag: "` + sum + `"\r?$`),                                                      // curl -I
		regexp.MustCompile(`(?mi)^x-linked-etag: "` + sum + `"\r?$`),                                             //
		regexp.MustCompile(`(?mi)^x-repo-commit: [0-9a-f]{40}\r?$`),                                              //
		regexp.MustCompile(`(?m)^` + gatewaytest.Shard1 + " " + strconv.Itoa(len(content)) + ` (` + sum + `)?$`), // listFiles
	} {
		if !want.MatchString(out) {
			t.Errorf("the docs/clients.md block's output does not match %s:\n%s", want, out)
		}
	}

	// snapshotDownload printed its folder, in the cache, holding the model.
	snap := regexp.MustCompile(`(?m)^(` + regexp.QuoteMeta(cache) + `/models--frontier-lab--frontier-x/snapshots/[0-9a-f]{40})$`).FindStringSubmatch(out)
	if snap == nil {
		t.Fatalf("no snapshot folder under %s in the output:\n%s", cache, out)
	}
	for _, f := range gatewaytest.StoreFiles(t, "frontier-lab/frontier-x") {
		got, err := os.ReadFile(filepath.Join(snap[1], filepath.FromSlash(f)))
		if err != nil || !bytes.Equal(got, gatewaytest.ReadFile(t, filepath.Join(s3test.StoreDir(t), "frontier-lab/frontier-x", filepath.FromSlash(f)))) {
			t.Errorf("snapshot file %s: differs from the store (%v)", f, err)
		}
	}

	// The refusal: the policy's reason and the request id of a deny record.
	m := regexp.MustCompile(`(?m)^refused: (.+)\. URL: \S+\. Request ID: ([0-9a-f]{32})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no refusal with a reason and request id in the output:\n%s", out)
	}
	d, _ := h.RecordsFor(t, m[2])
	if len(d) != 1 || d[0].Decision != "deny" || d[0].Code != "license_required" || d[0].Subject != "bob" || d[0].Reason != m[1] {
		t.Errorf("the refusal's record %+v, want a license_required deny for bob whose reason is %q", d, m[1])
	}
}
