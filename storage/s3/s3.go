// Package s3 serves the gateway's model layout from any S3-compatible
// server through minio-go: the key "org/name/file" is the object
// Prefix+"org/name/file" in Bucket.
package s3

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weightgate/weightgate/storage"
)

// Config locates the bucket. Credentials are never read from the config
// file: AccessKey/SecretKey are filled from the environment by the caller,
// and when empty the standard AWS/MinIO environment variables and the AWS
// shared credentials file are tried, in that order.
type Config struct {
	Endpoint  string // host:port, no scheme
	Secure    bool   // TLS
	Bucket    string
	Prefix    string // optional key prefix, e.g. "models/"
	Region    string
	AccessKey string
	SecretKey string
	// MaxRetries is how many times a failed request is sent (1 = no
	// retry): minio-go's, and the listing requests written here. Kept low: a gateway in front of a dead store should answer
	// 503 in seconds, not back off for a minute.
	MaxRetries int
	// Timeout bounds metadata calls (stat, list), the wait for the first
	// byte of a read, and any pause in a read. Default 30s.
	Timeout time.Duration
}

// Store is a storage.ObjectStore over one bucket.
type Store struct {
	c       *minio.Client
	tr      *http.Transport
	bucket  string
	prefix  string
	timeout time.Duration
	// For openDirect: the endpoint when it is plain http ("" with TLS),
	// and what signs its requests.
	endpoint string
	creds    *credentials.Credentials
	region   string
	// attempts is how many times a request written here (listDirect) is
	// sent, as minio-go's MaxRetries for its own.
	attempts int
}

var _ storage.ObjectStore = (*Store)(nil)

// New returns a Store. It does not contact the server; Ping does.
func New(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3store: endpoint and bucket are required")
	}
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	if cfg.AccessKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
		})
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 2
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	tr.ResponseHeaderTimeout = cfg.Timeout
	// One storage endpoint serves every download: keep an idle connection
	// per concurrent transfer (minio-go keeps 16, net/http 2), so that a
	// client fetching 64 shards at once does not make the gateway open and
	// close storage connections on every request.
	tr.MaxIdleConnsPerHost = maxIdleConns
	tr.MaxIdleConns = maxIdleConns
	// Never let the transport negotiate compression: byte ranges and sizes
	// must refer to the stored bytes.
	tr.DisableCompression = true
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: creds, Secure: cfg.Secure, Region: cfg.Region, Transport: tr,
		BucketLookup: minio.BucketLookupPath, MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	st := &Store{c: c, tr: tr, bucket: cfg.Bucket, prefix: cfg.Prefix, timeout: cfg.Timeout, creds: creds, region: cmp.Or(cfg.Region, "us-east-1"), attempts: cfg.MaxRetries}
	if !cfg.Secure {
		st.endpoint = cfg.Endpoint
	}
	return st, nil
}

// maxIdleConns is how many idle connections to storage are kept.
const maxIdleConns = 256

// CloseIdleConnections closes the idle connections kept to storage (up to
// maxIdleConns, each with its goroutines): for a shutdown, or a test that
// counts goroutines and open files.
func (s *Store) CloseIdleConnections() { s.tr.CloseIdleConnections() }

// String names the store for logs.
func (s *Store) String() string {
	return fmt.Sprintf("s3:%s/%s/%s", s.c.EndpointURL().Host, s.bucket, s.prefix)
}

// mapErr translates S3 errors at the boundary: a missing key becomes
// storage.ErrObjectNotFound, a failed If-Match storage.ErrObjectChanged, and
// everything else stays an opaque storage failure.
func mapErr(key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || (resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket"):
		return fmt.Errorf("s3store: %s: %w", key, storage.ErrObjectNotFound)
	case resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("s3store: %s: %w", key, storage.ErrObjectChanged)
	}
	return fmt.Errorf("s3store: %s: %w", key, err)
}

// MetaSHA256 is the user metadata key (x-amz-meta-sha256) whose value, 64
// hex digits, Stat reports as the object's content sha256.
const MetaSHA256 = "sha256"

func (s *Store) info(o minio.ObjectInfo) storage.ObjectInfo {
	info := storage.ObjectInfo{
		Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size,
		ETag: strings.Trim(o.ETag, `"`), ModTime: o.LastModified,
	}
	// minio-go strips the x-amz-meta- prefix and canonicalises the rest
	// ("Sha256"); listings carry no user metadata, only Stat does.
	for k, v := range o.UserMetadata {
		if strings.EqualFold(k, MetaSHA256) {
			info.SHA256 = storage.MetadataSHA256(v)
		}
	}
	return info
}

// checkKey refuses a key with an empty, "." or ".." segment, which S3
// servers may resolve (versitygw does) to another model's object: the
// gateway checks paths before they get here, and this keeps a gap there from
// becoming a read of another model's weights (found by the attack suite).
func checkKey(key string) error {
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("s3store: invalid key %q: %w", key, storage.ErrObjectNotFound)
		}
	}
	return nil
}

// Stat implements storage.ObjectStore.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return storage.ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	o, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return storage.ObjectInfo{}, mapErr(key, err)
	}
	if strings.HasSuffix(key, "/") {
		return storage.ObjectInfo{}, fmt.Errorf("s3store: %s: %w", key, storage.ErrObjectNotFound)
	}
	return s.info(o), nil
}

// Open implements storage.ObjectStore. The GET carries If-Match, so an
// object rewritten since Stat is refused by the server instead of served.
func (s *Store) Open(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if length >= DirectMin && s.endpoint != "" {
		return s.openDirect(ctx, key, etag, offset, length)
	}
	var opts minio.GetObjectOptions
	if etag != "" {
		if err := opts.SetMatchETag(etag); err != nil {
			return nil, fmt.Errorf("s3store: %w", err)
		}
	}
	switch {
	case length > 0:
		if err := opts.SetRange(offset, offset+length-1); err != nil {
			return nil, fmt.Errorf("s3store: %w", err)
		}
	case offset > 0:
		if err := opts.SetRange(offset, 0); err != nil {
			return nil, fmt.Errorf("s3store: %w", err)
		}
	}
	// The read's own context: cancelled when storage sends nothing for the
	// store's timeout (idleReader), so a stalled storage ends the read
	// instead of pinning a goroutine and a connection. minio-go's Core
	// GetObject returns the response body itself, whose Read returns what
	// has arrived (its GetObject's reader waits to fill the caller's
	// buffer, which a slow but moving storage could take longer than the
	// timeout to do); it sends the GET now, so that a missing, changed or
	// unreachable object fails here, before the gateway writes a status
	// line.
	rctx, cancel := context.WithCancel(ctx)
	idle := &idleReader{parent: ctx, cancel: cancel, timeout: s.timeout}
	idle.arm()
	body, _, _, err := minio.Core{Client: s.c}.GetObject(rctx, s.bucket, s.prefix+key, opts)
	if err != nil {
		idle.timer.Stop()
		cancel()
		return nil, mapErr(key, err)
	}
	idle.r, idle.c = body, body
	return idle, nil
}

// idleReader cancels its read (through cancel) when no Read returns for
// timeout; a read that keeps moving, however slowly, is never cut.
type idleReader struct {
	r       io.Reader
	c       io.Closer
	parent  context.Context // the caller's: its end is not storage's fault
	cancel  context.CancelFunc
	timeout time.Duration
	timer   *time.Timer
}

func (i *idleReader) arm() {
	if i.timer == nil {
		i.timer = time.AfterFunc(i.timeout, i.cancel)
		return
	}
	i.timer.Reset(i.timeout)
}

func (i *idleReader) Read(p []byte) (int, error) {
	i.arm()
	n, err := i.r.Read(p)
	if err != nil && errors.Is(err, context.Canceled) && i.parent.Err() == nil {
		err = fmt.Errorf("s3store: storage sent nothing for %v: %w", i.timeout, err)
	}
	return n, err
}

func (i *idleReader) Close() error {
	i.timer.Stop()
	i.cancel()
	return i.c.Close()
}

// List implements storage.ObjectStore. Listings leave the objects'
// owners out (FetchOwner false): nothing reads them, and asking costs
// VersityGW a third more per page.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out []storage.ObjectInfo
	for o := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true, FetchOwner: new(bool)}) {
		if o.Err != nil {
			return nil, mapErr(prefix, o.Err)
		}
		if len(out) >= storage.MaxListedObjects {
			return nil, fmt.Errorf("s3store: list %q: %w", prefix, storage.ErrListTooLarge)
		}
		out = append(out, s.info(o))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3store: list %q: %w", prefix, err) // the iterator ends quietly when ctx does
	}
	slices.SortFunc(out, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// ListDirs implements storage.ObjectStore.
func (s *Store) ListDirs(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out []string
	full := s.prefix + prefix
	for o := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: false, FetchOwner: new(bool)}) {
		if o.Err != nil {
			return nil, mapErr(prefix, o.Err)
		}
		if name, ok := strings.CutPrefix(o.Key, full); ok && strings.HasSuffix(name, "/") && name != "/" {
			out = append(out, name)
		}
		if len(out) >= storage.MaxListedObjects {
			return nil, fmt.Errorf("s3store: list %q: %w", prefix, storage.ErrListTooLarge)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3store: list %q: %w", prefix, err) // the iterator ends quietly when ctx does
	}
	slices.Sort(out)
	return out, nil
}

// Ping implements storage.ObjectStore: the bucket must exist and answer.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3store: %w", err)
	}
	if !ok {
		return fmt.Errorf("s3store: bucket %q does not exist", s.bucket)
	}
	return nil
}

// ListPage implements storage.ObjectStore with the server's own ordered
// listing from startAfter, so a page costs what the server takes for one
// page: one ListObjectsV2 request. Without a delimiter (every listing of
// the gateway's own) that is listDirect (list.go), which reads the answer
// several times faster than minio-go. With one it is minio-go's Core call,
// which has no context and is bounded by the transport's response timeout
// instead.
func (s *Store) ListPage(ctx context.Context, prefix, startAfter, delimiter string, limit int) (storage.Page, error) {
	if err := storage.CheckPage(delimiter, limit); err != nil {
		return storage.Page{}, fmt.Errorf("s3store: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Page{}, err
	}
	after := ""
	if startAfter != "" {
		after = s.prefix + startAfter
	}
	var objects []minio.ObjectInfo
	var prefixes []minio.CommonPrefix
	truncated := false
	if delimiter == "" {
		var err error
		if objects, truncated, err = s.listDirect(ctx, s.prefix+prefix, after, limit); err != nil {
			return storage.Page{}, mapErr(prefix, err)
		}
	} else {
		res, err := minio.Core{Client: s.c}.ListObjectsV2(s.bucket, s.prefix+prefix, after, "", delimiter, limit)
		if err != nil {
			return storage.Page{}, mapErr(prefix, err)
		}
		objects, prefixes, truncated = res.Contents, res.CommonPrefixes, res.IsTruncated
	}
	var p storage.Page
	for _, o := range objects {
		k, ok := strings.CutPrefix(o.Key, s.prefix)
		if !ok || !strings.HasPrefix(k, prefix) || k <= startAfter {
			return storage.Page{}, fmt.Errorf("s3store: list %q: the server returned key %q outside the request", prefix, o.Key)
		}
		o.Key = s.prefix + k
		p.Objects = append(p.Objects, s.info(o))
	}
	for _, cp := range prefixes {
		k, ok := strings.CutPrefix(cp.Prefix, s.prefix)
		if !ok || !strings.HasPrefix(k, prefix) {
			return storage.Page{}, fmt.Errorf("s3store: list %q: the server returned prefix %q outside the request", prefix, cp.Prefix)
		}
		p.Prefixes = append(p.Prefixes, k)
	}
	// Servers sort; a page out of order would make the gateway's pages
	// skip or repeat keys, so it is an error rather than trusted.
	if !slices.IsSortedFunc(p.Objects, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) }) || !slices.IsSorted(p.Prefixes) {
		return storage.Page{}, fmt.Errorf("s3store: list %q: the server's page is not in key order", prefix)
	}
	if p.Len() > limit {
		return storage.Page{}, fmt.Errorf("s3store: list %q: the server returned %d entries for a page of %d", prefix, p.Len(), limit)
	}
	p.Truncated = truncated
	return p, nil
}
