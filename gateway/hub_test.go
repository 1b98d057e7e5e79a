package gateway_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// The Hugging Face Hub download protocol as the clients read it
// (/work/shared/reference/hf-hub-protocol.md, "the reference" below): every
// test here checks what a Hub client would see.

// TestHubResolveHeaders: HEAD, GET and ranged GETs of one file carry the same
// quoted ETag, which for a weights file is the sha256 of its content, with
// X-Linked-Etag and X-Linked-Size as the Hub sends them for LFS files; the
// JS client's "Range: bytes=0-0" probe gets 206 and Content-Range; no answer
// has a Xet header (reference §3.1, §4, checklist 1-4).
func TestHubResolveHeaders(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))
		content := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
		wantETag := strconv.Quote(gatewaytest.SHA256Hex(content))

		for _, base := range []string{gatewaytest.Frontier, "/frontier-lab/frontier-x/raw/main/"} {
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
					resp, body := h.Do(t, tc.method, base+gatewaytest.Shard1, us, hdr)
					name := tc.method + " " + tc.rng
					if resp.StatusCode != tc.status {
						t.Fatalf("%s: status %d, want %d: %s", name, resp.StatusCode, tc.status, body)
					}
					gatewaytest.NoXet(t, resp, body)
					for hd, want := range map[string]string{"ETag": wantETag, "X-Linked-Etag": wantETag, "X-Linked-Size": strconv.Itoa(n),
						"Accept-Ranges": "bytes", "Content-Range": tc.crange, "Content-Length": strconv.Itoa(len(tc.body))} {
						if got := resp.Header.Get(hd); got != want {
							t.Errorf("%s: %s = %q, want %q", name, hd, got, want)
						}
					}
					if c := resp.Header.Get("X-Repo-Commit"); !gatewaytest.Hex40.MatchString(c) || (commit != "" && c != commit) {
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
			head, _ := h.Do(t, http.MethodHead, gatewaytest.Frontier+"config.json", us, nil)
			get, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+"config.json", us, nil)
			if head.StatusCode != 200 || get.StatusCode != 200 {
				t.Fatalf("status %d/%d", head.StatusCode, get.StatusCode)
			}
			gatewaytest.NoXet(t, get, body)
			if e := head.Header.Get("ETag"); e == "" || e != get.Header.Get("ETag") || !strings.HasPrefix(e, `"`) {
				t.Errorf("ETag HEAD %q GET %q, want one quoted value", e, get.Header.Get("ETag"))
			}
			if l := head.Header.Get("X-Linked-Etag"); l != "" {
				t.Errorf("X-Linked-Etag = %q on a file that is not weights", l)
			}
		})

		t.Run("entry not found names the commit", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodHead, gatewaytest.Frontier+"adapter_config.json", us, nil)
			if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" || !gatewaytest.Hex40.MatchString(resp.Header.Get("X-Repo-Commit")) {
				t.Errorf("missing file: %d %q commit %q", resp.StatusCode, resp.Header.Get("X-Error-Code"), resp.Header.Get("X-Repo-Commit"))
			}
			gatewaytest.NoXet(t, resp, body)
			// A refused requester learns neither the file's absence nor the commit.
			resp, _ = h.Do(t, http.MethodHead, gatewaytest.Frontier+"adapter_config.safetensors", h.Token(t, gatewaytest.Claims("IN")), nil)
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
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))
		resp, _ := h.Do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x", us, nil)
		commit := resp.Header.Get("X-Repo-Commit")
		if !gatewaytest.Hex40.MatchString(commit) {
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
					"/frontier-lab/frontier-x/resolve/" + tc.rev + "/" + gatewaytest.Shard1,
					"/api/models/frontier-lab/frontier-x/revision/" + tc.rev,
					"/api/models/frontier-lab/frontier-x/tree/" + tc.rev,
				} {
					resp, body := h.Do(t, http.MethodGet, p, us, http.Header{"Range": {"bytes=0-0"}})
					if got := resp.StatusCode; got != tc.status && !(tc.status == 200 && got == 206) {
						t.Errorf("%s: status %d, want %d: %.200s", p, got, tc.status, body)
						continue
					}
					if got := resp.Header.Get("X-Error-Code"); got != tc.hubCode {
						t.Errorf("%s: X-Error-Code %q, want %q", p, got, tc.hubCode)
					}
					d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
					if len(d) != 1 || d[0].Model != "frontier-lab/frontier-x" {
						t.Fatalf("%s: records %+v, want one for the model", p, d)
					}
					wantAPI, wantObject := "model_info", ""
					if strings.Contains(p, "/resolve/") {
						wantAPI, wantObject = "resolve", gatewaytest.Shard1
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
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	us := h.Token(t, gatewaytest.Claims("US"))
	content := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
	etag := strconv.Quote(gatewaytest.SHA256Hex(content))
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
			resp, body := h.Do(t, tc.method, gatewaytest.Frontier+gatewaytest.Shard1, us, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if got := gatewaytest.DecodeError(t, body).Code; got != tc.code {
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
			d, tr := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
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
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	in := h.Token(t, gatewaytest.Claims("IN"))
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		resp, body := h.Do(t, method, gatewaytest.Frontier+gatewaytest.Shard1, in, nil)
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != 403 || resp.Header.Get("X-Error-Code") != "GatedRepo" {
			t.Fatalf("%s: %d %q, want 403 GatedRepo", method, resp.StatusCode, resp.Header.Get("X-Error-Code"))
		}
		d, _ := h.RecordsFor(t, id)
		if len(d) != 1 || d[0].Code != "license_required" || d[0].Reason == "" {
			t.Fatalf("%s: records %+v", method, d)
		}
		if got, want := resp.Header.Get("X-Error-Message"), d[0].Reason+" (decision "+id+")"; got != want {
			t.Errorf("%s: X-Error-Message = %q, want %q", method, got, want)
		}
		if method == http.MethodGet {
			if e := gatewaytest.DecodeError(t, body); e.Error != d[0].Reason || e.RequestID != id {
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
	t.Parallel()
	dir := gatewaytest.CopyStore(t)
	fake := strings.Repeat("ab", 32) // not the content's: proves it comes from export.yaml
	gatewaytest.AppendManifest(t, dir, "frontier-lab/frontier-x", "files:\n  "+gatewaytest.Shard1+":\n    sha256: "+strings.ToUpper(fake)+"\n")
	h := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{})
	us := h.Token(t, gatewaytest.Claims("US"))
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
	resp, body := h.Do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x", us, nil)
	gatewaytest.NoXet(t, resp, body)
	plain := gatewaytest.DecodeJSON[info](t, body)
	if plain.Downloads == nil || plain.Likes == nil || len(plain.Siblings) == 0 {
		t.Errorf("model info %s: want downloads, likes and siblings", body)
	}
	for _, s := range plain.Siblings {
		if s.Size != nil || s.BlobID != nil || s.LFS != nil {
			t.Errorf("without blobs=true: sibling %+v has blob fields", s)
		}
	}
	for _, q := range []string{"?blobs=true", "?blobs=True"} {
		resp, body := h.Do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x/revision/main"+q, us, nil)
		gatewaytest.NoXet(t, resp, body)
		got := gatewaytest.DecodeJSON[info](t, body)
		for _, s := range got.Siblings {
			want := int64(len(gatewaytest.ReadFile(t, filepath.Join(dir, "frontier-lab/frontier-x", s.RFilename))))
			if s.Size == nil || *s.Size != want || s.BlobID == nil || *s.BlobID == "" {
				t.Errorf("%s: sibling %s: size %v blobId %v, want size %d and a blob id", q, s.RFilename, s.Size, s.BlobID, want)
				continue
			}
			switch {
			case s.RFilename == gatewaytest.Shard1:
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

// TestTreeListing: entries have type, path, size and oid; a recursive listing
// names each directory before its files; limit pages it with absolute
// rel="next" links pinned to the commit, which put the pages back together;
// recursive=True and a %2F-encoded directory (Python's forms) work; expand
// adds lastCommit (reference §3.3, checklist 7).
func TestTreeListing(t *testing.T) {
	t.Parallel()
	dir := gatewaytest.CopyStore(t)
	sub := filepath.Join(dir, "open-lab/tiny-open/onnx/fp16")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"onnx/model.onnx", "onnx/fp16/model.onnx", "onnx/fp16/config.json"} {
		if err := os.WriteFile(filepath.Join(dir, "open-lab/tiny-open", f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{})
	const tree = "/api/models/open-lab/tiny-open/tree/main"

	whole, pages := gatewaytest.ListTree(t, h, tree+"?recursive=true&expand=false", "", nil)
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
	if want := []string{"file:README.md", "file:__init__.py", "file:config.json", "file:export.yaml", "file:model.safetensors",
		"directory:onnx", "directory:onnx/fp16", "file:onnx/fp16/config.json", "file:onnx/fp16/model.onnx",
		"file:onnx/model.onnx", "file:tokenizer.json"}; !slices.Equal(paths, want) {
		t.Errorf("recursive listing = %q, want %q", paths, want)
	}

	for _, q := range []string{"?recursive=true&limit=3", "?recursive=True&expand=False&limit=1"} {
		paged, pages := gatewaytest.ListTree(t, h, tree+q, "", nil)
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
		resp, _ := h.Do(t, http.MethodGet, tree+"?recursive=true&limit=2", "", nil)
		m := gatewaytest.LinkNext.FindStringSubmatch(resp.Header.Get("Link"))
		commit := resp.Header.Get("X-Repo-Commit")
		if m == nil || !strings.HasPrefix(m[1], h.URL+"/api/models/open-lab/tiny-open/tree/"+commit+"?") {
			t.Fatalf("Link %q, want an absolute link to the tree at %s", resp.Header.Get("Link"), commit)
		}
	})

	t.Run("subdirectory", func(t *testing.T) {
		// huggingface_hub quotes the path with safe="", @huggingface/hub not at all.
		for _, p := range []string{tree + "/onnx%2Ffp16", tree + "/onnx/fp16"} {
			got, _ := gatewaytest.ListTree(t, h, p, "", nil)
			var names []string
			for _, e := range got {
				names = append(names, e.Path)
			}
			if want := []string{"onnx/fp16/config.json", "onnx/fp16/model.onnx"}; !slices.Equal(names, want) {
				t.Errorf("%s: %q, want %q", p, names, want)
			}
		}
		got, _ := gatewaytest.ListTree(t, h, tree+"/onnx", "", nil)
		if len(got) != 2 || got[0].Type != "directory" || got[0].Path != "onnx/fp16" || got[1].Path != "onnx/model.onnx" {
			t.Errorf("non-recursive onnx: %+v", got)
		}
	})

	t.Run("expand", func(t *testing.T) {
		got, _ := gatewaytest.ListTree(t, h, tree+"?recursive=true&expand=true", "", nil)
		for _, e := range got {
			if e.LastCommit == nil || !gatewaytest.Hex40.MatchString(e.LastCommit.ID) || e.LastCommit.Date == "" {
				t.Errorf("%s: lastCommit %+v", e.Path, e.LastCommit)
			}
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		for _, c := range []string{"nope", "bzk5OTk5", "-1", "bzA1"} {
			resp, body := h.Do(t, http.MethodGet, tree+"?cursor="+c, "", nil)
			if resp.StatusCode != 400 || gatewaytest.DecodeError(t, body).Code != "invalid_cursor" {
				t.Errorf("cursor %q: %d %s", c, resp.StatusCode, body)
			}
		}
		resp, body := h.Do(t, http.MethodGet, tree+"?limit=0", "", nil)
		if resp.StatusCode != 400 || gatewaytest.DecodeError(t, body).Code != "invalid_request" {
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
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))
		whole, _ := gatewaytest.ListTree(t, h, "/api/models/frontier-lab/frontier-x/tree/main?recursive=true", us, nil)
		paged, pages := gatewaytest.ListTree(t, h, "/api/models/frontier-lab/frontier-x/tree/main?recursive=true&limit=2", us, nil)
		if len(whole) != len(gatewaytest.StoreFiles(t, "frontier-lab/frontier-x")) || len(paged) != len(whole) || pages != (len(whole)+1)/2 {
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
	t.Parallel()
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
			h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{Locator: tc.locator})
			resp, _ := h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/tree/main?limit=1", "", fwd)
			m := gatewaytest.LinkNext.FindStringSubmatch(resp.Header.Get("Link"))
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
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))
		const pi = "/api/models/frontier-lab/frontier-x/paths-info/main"
		post := func(ctype, body string) []gatewaytest.TreeEntry {
			t.Helper()
			resp, b := h.DoBody(t, http.MethodPost, pi, us, ctype, body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
			}
			gatewaytest.NoXet(t, resp, b)
			return gatewaytest.DecodeJSON[[]gatewaytest.TreeEntry](t, b)
		}
		for _, tc := range []struct{ ctype, body string }{
			{"application/json", `{"paths":["` + gatewaytest.Shard1 + `","nope"],"expand":true}`},
			{"application/x-www-form-urlencoded", "paths=" + gatewaytest.Shard1 + "&paths=nope&expand=True"},
		} {
			got := post(tc.ctype, tc.body)
			if len(got) != 1 || got[0].Path != gatewaytest.Shard1 || got[0].LastCommit == nil || !gatewaytest.Hex40.MatchString(got[0].LastCommit.ID) {
				t.Errorf("%s: %+v", tc.body, got)
			}
			if len(got) == 1 && got[0].LFS != nil {
				t.Errorf("%s: lfs %+v before the sha256 is known", tc.body, got[0].LFS)
			}
		}
		// A download makes the sha256 known; listings then report it.
		if resp, _ := h.Do(t, http.MethodHead, gatewaytest.Frontier+gatewaytest.Shard1, us, nil); resp.StatusCode != 200 {
			t.Fatalf("HEAD: %d", resp.StatusCode)
		}
		content := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
		got := post("application/x-www-form-urlencoded", "paths="+gatewaytest.Shard1+"&expand=false")
		if len(got) != 1 || got[0].LastCommit != nil || got[0].LFS == nil || got[0].LFS.OID != gatewaytest.SHA256Hex(content) || got[0].LFS.Size != int64(len(content)) {
			t.Fatalf("after a download: %+v", got)
		}
		ptr := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", gatewaytest.SHA256Hex(content), len(content))
		if got[0].OID != gitBlob(ptr) || got[0].LFS.PointerSize != len(ptr) {
			t.Errorf("oid %s pointerSize %d, want %s %d", got[0].OID, got[0].LFS.PointerSize, gitBlob(ptr), len(ptr))
		}
		tree, _ := gatewaytest.ListTree(t, h, "/api/models/frontier-lab/frontier-x/tree/main", us, nil)
		for _, e := range tree {
			if e.Path == gatewaytest.Shard1 && (e.LFS == nil || e.LFS.OID != gatewaytest.SHA256Hex(content)) {
				t.Errorf("tree entry %+v, want lfs with the sha256", e)
			}
		}
	})
}

// TestWhoami: /api/whoami-v2 answers what `hf auth login` reads (name,
// auth.accessToken.displayName and role), for a JWT and for hf_<JWT>;
// anonymous callers get 401. One decision record each.
func TestWhoami(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	c := gatewaytest.Claims("DE")
	c.Name, c.Entity = "Erika Mustermann", "Acme GmbH"
	jwt := h.Token(t, c)
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
		resp, body := h.Do(t, http.MethodGet, "/api/whoami-v2", tok, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		w := gatewaytest.DecodeJSON[who](t, body)
		if w.Name != "user-DE" || w.Type != "user" || w.Auth.AccessToken.Role != "read" || w.Auth.AccessToken.DisplayName == "" ||
			w.Subject.Country != "DE" || w.Subject.Entity.Name != "Acme GmbH" {
			t.Errorf("whoami = %s", body)
		}
		if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].API != "whoami" || d[0].Subject != "user-DE" {
			t.Errorf("records %+v", d)
		}
	}
	resp, body := h.Do(t, http.MethodGet, "/api/whoami-v2", "", nil)
	if resp.StatusCode != 401 || gatewaytest.DecodeError(t, body).Code != "authentication_required" {
		t.Errorf("anonymous: %d %s", resp.StatusCode, body)
	}
}

// TestHubTelemetryAndXet: huggingface_hub's telemetry HEADs (sent without a
// token) get an empty 200; the Xet token endpoints are refused 404
// EntryNotFound (reference §2.3, §3.6, checklist 9). Each is recorded.
func TestHubTelemetryAndXet(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	resp, body := h.Do(t, http.MethodHead, "/api/telemetry/transformers/examples?model=x", "", nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("telemetry: %d %q", resp.StatusCode, body)
	}
	if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].API != "telemetry" || d[0].Decision != "allow" {
		t.Errorf("telemetry records %+v", d)
	}
	us := h.Token(t, gatewaytest.Claims("US"))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, p := range []string{"/api/models/frontier-lab/frontier-x/xet-read-token/main", "/api/models/open-lab/tiny-open/xet-write-token/main"} {
			resp, body := h.Do(t, method, p, us, nil)
			if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" || gatewaytest.DecodeError(t, body).Code != "xet_not_supported" {
				t.Errorf("%s %s: %d %q %s", method, p, resp.StatusCode, resp.Header.Get("X-Error-Code"), body)
			}
			if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Decision != "deny" {
				t.Errorf("%s %s: records %+v", method, p, d)
			}
		}
	}
}

// TestHFPrefixedTokens: hf_<JWT> is accepted wherever a JWT is, with the same
// subject; a huggingface.co token (hf_ then no JWT) and a bad JWT behind hf_
// are 401 invalid_token, recorded, never anonymous.
func TestHFPrefixedTokens(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	jwt := h.Token(t, gatewaytest.Claims("US"))
	for _, p := range []string{gatewaytest.Frontier + gatewaytest.Shard1, "/api/models/frontier-lab/frontier-x", "/api/models/frontier-lab/frontier-x/tree/main"} {
		resp, body := h.Do(t, http.MethodGet, p, identity.HFToken(jwt), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s with hf_<JWT>: %d %s", p, resp.StatusCode, body)
		}
		if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Subject != "user-US" || d[0].Anonymous {
			t.Errorf("%s: records %+v", p, d)
		}
	}
	expired := h.Token(t, identity.TokenClaims{Subject: "x", Country: "US", IssuedAt: time.Now().Add(-3 * time.Hour), TTL: time.Hour})
	for name, tc := range map[string]struct{ token, message string }{
		"huggingface.co token": {"hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "huggingface.co token"},
		"expired behind hf_":   {identity.HFToken(expired), "expired"},
		"hf_ twice":            {"hf_" + identity.HFToken(jwt), "not a well-formed JWT"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"config.json", tc.token, nil)
			e := gatewaytest.DecodeError(t, body)
			if resp.StatusCode != 401 || e.Code != "invalid_token" || !strings.Contains(e.Error, tc.message) {
				t.Errorf("%d %+v, want 401 invalid_token mentioning %q", resp.StatusCode, e, tc.message)
			}
			if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Code != "invalid_token" {
				t.Errorf("records %+v", d)
			}
		})
	}
}
