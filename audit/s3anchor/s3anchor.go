// Package s3anchor is an audit.AnchorStore over an S3 bucket with Object
// Lock: every checkpoint and sealed file is written once (If-None-Match: *)
// under COMPLIANCE retention, so that nobody, the bucket's owner included,
// can delete or overwrite it before the retention ends.
package s3anchor

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weightgate/weightgate/audit"
)

// DefaultRetention is how long each anchored object is locked: five years,
// as export records must be kept (EAR § 762.6).
const DefaultRetention = 5 * 365 * 24 * time.Hour

// Config describes the anchor.
type Config struct {
	// URL is s3://bucket/prefix (the prefix may be empty).
	URL string
	// Endpoint is the S3 server's host[:port]; "" is AWS S3 in Region.
	Endpoint string
	Region   string
	// AccessKey and SecretKey; both empty: the standard AWS environment
	// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
	AccessKey, SecretKey string
	// TLS selects https.
	TLS bool
	// Retention is each object's COMPLIANCE lock, from its write. Default
	// DefaultRetention.
	Retention time.Duration
	// MaxRetries per S3 call (0: minio-go's default). The anchorer retries
	// on its own, so callers may want 1.
	MaxRetries int
}

// Store is an anchor in one bucket, under one prefix.
type Store struct {
	cl        *minio.Client
	bucket    string
	prefix    string // "" or ending in "/"
	retention time.Duration
	now       func() time.Time
}

// ParseURL splits s3://bucket/prefix into bucket and prefix ("" or ending in
// "/").
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("anchor url %q: %w", s, err)
	}
	if u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("anchor url %q: want s3://bucket/prefix", s)
	}
	prefix = strings.Trim(u.Path, "/")
	if strings.Contains(prefix, "//") || slices.Contains(strings.Split(prefix, "/"), "..") {
		return "", "", fmt.Errorf("anchor url %q: bad prefix", s)
	}
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// New connects to the anchor and checks that its bucket has Object Lock
// enabled, with no default retention weaker than COMPLIANCE: an anchor whose
// objects can be deleted is no anchor.
func New(ctx context.Context, c Config) (*Store, error) {
	bucket, prefix, err := ParseURL(c.URL)
	if err != nil {
		return nil, err
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
		if c.Region != "" {
			endpoint = "s3." + c.Region + ".amazonaws.com"
		}
	}
	creds := credentials.NewEnvAWS()
	if c.AccessKey != "" || c.SecretKey != "" {
		creds = credentials.NewStaticV4(c.AccessKey, c.SecretKey, "")
	}
	cl, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: c.TLS, Region: c.Region,
		BucketLookup: minio.BucketLookupPath, MaxRetries: c.MaxRetries})
	if err != nil {
		return nil, fmt.Errorf("anchor %s: %w", c.URL, err)
	}
	lock, mode, _, _, err := cl.GetObjectLockConfig(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("anchor %s: reading the bucket's Object Lock configuration: %w", c.URL, err)
	}
	if lock != "Enabled" {
		return nil, fmt.Errorf("anchor %s: bucket %s does not have Object Lock enabled (an anchor must be write-once)", c.URL, bucket)
	}
	if mode != nil && *mode != "" && *mode != minio.Compliance {
		return nil, fmt.Errorf("anchor %s: bucket %s's default retention is %s; an anchor needs COMPLIANCE (GOVERNANCE can be bypassed)", c.URL, bucket, *mode)
	}
	r := c.Retention
	if r <= 0 {
		r = DefaultRetention
	}
	return &Store{cl: cl, bucket: bucket, prefix: prefix, retention: r, now: time.Now}, nil
}

func (s *Store) checkpointKey(instance string, seq uint64) string {
	return fmt.Sprintf("%s%s/checkpoints/%020d.jsonl", s.prefix, instance, seq)
}

func (s *Store) fileKey(instance, name string) string {
	return s.prefix + instance + "/files/" + name
}

// PutCheckpoint implements audit.AnchorStore.
func (s *Store) PutCheckpoint(ctx context.Context, instance string, seq uint64, line []byte) error {
	if !audit.ValidInstance(instance) {
		return fmt.Errorf("anchor: bad instance %q", instance)
	}
	return s.putOnce(ctx, s.checkpointKey(instance, seq), line)
}

// PutFile implements audit.AnchorStore.
func (s *Store) PutFile(ctx context.Context, instance, name string, r io.Reader, size int64) error {
	if !audit.ValidInstance(instance) || path.Base(name) != name || !strings.HasPrefix(name, "audit-") {
		return fmt.Errorf("anchor: bad instance %q or file name %q", instance, name)
	}
	// Read whole: a retry after PreconditionFailed compares the bytes, and
	// a sealed file is bounded by audit.max_file_bytes.
	b, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return fmt.Errorf("anchor: %s is %d bytes, expected %d", name, len(b), size)
	}
	return s.putOnce(ctx, s.fileKey(instance, name), b)
}

// putOnce writes b under key if no object is there. If one is (a retry after
// an uncertain failure), it succeeds only if that object holds b.
func (s *Store) putOnce(ctx context.Context, key string, b []byte) error {
	opts := minio.PutObjectOptions{
		ContentType:     "application/x-ndjson",
		Mode:            minio.Compliance,
		RetainUntilDate: s.now().Add(s.retention).UTC(),
		SendContentMd5:  true, // S3 requires an integrity header on PUTs with Object Lock
	}
	opts.SetMatchETagExcept("*")
	_, err := s.cl.PutObject(ctx, s.bucket, key, bytes.NewReader(b), int64(len(b)), opts)
	if err == nil {
		return nil
	}
	// PreconditionFailed: the object exists. Any other failure may also
	// hide an existing object: a server that refuses the PUT before
	// reading its body may reset the connection instead of answering 412,
	// and a PUT that timed out may have succeeded. Either way the object
	// there, if any, decides.
	putErr := err
	exists := minio.ToErrorResponse(err).Code == "PreconditionFailed"
	rc, err := s.openOldest(ctx, key)
	if err != nil {
		if !exists {
			return fmt.Errorf("anchor: put %s: %w", key, putErr)
		}
		return fmt.Errorf("anchor: %s exists and cannot be read back: %w", key, err)
	}
	defer rc.Close()
	have, err := io.ReadAll(io.LimitReader(rc, int64(len(b))+1))
	if err != nil {
		return fmt.Errorf("anchor: %s exists and cannot be read back: %w", key, err)
	}
	if !bytes.Equal(have, b) {
		return fmt.Errorf("anchor: %s already holds other content: it cannot be written again", key)
	}
	return nil
}

// version is one stored version of a key.
type version struct {
	key, id  string
	size     int64
	modified time.Time
}

// versions lists every version (delete markers included: a delete attempt
// counts as a second version) of the keys under prefix, by key, oldest
// first.
func (s *Store) versions(ctx context.Context, prefix string) (map[string][]version, error) {
	out := map[string][]version{}
	for o := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("anchor: list %s: %w", prefix, o.Err)
		}
		out[o.Key] = append(out[o.Key], version{key: o.Key, id: o.VersionID, size: o.Size, modified: o.LastModified})
	}
	for _, vs := range out {
		// S3 lists the versions of a key newest first; timestamps of one
		// second's resolution only break ties the other way round.
		slices.Reverse(vs)
		slices.SortStableFunc(vs, func(a, b version) int { return a.modified.Compare(b.modified) })
	}
	return out, nil
}

func (s *Store) openOldest(ctx context.Context, key string) (io.ReadCloser, error) {
	vs, err := s.versions(ctx, key)
	if err != nil {
		return nil, err
	}
	v := vs[key]
	if len(v) == 0 {
		return nil, fmt.Errorf("anchor: no object %s", key)
	}
	return s.get(ctx, v[0])
}

func (s *Store) get(ctx context.Context, v version) (io.ReadCloser, error) {
	o, err := s.cl.GetObject(ctx, s.bucket, v.key, minio.GetObjectOptions{VersionID: v.id})
	if err != nil {
		return nil, fmt.Errorf("anchor: get %s: %w", v.key, err)
	}
	if _, err := o.Stat(); err != nil {
		o.Close()
		return nil, fmt.Errorf("anchor: get %s: %w", v.key, err)
	}
	return o, nil
}

// Instances implements audit.AnchorStore.
func (s *Store) Instances(ctx context.Context) ([]string, error) {
	var out []string
	for o := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix}) {
		if o.Err != nil {
			return nil, fmt.Errorf("anchor: list instances: %w", o.Err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, s.prefix), "/")
		if strings.HasSuffix(o.Key, "/") && audit.ValidInstance(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readParallel bounds the concurrent reads of Checkpoints.
const readParallel = 8

// Checkpoints implements audit.AnchorStore. It reads every checkpoint
// object (the oldest version of each), a few at a time.
func (s *Store) Checkpoints(ctx context.Context, instance string) ([]audit.AnchoredCheckpoint, error) {
	if !audit.ValidInstance(instance) {
		return nil, fmt.Errorf("anchor: bad instance %q", instance)
	}
	dir := s.prefix + instance + "/checkpoints/"
	vs, err := s.versions(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []audit.AnchoredCheckpoint
	var oldest []version
	for key, v := range vs {
		name, ok := strings.CutSuffix(strings.TrimPrefix(key, dir), ".jsonl")
		seq, err := strconv.ParseUint(name, 10, 64)
		if !ok || err != nil || len(name) != 20 {
			return nil, fmt.Errorf("anchor: unexpected object %s among the checkpoints", key)
		}
		out = append(out, audit.AnchoredCheckpoint{Instance: instance, Seq: seq, Versions: len(v)})
		oldest = append(oldest, v[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, readParallel)
	)
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			line, err := s.readSmall(ctx, oldest[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
				cancel()
			}
			out[i].Line = line
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	slices.SortFunc(out, func(a, b audit.AnchoredCheckpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// maxCheckpointBytes bounds a checkpoint object read back: a checkpoint line
// is a few hundred bytes.
const maxCheckpointBytes = 64 << 10

func (s *Store) readSmall(ctx context.Context, v version) ([]byte, error) {
	rc, err := s.get(ctx, v)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxCheckpointBytes+1))
	if err != nil {
		return nil, fmt.Errorf("anchor: read %s: %w", v.key, err)
	}
	if len(b) > maxCheckpointBytes {
		return nil, fmt.Errorf("anchor: %s is larger than a checkpoint", v.key)
	}
	return b, nil
}

// Files implements audit.AnchorStore.
func (s *Store) Files(ctx context.Context, instance string) ([]audit.AnchoredFile, error) {
	if !audit.ValidInstance(instance) {
		return nil, fmt.Errorf("anchor: bad instance %q", instance)
	}
	dir := s.prefix + instance + "/files/"
	vs, err := s.versions(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []audit.AnchoredFile
	for key, v := range vs {
		out = append(out, audit.AnchoredFile{Instance: instance, Name: strings.TrimPrefix(key, dir), Size: v[0].size, Versions: len(v)})
	}
	slices.SortFunc(out, func(a, b audit.AnchoredFile) int { return audit.CompareFileNames(a.Name, b.Name) })
	return out, nil
}

// OpenFile implements audit.AnchorStore: the oldest version.
func (s *Store) OpenFile(ctx context.Context, instance, name string) (io.ReadCloser, error) {
	if !audit.ValidInstance(instance) || path.Base(name) != name {
		return nil, fmt.Errorf("anchor: bad instance %q or file name %q", instance, name)
	}
	return s.openOldest(ctx, s.fileKey(instance, name))
}

// Ping checks that the bucket answers.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.cl.BucketExists(ctx, s.bucket)
	if err == nil && !ok {
		err = errors.New("bucket does not exist")
	}
	return err
}

var _ audit.AnchorStore = (*Store)(nil)

// Lazy returns an anchor that is opened with New on first use, and again on
// each use until that succeeds, so that an anchor unreachable at start is
// reported by the calls that need it rather than by the process failing.
func Lazy(c Config) audit.AnchorStore { return &lazy{cfg: c} }

type lazy struct {
	cfg Config
	mu  sync.Mutex
	s   *Store
}

func (l *lazy) get(ctx context.Context) (*Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s, nil
	}
	s, err := New(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	l.s = s
	return s, nil
}

func (l *lazy) PutCheckpoint(ctx context.Context, instance string, seq uint64, line []byte) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.PutCheckpoint(ctx, instance, seq, line)
}

func (l *lazy) PutFile(ctx context.Context, instance, name string, r io.Reader, size int64) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.PutFile(ctx, instance, name, r, size)
}

func (l *lazy) Instances(ctx context.Context) ([]string, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Instances(ctx)
}

func (l *lazy) Checkpoints(ctx context.Context, instance string) ([]audit.AnchoredCheckpoint, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Checkpoints(ctx, instance)
}

func (l *lazy) Files(ctx context.Context, instance string) ([]audit.AnchoredFile, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Files(ctx, instance)
}

func (l *lazy) OpenFile(ctx context.Context, instance, name string) (io.ReadCloser, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.OpenFile(ctx, instance, name)
}
