package gateway

import (
	"context"
	"errors"
	"io"
	"time"
)

// ObjectInfo describes one stored object. Keys are relative to the store's
// root (any configured key prefix is already stripped) and use "/" separators.
type ObjectInfo struct {
	Key     string
	Size    int64
	ETag    string // unquoted; stable for as long as the object's bytes do not change
	ModTime time.Time
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
