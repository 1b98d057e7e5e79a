// Package s3test gives integration tests an S3-compatible endpoint seeded
// with the model store fixture (testdata/store).
//
// Two ways to get one:
//
//   - Env: the shared server started by scripts/s3-server.sh (and so by
//     scripts/test.sh), described by the WEIGHTGATE_TEST_S3_* variables.
//   - Start: a private VersityGW process owned by one test, which the test
//     can stop to simulate storage going down.
//
// When the server or binary is not available the test is skipped, unless
// WEIGHTGATE_TEST_S3_REQUIRED=1 (set by scripts/test.sh), in which case it
// fails. Only 127.0.0.1 is ever used.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weightgate/weightgate/internal/testenv"
)

// Environment variables read by Env and Start (written by scripts/s3-server.sh env).
const (
	EnvEndpoint  = "WEIGHTGATE_TEST_S3_ENDPOINT" // host:port, e.g. 127.0.0.1:9000
	EnvBucket    = "WEIGHTGATE_TEST_S3_BUCKET"
	EnvPrefix    = "WEIGHTGATE_TEST_S3_PREFIX" // e.g. models/
	EnvAccessKey = "WEIGHTGATE_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "WEIGHTGATE_TEST_S3_SECRET_KEY"
	EnvRegion    = "WEIGHTGATE_TEST_S3_REGION"
	EnvRequired  = "WEIGHTGATE_TEST_S3_REQUIRED" // "1": missing server is a failure, not a skip (testenv.Var(testenv.S3))
	EnvVersityGW = "WEIGHTGATE_TEST_VERSITYGW"   // absolute path of the versitygw binary
	// EnvMeta forces the posix metadata store: "xattr" or "sidecar". By
	// default xattrs are used and sidecar is the fallback when the
	// filesystem of the temp dir does not support user xattrs.
	EnvMeta = "WEIGHTGATE_TEST_S3_META"
)

// Fixed credentials of private servers started by Start.
const (
	TestAccessKey = "weightgate-test"
	TestSecretKey = "weightgate-test-secret-0123456789abcdefghij"
	TestRegion    = "us-east-1"
)

// Bounded waits.
const (
	readyTimeout  = 30 * time.Second
	uploadTimeout = 2 * time.Minute
	stopTimeout   = 10 * time.Second
)

// Config is an S3 endpoint seeded with testdata/store under Prefix.
type Config struct{ Endpoint, Bucket, Prefix, AccessKey, SecretKey, Region string }

// URL returns the endpoint as an http URL.
func (c Config) URL() string { return "http://" + c.Endpoint }

// Client returns a minio-go client for the endpoint (plain HTTP, path-style).
// retries is the number of attempts per request (1 disables retries, 0 uses
// minio-go's default of 10).
func (c Config) Client(retries int) (*minio.Client, error) {
	return minio.New(c.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       false,
		Region:       c.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   retries,
	})
}

// skipOrFatal skips the test, or fails it when WEIGHTGATE_TEST_S3_REQUIRED=1.
func skipOrFatal(tb testing.TB, msg string) {
	tb.Helper()
	testenv.Skip(tb, testenv.S3, "s3test: %s (run ./scripts/test.sh, or eval \"$(scripts/s3-server.sh start >&2; scripts/s3-server.sh env)\")", msg)
}

// Env returns the shared server from WEIGHTGATE_TEST_S3_* or, when unset,
// calls tb.Skip — unless WEIGHTGATE_TEST_S3_REQUIRED=1, then tb.Fatal with a
// clear message.
func Env(tb testing.TB) Config {
	tb.Helper()
	c := Config{
		Endpoint:  os.Getenv(EnvEndpoint),
		Bucket:    os.Getenv(EnvBucket),
		Prefix:    os.Getenv(EnvPrefix),
		AccessKey: os.Getenv(EnvAccessKey),
		SecretKey: os.Getenv(EnvSecretKey),
		Region:    os.Getenv(EnvRegion),
	}
	var missing []string
	for name, v := range map[string]string{EnvEndpoint: c.Endpoint, EnvBucket: c.Bucket, EnvAccessKey: c.AccessKey, EnvSecretKey: c.SecretKey} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		skipOrFatal(tb, "no shared S3 test server: "+strings.Join(sorted(missing), ", ")+" unset")
	}
	if c.Region == "" {
		c.Region = TestRegion
	}
	return c
}

// Start launches a private VersityGW (binary from WEIGHTGATE_TEST_VERSITYGW,
// same skip/fatal rule as Env) on a free 127.0.0.1 port with a fresh posix
// root in tb.TempDir(), creates a bucket, uploads every file of seedDir under
// prefix (via minio-go), and returns its Config and a stop func that kills
// the process. stop is idempotent and is also registered with tb.Cleanup.
func Start(tb testing.TB, seedDir, prefix string) (Config, func()) {
	tb.Helper()
	cfg, stop := start(tb, false)
	cfg.Prefix = prefix
	if seedDir != "" && !filepath.IsAbs(seedDir) {
		abs, err := filepath.Abs(seedDir)
		if err != nil {
			tb.Fatal(err)
		}
		seedDir = abs
	}
	ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	if _, err := Seed(ctx, cfg, seedDir); err != nil {
		tb.Fatalf("s3test: seeding %s: %v", cfg.URL(), err)
	}
	return cfg, stop
}

// StartLocked launches a private VersityGW with versioning (and so Object
// Lock) and creates cfg.Bucket with Object Lock enabled, empty. It is the
// write-once store an audit anchor needs.
func StartLocked(tb testing.TB) (Config, func()) {
	tb.Helper()
	cfg, stop := start(tb, true)
	cl, err := cfg.Client(3)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	if err := cl.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region, ObjectLocking: true}); err != nil {
		tb.Fatalf("s3test: make object-lock bucket: %v", err)
	}
	return cfg, stop
}

// rootOf is the posix root of each private server, by address.
var (
	rootMu sync.Mutex
	rootOf = map[string]string{}
)

func start(tb testing.TB, versioning bool) (Config, func()) {
	tb.Helper()
	bin := versityGWBinary(tb)

	dir := tb.TempDir()
	logPath := filepath.Join(dir, "versitygw.log")
	meta := os.Getenv(EnvMeta)

	var srv *server
	for attempt := 1; ; attempt++ {
		root := filepath.Join(dir, fmt.Sprintf("s3-%d", attempt))
		if err := os.MkdirAll(root, 0o755); err != nil {
			tb.Fatal(err)
		}
		sidecar := ""
		if meta == "sidecar" {
			sidecar = filepath.Join(dir, fmt.Sprintf("meta-%d", attempt))
			if err := os.MkdirAll(sidecar, 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		port, err := freePort()
		if err != nil {
			tb.Fatalf("s3test: finding a free port: %v", err)
		}
		versioningDir := ""
		if versioning {
			versioningDir = filepath.Join(dir, fmt.Sprintf("versions-%d", attempt))
			if err := os.MkdirAll(versioningDir, 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		s, err := launch(bin, "127.0.0.1:"+port, root, sidecar, versioningDir, logPath)
		if err == nil {
			srv = s
			rootMu.Lock()
			rootOf[srv.addr] = root
			rootMu.Unlock()
			break
		}
		log := readTail(logPath, 4096)
		if attempt >= 4 {
			tb.Fatalf("s3test: versitygw did not start: %v\n--- %s ---\n%s", err, logPath, log)
		}
		switch {
		case strings.Contains(log, "xattr") && meta == "":
			tb.Logf("s3test: filesystem of %s lacks user xattrs; using a sidecar metadata dir", dir)
			meta = "sidecar"
		case strings.Contains(log, "address already in use"):
			// Lost the race for the port; pick another.
		default:
			tb.Fatalf("s3test: versitygw did not start: %v\n--- %s ---\n%s", err, logPath, log)
		}
	}

	stop := func() { srv.stop() }
	tb.Cleanup(func() {
		srv.stop()
		if tb.Failed() {
			tb.Logf("s3test: versitygw log (%s), last 4 KiB:\n%s", logPath, readTail(logPath, 4096))
		}
	})

	return Config{
		Endpoint:  srv.addr,
		Bucket:    "weightgate-test",
		AccessKey: TestAccessKey,
		SecretKey: TestSecretKey,
		Region:    TestRegion,
	}, stop
}

// Seed creates cfg.Bucket if needed and uploads every regular file under
// seedDir as cfg.Prefix + its slash-separated relative path. An empty seedDir
// only creates the bucket. It returns the number of objects uploaded.
func Seed(ctx context.Context, cfg Config, seedDir string) (int, error) {
	cl, err := cfg.Client(3)
	if err != nil {
		return 0, err
	}
	if err := cl.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		exists, err2 := cl.BucketExists(ctx, cfg.Bucket)
		if err2 != nil || !exists {
			return 0, fmt.Errorf("make bucket %s: %w", cfg.Bucket, err)
		}
	}
	if seedDir == "" {
		return 0, nil
	}
	n := 0
	err = filepath.WalkDir(seedDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(seedDir, p)
		if err != nil {
			return err
		}
		key := cfg.Prefix + filepath.ToSlash(rel)
		opts := minio.PutObjectOptions{ContentType: contentType(p)}
		if info, err := d.Info(); err == nil && info.Size() == 0 {
			// An empty object sent with minio-go's default (streaming-signed)
			// upload over plain HTTP leaves bytes on the connection that
			// VersityGW then fails to parse as the next request ("An error
			// occurred when parsing the HTTP request"); an upload with an
			// unsigned payload does not.
			opts.DisableContentSha256 = true
		}
		if _, err := cl.FPutObject(ctx, cfg.Bucket, key, p, opts); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		n++
		return nil
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("no files under %s", seedDir)
	}
	return n, err
}

func contentType(p string) string {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".json":
		return "application/json"
	case ".yaml", ".yml":
		return "application/yaml"
	case ".md":
		return "text/markdown"
	default:
		return "application/octet-stream"
	}
}

// RepoRoot returns the repository root (walking up from the working
// directory to the directory holding go.mod) so tests find testdata/store.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("s3test: no go.mod found above the working directory")
		}
		dir = parent
	}
}

// StoreDir returns the absolute path of testdata/store.
func StoreDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(RepoRoot(tb), "testdata", "store")
}

// versityGWBinary finds the versitygw binary: $WEIGHTGATE_TEST_VERSITYGW,
// then .tools/bin/versitygw in the repository (where scripts/s3-server.sh
// installs it), then PATH.
func versityGWBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(EnvVersityGW); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("s3test: %s=%s: %v", EnvVersityGW, p, err)
		}
		return p
	}
	dir, err := os.Getwd()
	for err == nil {
		if _, e := os.Stat(filepath.Join(dir, "go.mod")); e == nil {
			if p := filepath.Join(dir, ".tools", "bin", "versitygw"); isExec(p) {
				return p
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	skipOrFatal(tb, EnvVersityGW+" unset and no versitygw binary found (scripts/s3-server.sh installs one in .tools/bin)")
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

type server struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	once sync.Once
}

// launch starts versitygw and waits until its health endpoint answers.
func launch(bin, addr, root, sidecar, versioningDir, logPath string) (*server, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== s3test: starting versitygw on %s, root %s, sidecar %q\n", addr, root, sidecar)

	args := []string{
		"--port", addr, // bind to loopback only
		"--region", TestRegion,
		"--health", "/health", // unauthenticated readiness probe
		"--keep-alive", // like real S3; versitygw closes connections after each request otherwise
		"--quiet",      // no per-request lines on stdout
		"posix",
	}
	if sidecar != "" {
		args = append(args, "--sidecar", sidecar)
	}
	if versioningDir != "" {
		args = append(args, "--versioning-dir", versioningDir)
	}
	args = append(args, root)
	cmd := exec.Command(bin, args...)
	// Credentials via the environment keep them off the process list.
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY="+TestAccessKey,
		"ROOT_SECRET_KEY="+TestSecretKey,
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()

	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("versitygw exited early: %v", cmd.ProcessState)
		default:
		}
		resp, err := hc.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("versitygw on %s not healthy after %v (last error: %v)", addr, readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the process and waits (bounded) for it to exit.
func (s *server) stop() {
	s.once.Do(func() {
		if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return
		}
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
		}
	})
}

func readTail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

func sorted(s []string) []string { slices.Sort(s); return s }

// StartEmpty launches a private VersityGW (as Start) with an empty bucket
// and returns, with its Config, the bucket's directory: VersityGW's posix
// backend serves the file dir/k as the object k, so a test can write a
// large store there directly (with the user.etag attribute that holds an
// object's ETag) rather than upload it.
func StartEmpty(tb testing.TB) (Config, string, func()) {
	tb.Helper()
	cfg, stop := Start(tb, "", "")
	rootMu.Lock()
	root := rootOf[cfg.Endpoint]
	rootMu.Unlock()
	return cfg, filepath.Join(root, cfg.Bucket), stop
}
