package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/weightgate/weightgate/storage"
)

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
	store  storage.ObjectStore
	cache  *lru.Cache[hashKey, string]
	flight singleflight.Group
	logger *slog.Logger
}

func newContentHashes(store storage.ObjectStore, size int, logger *slog.Logger) *contentHashes {
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
func (h *contentHashes) known(key string, info storage.ObjectInfo) string {
	sum, _ := h.cache.Get(hashKey{key, info.ETag, info.Size})
	return sum
}

// remember records sum as the hash of key at info's version.
func (h *contentHashes) remember(key string, info storage.ObjectInfo, sum string) {
	h.cache.Add(hashKey{key, info.ETag, info.Size}, sum)
}

// sum returns the sha256 of key at info's version, computing it by reading
// the whole object (once: see contentHashes) when it is not remembered. The
// read carries info.ETag, so an object rewritten since info was taken fails
// with ErrObjectChanged instead of being hashed under the old version.
func (h *contentHashes) sum(ctx context.Context, key string, info storage.ObjectInfo) (string, error) {
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

// hashBufs are the buffers objects are hashed through: one per computation
// in progress, so memory stays flat whatever an object's size.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// hashObject streams the object through sha256.
func hashObject(ctx context.Context, store storage.ObjectStore, key string, info storage.ObjectInfo) (string, error) {
	rc, err := store.Open(ctx, key, info.ETag, 0, -1)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", key, err)
	}
	defer rc.Close()
	buf := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(buf)
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
