package s3test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/internal/testenv"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(StoreDir(t), "frontier-lab", "frontier-x", "export.yaml")); err != nil {
		t.Fatalf("testdata/store not found from repo root: %v", err)
	}
}

func TestStart(t *testing.T) {
	store := StoreDir(t)
	cfg, stop := Start(t, store, "models/")
	if !strings.HasPrefix(cfg.Endpoint, "127.0.0.1:") {
		t.Fatalf("endpoint %q is not on 127.0.0.1", cfg.Endpoint)
	}
	cl, err := cfg.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Every file of the store was uploaded, byte-identical.
	want := map[string][]byte{}
	err = filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(store, p)
		b, err := os.ReadFile(p)
		want["models/"+filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]minio.ObjectInfo{}
	for obj := range cl.ListObjectsIter(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		got[obj.Key] = obj
	}
	if len(got) != len(want) {
		t.Errorf("listed %d objects, want %d", len(got), len(want))
	}
	for key, b := range want {
		obj, ok := got[key]
		if !ok {
			t.Errorf("%s not listed", key)
			continue
		}
		if obj.Size != int64(len(b)) {
			t.Errorf("%s: size %d, want %d", key, obj.Size, len(b))
		}
		sum := md5.Sum(b)
		if etag := strings.Trim(obj.ETag, `"`); etag != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: ETag %s, want MD5 %x (single-part upload)", key, etag, sum)
		}
	}

	// Stat and a ranged read of the large shard.
	const shard = "models/frontier-lab/frontier-x/model-00002-of-00002.safetensors"
	info, err := cl.StatObject(ctx, cfg.Bucket, shard, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(want[shard])) {
		t.Fatalf("stat size %d, want %d", info.Size, len(want[shard]))
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(1<<20, 1<<20+999); err != nil {
		t.Fatal(err)
	}
	r, err := cl.GetObject(ctx, cfg.Bucket, shard, opts)
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(part, want[shard][1<<20:1<<20+1000]) {
		t.Fatalf("ranged read returned %d bytes that differ from the file", len(part))
	}

	// Storage goes down: requests fail promptly.
	stop()
	stop() // idempotent
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := cl.StatObject(ctx2, cfg.Bucket, shard, minio.StatObjectOptions{}); err == nil {
		t.Fatal("stat succeeded after stop")
	} else {
		t.Logf("after stop: %v", err)
	}
}

func TestStartTwoServers(t *testing.T) {
	// Private servers are independent: stopping one leaves the other up.
	a, stopA := Start(t, "", "")
	b, _ := Start(t, "", "")
	if a.Endpoint == b.Endpoint {
		t.Fatalf("both servers on %s", a.Endpoint)
	}
	stopA()
	cl, err := b.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := cl.BucketExists(ctx, b.Bucket)
	if err != nil || !ok {
		t.Fatalf("second server: bucket exists = %v, %v", ok, err)
	}
}

func TestEnv(t *testing.T) {
	cfg := Env(t)
	if !strings.HasPrefix(cfg.Endpoint, "127.0.0.1:") {
		t.Fatalf("endpoint %q is not on 127.0.0.1", cfg.Endpoint)
	}
	cl, err := cfg.Client(3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := cfg.Prefix + "frontier-lab/frontier-x/export.yaml"
	found := false
	n := 0
	for obj := range cl.ListObjectsIter(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
		found = found || obj.Key == want
	}
	if !found {
		t.Fatalf("%s not found among %d objects in %s", want, n, cfg.Bucket)
	}
	r, err := cl.GetObject(ctx, cfg.Bucket, want, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	local, err := os.ReadFile(filepath.Join(StoreDir(t), "frontier-lab", "frontier-x", "export.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, local) {
		t.Fatalf("shared server's export.yaml differs from testdata/store:\n%s", b)
	}
}

// TestSkipWithoutServer: without a server Env skips, unless S3 is required,
// when it fails: a missing server must never hide behind a skip in CI.
func TestSkipWithoutServer(t *testing.T) {
	t.Setenv(EnvEndpoint, "")
	t.Setenv(EnvRequired, "")
	callEnv := func() (string, string) { return testenv.Outcome(t, func(tb testing.TB) { Env(tb) }) }
	if skipped, failed := callEnv(); skipped == "" || failed != "" {
		t.Errorf("optional: skipped %q, failed %q; want a skip", skipped, failed)
	}
	t.Setenv(EnvRequired, "1")
	if skipped, failed := callEnv(); failed == "" || skipped != "" || !strings.Contains(failed, EnvEndpoint) {
		t.Errorf("required: skipped %q, failed %q; want a failure naming %s", skipped, failed, EnvEndpoint)
	}
}
