package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/testenv"
	"github.com/weightgate/weightgate/storage"
)

// emptyFile is the sample store's 0-byte file, in an open model.
const (
	emptyRepo = "open-lab/tiny-open"
	emptyFile = "__init__.py"
)

// TestHubJSClientEmptyFile: @huggingface/hub downloads a 0-byte file, alone
// (downloadFile after its "Range: bytes=0-0" probe) and within
// snapshotDownload, on both backends.
func TestHubJSClientEmptyFile(t *testing.T) {
	client := findHFClient(t)
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		for _, mode := range [][]string{{"--files", emptyFile}, {"--snapshot"}} {
			t.Run(mode[0], func(t *testing.T) {
				res := client.download(t, h.URL, emptyRepo, "", mode...)
				if res.Exit != 0 {
					t.Fatalf("exit %d, error %+v\nstderr:\n%s", res.Exit, res.Err, res.Stderr)
				}
				var got *clientFile
				for i := range res.Files {
					if res.Files[i].Path == emptyFile {
						got = &res.Files[i]
					}
				}
				if got == nil || got.Size != 0 {
					t.Fatalf("files %+v; want %s, 0 bytes", res.Files, emptyFile)
				}
				if mode[0] == "--files" && (got.ProbeSize != 0 || got.ETag == "") {
					t.Errorf("probe read size %d, ETag %q; want 0 and an ETag", got.ProbeSize, got.ETag)
				}
			})
		}
	})
}

// TestEmptyFileRanges: what each API answers for a 0-byte file, asked as curl
// and the clients ask. The Hub API answers a range on it with the whole
// (empty) file and its size in Content-Range, which @huggingface/hub reads;
// the S3 API keeps S3's answer (416 InvalidRange), which S3 tools expect and
// avoid (they ask an empty object for no range).
func TestEmptyFileRanges(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
		hub := "/" + emptyRepo + "/resolve/main/" + emptyFile
		s3 := "/models/" + emptyRepo + "/" + emptyFile
		tests := []struct {
			name, method, url, rng string
			status                 int
			contentRange           string
		}{
			{"hub GET", http.MethodGet, h.URL + hub, "", 200, ""},
			{"hub HEAD", http.MethodHead, h.URL + hub, "", 200, ""},
			{"hub probe bytes=0-0", http.MethodGet, h.URL + hub, "bytes=0-0", 200, "bytes */0"},
			{"hub bytes=0-", http.MethodGet, h.URL + hub, "bytes=0-", 200, "bytes */0"},
			{"hub bytes=-1", http.MethodGet, h.URL + hub, "bytes=-1", 200, "bytes */0"},
			{"hub HEAD bytes=0-0", http.MethodHead, h.URL + hub, "bytes=0-0", 200, "bytes */0"},
			{"hub raw probe", http.MethodGet, h.URL + "/" + emptyRepo + "/raw/main/" + emptyFile, "bytes=0-0", 200, "bytes */0"},
			{"s3 GET", http.MethodGet, h.S3URL + s3, "", 200, ""},
			{"s3 HEAD", http.MethodHead, h.S3URL + s3, "", 200, ""},
			{"s3 bytes=0-0", http.MethodGet, h.S3URL + s3, "bytes=0-0", 416, "bytes */0"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequest(tt.method, tt.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tt.rng != "" {
					req.Header.Set("Range", tt.rng)
				}
				resp, body := send(t, req)
				if got, want := resp.StatusCode, tt.status; got != want {
					t.Fatalf("status %d, want %d (body %q)", got, want, body)
				}
				if got, want := resp.Header.Get("Content-Range"), tt.contentRange; got != want {
					t.Errorf("Content-Range %q, want %q", got, want)
				}
				if tt.status == 200 {
					if len(body) != 0 || resp.Header.Get("Content-Length") != "0" || resp.Header.Get("ETag") == "" {
						t.Errorf("body %q, Content-Length %q, ETag %q; want empty, 0, an ETag", body, resp.Header.Get("Content-Length"), resp.Header.Get("ETag"))
					}
				}
			})
		}
	})
}

// TestCurlEmptyFile: curl downloads the empty file from either API, whole
// and with the one-byte range a probing client sends the Hub API.
func TestCurlEmptyFile(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		testenv.Skip(t, testenv.Clients, "curl is not on PATH")
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
		for _, c := range []struct {
			name string
			args []string
		}{
			{"hub", []string{h.URL + "/" + emptyRepo + "/resolve/main/" + emptyFile}},
			{"hub range 0-0", []string{"-r", "0-0", h.URL + "/" + emptyRepo + "/resolve/main/" + emptyFile}},
			{"s3", []string{h.S3URL + "/models/" + emptyRepo + "/" + emptyFile}},
		} {
			t.Run(c.name, func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), emptyFile)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, curl, append([]string{"-fsS", "-o", dst}, c.args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("curl: %v\n%s", err, out)
				}
				if fi, err := os.Stat(dst); err != nil || fi.Size() != 0 {
					t.Errorf("curl wrote %v (%v); want an empty file", fi, err)
				}
			})
		}
	})
}

// send does req with a plain client and returns its answer and body.
func send(tb testing.TB, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

// TestHubJSClientRefusals: the stock @huggingface/hub's own error for a
// refused shard, by each of its calls that reach one, for a requester the
// policy refuses visibly (IN: the reason), one it hides the model from (CN:
// a missing file's answer) and an anonymous one; never a SyntaxError from a
// HEAD that claimed a JSON body it could not have.
func TestHubJSClientRefusals(t *testing.T) {
	client := findHFClient(t)
	const repo, shard = "frontier-lab/frontier-x", "model-00001-of-00002.safetensors"
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		in, cn := hfToken(t, h, gatewaytest.Claims("IN")), hfToken(t, h, gatewaytest.Claims("CN"))
		// run runs the client in mode on the shard.
		run := func(t *testing.T, token string, mode ...string) clientResult {
			if mode[0] == "--files" {
				return client.download(t, h.URL, repo, token, mode...)
			}
			args := append([]string{"--endpoint", h.URL, "--repo", repo, "--files", shard}, mode...)
			if token != "" {
				args = append(args, "--token", token)
			}
			return client.run(t, args...)
		}
		// reason is the policy's reason on the decision record of id.
		reason := func(t *testing.T, id string) string {
			t.Helper()
			d, _ := h.RecordsFor(t, id)
			if len(d) != 1 || d[0].Decision != "deny" || d[0].Code != "license_required" || d[0].Reason == "" {
				t.Fatalf("decision records of %q: %+v; want one license_required deny with a reason", id, d)
			}
			return d[0].Reason
		}
		modes := [][]string{{"--exists"}, {"--safetensors"}, {"--files", shard}}
		for _, mode := range modes {
			t.Run("IN "+mode[0], func(t *testing.T) {
				res := run(t, in, mode...)
				e := res.Err
				if res.Exit != 3 || e.Name != "HubApiError" || e.Status != 403 || e.RequestID == "" {
					t.Fatalf("exit %d, error %+v; want the library's HubApiError 403 with a request id", res.Exit, e)
				}
				why := reason(t, e.RequestID)
				if mode[0] == "--exists" {
					// fileExists is a HEAD: the library builds its message
					// from a body only, so it shows the status and the
					// request id, which keys the decision record.
					if !strings.Contains(e.Error, "403") || !strings.Contains(e.Error, e.RequestID) {
						t.Errorf("error %q; want the status and request id", e.Error)
					}
					return
				}
				if !strings.HasPrefix(e.Error, why) || !strings.Contains(e.Error, e.RequestID) {
					t.Errorf("error %q; want the policy's reason %q, then the request id", e.Error, why)
				}
				if len(res.Files) != 0 || res.Tensors != nil {
					t.Errorf("refused requester got files %+v, tensors %v", res.Files, res.Tensors)
				}
			})
		}
		for _, who := range []struct{ name, token string }{{"CN", cn}, {"anonymous", ""}} {
			for _, mode := range modes {
				t.Run(who.name+" "+mode[0], func(t *testing.T) {
					res := run(t, who.token, mode...)
					if mode[0] == "--exists" && who.name == "CN" {
						// Hidden: the file does not exist, as far as CN knows.
						if res.Exit != 0 || res.Exists == nil || *res.Exists {
							t.Fatalf("exit %d, exists %v, error %+v; want false", res.Exit, res.Exists, res.Err)
						}
						return
					}
					e := res.Err
					if res.Exit != 3 || e.Name != "HubApiError" || (e.Status != 404 && e.Status != 401) {
						t.Fatalf("exit %d, error %+v; want the library's HubApiError, not found or unauthorised", res.Exit, e)
					}
					if strings.Contains(strings.ToLower(e.Error), "licen") || strings.Contains(e.Error, "export") {
						t.Errorf("error %q tells a requester the model is hidden from about the policy", e.Error)
					}
					if len(res.Files) != 0 || res.Tensors != nil {
						t.Errorf("refused requester got files %+v, tensors %v", res.Files, res.Tensors)
					}
				})
			}
		}
		for _, r := range h.Records(t) {
			if r.Type == audit.RecordTransfer && r.Model == repo && r.Object == shard {
				t.Errorf("transfer of the refused shard: %+v", r)
			}
		}
	})
}

// TestS3ListBucketsCreationDate: ListBuckets reports the configured creation
// date, and without one the gateway's start, never the epoch.
func TestS3ListBucketsCreationDate(t *testing.T) {
	t.Parallel()
	created := time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		set  time.Time
	}{{"configured", created}, {"unset", time.Time{}}} {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true, BucketCreated: tt.set}})
			c := s3Client(t, h, nil)
			buckets, err := c.ListBuckets(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(buckets) != 1 {
				t.Fatalf("buckets %+v; want one", buckets)
			}
			got := buckets[0].CreationDate
			if !tt.set.IsZero() && !got.Equal(tt.set) {
				t.Errorf("CreationDate %v, want %v", got, tt.set)
			}
			if tt.set.IsZero() && got.Before(before) {
				t.Errorf("CreationDate %v, want the gateway's start (after %v)", got, before)
			}
		})
	}
}
