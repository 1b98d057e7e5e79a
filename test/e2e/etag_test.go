package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/storage"
)

// The client-facing ETag of a weights file is the sha256 of its content:
// declared in export.yaml, else in the object's metadata, else computed once
// per object version by streaming it, and remembered. The storage ETag stays
// what the read sends (If-Match).

// gatedStore holds every read of a model file until release is closed, and
// counts them.
type gatedStore struct {
	storage.ObjectStore
	release chan struct{}
	opens   atomic.Int64
}

func (g *gatedStore) Open(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	if !strings.HasSuffix(key, "/"+catalog.ManifestName) {
		g.opens.Add(1)
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.ObjectStore.Open(ctx, key, etag, off, n)
}

// TestETagComputedOnce: concurrent first requests for a weights file whose
// sha256 is unknown share one computation (one read of the file), all get
// the same ETag, and later requests read nothing to learn it.
func TestETagComputedOnce(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		gs := &gatedStore{ObjectStore: store, release: make(chan struct{})}
		h := gatewaytest.Start(t, gs, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))
		want := strconv.Quote(gatewaytest.SHA256Hex(gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)))

		const n = 12
		etags := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := h.Do(t, http.MethodHead, gatewaytest.Frontier+gatewaytest.Shard1, us, nil)
				etags <- fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("ETag"))
			}()
		}
		// Every request has had time to reach the computation the first
		// one started (and, without sharing, to start its own read).
		time.Sleep(300 * time.Millisecond)
		close(gs.release)
		wg.Wait()
		close(etags)
		for e := range etags {
			if e != "200 "+want {
				t.Errorf("HEAD: %s, want 200 %s", e, want)
			}
		}
		if got := gs.opens.Load(); got != 1 {
			t.Errorf("%d concurrent first HEADs read the file %d times, want once", n, got)
		}
		resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, us, nil)
		if resp.Header.Get("ETag") != want || gatewaytest.SHA256Hex(body) != strings.Trim(want, `"`) {
			t.Errorf("GET: ETag %s, body sha256 %s; want %s for both", resp.Header.Get("ETag"), gatewaytest.SHA256Hex(body), want)
		}
		if got := gs.opens.Load(); got != 2 {
			t.Errorf("after the GET: %d reads, want 2 (one hash, one stream)", got)
		}
	})
}

// TestETagFromManifest: a sha256 declared in export.yaml is the ETag, and is
// not checked by reading the file (a deliberately wrong one shows it).
func TestETagFromManifest(t *testing.T) {
	t.Parallel()
	dir := gatewaytest.CopyStore(t)
	declared := strings.Repeat("0123456789abcdef", 4)
	gatewaytest.AppendManifest(t, dir, "open-lab/tiny-open", "files:\n  model.safetensors: {sha256: "+declared+"}\n")
	cs := &countingStore{ObjectStore: gatewaytest.OpenDirStore(t, dir)}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{})
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		resp, _ := h.Do(t, method, gatewaytest.Open+"model.safetensors", "", http.Header{"Range": {"bytes=0-0"}})
		if got, want := resp.Header.Get("X-Linked-Etag"), strconv.Quote(declared); resp.StatusCode != 206 || got != want || resp.Header.Get("ETag") != want {
			t.Errorf("%s: %d X-Linked-Etag %s ETag %s, want 206 and %s", method, resp.StatusCode, got, resp.Header.Get("ETag"), want)
		}
	}
	if got := cs.opens.Load(); got != 1 {
		t.Errorf("storage read %d times, want once (the GET's stream; no hashing)", got)
	}
}

// TestETagFollowsContent: a file rewritten in place gets the sha256 of its
// new content (the remembered hash is keyed by the storage ETag and size).
func TestETagFollowsContent(t *testing.T) {
	t.Parallel()
	dir := gatewaytest.CopyStore(t)
	h := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{})
	p := filepath.Join(dir, "open-lab/tiny-open/model.safetensors")
	for i, content := range [][]byte{gatewaytest.ReadFile(t, p), []byte("rewritten weights"), []byte("rewritten again, longer")} {
		if i > 0 {
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", "", nil)
		if got, want := resp.Header.Get("ETag"), strconv.Quote(gatewaytest.SHA256Hex(content)); got != want || !bytes.Equal(body, content) {
			t.Errorf("version %d: ETag %s, want %s (body %d bytes, want %d)", i, got, want, len(body), len(content))
		}
	}
}

// TestETagFromObjectMetadata: on S3, x-amz-meta-sha256 is the ETag without a
// read; listings report it once a download has seen it; a malformed value is
// ignored and the sha256 computed.
func TestETagFromObjectMetadata(t *testing.T) {
	t.Parallel()
	// A private server: the shared one's bucket is listed by other tests.
	c, put := privateModel(t, "meta-lab/m")
	declared := strings.Repeat("fedcba9876543210", 4)
	other := []byte("weights whose metadata is not a hash")
	put("export.yaml", []byte("weights: open\n"), nil)
	put("model.safetensors", []byte("weights with a declared hash"), map[string]string{"sha256": strings.ToUpper(declared)})
	put("other.safetensors", other, map[string]string{"sha256": "not-a-hash"})

	cs := &countingStore{ObjectStore: gatewaytest.S3Store(t, c)}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{})
	resp, _ := h.Do(t, http.MethodHead, "/meta-lab/m/resolve/main/model.safetensors", "", nil)
	if got, want := resp.Header.Get("ETag"), strconv.Quote(declared); resp.StatusCode != 200 || got != want {
		t.Errorf("declared in metadata: %d ETag %s, want %s", resp.StatusCode, got, want)
	}
	if got := cs.opens.Load(); got != 0 {
		t.Errorf("storage read %d times for a HEAD whose sha256 is in the metadata", got)
	}
	resp, _ = h.Do(t, http.MethodHead, "/meta-lab/m/resolve/main/other.safetensors", "", nil)
	if got, want := resp.Header.Get("ETag"), strconv.Quote(gatewaytest.SHA256Hex(other)); got != want {
		t.Errorf("malformed metadata: ETag %s, want the computed %s", got, want)
	}
	tree, _ := gatewaytest.ListTree(t, h, "/api/models/meta-lab/m/tree/main", "", nil)
	for _, e := range tree {
		want := map[string]string{"model.safetensors": declared, "other.safetensors": gatewaytest.SHA256Hex(other)}[e.Path]
		if want != "" && (e.LFS == nil || e.LFS.OID != want) {
			t.Errorf("tree %s: lfs %+v, want oid %s", e.Path, e.LFS, want)
		}
	}
}

// TestETagHashingMemoryStaysFlat: computing the sha256 of a 512 MiB file
// streams it: the heap does not grow with the file, and the ETag of the HEAD
// is the GET's.
func TestETagHashingMemoryStaysFlat(t *testing.T) {
	const size = 512 << 20
	cs := &countingStore{ObjectStore: gatewaytest.OpenDirStore(t, bigModel(t, size))}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{})
	const path = "/big-lab/huge/resolve/main/model.safetensors"

	start := time.Now()
	var resp *http.Response
	before, peak := heapPeak(func() { resp, _ = h.Do(t, http.MethodHead, path, "", nil) })
	elapsed := time.Since(start)
	// A sparse file reads as zeros.
	zeros, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zeros.Close()
	want := strconv.Quote(hashReader(t, io.LimitReader(zeros, size)))
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != want {
		t.Fatalf("HEAD: %d ETag %s, want %s", resp.StatusCode, resp.Header.Get("ETag"), want)
	}
	growth := int64(peak) - int64(before)
	t.Logf("hashed 512 MiB in %v; heap in use %d MiB before, peak %d MiB", elapsed, before>>20, peak>>20)
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB while hashing a 512 MiB file", growth>>20)
	}
	// The GET's ETag is remembered, not recomputed: one more read, the
	// stream's.
	resp, _ = h.Do(t, http.MethodGet, path, "", http.Header{"Range": {"bytes=0-0"}})
	if resp.Header.Get("ETag") != want {
		t.Errorf("GET: ETag %s, want %s", resp.Header.Get("ETag"), want)
	}
	if got := cs.opens.Load(); got != 2 {
		t.Errorf("storage read %d times for a HEAD and a GET, want 2 (one hash, one stream)", got)
	}
}

func hashReader(tb testing.TB, r io.Reader) string {
	tb.Helper()
	d := sha256.New()
	if _, err := io.Copy(d, r); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(d.Sum(nil))
}

// TestStatCache: on S3 the stat of a file is remembered for the metadata TTL
// (repeated HEADs and GETs cost no storage round trip), and a file rewritten
// within it is never served under its old stat: the read carries the old
// ETag, storage refuses it, the client gets 503 with Retry-After and the
// retry gets the new version. A directory store is stat'ed every time.
func TestStatCache(t *testing.T) {
	t.Parallel()
	c, put := privateModel(t, "stat-lab/m")
	v1, v2 := []byte("weights, version one"), []byte("weights, version two, longer")
	put("export.yaml", []byte("weights: open\n"), nil)
	put("model.safetensors", v1, nil)
	const path = "/stat-lab/m/resolve/main/model.safetensors"

	cs := &countingStore{ObjectStore: gatewaytest.S3Store(t, c)}
	h := gatewaytest.Start(t, cs, gatewaytest.Options{})
	for _, method := range []string{http.MethodHead, http.MethodHead, http.MethodGet} {
		if resp, _ := h.Do(t, method, path, "", nil); resp.StatusCode != 200 || resp.Header.Get("ETag") != strconv.Quote(gatewaytest.SHA256Hex(v1)) {
			t.Fatalf("%s: %d ETag %s", method, resp.StatusCode, resp.Header.Get("ETag"))
		}
	}
	if got := cs.stats.Load(); got != 1 {
		t.Errorf("storage stat'ed %d times for 3 requests of one file, want 1", got)
	}

	put("model.safetensors", v2, nil)
	resp, body := h.Do(t, http.MethodGet, path, "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || bytes.Contains(body, v1) {
		t.Fatalf("GET after a rewrite: %d Retry-After %q body %q; want 503, Retry-After, no file bytes", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if got, want := gatewaytest.DecodeError(t, body).Code, "storage_unavailable"; got != want {
		t.Errorf("code %q, want %q", got, want)
	}
	resp, body = h.Do(t, http.MethodGet, path, "", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, v2) || resp.Header.Get("ETag") != strconv.Quote(gatewaytest.SHA256Hex(v2)) {
		t.Errorf("retry: %d ETag %s body %q; want 200 and version two", resp.StatusCode, resp.Header.Get("ETag"), body)
	}

	// The directory store: every request stats.
	ds := &countingStore{ObjectStore: gatewaytest.OpenDirStore(t, gatewaytest.CopyStore(t))}
	if _, ok := ds.ObjectStore.(storage.LocalStore); !ok {
		t.Fatal("dirstore is not a LocalStore")
	}
	dh := gatewaytest.Start(t, localCounting{ds}, gatewaytest.Options{})
	for range 3 {
		if resp, _ := dh.Do(t, http.MethodHead, gatewaytest.Open+"model.safetensors", "", nil); resp.StatusCode != 200 {
			t.Fatalf("dir HEAD: %d", resp.StatusCode)
		}
	}
	if got := ds.stats.Load(); got != 3 {
		t.Errorf("dir store stat'ed %d times for 3 HEADs, want 3", got)
	}
}

// localCounting is a countingStore that stays a LocalStore.
type localCounting struct{ *countingStore }

func (localCounting) Local() bool { return true }

// privateModel starts a private S3 server (the shared one's bucket is listed
// by other tests) and returns it with a function that writes a file of the
// model id there, with optional user metadata.
func privateModel(t *testing.T, id string) (s3test.Config, func(name string, body []byte, meta map[string]string)) {
	t.Helper()
	c, _ := s3test.Start(t, "", "models/")
	mc, err := c.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	return c, func(name string, body []byte, meta map[string]string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := mc.PutObject(ctx, c.Bucket, c.Prefix+id+"/"+name, bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{UserMetadata: meta}); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
}
