package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/internal/testenv"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// hfClient runs scripts/hfclient/client.mjs: the official @huggingface/hub
// JavaScript library downloading from the gateway.
type hfClient struct{ node, script string }

func findHFClient(tb testing.TB) hfClient {
	tb.Helper()
	// A missing client fails the test under WEIGHTGATE_TEST_CLIENTS_REQUIRED=1
	// (scripts/test.sh installs it and sets that).
	skip := func(msg string) {
		tb.Helper()
		testenv.Skip(tb, testenv.Clients, "hfclient: %s (install with: npm ci --prefix scripts/hfclient)", msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not on PATH")
	}
	dir := filepath.Join(s3test.RepoRoot(tb), "scripts", "hfclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "hub", "package.json")); err != nil {
		skip("scripts/hfclient/node_modules/@huggingface/hub is not installed")
	}
	return hfClient{node: node, script: filepath.Join(dir, "client.mjs")}
}

// clientFile is a line of the client's output for a downloaded file. ETag
// and ProbeSize are what the library's fileDownloadInfo read from its
// "Range: bytes=0-0" probe (not reported by --snapshot).
type clientFile struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	ETag      string `json:"etag"`
	ProbeSize int64  `json:"probe_size"`
}

// clientEntry is a listFiles entry as the library returns it.
type clientEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	OID  string `json:"oid"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs"`
	XetHash *string `json:"xetHash"`
}

// clientError is the client's last line when the library failed.
type clientError struct {
	Error     string `json:"error"`
	Status    int    `json:"status"`
	Name      string `json:"name"`
	RequestID string `json:"request_id"`
	Data      struct {
		Error     string `json:"error"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	} `json:"data"`
}

type clientResult struct {
	Exit    int
	Files   []clientFile
	Entries []clientEntry
	WhoAmI  json.RawMessage
	Exists  *bool // --exists: fileExists' answer
	Tensors *int  // --safetensors: the tensors in the header the library parsed
	Err     *clientError
	Out     string // the download directory
	Stdout  string
	Stderr  string
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// download runs the client against the gateway; it fails the test only if the
// client could not run or printed something that is not its protocol. The
// token goes to the library's accessToken option as it is.
func (c hfClient) download(tb testing.TB, endpoint, repo, token string, extra ...string) clientResult {
	tb.Helper()
	out := tb.TempDir()
	args := append([]string{"--endpoint", endpoint, "--repo", repo, "--out", out}, extra...)
	if token != "" {
		args = append(args, "--token", token)
	}
	res := c.run(tb, args...)
	res.Out = out
	return res
}

// run runs client.mjs with args, bounded to 60 seconds.
func (c hfClient) run(tb testing.TB, args ...string) clientResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res clientResult
	cmd := exec.CommandContext(ctx, c.node, append([]string{c.script}, args...)...)
	cmd.Dir = filepath.Dir(c.script)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr = &capped{max: 4 << 20}, &capped{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	res.Stdout, res.Stderr = stdout.buf.String(), stderr.buf.String()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		tb.Fatalf("hfclient %q: timed out after 60s\nstdout:\n%s\nstderr:\n%s", args, res.Stdout, res.Stderr)
	case errors.As(err, &exit):
		res.Exit = exit.ExitCode()
	case err != nil:
		tb.Fatalf("hfclient %q: %v", args, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if line == "" {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			tb.Fatalf("hfclient %q: output line %q: %v\nstderr:\n%s", args, line, err, res.Stderr)
		}
		var err error
		switch {
		case fields["error"] != nil:
			res.Err = new(clientError)
			err = json.Unmarshal([]byte(line), res.Err)
		case fields["entry"] != nil:
			var e clientEntry
			err = json.Unmarshal(fields["entry"], &e)
			res.Entries = append(res.Entries, e)
		case fields["whoami"] != nil:
			res.WhoAmI = fields["whoami"]
		case fields["exists"] != nil:
			err = json.Unmarshal(fields["exists"], &res.Exists)
		case fields["safetensors"] != nil:
			var st struct{ Tensors int }
			err = json.Unmarshal(fields["safetensors"], &st)
			res.Tensors = &st.Tensors
		default:
			var f clientFile
			err = json.Unmarshal([]byte(line), &f)
			res.Files = append(res.Files, f)
		}
		if err != nil {
			tb.Fatalf("hfclient %q: output line %q: %v", args, line, err)
		}
	}
	if (res.Exit == 3) != (res.Err != nil) || (res.Exit != 0 && res.Exit != 3) {
		tb.Fatalf("hfclient %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, res.Exit, res.Stdout, res.Stderr)
	}
	return res
}

// hfToken signs a development token in the form Hugging Face clients take:
// hf_ followed by the JWT.
func hfToken(tb testing.TB, h *gatewaytest.Harness, c identity.TokenClaims) string {
	tb.Helper()
	return identity.HFToken(h.Token(tb, c))
}

// checkIdentical checks that every file the client reports, and wrote, is
// byte-identical to testdata/store.
func checkIdentical(t *testing.T, repo string, res clientResult) {
	t.Helper()
	for _, f := range res.Files {
		want := gatewaytest.ReadFile(t, filepath.Join(s3test.StoreDir(t), filepath.FromSlash(repo), filepath.FromSlash(f.Path)))
		sum := sha256.Sum256(want)
		if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(want)) {
			t.Errorf("%s: client got %d bytes sha256 %s, store has %d bytes sha256 %x", f.Path, f.Size, f.SHA256, len(want), sum)
		}
		got := gatewaytest.ReadFile(t, filepath.Join(res.Out, filepath.FromSlash(f.Path)))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: file written by the client differs from the store (%d vs %d bytes)", f.Path, len(got), len(want))
		}
	}
}

func paths(files []clientFile) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	slices.Sort(out)
	return out
}

// fileRecords returns the audit records of one file of one model, waiting
// (bounded) until it has at least wantTransfers transfer records: the gateway
// writes them after the last byte, so they can trail the client's exit.
func fileRecords(tb testing.TB, h *gatewaytest.Harness, repo, file string, wantTransfers int) (decisions, transfers []audit.Record) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		decisions, transfers = nil, nil
		for _, r := range h.Records(tb) {
			if r.Model != repo || r.Object != file {
				continue
			}
			if r.Type == audit.RecordTransfer {
				transfers = append(transfers, r)
			} else {
				decisions = append(decisions, r)
			}
		}
		if len(transfers) >= wantTransfers || time.Now().After(deadline) {
			return decisions, transfers
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHuggingFaceHubJSClient downloads models through the gateway with the
// official @huggingface/hub JavaScript library (scripts/hfclient): what a
// user of the Hub's JS client sees, byte for byte, and what the audit log
// records for it.
func TestHuggingFaceHubJSClient(t *testing.T) {
	client := findHFClient(t)
	const (
		openRepo     = "open-lab/tiny-open"
		frontierRepo = "frontier-lab/frontier-x"
	)
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})

		t.Run("anonymous open model", func(t *testing.T) {
			res := client.download(t, h.URL, openRepo, "")
			if res.Exit != 0 {
				t.Fatalf("exit %d, error %+v\nstderr:\n%s", res.Exit, res.Err, res.Stderr)
			}
			if got, want := paths(res.Files), gatewaytest.StoreFiles(t, openRepo); !slices.Equal(got, want) {
				t.Fatalf("downloaded %q, want every file of the model %q", got, want)
			}
			checkIdentical(t, openRepo, res)
		})

		t.Run("tier1 token closed model", func(t *testing.T) {
			res := client.download(t, h.URL, frontierRepo, hfToken(t, h, gatewaytest.Claims("US")))
			if res.Exit != 0 {
				t.Fatalf("exit %d, error %+v\nstderr:\n%s", res.Exit, res.Err, res.Stderr)
			}
			if got, want := paths(res.Files), gatewaytest.StoreFiles(t, frontierRepo); !slices.Equal(got, want) {
				t.Fatalf("downloaded %q, want every file of the model %q", got, want)
			}
			checkIdentical(t, frontierRepo, res)
			// The library's probe read the size from Content-Range and, for
			// weights, the content's sha256 as the ETag (X-Linked-ETag).
			for _, f := range res.Files {
				if f.ProbeSize != f.Size || f.ETag == "" {
					t.Errorf("%s: probe read size %d etag %q, want %d and an ETag", f.Path, f.ProbeSize, f.ETag, f.Size)
				}
				if catalog.ObjectKind(f.Path) == policy.KindWeights && f.ETag != strconv.Quote(f.SHA256) {
					t.Errorf("%s: probe read etag %s, want the content's sha256 %q", f.Path, f.ETag, f.SHA256)
				}
			}
			// downloadFile makes two GETs per file, both audited: a
			// "Range: bytes=0-0" probe for size and ETag (fileDownloadInfo,
			// answered 206 with one byte), then the whole file (200).
			for _, f := range res.Files {
				decisions, transfers := fileRecords(t, h, frontierRepo, f.Path, 2)
				var probe, full int
				for _, d := range decisions {
					if d.Decision != "allow" {
						t.Errorf("%s: decision %+v, want allow", f.Path, d)
					}
					switch {
					case d.Input.Request.Range == "bytes=0-0" && d.Status == 206:
						probe++
					case d.Input.Request.Range == "" && d.Status == 200:
						full++
					default:
						t.Errorf("%s: unexpected decision record: range %q status %d", f.Path, d.Input.Request.Range, d.Status)
					}
					wantCode := "not_weights"
					if catalog.ObjectKind(f.Path) == policy.KindWeights {
						wantCode = "not_an_export"
					}
					if d.Code != wantCode {
						t.Errorf("%s: decision code %q, want %q", f.Path, d.Code, wantCode)
					}
				}
				if probe != 1 || full != 1 {
					t.Errorf("%s: %d probe and %d full-file decision records, want 1 and 1", f.Path, probe, full)
				}
				var whole, one int
				for _, tr := range transfers {
					switch {
					case tr.Outcome != audit.OutcomeComplete:
						t.Errorf("%s: transfer %+v not complete", f.Path, tr)
					case tr.Bytes == f.Size && tr.Expected == f.Size:
						whole++
					case tr.Bytes == 1 && tr.Expected == 1:
						one++
					default:
						t.Errorf("%s: unexpected transfer record: %d of %d bytes", f.Path, tr.Bytes, tr.Expected)
					}
				}
				if whole != 1 || one != 1 {
					t.Errorf("%s: %d whole-file and %d probe transfer records, want 1 and 1", f.Path, whole, one)
				}
			}
		})

		// snapshotDownload fills a Hub cache: modelInfo, the tree listing,
		// paths-info (POST) for each file's blob id and commit, then
		// downloadFile; the snapshot folder links every file.
		t.Run("snapshotDownload", func(t *testing.T) {
			for _, tc := range []struct{ repo, token string }{
				{openRepo, ""},
				{frontierRepo, hfToken(t, h, gatewaytest.Claims("JP"))},
			} {
				// Download once (a HEAD each) what the snapshot's paths-info
				// should name by sha256: a listing only reports known ones.
				for _, f := range gatewaytest.StoreFiles(t, tc.repo) {
					if catalog.ObjectKind(f) == policy.KindWeights {
						tok, _ := strings.CutPrefix(tc.token, "hf_")
						if resp, _ := h.Do(t, http.MethodHead, "/"+tc.repo+"/resolve/main/"+f, tok, nil); resp.StatusCode != 200 {
							t.Fatalf("HEAD %s: %d", f, resp.StatusCode)
						}
					}
				}
				res := client.download(t, h.URL, tc.repo, tc.token, "--snapshot")
				if res.Exit != 0 {
					t.Fatalf("%s: exit %d, error %+v\nstderr:\n%s", tc.repo, res.Exit, res.Err, res.Stderr)
				}
				if got, want := paths(res.Files), gatewaytest.StoreFiles(t, tc.repo); !slices.Equal(got, want) {
					t.Fatalf("%s: snapshot holds %q, want every file of the model %q", tc.repo, got, want)
				}
				// The Hub cache layout: models--{org}--{name}/snapshots/{commit}/.
				snaps, _ := filepath.Glob(filepath.Join(res.Out, "models--*", "snapshots", "*"))
				if len(snaps) != 1 || !gatewaytest.Hex40.MatchString(filepath.Base(snaps[0])) {
					t.Fatalf("%s: snapshot folders %q, want one named by a 40-hex commit", tc.repo, snaps)
				}
				res.Out = snaps[0]
				checkIdentical(t, tc.repo, res)
				// Each file links to a blob named by paths-info's lfs.oid,
				// else oid: for weights files, whose sha256 the HEADs above
				// made known, the content's sha256, as on the Hub.
				for _, f := range res.Files {
					target, err := os.Readlink(filepath.Join(res.Out, filepath.FromSlash(f.Path)))
					if err != nil {
						t.Errorf("%s: %v", f.Path, err)
						continue
					}
					if catalog.ObjectKind(f.Path) == policy.KindWeights && filepath.Base(target) != f.SHA256 {
						t.Errorf("%s: blob %s, want one named by the sha256 %s", f.Path, filepath.Base(target), f.SHA256)
					}
				}
			}
		})

		t.Run("tier 2 closed model", func(t *testing.T) {
			res := client.download(t, h.URL, frontierRepo, hfToken(t, h, gatewaytest.Claims("IN")))
			if res.Exit != 3 {
				t.Fatalf("exit %d, want 3 (refused); files %v", res.Exit, res.Files)
			}
			e := res.Err
			if e.Status != 403 || e.Name != "HubApiError" || e.Data.Code != "license_required" {
				t.Errorf("error = %+v, want a HubApiError with status 403 and code license_required", e)
			}
			// The library's message is the gateway's reason, then URL and
			// request id; the reason is the one in the audit log.
			var refusal *audit.Record
			for _, r := range h.Records(t) {
				if r.RequestID == e.RequestID && r.Type == audit.RecordDecision {
					refusal = &r
				}
			}
			if refusal == nil {
				t.Fatalf("no decision record for the refused request %q", e.RequestID)
			}
			if refusal.Decision != "deny" || refusal.Code != "license_required" || refusal.Reason == "" {
				t.Errorf("refusal record = %+v", refusal)
			}
			if !strings.HasPrefix(e.Error, refusal.Reason) || !strings.Contains(e.Error, e.RequestID) {
				t.Errorf("client error %q does not carry the gateway's reason %q and request id", e.Error, refusal.Reason)
			}
			// Files before the first weight file (the listing is sorted) may
			// be fetched: they are not weights and must be intact.
			for _, f := range res.Files {
				if catalog.ObjectKind(f.Path) == policy.KindWeights {
					t.Errorf("refused requester downloaded weights file %s", f.Path)
				}
			}
			checkIdentical(t, frontierRepo, res)
			for _, r := range h.Records(t) {
				if r.Type == audit.RecordTransfer && r.Model == frontierRepo && r.Subject == "user-CN" &&
					catalog.ObjectKind(r.Object) == policy.KindWeights {
					t.Errorf("transfer record for weights file %s to CN requester: %+v", r.Object, r)
				}
			}
		})

		// The library refuses a token that does not start with hf_ before
		// sending anything: the reason tokens travel as hf_<JWT>.
		t.Run("raw JWT refused by the library", func(t *testing.T) {
			// Decision records are written before each answer, so every
			// earlier request's is in already (transfer records may trail).
			decisions := func() int {
				n := 0
				for _, r := range h.Records(t) {
					if r.Type == audit.RecordDecision {
						n++
					}
				}
				return n
			}
			before := decisions()
			res := client.download(t, h.URL, frontierRepo, h.Token(t, gatewaytest.Claims("US")))
			if res.Exit != 3 || res.Err.Name != "TypeError" || !strings.Contains(res.Err.Error, "hf_") {
				t.Fatalf("exit %d, error %+v; want the library's TypeError about hf_", res.Exit, res.Err)
			}
			if after := decisions(); after != before {
				t.Errorf("%d requests reached the gateway, want none", after-before)
			}
		})

		t.Run("whoAmI", func(t *testing.T) {
			res := client.run(t, "--endpoint", h.URL, "--token", hfToken(t, h, gatewaytest.Claims("GB")), "--whoami")
			var who struct {
				Name string `json:"name"`
				Auth struct {
					AccessToken struct {
						Role string `json:"role"`
					} `json:"accessToken"`
				} `json:"auth"`
			}
			if res.Exit != 0 || json.Unmarshal(res.WhoAmI, &who) != nil || who.Name != "user-GB" || who.Auth.AccessToken.Role != "read" {
				t.Errorf("exit %d, whoami %s, error %+v", res.Exit, res.WhoAmI, res.Err)
			}
		})

		t.Run("anonymous closed model looks missing", func(t *testing.T) {
			closed := client.download(t, h.URL, frontierRepo, "")
			missing := client.download(t, h.URL, "frontier-lab/no-such-x", "")
			for _, res := range []clientResult{closed, missing} {
				if res.Exit != 3 || len(res.Files) != 0 {
					t.Fatalf("exit %d, files %v; want 3 and none", res.Exit, res.Files)
				}
			}
			ce, me := closed.Err, missing.Err
			if ce.Status != 401 || ce.Name != "HubApiError" || ce.Data.Code != "authentication_required" {
				t.Errorf("closed model error = %+v, want a HubApiError with status 401 and code authentication_required", ce)
			}
			if ce.Status != me.Status || ce.Name != me.Name || ce.Data.Code != me.Data.Code ||
				strings.ReplaceAll(ce.Data.Error, frontierRepo, "X") != strings.ReplaceAll(me.Data.Error, "frontier-lab/no-such-x", "X") {
				t.Errorf("closed model error %+v differs from missing model error %+v", ce, me)
			}
		})
	})
}

// TestHuggingFaceHubJSClientTreePaging: the library's listFiles follows the
// gateway's Link rel="next" through a tree of more than one page (TreePageSize
// entries), and gets every entry once.
func TestHuggingFaceHubJSClientTreePaging(t *testing.T) {
	client := findHFClient(t)
	dir := gatewaytest.CopyStore(t)
	model := filepath.Join(dir, "open-lab", "many-shards")
	const shards = gateway.TreePageSize + 5
	if err := os.MkdirAll(filepath.Join(model, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "export.yaml"), []byte("weights: open\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range shards {
		if err := os.WriteFile(filepath.Join(model, "shards", fmt.Sprintf("part-%05d.bin", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{})
	res := client.run(t, "--endpoint", h.URL, "--repo", "open-lab/many-shards", "--list")
	if res.Exit != 0 {
		t.Fatalf("exit %d, error %+v\nstderr:\n%s", res.Exit, res.Err, res.Stderr)
	}
	seen := map[string]int{}
	for _, e := range res.Entries {
		seen[e.Type+":"+e.Path]++
		if e.XetHash != nil {
			t.Errorf("%s: xetHash %q", e.Path, *e.XetHash)
		}
	}
	if got, want := len(res.Entries), shards+2; got != want || seen["directory:shards"] != 1 || seen["file:export.yaml"] != 1 {
		t.Errorf("listFiles gave %d entries, want %d (export.yaml, shards/ and its files)", got, want)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", k, n)
		}
	}
	var pages int
	for _, r := range h.Records(t) {
		if r.Type == audit.RecordDecision && r.API == "tree" && r.Status == 200 {
			pages++
		}
	}
	if pages != 2 {
		t.Errorf("the gateway answered %d tree pages, want 2", pages)
	}
}
