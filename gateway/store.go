package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// ObjectInfo describes one stored object. Keys are relative to the store's
// root (any configured key prefix is already stripped) and use "/" separators.
type ObjectInfo struct {
	Key     string
	Size    int64
	ETag    string // unquoted; stable for as long as the object's bytes do not change
	ModTime time.Time
	// SHA256 is the content's sha256 as the object's metadata declares it
	// (S3 user metadata x-amz-meta-sha256), 64 lowercase hex digits, or ""
	// when the store has none. Backends fill it where they can (Stat), and
	// only with a well-formed value; the gateway trusts it as written.
	SHA256 string
}

// ObjectStore is the storage the gateway serves from. Implementations live in
// gateway/dirstore (a local directory) and gateway/s3store (any S3 server).
//
// Every method returns an error wrapping ErrObjectNotFound when the key does
// not exist; any other error means the storage could not answer, and the
// gateway fails closed on it (503, nothing streamed).
type ObjectStore interface {
	// Stat returns the object's size and ETag without reading its bytes.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Open returns length bytes from offset (length < 0: to the end) of the
	// object whose ETag is etag. It fails before returning, not at the first
	// Read, when the object is missing or its ETag no longer matches (the
	// object changed since Stat), so that nothing is written to the client
	// for an object the policy did not see. Reads stop when ctx is done.
	Open(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error)
	// List returns every object below prefix, at any depth, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// ListDirs returns the names of the "directories" directly below prefix
	// (for prefix "a/": "b/" for every key "a/b/..."), sorted.
	ListDirs(ctx context.Context, prefix string) ([]string, error)
	// Ping reports whether the storage answers.
	Ping(ctx context.Context) error
}

// LocalStore is implemented by an ObjectStore whose Stat is local and cheap
// (dirstore): a Catalog does not remember its stats. Any other store's stats
// are remembered for the metadata TTL, which saves a storage round trip on
// every HEAD and GET of a shard.
type LocalStore interface {
	Local() bool
}

// KernelBody is implemented by what Open returns when the kernel can move
// the bytes to the client's socket itself, without copying them through the
// gateway: a region of a local file (dirstore: sendfile(2)) or the rest of a
// storage response on a plain TCP connection (s3store: splice(2)). net/http's
// ReadFrom does either for a plain TCP client connection. Reads through the
// ReadCloser itself still work, for clients on TLS or HTTP/2.
type KernelBody interface {
	io.ReadCloser
	// KernelSource returns the bytes already in memory, to be sent first,
	// and the *os.File (positioned at the next byte) or *net.TCPConn the
	// remaining bytes come from; the total is the length Open was given.
	// Read must not be used after it.
	KernelSource() (buffered []byte, src io.Reader)
}

// ErrObjectNotFound is wrapped by ObjectStore errors for a missing key.
var ErrObjectNotFound = errors.New("object not found")

// ErrObjectChanged is wrapped by Open when the object's ETag differs from the
// one the caller stat'ed.
var ErrObjectChanged = errors.New("object changed since it was inspected")

// MaxListedObjects bounds one List call so that a runaway prefix cannot make
// the gateway hold an unbounded listing in memory.
const MaxListedObjects = 100_000

// ErrListTooLarge is returned by List when more than MaxListedObjects match.
var ErrListTooLarge = errors.New("listing exceeds the object limit")

// MetadataSHA256 returns v as a content sha256 for ObjectInfo.SHA256: 64 hex
// digits, in lower case, or "" when v is anything else.
func MetadataSHA256(v string) string {
	v = strings.TrimSpace(v)
	if !sha256Hex.MatchString(v) {
		return ""
	}
	return strings.ToLower(v)
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// DefaultHashCacheSize is how many computed content hashes a Catalog keeps.
// An entry is about 200 bytes, so the cache stays within a few tens of MiB.
const DefaultHashCacheSize = 100_000

// hashTimeout bounds one computation of a content hash: long enough to read a
// 50 GB shard from slow storage, short enough that a stuck read ends.
const hashTimeout = time.Hour

// hashKey identifies one version of an object: a rewrite changes its ETag
// (or at least its size), so a cached hash never describes other bytes.
type hashKey struct {
	key  string
	etag string
	size int64
}

// contentHashes computes the sha256 of stored objects by streaming them, and
// remembers the results in a bounded LRU keyed by (key, ETag, size).
// Concurrent requests for one object version share one computation, and a
// computation continues when the request that started it goes away, so that
// the next request finds its result. Memory stays flat: one pooled copy
// buffer per computation, whatever the object's size.
type contentHashes struct {
	store  ObjectStore
	cache  *lru.Cache[hashKey, string]
	flight singleflight.Group
	logger *slog.Logger
}

func newContentHashes(store ObjectStore, size int, logger *slog.Logger) *contentHashes {
	if size <= 0 {
		size = DefaultHashCacheSize
	}
	c, err := lru.New[hashKey, string](size)
	if err != nil {
		panic(err) // only for a non-positive size, excluded above
	}
	return &contentHashes{store: store, cache: c, logger: logger}
}

// known returns the remembered hash of key at info's version, or "".
func (h *contentHashes) known(key string, info ObjectInfo) string {
	sum, _ := h.cache.Get(hashKey{key, info.ETag, info.Size})
	return sum
}

// remember records sum as the hash of key at info's version.
func (h *contentHashes) remember(key string, info ObjectInfo, sum string) {
	h.cache.Add(hashKey{key, info.ETag, info.Size}, sum)
}

// sum returns the sha256 of key at info's version, computing it by reading
// the whole object (once: see contentHashes) when it is not remembered. The
// read carries info.ETag, so an object rewritten since info was taken fails
// with ErrObjectChanged instead of being hashed under the old version.
func (h *contentHashes) sum(ctx context.Context, key string, info ObjectInfo) (string, error) {
	k := hashKey{key, info.ETag, info.Size}
	if sum, ok := h.cache.Get(k); ok {
		return sum, nil
	}
	flightKey := fmt.Sprintf("%s\x00%s\x00%d", key, info.ETag, info.Size)
	ch := h.flight.DoChan(flightKey, func() (any, error) {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hashTimeout)
		defer cancel()
		start := time.Now()
		sum, err := hashObject(hctx, h.store, key, info)
		if err != nil {
			return nil, err
		}
		h.cache.Add(k, sum)
		h.logger.Info("computed content sha256", "key", key, "size", info.Size,
			"duration_ms", time.Since(start).Milliseconds())
		return sum, nil
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

// hashObject streams the object through sha256.
func hashObject(ctx context.Context, store ObjectStore, key string, info ObjectInfo) (string, error) {
	rc, err := store.Open(ctx, key, info.ETag, 0, -1)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", key, err)
	}
	defer rc.Close()
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	d := sha256.New()
	// The bare Reader hides a WriterTo (an *os.File has one), so the copy
	// goes through the pooled buffer and nothing else is allocated.
	n, err := io.CopyBuffer(d, struct{ io.Reader }{rc}, *buf)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", key, err)
	}
	if n != info.Size {
		return "", fmt.Errorf("hash %s: read %d bytes, expected %d", key, n, info.Size)
	}
	return hex.EncodeToString(d.Sum(nil)), nil
}
