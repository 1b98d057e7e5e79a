// Package dir serves the gateway's model layout from a local directory:
// the key "org/name/file" is the file dir/org/name/file. It is the embedded
// default backend, so that the gateway runs with no external service.
package dir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/weightgate/weightgate/storage"
)

// Store is a storage.ObjectStore over a directory. All access goes through an
// os.Root, so no key (nor a symlink inside the tree) can reach outside it.
type Store struct {
	root *os.Root
	dir  string
}

var _ storage.ObjectStore = (*Store)(nil)

// Open returns a Store over dir, which must be an existing directory.
func Open(dir string) (*Store, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	return &Store{root: root, dir: dir}, nil
}

// Close releases the directory.
func (s *Store) Close() error { return s.root.Close() }

// String names the store for logs.
func (s *Store) String() string { return "dir:" + s.dir }

// Local reports that Stat is a system call on a local file system, too cheap
// to be worth remembering: the catalog then stats every request afresh and
// sees a rewritten file at once (see storage.LocalStore).
func (s *Store) Local() bool { return true }

// checkKey refuses keys that are not plain relative paths, and keys that go
// through a symbolic link. os.Root already keeps links inside the directory,
// but a link inside it (open-lab/m/x.bin -> ../../closed-lab/m/shard) would
// serve one model's file under another model's classification; List never
// shows such a file either, since it does not follow links.
func (s *Store) checkKey(key string) error {
	if !fs.ValidPath(key) || key == "." {
		return fmt.Errorf("dirstore: invalid key %q: %w", key, storage.ErrObjectNotFound)
	}
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			continue
		}
		fi, err := s.root.Lstat(key[:i])
		if err != nil {
			return mapErr(key, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("dirstore: %s goes through a symbolic link: %w", key, storage.ErrObjectNotFound)
		}
	}
	return nil
}

// etag identifies a file's version without reading it: a hash of its key,
// size and modification time, which change whenever it is rewritten.
func etag(key string, fi fs.FileInfo) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", key, fi.Size(), fi.ModTime().UnixNano()))
	// The "-1" marks it as not the content's MD5, as S3 marks a multipart
	// upload's ETag: S3 tools (rclone, s3cmd) check a plain 32-hex ETag
	// against the MD5 of what they downloaded, and would call this one
	// corrupt.
	return hex.EncodeToString(sum[:16]) + "-1"
}

func info(key string, fi fs.FileInfo) storage.ObjectInfo {
	return storage.ObjectInfo{Key: key, Size: fi.Size(), ETag: etag(key, fi), ModTime: fi.ModTime()}
}

func mapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dirstore: %s: %w", key, storage.ErrObjectNotFound)
	}
	return fmt.Errorf("dirstore: %w", err)
}

// Stat implements storage.ObjectStore. A directory is not an object.
func (s *Store) Stat(_ context.Context, key string) (storage.ObjectInfo, error) {
	if err := s.checkKey(key); err != nil {
		return storage.ObjectInfo{}, err
	}
	fi, err := s.root.Stat(key)
	if err != nil {
		return storage.ObjectInfo{}, mapErr(key, err)
	}
	if !fi.Mode().IsRegular() {
		return storage.ObjectInfo{}, fmt.Errorf("dirstore: %s is not a file: %w", key, storage.ErrObjectNotFound)
	}
	return info(key, fi), nil
}

// Open implements storage.ObjectStore.
func (s *Store) Open(_ context.Context, key, wantETag string, offset, length int64) (io.ReadCloser, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	f, err := s.root.Open(key)
	if err != nil {
		return nil, mapErr(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr(key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("dirstore: %s is not a file: %w", key, storage.ErrObjectNotFound)
	}
	if got := etag(key, fi); wantETag != "" && got != wantETag {
		f.Close()
		return nil, fmt.Errorf("dirstore: %s: %w", key, storage.ErrObjectChanged)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("dirstore: %w", err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return &region{Reader: io.LimitReader(f, length), f: f}, nil
}

// region is length bytes of an open file from its current offset. It is a
// storage.KernelBody, so the gateway can have the kernel send it (sendfile).
type region struct {
	io.Reader // the file, limited to the region
	f         *os.File
}

var _ storage.KernelBody = (*region)(nil)

func (r *region) Close() error                      { return r.f.Close() }
func (r *region) KernelSource() ([]byte, io.Reader) { return nil, r.f }

// List implements storage.ObjectStore.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	// Walk only the deepest directory the prefix names, not the whole tree.
	dir := strings.TrimSuffix(path.Dir(prefix+"x"), "/")
	// A prefix that goes through a symbolic link (a model or org directory
	// linked in) lists nothing, as its keys are not found; walking it failed
	// (503) or, for a link inside the root, listed another model's files
	// (found by the attack suite).
	if dir != "." {
		if err := s.checkKey(dir); errors.Is(err, storage.ErrObjectNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	var out []storage.ObjectInfo
	err := fs.WalkDir(s.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if len(out) >= storage.MaxListedObjects {
			return storage.ErrListTooLarge
		}
		out = append(out, info(p, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dirstore: list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// ListDirs implements storage.ObjectStore.
func (s *Store) ListDirs(_ context.Context, prefix string) ([]string, error) {
	dir := strings.TrimSuffix(prefix, "/")
	if dir == "" {
		dir = "."
	}
	entries, err := fs.ReadDir(s.root.FS(), dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dirstore: list %q: %w", prefix, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name()+"/")
		}
	}
	// ReadDir sorts by name, but the contract sorts the "name/" strings:
	// "model/" comes after "model-b/".
	slices.Sort(out)
	return out, nil
}

// Ping implements storage.ObjectStore.
func (s *Store) Ping(context.Context) error {
	if _, err := s.root.Stat("."); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	return nil
}

// ListPage implements storage.ObjectStore by walking directories in key
// order from the deepest one the prefix names, skipping every directory
// whose keys all sort before startAfter: a page reads the directories on
// its path and the files it returns (one stat each), not the tree. Like
// List, it follows no symbolic link and lists regular files only. Each
// directory on the path is read whole (ReadDir), so a page costs in
// proportion to the size of those directories: an org holding 100,000
// models makes every page read 100,000 names.
func (s *Store) ListPage(ctx context.Context, prefix, startAfter, delimiter string, limit int) (storage.Page, error) {
	if err := storage.CheckPage(delimiter, limit); err != nil {
		return storage.Page{}, fmt.Errorf("dirstore: %w", err)
	}
	dir := strings.TrimSuffix(path.Dir(prefix+"x"), "/")
	if dir != "." {
		// As List: a prefix through a symbolic link lists nothing.
		if err := s.checkKey(dir); errors.Is(err, storage.ErrObjectNotFound) {
			return storage.Page{}, nil
		} else if err != nil {
			return storage.Page{}, err
		}
	}
	w := pageWalk{s: s, ctx: ctx, prefix: prefix, after: startAfter, slash: delimiter == "/", limit: limit}
	if err := w.walk(dir); err != nil && !errors.Is(err, errPageFull) {
		return storage.Page{}, fmt.Errorf("dirstore: list %q: %w", prefix, err)
	}
	return w.page, nil
}

// errPageFull stops a pageWalk once it knows another entry follows.
var errPageFull = errors.New("page full")

type pageWalk struct {
	s      *Store
	ctx    context.Context
	prefix string
	after  string
	slash  bool
	limit  int
	page   storage.Page
}

// entry is a directory entry under the name it sorts by: a directory's
// keys all start with "name/", so "a/" sorts after "a-b", which ReadDir's
// order by name does not show.
type entry struct {
	name string // key of the file, or the directory's key with "/"
	dir  bool
	d    fs.DirEntry
}

func (w *pageWalk) add(o *storage.ObjectInfo, cp string) error {
	if w.page.Len() == w.limit {
		w.page.Truncated = true
		return errPageFull
	}
	if o != nil {
		w.page.Objects = append(w.page.Objects, *o)
	} else {
		w.page.Prefixes = append(w.page.Prefixes, cp)
	}
	return nil
}

// sorted reads dir (a key without its trailing "/", or ".") in key order.
func (w *pageWalk) sorted(dir string) ([]entry, error) {
	des, err := fs.ReadDir(w.s.root.FS(), dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil // removed meanwhile, or the prefix names a file
		}
		return nil, err
	}
	base := ""
	if dir != "." {
		base = dir + "/"
	}
	out := make([]entry, 0, len(des))
	for _, d := range des {
		switch {
		case d.IsDir():
			out = append(out, entry{name: base + d.Name() + "/", dir: true, d: d})
		case d.Type().IsRegular():
			out = append(out, entry{name: base + d.Name(), d: d})
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func (w *pageWalk) walk(dir string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	entries, err := w.sorted(dir)
	if err != nil {
		return err
	}
	// Skip, by binary search, the entries whose keys all sort at or
	// before startAfter: a file named at most startAfter, a directory
	// whose name sorts before startAfter and is not a prefix of it.
	i, _ := slices.BinarySearchFunc(entries, w.after, func(e entry, after string) int {
		if e.name > after || (e.dir && strings.HasPrefix(after, e.name)) {
			return 1
		}
		return -1
	})
	for _, e := range entries[i:] {
		inPrefix := strings.HasPrefix(e.name, w.prefix)
		if !inPrefix && !(e.dir && strings.HasPrefix(w.prefix, e.name)) {
			if e.name > w.prefix {
				return nil // past the prefix: nothing later matches
			}
			continue
		}
		if !e.dir {
			fi, err := e.d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			o := info(e.name, fi)
			if err := w.add(&o, ""); err != nil {
				return err
			}
			continue
		}
		if w.slash && inPrefix && e.name != w.prefix {
			// The directory is a common prefix: the part of its name
			// after the prefix ends at its first "/".
			cp := e.name
			if j := strings.IndexByte(e.name[len(w.prefix):], '/'); j >= 0 {
				cp = e.name[:len(w.prefix)+j+1]
			}
			if cp > w.after {
				ok, err := w.hasFile(strings.TrimSuffix(e.name, "/"))
				if err != nil {
					return err
				}
				if ok {
					if err := w.add(nil, cp); err != nil {
						return err
					}
				}
			}
			continue
		}
		if err := w.walk(strings.TrimSuffix(e.name, "/")); err != nil {
			return err
		}
	}
	return nil
}

// hasFile reports whether a regular file lies anywhere below dir, so that
// an empty directory (or one of symbolic links only) is no common prefix:
// S3 has no directories, only keys.
func (w *pageWalk) hasFile(dir string) (bool, error) {
	if err := w.ctx.Err(); err != nil {
		return false, err
	}
	entries, err := w.sorted(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !e.dir {
			return true, nil
		}
	}
	for _, e := range entries {
		if ok, err := w.hasFile(strings.TrimSuffix(e.name, "/")); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
