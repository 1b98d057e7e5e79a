// Package storage is what the gateway needs of object storage: the
// ObjectStore interface its backends implement (storage/dir, a local
// directory; storage/s3, any S3 server), the ObjectInfo they return, the
// errors they wrap, and the kernel-copy body that lets a backend hand its
// bytes to the client's socket without copying them through the gateway.
// Backends import this package, never the HTTP server.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
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
// storage/dir (a local directory) and storage/s3 (any S3 server).
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
	// ListPage returns, in key order, at most limit (1 to MaxPageSize)
	// entries below prefix whose names sort after startAfter: objects and,
	// with delimiter "/", common prefixes (prefix plus everything up to and
	// including the next "/", for every key below them). Truncated is set
	// when another entry may follow: always when one does, and by some S3
	// servers at the end of a listing too, whose next page is then empty.
	// Delimiter is "" or "/"; any other is
	// an error. Its cost is that of the page, never of the whole store: a
	// catalog of any size is read forward one page at a time.
	ListPage(ctx context.Context, prefix, startAfter, delimiter string, limit int) (Page, error)
	// Ping reports whether the storage answers.
	Ping(ctx context.Context) error
}

// Page is one page of ObjectStore.ListPage.
type Page struct {
	Objects  []ObjectInfo // sorted by key
	Prefixes []string     // common prefixes, sorted
	// Truncated reports that entries may follow the last one returned
	// (see ObjectStore.ListPage).
	Truncated bool
}

// Len is the number of entries, objects and common prefixes.
func (p Page) Len() int { return len(p.Objects) + len(p.Prefixes) }

// Last is the name of the page's last entry in key order, "" when empty.
func (p Page) Last() string {
	var last string
	if n := len(p.Objects); n > 0 {
		last = p.Objects[n-1].Key
	}
	if n := len(p.Prefixes); n > 0 && p.Prefixes[n-1] > last {
		last = p.Prefixes[n-1]
	}
	return last
}

// MaxPageSize is the largest ListPage limit, S3's own page size.
const MaxPageSize = 1000

// ErrBadDelimiter is returned by ListPage for a delimiter other than "" and "/".
var ErrBadDelimiter = errors.New("listing delimiter must be empty or \"/\"")

// CheckPage validates ListPage's arguments, which every backend does first.
func CheckPage(delimiter string, limit int) error {
	if delimiter != "" && delimiter != "/" {
		return ErrBadDelimiter
	}
	if limit < 1 || limit > MaxPageSize {
		return fmt.Errorf("listing limit %d is outside 1..%d", limit, MaxPageSize)
	}
	return nil
}

// PageOf is ListPage over objects, sorted by key: the definition the
// backends implement, for stores that hold their listing in memory (test
// fakes) and for tests that compare a backend with it.
func PageOf(objects []ObjectInfo, prefix, startAfter, delimiter string, limit int) Page {
	var p Page
	i, _ := slices.BinarySearchFunc(objects, max(prefix, startAfter), func(o ObjectInfo, k string) int { return strings.Compare(o.Key, k) })
	for ; i < len(objects); i++ {
		o := objects[i]
		if !strings.HasPrefix(o.Key, prefix) {
			break
		}
		if o.Key <= startAfter {
			continue
		}
		cp := ""
		if delimiter != "" {
			if j := strings.Index(o.Key[len(prefix):], delimiter); j >= 0 {
				cp = o.Key[:len(prefix)+j+len(delimiter)]
			}
		}
		if cp != "" && (cp <= startAfter || (len(p.Prefixes) > 0 && p.Prefixes[len(p.Prefixes)-1] == cp)) {
			continue
		}
		if p.Len() == limit {
			p.Truncated = true
			break
		}
		if cp != "" {
			p.Prefixes = append(p.Prefixes, cp)
		} else {
			p.Objects = append(p.Objects, o)
		}
	}
	return p
}

// LocalStore is implemented by an ObjectStore whose Stat is local and cheap
// (storage/dir): a Catalog does not remember its stats. Any other store's stats
// are remembered for the metadata TTL, which saves a storage round trip on
// every HEAD and GET of a shard.
type LocalStore interface {
	Local() bool
}

// KernelBody is implemented by what Open returns when the kernel can move
// the bytes to the client's socket itself, without copying them through the
// gateway: a region of a local file (storage/dir: sendfile(2)) or the rest of a
// storage response on a plain TCP connection (storage/s3: splice(2)). net/http's
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
