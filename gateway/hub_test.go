package gateway_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// The Hugging Face Hub download protocol as the clients read it
// (/work/shared/reference/hf-hub-protocol.md, "the reference" below): every
// test here checks what a Hub client would see.

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// noXet fails when a response carries anything that would send a Hub client
// to a Xet store, around the gateway (reference §8.1).
func noXet(tb testing.TB, resp *http.Response, body []byte) {
	tb.Helper()
	for k, v := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-xet") {
			tb.Errorf("%s %s: Xet header %s: %q", resp.Request.Method, resp.Request.URL.Path, k, v)
		}
	}
	if strings.Contains(resp.Header.Get("Link"), "xet") || strings.Contains(resp.Header.Get("Content-Type"), "xet") {
		tb.Errorf("%s %s: Xet link or content type: %q, %q", resp.Request.Method, resp.Request.URL.Path, resp.Header.Get("Link"), resp.Header.Get("Content-Type"))
	}
	if strings.Contains(strings.ToLower(string(body)), "xet") {
		tb.Errorf("%s %s: body mentions xet: %.200s", resp.Request.Method, resp.Request.URL.Path, body)
	}
}

// copyStore copies testdata/store to a temp dir, for tests that change it.
func copyStore(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS(s3test.StoreDir(tb))); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// openDirStore is the dir backend over dir.
func openDirStore(tb testing.TB, dir string) storage.ObjectStore {
	tb.Helper()
	st, err := dirstore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// TestHubResolveHeaders: HEAD, GET and ranged GETs of one file carry the same
// quoted ETag, which for a weights file is the sha256 of its content, with
// X-Linked-Etag and X-Linked-Size as the Hub sends them for LFS files; the
// JS client's "Range: bytes=0-0" probe gets 206 and Content-Range; no answer
// has a Xet header (reference §3.1, §4, checklist 1-4).
func TestHubResolveHeaders(t *testing.T) {
	backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := MustOpenHarness(t, store, harnessOptions{})
		us := h.token(t, claims("US"))
		content := storeFile(t, frontier+shard1)
		wantETag := strconv.Quote(sha256Hex(content))

		for _, base := range []string{frontier, "/frontier-lab/frontier-x/raw/main/"} {
			t.Run(strings.Split(base, "/")[3], func(t *testing.T) {
				var commit string
				n := len(content)
				for _, tc := range []struct {
					method, rng string
					status      int
					body        []byte // the bytes a GET gets
					crange      string // Content-Range of a 206
				}{
					{http.MethodHead, "", 200, content, ""},
					{http.MethodGet, "", 200, content, ""},
					{http.MethodGet, "bytes=0-0", 206, content[:1], fmt.Sprintf("bytes 0-0/%d", n)},
					{http.MethodGet, "bytes=100-", 206, content[100:], fmt.Sprintf("bytes 100-%d/%d", n-1, n)},
					{http.MethodHead, "bytes=0-0", 206, content[:1], fmt.Sprintf("bytes 0-0/%d", n)},
				} {
					var hdr http.Header
					if tc.rng != "" {
						hdr = http.Header{"Range": {tc.rng}}
					}
					resp, body := h.do(t, tc.method, base+shard1, us, hdr)
					name := tc.method + " " + tc.rng
					if resp.StatusCode != tc.status {
						t.Fatalf("%s: status %d, want %d: %s", name, resp.StatusCode, tc.status, body)
					}
					noXet(t, resp, body)
					for hd, want := range map[string]string{"ETag": wantETag, "X-Linked-Etag": wantETag, "X-Linked-Size": strconv.Itoa(n),
						"Accept-Ranges": "bytes", "Content-Range": tc.crange, "Content-Length": strconv.Itoa(len(tc.body))} {
						if got := resp.Header.Get(hd); got != want {
							t.Errorf("%s: %s = %q, want %q", name, hd, got, want)
						}
					}
					if c := resp.Header.Get("X-Repo-Commit"); !hex40.MatchString(c) || (commit != "" && c != commit) {
						t.Errorf("%s: X-Repo-Commit = %q (earlier %q)", name, c, commit)
					} else {
						commit = c
					}
					if tc.method == http.MethodGet && string(body) != string(tc.body) {
						t.Errorf("%s: body differs from the store (%d bytes, want %d)", name, len(body), len(tc.body))
					}
				}
			})
		}

		t.Run("other file", func(t *testing.T) {
			// Not weights: a small file keeps a plain ETag (the Hub's
			// non-LFS files have no X-Linked-Etag either), the same on
			// HEAD and GET.
			head, _ := h.do(t, http.MethodHead, frontier+"config.json", us, nil)
			get, body := h.do(t, http.MethodGet, frontier+"config.json", us, nil)
			if head.StatusCode != 200 || get.StatusCode != 200 {
				t.Fatalf("status %d/%d", head.StatusCode, get.StatusCode)
			}
			noXet(t, get, body)
			if e := head.Header.Get("ETag"); e == "" || e != get.Header.Get("ETag") || !strings.HasPrefix(e, `"`) {
				t.Errorf("ETag HEAD %q GET %q, want one quoted value", e, get.Header.Get("ETag"))
			}
			if l := head.Header.Get("X-Linked-Etag"); l != "" {
				t.Errorf("X-Linked-Etag = %q on a file that is not weights", l)
			}
		})

		t.Run("entry not found names the commit", func(t *testing.T) {
			resp, body := h.do(t, http.MethodHead, frontier+"adapter_config.json", us, nil)
			if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" || !hex40.MatchString(resp.Header.Get("X-Repo-Commit")) {
				t.Errorf("missing file: %d %q commit %q", resp.StatusCode, resp.Header.Get("X-Error-Code"), resp.Header.Get("X-Repo-Commit"))
			}
			noXet(t, resp, body)
			// A refused requester learns neither the file's absence nor the commit.
			resp, _ = h.do(t, http.MethodHead, frontier+"adapter_config.safetensors", h.token(t, claims("CN")), nil)
			if resp.StatusCode != 403 || resp.Header.Get("X-Repo-Commit") != "" {
				t.Errorf("refused: %d, commit %q; want 403 and no commit", resp.StatusCode, resp.Header.Get("X-Repo-Commit"))
			}
		})
	})
}

// TestHubRevisions: a revision is main, HEAD or the commit id, and may arrive
// percent-encoded in one path segment (refs%2Fheads%2Fmain), as both clients
// send it; an unknown one, encoded or not, is RevisionNotFound, and the
// record names the right file and API (reference §3.2, §3.7, checklist 6).
func TestHubRevisions(t *testing.T) {
	backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := MustOpenHarness(t, store, harnessOptions{})
		us := h.token(t, claims("US"))
		resp, _ := h.do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x", us, nil)
		commit := resp.Header.Get("X-Repo-Commit")
		if !hex40.MatchString(commit) {
			t.Fatalf("commit %q", commit)
		}
		for _, tc := range []struct {
			rev     string
			status  int
			hubCode string
		}{
			{"main", 200, ""},
			{"HEAD", 200, ""},
			{commit, 200, ""},
			{"refs%2Fheads%2Fmain", 200, ""},
			{"refs%2Fpr%2F1", 404, "RevisionNotFound"},
			{"v2.0", 404, "RevisionNotFound"},
			{commit[:7], 404, "RevisionNotFound"},
		} {
			t.Run(tc.rev, func(t *testing.T) {
				for _, p := range []string{
					"/frontier-lab/frontier-x/resolve/" + tc.rev + "/" + shard1,
					"/api/models/frontier-lab/frontier-x/revision/" + tc.rev,
					"/api/models/frontier-lab/frontier-x/tree/" + tc.rev,
				} {
					resp, body := h.do(t, http.MethodGet, p, us, http.Header{"Range": {"bytes=0-0"}})
					if got := resp.StatusCode; got != tc.status && !(tc.status == 200 && got == 206) {
						t.Errorf("%s: status %d, want %d: %.200s", p, got, tc.status, body)
						continue
					}
					if got := resp.Header.Get("X-Error-Code"); got != tc.hubCode {
						t.Errorf("%s: X-Error-Code %q, want %q", p, got, tc.hubCode)
					}
					d, _ := h.recordsFor(t, resp.Header.Get("X-Request-Id"))
					if len(d) != 1 || d[0].Model != "frontier-lab/frontier-x" {
						t.Fatalf("%s: records %+v, want one for the model", p, d)
					}
					wantAPI, wantObject := "model_info", ""
					if strings.Contains(p, "/resolve/") {
						wantAPI, wantObject = "resolve", shard1
					} else if strings.Contains(p, "/tree/") {
						wantAPI = "tree"
					}
					if d[0].API != wantAPI || d[0].Object != wantObject {
						t.Errorf("%s: record api %q object %q, want %q %q", p, d[0].API, d[0].Object, wantAPI, wantObject)
					}
				}
			})
		}
	})
}

// TestHubConditionalRequests: If-None-Match (the Hub answers 304 on
// /resolve), If-Match and If-Range compare the client ETag, the sha256, never
// the storage ETag; each request still has one decision record.
func TestHubConditionalRequests(t *testing.T) {
	h := MustOpenHarness(t, dirStore(t), harnessOptions{})
	us := h.token(t, claims("US"))
	content := storeFile(t, frontier+shard1)
	etag := strconv.Quote(sha256Hex(content))
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		status int
		code   string
		body   int // bytes expected
	}{
		{"if-none-match hit", "GET", http.Header{"If-None-Match": {etag}}, 304, "", 0},
		{"if-none-match head", "HEAD", http.Header{"If-None-Match": {etag}}, 304, "", 0},
		{"if-none-match weak", "GET", http.Header{"If-None-Match": {`"x", W/` + etag}}, 304, "", 0},
		{"if-none-match star", "GET", http.Header{"If-None-Match": {"*"}}, 304, "", 0},
		{"if-none-match miss", "GET", http.Header{"If-None-Match": {`"other"`}}, 200, "", len(content)},
		{"if-match hit", "GET", http.Header{"If-Match": {`"other", ` + etag}}, 200, "", len(content)},
		{"if-match miss", "GET", http.Header{"If-Match": {`"other"`}}, 412, "precondition_failed", 0},
		{"if-match weak never", "GET", http.Header{"If-Match": {"W/" + etag}}, 412, "precondition_failed", 0},
		{"if-range hit", "GET", http.Header{"If-Range": {etag}, "Range": {"bytes=10-19"}}, 206, "", 10},
		{"if-range miss sends all", "GET", http.Header{"If-Range": {`"other"`}, "Range": {"bytes=10-19"}}, 200, "", len(content)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.do(t, tc.method, frontier+shard1, us, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if got := decodeError(t, body).Code; got != tc.code {
					t.Errorf("code %q, want %q", got, tc.code)
				}
			} else {
				if got := resp.Header.Get("ETag"); got != etag {
					t.Errorf("ETag %q, want %q", got, etag)
				}
				if tc.method == "GET" && len(body) != tc.body {
					t.Errorf("body %d bytes, want %d", len(body), tc.body)
				}
			}
			d, tr := h.recordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(d) != 1 || d[0].Status != tc.status {
				t.Errorf("records %+v, want one decision with status %d", d, tc.status)
			}
			if tc.status == 304 && len(tr) != 0 {
				t.Errorf("a 304 has transfer records: %+v", tr)
			}
		})
	}
}

// TestHubDenialMessage: a policy denial is 403 GatedRepo; X-Error-Message
// (all that huggingface_hub sees on a HEAD) carries the policy's reason and
// the decision's request id; the JSON error is the reason.
func TestHubDenialMessage(t *testing.T) {
	h := MustOpenHarness(t, dirStore(t), harnessOptions{})
	cn := h.token(t, claims("CN"))
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		resp, body := h.do(t, method, frontier+shard1, cn, nil)
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != 403 || resp.Header.Get("X-Error-Code") != "GatedRepo" {
			t.Fatalf("%s: %d %q, want 403 GatedRepo", method, resp.StatusCode, resp.Header.Get("X-Error-Code"))
		}
		d, _ := h.recordsFor(t, id)
		if len(d) != 1 || d[0].Code != "country_of_concern" || d[0].Reason == "" {
			t.Fatalf("%s: records %+v", method, d)
		}
		if got, want := resp.Header.Get("X-Error-Message"), d[0].Reason+" (decision "+id+")"; got != want {
			t.Errorf("%s: X-Error-Message = %q, want %q", method, got, want)
		}
		if method == http.MethodGet {
			if e := decodeError(t, body); e.Error != d[0].Reason || e.RequestID != id {
				t.Errorf("body %+v, want the reason and the request id", e)
			}
		}
	}
}

// TestHubModelInfoBlobs: siblings carry sizes, blob ids and lfs.sha256 only
// with ?blobs=true (True too, as requests writes it); lfs appears for weights
// files whose sha256 is known (here: declared in export.yaml) and never a
// Xet field (reference §3.2).
func TestHubModelInfoBlobs(t *testing.T) {
	dir := copyStore(t)
	fake := strings.Repeat("ab", 32) // not the content's: proves it comes from export.yaml
	appendManifest(t, dir, "frontier-lab/frontier-x", "files:\n  "+shard1+":\n    sha256: "+strings.ToUpper(fake)+"\n")
	h := MustOpenHarness(t, openDirStore(t, dir), harnessOptions{})
	us := h.token(t, claims("US"))
	type sib struct {
		RFilename string  `json:"rfilename"`
		Size      *int64  `json:"size"`
		BlobID    *string `json:"blobId"`
		LFS       *struct {
			Size        int64  `json:"size"`
			SHA256      string `json:"sha256"`
			PointerSize int    `json:"pointerSize"`
		} `json:"lfs"`
	}
	type info struct {
		ID        string `json:"id"`
		SHA       string `json:"sha"`
		Downloads *int   `json:"downloads"`
		Likes     *int   `json:"likes"`
		Siblings  []sib  `json:"siblings"`
	}
	resp, body := h.do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x", us, nil)
	noXet(t, resp, body)
	plain := mustJSON[info](t, body)
	if plain.Downloads == nil || plain.Likes == nil || len(plain.Siblings) == 0 {
		t.Errorf("model info %s: want downloads, likes and siblings", body)
	}
	for _, s := range plain.Siblings {
		if s.Size != nil || s.BlobID != nil || s.LFS != nil {
			t.Errorf("without blobs=true: sibling %+v has blob fields", s)
		}
	}
	for _, q := range []string{"?blobs=true", "?blobs=True"} {
		resp, body := h.do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x/revision/main"+q, us, nil)
		noXet(t, resp, body)
		got := mustJSON[info](t, body)
		for _, s := range got.Siblings {
			want := int64(len(mustReadFile(t, filepath.Join(dir, "frontier-lab/frontier-x", s.RFilename))))
			if s.Size == nil || *s.Size != want || s.BlobID == nil || *s.BlobID == "" {
				t.Errorf("%s: sibling %s: size %v blobId %v, want size %d and a blob id", q, s.RFilename, s.Size, s.BlobID, want)
				continue
			}
			switch {
			case s.RFilename == shard1:
				ptr := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", fake, want)
				if s.LFS == nil || s.LFS.SHA256 != fake || s.LFS.Size != want || s.LFS.PointerSize != len(ptr) {
					t.Errorf("%s: %s lfs = %+v, want sha256 %s size %d pointerSize %d", q, s.RFilename, s.LFS, fake, want, len(ptr))
				}
				// blobId is the git blob id of the LFS pointer, as on the Hub.
				if g := gitBlob(ptr); *s.BlobID != g {
					t.Errorf("%s: blobId %s, want the pointer's git blob id %s", q, *s.BlobID, g)
				}
			case s.LFS != nil:
				// Not declared, never downloaded: a listing does not read
				// files to hash them.
				t.Errorf("%s: %s has lfs %+v, but its sha256 is not known", q, s.RFilename, s.LFS)
			}
		}
	}
}

func gitBlob(s string) string {
	sum := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(s), s)))
	return hex.EncodeToString(sum[:])
}

// appendManifest appends yaml to a model's export.yaml in a store directory.
func appendManifest(tb testing.TB, dir, model, yaml string) {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(model), "export.yaml")
	b := mustReadFile(tb, p)
	if err := os.WriteFile(p, append(b, yaml...), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// treeEntry is a tree or paths-info entry as the Hub's clients read it.
type treeEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size *int64 `json:"size"`
	OID  string `json:"oid"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int64  `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs"`
	LastCommit *struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Date  string `json:"date"`
	} `json:"lastCommit"`
}

// linkNext is the regex @huggingface/hub's parseLinkHeader applies.
var linkNext = regexp.MustCompile(`<(https?://[^>]+)>;\s+rel="([^"]+)"`)

// listTree follows a tree listing's next links from path, returning every
// entry and the number of pages.
func listTree(tb testing.TB, h *harness, path, token string, header http.Header) ([]treeEntry, int) {
	tb.Helper()
	var all []treeEntry
	url := h.URL + path
	pages := 0
	for url != "" {
		pages++
		if pages > 100 {
			tb.Fatal("more than 100 pages")
		}
		p, ok := strings.CutPrefix(url, h.URL)
		if !ok {
			tb.Fatalf("next link %q is not on the gateway %s", url, h.URL)
		}
		resp, body := h.do(tb, http.MethodGet, p, token, header)
		if resp.StatusCode != 200 {
			tb.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
		noXet(tb, resp, body)
		all = append(all, mustJSON[[]treeEntry](tb, body)...)
		url = ""
		if l := resp.Header.Get("Link"); l != "" {
			m := linkNext.FindStringSubmatch(l)
			if m == nil || m[2] != "next" {
				tb.Fatalf("Link %q is not an absolute rel=\"next\" link", l)
			}
			url = m[1]
		}
	}
	return all, pages
}

// TestTreeListing: entries have type, path, size and oid; a recursive listing
// names each directory before its files; limit pages it with absolute
// rel="next" links pinned to the commit, which put the pages back together;
// recursive=True and a %2F-encoded directory (Python's forms) work; expand
// adds lastCommit (reference §3.3, checklist 7).
func TestTreeListing(t *testing.T) {
	dir := copyStore(t)
	sub := filepath.Join(dir, "open-lab/tiny-open/onnx/fp16")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"onnx/model.onnx", "onnx/fp16/model.onnx", "onnx/fp16/config.json"} {
		if err := os.WriteFile(filepath.Join(dir, "open-lab/tiny-open", f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := MustOpenHarness(t, openDirStore(t, dir), harnessOptions{})
	const tree = "/api/models/open-lab/tiny-open/tree/main"

	whole, pages := listTree(t, h, tree+"?recursive=true&expand=false", "", nil)
	if pages != 1 {
		t.Errorf("%d pages for a small tree", pages)
	}
	var paths []string
	seen := map[string]bool{}
	for _, e := range whole {
		paths = append(paths, e.Type+":"+e.Path)
		if e.Size == nil || e.OID == "" || (e.Type != "file" && e.Type != "directory") {
			t.Errorf("entry %+v lacks type, size or oid", e)
		}
		if parent := filepath.Dir(e.Path); parent != "." && !seen[parent] {
			t.Errorf("%s listed before its directory %s", e.Path, parent)
		}
		seen[e.Path] = true
	}
	if want := []string{"file:README.md", "file:config.json", "file:export.yaml", "file:model.safetensors",
		"directory:onnx", "directory:onnx/fp16", "file:onnx/fp16/config.json", "file:onnx/fp16/model.onnx",
		"file:onnx/model.onnx", "file:tokenizer.json"}; !slices.Equal(paths, want) {
		t.Errorf("recursive listing = %q, want %q", paths, want)
	}

	for _, q := range []string{"?recursive=true&limit=3", "?recursive=True&expand=False&limit=1"} {
		paged, pages := listTree(t, h, tree+q, "", nil)
		if got, want := len(paged), len(whole); got != want || pages != (want+limitOf(q)-1)/limitOf(q) {
			t.Errorf("%s: %d entries in %d pages, want %d entries in pages of %d", q, got, pages, want, limitOf(q))
		}
		for i := range min(len(paged), len(whole)) {
			if paged[i].Path != whole[i].Path {
				t.Errorf("%s: entry %d = %s, want %s", q, i, paged[i].Path, whole[i].Path)
			}
		}
	}

	t.Run("next link pinned to the commit", func(t *testing.T) {
		resp, _ := h.do(t, http.MethodGet, tree+"?recursive=true&limit=2", "", nil)
		m := linkNext.FindStringSubmatch(resp.Header.Get("Link"))
		commit := resp.Header.Get("X-Repo-Commit")
		if m == nil || !strings.HasPrefix(m[1], h.URL+"/api/models/open-lab/tiny-open/tree/"+commit+"?") {
			t.Fatalf("Link %q, want an absolute link to the tree at %s", resp.Header.Get("Link"), commit)
		}
	})

	t.Run("subdirectory", func(t *testing.T) {
		// huggingface_hub quotes the path with safe="", @huggingface/hub not at all.
		for _, p := range []string{tree + "/onnx%2Ffp16", tree + "/onnx/fp16"} {
			got, _ := listTree(t, h, p, "", nil)
			var names []string
			for _, e := range got {
				names = append(names, e.Path)
			}
			if want := []string{"onnx/fp16/config.json", "onnx/fp16/model.onnx"}; !slices.Equal(names, want) {
				t.Errorf("%s: %q, want %q", p, names, want)
			}
		}
		got, _ := listTree(t, h, tree+"/onnx", "", nil)
		if len(got) != 2 || got[0].Type != "directory" || got[0].Path != "onnx/fp16" || got[1].Path != "onnx/model.onnx" {
			t.Errorf("non-recursive onnx: %+v", got)
		}
	})

	t.Run("expand", func(t *testing.T) {
		got, _ := listTree(t, h, tree+"?recursive=true&expand=true", "", nil)
		for _, e := range got {
			if e.LastCommit == nil || !hex40.MatchString(e.LastCommit.ID) || e.LastCommit.Date == "" {
				t.Errorf("%s: lastCommit %+v", e.Path, e.LastCommit)
			}
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		for _, c := range []string{"nope", "bzk5OTk5", "-1", "bzA1"} {
			resp, body := h.do(t, http.MethodGet, tree+"?cursor="+c, "", nil)
			if resp.StatusCode != 400 || decodeError(t, body).Code != "invalid_cursor" {
				t.Errorf("cursor %q: %d %s", c, resp.StatusCode, body)
			}
		}
		resp, body := h.do(t, http.MethodGet, tree+"?limit=0", "", nil)
		if resp.StatusCode != 400 || decodeError(t, body).Code != "invalid_request" {
			t.Errorf("limit=0: %d %s", resp.StatusCode, body)
		}
	})
}

func limitOf(q string) int {
	_, v, _ := strings.Cut(q, "limit=")
	n, _ := strconv.Atoi(v)
	return n
}

// TestTreePagingBackends pages the sample store's largest model two entries
// at a time on both backends: the pages put back together are the listing.
func TestTreePagingBackends(t *testing.T) {
	backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := MustOpenHarness(t, store, harnessOptions{})
		us := h.token(t, claims("US"))
		whole, _ := listTree(t, h, "/api/models/frontier-lab/frontier-x/tree/main?recursive=true", us, nil)
		paged, pages := listTree(t, h, "/api/models/frontier-lab/frontier-x/tree/main?recursive=true&limit=2", us, nil)
		if len(whole) != len(storeFiles(t, "frontier-lab/frontier-x")) || len(paged) != len(whole) || pages != (len(whole)+1)/2 {
			t.Fatalf("%d entries; paged %d in %d pages", len(whole), len(paged), pages)
		}
		for i := range whole {
			if paged[i].Path != whole[i].Path {
				t.Errorf("entry %d: %s, want %s", i, paged[i].Path, whole[i].Path)
			}
		}
	})
}

// TestTreeNextLinkBehindProxy: the next link is absolute on the URL the
// client used: a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host
// count, anyone else's do not.
func TestTreeNextLinkBehindProxy(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.1/32")
	fwd := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"hub.example.com"}}
	for _, tc := range []struct {
		name    string
		locator *gateway.Locator
		prefix  string // of the link, after the scheme
	}{
		{"trusted", &gateway.Locator{TrustedProxies: []netip.Prefix{loopback}}, "https://hub.example.com/api/models/"},
		{"untrusted", nil, "http://127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := MustOpenHarness(t, dirStore(t), harnessOptions{Locator: tc.locator})
			resp, _ := h.do(t, http.MethodGet, "/api/models/open-lab/tiny-open/tree/main?limit=1", "", fwd)
			m := linkNext.FindStringSubmatch(resp.Header.Get("Link"))
			if m == nil || !strings.HasPrefix(m[1], tc.prefix) {
				t.Errorf("Link %q, want a next link starting %s", resp.Header.Get("Link"), tc.prefix)
			}
		})
	}
}

// TestPathsInfoEntries: paths-info answers form (huggingface_hub) and JSON
// (@huggingface/hub) bodies with tree entries; expand (true, True) adds
// lastCommit, which JS uses as the snapshot folder; lfs appears once the
// sha256 is known (reference §3.4, checklist 8).
func TestPathsInfoEntries(t *testing.T) {
	backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := MustOpenHarness(t, store, harnessOptions{})
		us := h.token(t, claims("US"))
		const pi = "/api/models/frontier-lab/frontier-x/paths-info/main"
		post := func(ctype, body string) []treeEntry {
			t.Helper()
			resp, b := h.doBody(t, http.MethodPost, pi, us, ctype, body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
			}
			noXet(t, resp, b)
			return mustJSON[[]treeEntry](t, b)
		}
		for _, tc := range []struct{ ctype, body string }{
			{"application/json", `{"paths":["` + shard1 + `","nope"],"expand":true}`},
			{"application/x-www-form-urlencoded", "paths=" + shard1 + "&paths=nope&expand=True"},
		} {
			got := post(tc.ctype, tc.body)
			if len(got) != 1 || got[0].Path != shard1 || got[0].LastCommit == nil || !hex40.MatchString(got[0].LastCommit.ID) {
				t.Errorf("%s: %+v", tc.body, got)
			}
			if len(got) == 1 && got[0].LFS != nil {
				t.Errorf("%s: lfs %+v before the sha256 is known", tc.body, got[0].LFS)
			}
		}
		// A download makes the sha256 known; listings then report it.
		if resp, _ := h.do(t, http.MethodHead, frontier+shard1, us, nil); resp.StatusCode != 200 {
			t.Fatalf("HEAD: %d", resp.StatusCode)
		}
		content := storeFile(t, frontier+shard1)
		got := post("application/x-www-form-urlencoded", "paths="+shard1+"&expand=false")
		if len(got) != 1 || got[0].LastCommit != nil || got[0].LFS == nil || got[0].LFS.OID != sha256Hex(content) || got[0].LFS.Size != int64(len(content)) {
			t.Fatalf("after a download: %+v", got)
		}
		ptr := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex(content), len(content))
		if got[0].OID != gitBlob(ptr) || got[0].LFS.PointerSize != len(ptr) {
			t.Errorf("oid %s pointerSize %d, want %s %d", got[0].OID, got[0].LFS.PointerSize, gitBlob(ptr), len(ptr))
		}
		tree, _ := listTree(t, h, "/api/models/frontier-lab/frontier-x/tree/main", us, nil)
		for _, e := range tree {
			if e.Path == shard1 && (e.LFS == nil || e.LFS.OID != sha256Hex(content)) {
				t.Errorf("tree entry %+v, want lfs with the sha256", e)
			}
		}
	})
}

// TestWhoami: /api/whoami-v2 answers what `hf auth login` reads (name,
// auth.accessToken.displayName and role), for a JWT and for hf_<JWT>;
// anonymous callers get 401. One decision record each.
func TestWhoami(t *testing.T) {
	h := MustOpenHarness(t, dirStore(t), harnessOptions{})
	c := claims("DE")
	c.Name, c.Entity = "Erika Mustermann", "Acme GmbH"
	jwt := h.token(t, c)
	type who struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Auth struct {
			AccessToken struct {
				DisplayName string `json:"displayName"`
				Role        string `json:"role"`
			} `json:"accessToken"`
		} `json:"auth"`
		Subject struct {
			Country string `json:"country"`
			Entity  struct {
				Name string `json:"name"`
			} `json:"entity"`
		} `json:"weightgate"`
	}
	for _, tok := range []string{jwt, identity.HFToken(jwt)} {
		resp, body := h.do(t, http.MethodGet, "/api/whoami-v2", tok, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		w := mustJSON[who](t, body)
		if w.Name != "user-DE" || w.Type != "user" || w.Auth.AccessToken.Role != "read" || w.Auth.AccessToken.DisplayName == "" ||
			w.Subject.Country != "DE" || w.Subject.Entity.Name != "Acme GmbH" {
			t.Errorf("whoami = %s", body)
		}
		if d, _ := h.recordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].API != "whoami" || d[0].Subject != "user-DE" {
			t.Errorf("records %+v", d)
		}
	}
	resp, body := h.do(t, http.MethodGet, "/api/whoami-v2", "", nil)
	if resp.StatusCode != 401 || decodeError(t, body).Code != "authentication_required" {
		t.Errorf("anonymous: %d %s", resp.StatusCode, body)
	}
}

// TestHubTelemetryAndXet: huggingface_hub's telemetry HEADs (sent without a
// token) get an empty 200; the Xet token endpoints are refused 404
// EntryNotFound (reference §2.3, §3.6, checklist 9). Each is recorded.
func TestHubTelemetryAndXet(t *testing.T) {
	h := MustOpenHarness(t, dirStore(t), harnessOptions{})
	resp, body := h.do(t, http.MethodHead, "/api/telemetry/transformers/examples?model=x", "", nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("telemetry: %d %q", resp.StatusCode, body)
	}
	if d, _ := h.recordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].API != "telemetry" || d[0].Decision != "allow" {
		t.Errorf("telemetry records %+v", d)
	}
	us := h.token(t, claims("US"))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, p := range []string{"/api/models/frontier-lab/frontier-x/xet-read-token/main", "/api/models/open-lab/tiny-open/xet-write-token/main"} {
			resp, body := h.do(t, method, p, us, nil)
			if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" || decodeError(t, body).Code != "xet_not_supported" {
				t.Errorf("%s %s: %d %q %s", method, p, resp.StatusCode, resp.Header.Get("X-Error-Code"), body)
			}
			if d, _ := h.recordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Decision != "deny" {
				t.Errorf("%s %s: records %+v", method, p, d)
			}
		}
	}
}

// TestHFPrefixedTokens: hf_<JWT> is accepted wherever a JWT is, with the same
// subject; a huggingface.co token (hf_ then no JWT) and a bad JWT behind hf_
// are 401 invalid_token, recorded, never anonymous.
func TestHFPrefixedTokens(t *testing.T) {
	h := MustOpenHarness(t, dirStore(t), harnessOptions{})
	jwt := h.token(t, claims("US"))
	for _, p := range []string{frontier + shard1, "/api/models/frontier-lab/frontier-x", "/api/models/frontier-lab/frontier-x/tree/main"} {
		resp, body := h.do(t, http.MethodGet, p, identity.HFToken(jwt), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s with hf_<JWT>: %d %s", p, resp.StatusCode, body)
		}
		if d, _ := h.recordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Subject != "user-US" || d[0].Anonymous {
			t.Errorf("%s: records %+v", p, d)
		}
	}
	expired := h.token(t, identity.TokenClaims{Subject: "x", Country: "US", IssuedAt: time.Now().Add(-3 * time.Hour), TTL: time.Hour})
	for name, tc := range map[string]struct{ token, message string }{
		"huggingface.co token": {"hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "huggingface.co token"},
		"expired behind hf_":   {identity.HFToken(expired), "expired"},
		"hf_ twice":            {"hf_" + identity.HFToken(jwt), "not a well-formed JWT"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := h.do(t, http.MethodGet, open+"config.json", tc.token, nil)
			e := decodeError(t, body)
			if resp.StatusCode != 401 || e.Code != "invalid_token" || !strings.Contains(e.Error, tc.message) {
				t.Errorf("%d %+v, want 401 invalid_token mentioning %q", resp.StatusCode, e, tc.message)
			}
			if d, _ := h.recordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Code != "invalid_token" {
				t.Errorf("records %+v", d)
			}
		})
	}
}
