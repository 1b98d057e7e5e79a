package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/internal/storagetest"
	"github.com/weightgate/weightgate/storage"
	"github.com/weightgate/weightgate/storage/s3"
)

func mustStore(tb testing.TB, c s3test.Config, bucket string) *s3.Store {
	tb.Helper()
	st, err := s3.New(s3.Config{
		Endpoint: c.Endpoint, Bucket: bucket, Prefix: c.Prefix, Region: c.Region,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, MaxRetries: 1, Timeout: 5 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// TestStore runs the ObjectStore contract against a private VersityGW.
func TestStore(t *testing.T) {
	cfg, stop := s3test.Start(t, s3test.StoreDir(t), "models/")
	st := mustStore(t, cfg, cfg.Bucket)
	ctx := context.Background()
	key := "frontier-lab/frontier-x/model-00002-of-00002.safetensors"
	want, err := os.ReadFile(filepath.Join(s3test.StoreDir(t), filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}

	info, err := st.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != key || info.Size != int64(len(want)) || info.ETag == "" || info.ETag[0] == '"' {
		t.Errorf("Stat = %+v, want key %s, size %d, an unquoted ETag", info, key, len(want))
	}
	if _, err := st.Stat(ctx, "frontier-lab/frontier-x/nope"); !errors.Is(err, storage.ErrObjectNotFound) {
		t.Errorf("Stat missing = %v, want ErrObjectNotFound", err)
	}

	for _, r := range []struct{ off, n int64 }{{0, -1}, {100, 50}, {int64(len(want)) - 10, -1}, {7, 1}} {
		rc, err := st.Open(ctx, key, info.ETag, r.off, r.n)
		if err != nil {
			t.Fatalf("Open(%d, %d): %v", r.off, r.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(want))
		if r.n >= 0 {
			end = r.off + r.n
		}
		if err != nil || string(got) != string(want[r.off:end]) {
			t.Errorf("Open(%d, %d): %d bytes, %v; want bytes %d..%d", r.off, r.n, len(got), err, r.off, end)
		}
	}
	if _, err := st.Open(ctx, key, "0123456789abcdef0123456789abcdef", 0, -1); !errors.Is(err, storage.ErrObjectChanged) {
		t.Errorf("Open with a stale ETag = %v, want ErrObjectChanged", err)
	}
	if _, err := st.Open(ctx, "frontier-lab/frontier-x/nope", "", 0, -1); !errors.Is(err, storage.ErrObjectNotFound) {
		t.Errorf("Open missing = %v, want ErrObjectNotFound", err)
	}

	objs, err := st.List(ctx, "frontier-lab/mini-x/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if want := []string{"frontier-lab/mini-x/config.json", "frontier-lab/mini-x/export.yaml", "frontier-lab/mini-x/model.safetensors"}; !slices.Equal(keys, want) {
		t.Errorf("List = %q, want %q", keys, want)
	}
	dirs, err := st.ListDirs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"frontier-lab/", "open-lab/", "tune-lab/", "unknown-lab/"}; !slices.Equal(dirs, want) {
		t.Errorf("ListDirs = %q, want %q", dirs, want)
	}
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if err := mustStore(t, cfg, "no-such-bucket").Ping(ctx); err == nil {
		t.Error("Ping of a missing bucket succeeded")
	}

	stop()
	start := time.Now()
	if _, err := st.Stat(ctx, key); err == nil || errors.Is(err, storage.ErrObjectNotFound) {
		t.Errorf("Stat with the server down = %v, want a storage error (not not-found)", err)
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping with the server down succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing against a dead server took %v", d)
	}
}

// TestDirectRead: reads of at least DirectMin bytes go on a connection of
// their own (openDirect) whose body hands the socket to the gateway; the
// bytes are the object's, by Read and by KernelSource, for a key that needs
// escaping; a stale ETag, a missing key, a cancelled context and a dead
// server fail as on minio-go's path.
func TestDirectRead(t *testing.T) {
	cfg, stop := s3test.Start(t, "", "models/")
	mc, err := cfg.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := make([]byte, s3.DirectMin+100)
	rand.NewChaCha8([32]byte{1}).Read(want)
	const key = "lab/m/odd name+1=2.safetensors"
	if _, err := mc.PutObject(ctx, cfg.Bucket, cfg.Prefix+key, bytes.NewReader(want), int64(len(want)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	st := mustStore(t, cfg, cfg.Bucket)
	info, err := st.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, n int64 }{{0, int64(len(want))}, {50, s3.DirectMin}} {
		for _, kernel := range []bool{false, true} {
			rc, err := st.Open(ctx, key, info.ETag, r.off, r.n)
			if err != nil {
				t.Fatalf("Open(%d, %d): %v", r.off, r.n, err)
			}
			kb, ok := rc.(storage.KernelBody)
			if !ok {
				t.Fatalf("Open(%d, %d) is a %T, not a KernelBody", r.off, r.n, rc)
			}
			var got []byte
			if kernel {
				head, src := kb.KernelSource()
				if _, ok := src.(*net.TCPConn); !ok {
					t.Fatalf("KernelSource gives a %T, want the storage connection", src)
				}
				rest, err := io.ReadAll(io.LimitReader(src, r.n-int64(len(head))))
				if err != nil {
					t.Fatal(err)
				}
				got = append(head, rest...)
			} else if got, err = io.ReadAll(rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if !bytes.Equal(got, want[r.off:r.off+r.n]) {
				t.Errorf("Open(%d, %d), kernel %v: %d bytes, not the object's", r.off, r.n, kernel, len(got))
			}
		}
	}
	if _, err := st.Open(ctx, key, "0123456789abcdef0123456789abcdef", 0, s3.DirectMin); !errors.Is(err, storage.ErrObjectChanged) {
		t.Errorf("Open with a stale ETag = %v, want ErrObjectChanged", err)
	}
	if _, err := st.Open(ctx, "lab/m/nope", "", 0, s3.DirectMin); !errors.Is(err, storage.ErrObjectNotFound) {
		t.Errorf("Open missing = %v, want ErrObjectNotFound", err)
	}

	// Cancelling the request's context ends a read in progress.
	rctx, rcancel := context.WithCancel(ctx)
	rc, err := st.Open(rctx, key, info.ETag, 0, int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	rcancel()
	start := time.Now()
	if _, err := io.Copy(io.Discard, rc); err == nil {
		// The whole object may already sit in the socket buffers; then
		// at least nothing hangs.
		t.Logf("read completed after cancel")
	}
	rc.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a cancelled read took %v to end", d)
	}

	stop()
	start = time.Now()
	if _, err := st.Open(ctx, key, info.ETag, 0, s3.DirectMin); err == nil || errors.Is(err, storage.ErrObjectNotFound) {
		t.Errorf("Open with the server down = %v, want a storage error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing against a dead server took %v", d)
	}
}

// TestStore_ListPage holds the S3 backend's pages, read from a real
// server under a key prefix, to the same definition as the dir backend's.
func TestStore_ListPage(t *testing.T) {
	dir := storagetest.WriteTree(t, t.TempDir(), storagetest.Keys)
	cfg, stop := s3test.Start(t, dir, "models/")
	defer stop()
	st := mustStore(t, cfg, cfg.Bucket)
	defer st.CloseIdleConnections()
	storagetest.CheckListPage(t, st, storagetest.Keys)
}

// TestStore_ListingsAskNoOwner: the store's listings leave the objects'
// owners out (nothing reads them, and VersityGW takes a third longer for a
// page with them), except a page with a delimiter, which is one Core
// request that always asks; and each answers as before, through a
// recording proxy in front of a real server.
func TestStore_ListingsAskNoOwner(t *testing.T) {
	dir := storagetest.WriteTree(t, t.TempDir(), storagetest.Keys)
	cfg, stop := s3test.Start(t, dir, "models/")
	defer stop()
	var mu sync.Mutex
	var queries []string
	target, err := url.Parse(cfg.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("list-type") {
			mu.Lock()
			queries = append(queries, r.URL.RawQuery)
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r) // the Host header stays the proxy's, which the client signed
	}))
	defer srv.Close()
	via := cfg
	via.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	st := mustStore(t, via, cfg.Bucket)
	defer st.CloseIdleConnections()
	ctx := t.Context()

	asked := func(what string, wantOwner bool) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(queries) == 0 {
			t.Fatalf("%s: no listing request reached the server", what)
		}
		for _, q := range queries {
			v, _ := url.ParseQuery(q)
			if got := v.Get("fetch-owner") == "true"; got != wantOwner {
				t.Errorf("%s asked %q: fetch-owner %v, want %v", what, q, got, wantOwner)
			}
		}
		queries = nil
	}
	p, err := st.ListPage(ctx, "", "", "", 3)
	if err != nil || len(p.Objects) != 3 || !p.Truncated {
		t.Fatalf("ListPage = %v, %v; want 3 objects, truncated", p, err)
	}
	asked("ListPage", false)
	all, err := st.List(ctx, "")
	if err != nil || len(all) != len(storagetest.Keys) {
		t.Fatalf("List = %d objects, %v; want %d", len(all), err, len(storagetest.Keys))
	}
	asked("List", false)
	if _, err := st.ListDirs(ctx, ""); err != nil {
		t.Fatal(err)
	}
	asked("ListDirs", false)
	if _, err := st.ListPage(ctx, "", "", "/", 3); err != nil {
		t.Fatal(err)
	}
	asked("ListPage with a delimiter", true)
}

// TestStore_ListPageRetries: a listing page the server fails with a 5xx
// or SlowDown is asked again, up to MaxRetries attempts in all, as minio-go
// retries its own requests; a refusal (403) is not.
func TestStore_ListPageRetries(t *testing.T) {
	dir := storagetest.WriteTree(t, t.TempDir(), storagetest.Keys)
	cfg, stop := s3test.Start(t, dir, "models/")
	defer stop()
	target, err := url.Parse(cfg.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	for _, tc := range []struct {
		name      string
		status    int
		code      string
		fail      int // listing requests failed before the server answers
		attempts  int
		wantErr   bool
		wantCalls int
	}{
		{"slow down, then an answer", http.StatusServiceUnavailable, "SlowDown", 1, 2, false, 2},
		{"server error, then an answer", http.StatusInternalServerError, "InternalError", 2, 3, false, 3},
		{"server errors past the attempts", http.StatusInternalServerError, "InternalError", 2, 2, true, 2},
		{"no retry", http.StatusServiceUnavailable, "SlowDown", 1, 1, true, 1},
		{"a refusal is not retried", http.StatusForbidden, "AccessDenied", 1, 3, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Has("list-type") {
					mu.Lock()
					calls++
					n := calls
					mu.Unlock()
					if n <= tc.fail {
						w.Header().Set("Content-Type", "application/xml")
						w.WriteHeader(tc.status)
						fmt.Fprintf(w, "<Error><Code>%s</Code><Message>test</Message></Error>", tc.code)
						return
					}
				}
				proxy.ServeHTTP(w, r)
			}))
			defer srv.Close()
			via := cfg
			via.Endpoint = strings.TrimPrefix(srv.URL, "http://")
			st, err := s3.New(s3.Config{
				Endpoint: via.Endpoint, Bucket: cfg.Bucket, Prefix: cfg.Prefix, Region: cfg.Region,
				AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, MaxRetries: tc.attempts, Timeout: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer st.CloseIdleConnections()
			p, err := st.ListPage(t.Context(), "", "", "", 3)
			if (err != nil) != tc.wantErr || (err == nil && len(p.Objects) != 3) {
				t.Fatalf("ListPage = %d objects, %v; want error %v", len(p.Objects), err, tc.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != tc.wantCalls {
				t.Fatalf("%d listing requests, want %d", calls, tc.wantCalls)
			}
		})
	}
}
