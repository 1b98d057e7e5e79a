package s3anchor_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/audit/s3anchor"
	"github.com/weightgate/weightgate/internal/s3test"
)

func newStore(t testing.TB, cfg s3test.Config, prefix string) *s3anchor.Store {
	t.Helper()
	s, err := s3anchor.New(t.Context(), s3anchor.Config{URL: "s3://" + cfg.Bucket + "/" + prefix, Endpoint: cfg.Endpoint,
		Region: cfg.Region, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Retention: time.Hour, MaxRetries: 1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""},
		{"s3://b/", "b", ""},
		{"s3://b/audit/fleet", "b", "audit/fleet/"},
		{"s3://b/audit/", "b", "audit/"},
		{"https://b/x", "", ""},
		{"s3:///x", "", ""},
		{"s3://b/a/../c", "", ""},
		{"s3://u:p@b/x", "", ""},
	} {
		b, p, err := s3anchor.ParseURL(tt.in)
		if tt.bucket == "" {
			if err == nil {
				t.Errorf("%s: accepted", tt.in)
			}
			continue
		}
		if err != nil || b != tt.bucket || p != tt.prefix {
			t.Errorf("%s: got %q %q %v, want %q %q", tt.in, b, p, err, tt.bucket, tt.prefix)
		}
	}
}

// TestS3Anchor runs the anchor against VersityGW with versioning and an
// Object Lock bucket: write once, identical retries, refused rewrites, and
// deletes and overwrites that the lock refuses or that leave the original
// version, which Versions reports.
func TestS3Anchor(t *testing.T) {
	t.Parallel()
	cfg, _ := s3test.StartLocked(t)
	ctx := t.Context()
	s := newStore(t, cfg, "fleet")
	line := []byte(`{"seq":2,"kind":"checkpoint"}` + "\n")
	if err := s.PutCheckpoint(ctx, "gw-1", 2, line); err != nil {
		t.Fatalf("PutCheckpoint: %v", err)
	}
	if err := s.PutCheckpoint(ctx, "gw-1", 2, line); err != nil {
		t.Errorf("identical retry: %v", err)
	}
	if err := s.PutCheckpoint(ctx, "gw-1", 2, []byte("forged\n")); err == nil || !strings.Contains(err.Error(), "other content") {
		t.Errorf("a different checkpoint under the same seq: got %v, want a refusal", err)
	}
	if err := s.PutCheckpoint(ctx, "gw-1", 9, []byte("nine\n")); err != nil {
		t.Fatal(err)
	}
	file := []byte("line 1\nline 2\n")
	if err := s.PutFile(ctx, "gw-1", "audit-000001.jsonl", bytes.NewReader(file), int64(len(file))); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if err := s.PutFile(ctx, "gw-2", "audit-000001.jsonl", bytes.NewReader(file), int64(len(file))); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if err := s.PutFile(ctx, "gw-1", "audit-000001.jsonl", strings.NewReader("other!!\nline 2\n"), 15); err == nil {
		t.Error("a different sealed file under the same name was accepted")
	}
	// A large retry: VersityGW refuses the PUT before reading its body and
	// resets the connection rather than answering 412.
	big := bytes.Repeat([]byte("z"), 8<<20)
	for i := range 5 {
		if err := s.PutFile(ctx, "gw-1", "audit-000002.jsonl", bytes.NewReader(big), int64(len(big))); err != nil {
			t.Fatalf("PutFile of 8 MiB, attempt %d: %v", i+1, err)
		}
	}
	big[5] = 'x'
	if err := s.PutFile(ctx, "gw-1", "audit-000002.jsonl", bytes.NewReader(big), int64(len(big))); err == nil || !strings.Contains(err.Error(), "other content") {
		t.Errorf("a different 8 MiB file under the same name: %v", err)
	}

	cps, err := s.Checkpoints(ctx, "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 || cps[0].Seq != 2 || !bytes.Equal(cps[0].Line, line) || cps[0].Versions != 1 || cps[1].Seq != 9 {
		t.Errorf("Checkpoints: %+v", cps)
	}
	ins, err := s.Instances(ctx)
	if err != nil || strings.Join(ins, ",") != "gw-1,gw-2" {
		t.Errorf("Instances: %v %v", ins, err)
	}

	// Someone with the bucket's credentials tries to delete and overwrite.
	cl, err := cfg.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	key := "fleet/gw-1/checkpoints/00000000000000000002.jsonl"
	var vid string
	for o := range cl.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
		vid = o.VersionID
	}
	err = cl.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{VersionID: vid})
	if got := minio.ToErrorResponse(err).Code; got != "AccessDenied" {
		t.Errorf("delete of an anchored version: got %v (%s), want AccessDenied", err, got)
	}
	err = cl.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{VersionID: vid, GovernanceBypass: true})
	if got := minio.ToErrorResponse(err).Code; got != "AccessDenied" {
		t.Errorf("delete with governance bypass: got %v (%s), want AccessDenied", err, got)
	}
	if _, err := cl.PutObject(ctx, cfg.Bucket, key, strings.NewReader("forged\n"), 7, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("overwrite without If-None-Match: %v", err)
	}
	cps, err = s.Checkpoints(ctx, "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	if cps[0].Versions != 2 || !bytes.Equal(cps[0].Line, line) {
		t.Errorf("after an overwrite: %d versions, line %q; want 2 and the original", cps[0].Versions, cps[0].Line)
	}
	fs, err := s.Files(ctx, "gw-1")
	if err != nil || len(fs) != 2 || fs[0].Size != int64(len(file)) || fs[0].Versions != 1 {
		t.Errorf("Files: %+v %v", fs, err)
	}
	rc, err := s.OpenFile(ctx, "gw-1", "audit-000001.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, file) {
		t.Errorf("OpenFile: %q", got)
	}
}

// TestS3AnchorRefusesUnlockedBucket: a bucket without Object Lock is no
// anchor.
func TestS3AnchorRefusesUnlockedBucket(t *testing.T) {
	t.Parallel()
	cfg, _ := s3test.StartLocked(t)
	cl, err := cfg.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(t.Context(), "plain", minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		t.Fatal(err)
	}
	_, err = s3anchor.New(context.Background(), s3anchor.Config{URL: "s3://plain/x", Endpoint: cfg.Endpoint,
		Region: cfg.Region, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, MaxRetries: 1})
	if err == nil {
		t.Fatal("New accepted a bucket without Object Lock")
	}
	t.Log(err)
}
