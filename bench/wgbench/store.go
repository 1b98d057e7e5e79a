package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"
)

// The store the benchmark serves: one bucket on a private VersityGW, with
// the test layout at its root (the gateways use no key prefix) and the
// bench model.
const (
	bucket     = "models"
	region     = "us-east-1"
	benchModel = "bench-lab/frontier-bench"
	shardCount = 16
)

// s3Server is the benchmark's own VersityGW (posix backend).
type s3Server struct {
	proc           *proc
	addr           string // 127.0.0.1:port
	root           string // posix root: object k of bucket b is the file root/b/k
	access, secret string
	client         *minio.Client
}

// startVersityGW starts VersityGW on a free port with a fresh posix root
// under work, with random root credentials (passed through the
// environment, which keeps them off the process list), and creates the
// bucket. It falls back to a sidecar metadata directory when the
// filesystem has no user xattrs, as scripts/s3-server.sh does.
func startVersityGW(ctx context.Context, ps *procs, bin, work string) (*s3Server, error) {
	s := &s3Server{root: filepath.Join(work, "s3"), access: "wgbench-" + randomHex(6), secret: randomHex(24)}
	env := []string{"ROOT_ACCESS_KEY=" + s.access, "ROOT_SECRET_KEY=" + s.secret}
	logPath := filepath.Join(work, "logs", "versitygw.log")
	sidecar := ""
	for attempt := 1; ; attempt++ {
		if err := os.RemoveAll(s.root); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(s.root, 0o755); err != nil {
			return nil, err
		}
		p, port, err := startOnFreePort(ctx, "versitygw", func(port int) (*proc, error) {
			args := []string{"--port", hostPort(port), "--region", region, "--health", "/health",
				// Keep-alive like real S3: without it VersityGW closes the
				// connection after every request.
				"--keep-alive", "--quiet", "posix"}
			if sidecar != "" {
				args = append(args, "--sidecar", sidecar)
			}
			args = append(args, s.root)
			p, err := ps.start("versitygw", logPath, env, bin, args...)
			if err != nil {
				return nil, err
			}
			return p, ps.readyOrInUse(ctx, p, "http://"+hostPort(port)+"/health", 30*time.Second)
		})
		if err == nil {
			s.proc, s.addr = p, hostPort(port)
			break
		}
		if attempt == 1 && sidecar == "" && strings.Contains(fileTail(logPath, 4096), "xattr") {
			sidecar = filepath.Join(work, "s3-sidecar")
			if err := os.MkdirAll(sidecar, 0o755); err != nil {
				return nil, err
			}
			slog.Warn("filesystem lacks user xattrs; restarting VersityGW with a sidecar metadata directory", "dir", sidecar)
			continue
		}
		return nil, fmt.Errorf("versitygw: %w", err)
	}
	c, err := s.clientFor(s.addr)
	if err != nil {
		return nil, err
	}
	s.client = c
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		return nil, fmt.Errorf("versitygw: create bucket %s: %w", bucket, err)
	}
	slog.Info("versitygw ready", "addr", s.addr, "root", s.root)
	return s, nil
}

// clientFor returns a minio-go client that addresses this server's bucket
// at host (VersityGW itself, or a proxy in front of it). Presigning with it
// signs for that host and needs no request: the region is given.
func (s *s3Server) clientFor(host string) (*minio.Client, error) {
	c, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.access, s.secret, ""),
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("minio client for %s: %w", host, err)
	}
	return c, nil
}

// bucketDir is where VersityGW keeps the bucket's objects as files.
func (s *s3Server) bucketDir() string { return filepath.Join(s.root, bucket) }

// benchFile is one object of the layout, with what a download must return.
type benchFile struct {
	Key    string // ORG/NAME/PATH, also the path under the bucket directory
	Size   int64
	SHA256 string
}

// Path is the file's path within its model.
func (f benchFile) Path() string {
	parts := strings.SplitN(f.Key, "/", 3)
	return parts[2]
}

// layout is what was uploaded.
type layout struct {
	Shards     []benchFile // model-000NN-of-00016.safetensors
	Big        benchFile   // consolidated.safetensors
	Config     benchFile   // config.json
	Export     benchFile   // export.yaml
	TestFiles  int         // files of testdata/store
	ShardSize  int64
	BigSize    int64
	UploadTime time.Duration
}

func (l *layout) all() []benchFile {
	return append(slices.Clone(l.Shards), l.Big, l.Config, l.Export)
}

// upload puts testdata/store at the bucket's root (as scripts/s3-server.sh
// seeds it, without its prefix) and the bench model: closed weights above
// the 4E091 threshold, 16 shards of shardSize and one file of bigSize, of
// deterministic pseudo-random bytes. Its export.yaml declares every
// weights file's sha256, as an operator of large models would: otherwise
// the gateway hashes each file on its first request, which is a one-off
// cost that would land in whichever measurement came first.
func upload(ctx context.Context, s *s3Server, repo string, shardSize, bigSize int64) (*layout, error) {
	start := time.Now()
	l := &layout{ShardSize: shardSize, BigSize: bigSize}

	store := filepath.Join(repo, "testdata", "store")
	err := filepath.WalkDir(store, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(store, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if _, err := s.client.PutObject(ctx, bucket, filepath.ToSlash(rel), f, fi.Size(), minio.PutObjectOptions{}); err != nil {
			return fmt.Errorf("upload %s: %w", rel, err)
		}
		l.TestFiles++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("uploading testdata/store: %w", err)
	}

	for i := 1; i <= shardCount; i++ {
		l.Shards = append(l.Shards, benchFile{Key: fmt.Sprintf("%s/model-%05d-of-%05d.safetensors", benchModel, i, shardCount), Size: shardSize})
	}
	l.Big = benchFile{Key: benchModel + "/consolidated.safetensors", Size: bigSize}
	// Two uploads at a time: VersityGW writes one file while the other is
	// generated and hashed, on a two-core machine.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	weights := append(slices.Clone(l.Shards), l.Big)
	for i := range weights {
		g.Go(func() error {
			sum, err := putGenerated(gctx, s.client, weights[i].Key, weights[i].Size)
			weights[i].SHA256 = sum
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	copy(l.Shards, weights[:shardCount])
	l.Big = weights[shardCount]

	config := []byte(`{"architectures": ["BenchForCausalLM"], "model_type": "bench", "hidden_size": 16384, "num_hidden_layers": 126}` + "\n")
	var y strings.Builder
	y.WriteString("weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\nfiles:\n")
	for _, f := range weights {
		fmt.Fprintf(&y, "  %s: {sha256: %s}\n", f.Path(), f.SHA256)
	}
	for _, small := range []struct {
		dst  *benchFile
		name string
		data []byte
	}{{&l.Config, "config.json", config}, {&l.Export, "export.yaml", []byte(y.String())}} {
		key := benchModel + "/" + small.name
		if _, err := s.client.PutObject(ctx, bucket, key, strings.NewReader(string(small.data)), int64(len(small.data)), minio.PutObjectOptions{}); err != nil {
			return nil, fmt.Errorf("upload %s: %w", key, err)
		}
		sum := sha256.Sum256(small.data)
		*small.dst = benchFile{Key: key, Size: int64(len(small.data)), SHA256: hex.EncodeToString(sum[:])}
	}
	l.UploadTime = time.Since(start)
	slog.Info("uploaded", "testdata_files", l.TestFiles, "shards", fmt.Sprintf("%d x %s", shardCount, sizeText(shardSize)),
		"big", sizeText(bigSize), "took", l.UploadTime.Round(time.Millisecond))
	return l, nil
}

// putGenerated uploads size bytes of the key's deterministic stream and
// returns their sha256.
func putGenerated(ctx context.Context, c *minio.Client, key string, size int64) (string, error) {
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(generator(key), size), h)
	// One PUT, no multipart: VersityGW then writes the object once instead
	// of writing parts and assembling them.
	if _, err := c.PutObject(ctx, bucket, key, src, size, minio.PutObjectOptions{
		DisableMultipart: true, ContentType: "application/octet-stream",
	}); err != nil {
		return "", fmt.Errorf("upload %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// generator is the key's byte stream: ChaCha8 seeded from the key, fast
// (well over 1 GB/s) and incompressible, so that nothing on the path can
// shortcut it.
func generator(key string) io.Reader {
	return mrand.NewChaCha8(sha256.Sum256([]byte("wgbench\x00" + key)))
}

// verifyOnDisk checks that VersityGW stored every bench object as the file
// bucketDir/key, byte for byte: the dir-backend gateway and nginx's static
// server read those files, so they must be the objects themselves.
func verifyOnDisk(ctx context.Context, s *s3Server, l *layout) error {
	for _, f := range l.all() {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(s.bucketDir(), filepath.FromSlash(f.Key))
		fh, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("VersityGW's posix layout is not bucket/key: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
			return fmt.Errorf("%s holds %d bytes with sha256 %s; uploaded %d bytes with sha256 %s", path, n, sum, f.Size, f.SHA256)
		}
	}
	slog.Info("VersityGW stores each object as bucket-dir/key, byte for byte", "dir", s.bucketDir())
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// sizeText prints a byte count in binary units, as the sizes are chosen.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
