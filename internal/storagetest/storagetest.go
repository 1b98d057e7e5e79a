// Package storagetest checks a storage backend's ListPage against the
// definition (storage.PageOf), so that both backends are held to the same
// order and the same pages.
package storagetest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"

	"github.com/weightgate/weightgate/storage"
)

// Keys is a layout whose order differs from directory order at every
// level: "a-b/" sorts before "a/", a file "a0" after the directory "a/",
// "model-2/" before "model/", and a file sits beside directories.
var Keys = []string{
	"README.md",
	"a-b/1", "a/1", "a/2", "a/b/1", "a/b/c/1", "a/b/c/2", "a/c/1", "a0", "ab/1", "ab0",
	"org/model-2/config.json", "org/model-2/w/part-1.bin", "org/model/config.json",
	"org/model/export.yaml", "org/model/sub/x", "org/model/sub/y", "org/model/z.safetensors",
	"org/modelz/a", "org2/m/a", "z",
}

// WriteTree writes keys under dir, each file's content its key, and
// returns dir.
func WriteTree(tb testing.TB, dir string, keys []string) string {
	tb.Helper()
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(k), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// CheckListPage pages through st, a store holding exactly keys, for many
// prefixes, delimiters, starting points and page sizes, and fails t where a
// page differs from storage.PageOf's over the same keys (names, truncation,
// and each object's size).
func CheckListPage(t *testing.T, st storage.ObjectStore, keys []string) {
	t.Helper()
	ctx := context.Background()
	keys = slices.Sorted(slices.Values(keys))
	objs := make([]storage.ObjectInfo, len(keys))
	for i, k := range keys {
		objs[i] = storage.ObjectInfo{Key: k, Size: int64(len(k))}
	}
	prefixes := []string{"", "a", "a/", "a/b/", "org/", "org/model", "org/model/", "org/model/sub/", "nothing/", "z"}
	afters := []string{"", "a", "a/", "a/b", "a/b/c/1", "a0", "org/model/", "org/model/sub/x", "zz"}
	for _, prefix := range prefixes {
		for _, delim := range []string{"", "/"} {
			for _, after := range afters {
				for _, limit := range []int{1, 2, 3, storage.MaxPageSize} {
					var got, want []string
					for a, n := after, 0; ; n++ {
						if n > len(keys)+1 {
							t.Fatalf("prefix %q delimiter %q after %q limit %d: more pages than keys", prefix, delim, after, limit)
						}
						p, err := st.ListPage(ctx, prefix, a, delim, limit)
						if err != nil {
							t.Fatalf("ListPage(%q, %q, %q, %d): %v", prefix, a, delim, limit, err)
						}
						ref := storage.PageOf(objs, prefix, a, delim, limit)
						// A server may call the last page truncated (VersityGW
						// does when it ends at the page size); the next page
						// must then be empty, which the loop checks.
						spurious := p.Truncated && !ref.Truncated && p.Len() == limit
						if g, w := names(p), names(ref); !reflect.DeepEqual(g, w) || (p.Truncated != ref.Truncated && !spurious) {
							t.Fatalf("ListPage(%q, %q, %q, %d) = %q truncated %v, want %q truncated %v", prefix, a, delim, limit, g, p.Truncated, w, ref.Truncated)
						}
						for _, o := range p.Objects {
							if o.Size != int64(len(o.Key)) || o.ETag == "" {
								t.Fatalf("ListPage: %s has size %d and ETag %q, want size %d and an ETag", o.Key, o.Size, o.ETag, len(o.Key))
							}
						}
						got = append(got, names(p)...)
						want = append(want, names(ref)...)
						if !p.Truncated {
							break
						}
						a = p.Last()
					}
					if len(got) != len(want) {
						t.Fatalf("prefix %q delimiter %q after %q limit %d: %d entries, want %d", prefix, delim, after, limit, len(got), len(want))
					}
				}
			}
		}
	}
	for _, bad := range []struct {
		delim string
		limit int
	}{{"-", 10}, {"/", 0}, {"", storage.MaxPageSize + 1}} {
		if _, err := st.ListPage(ctx, "", "", bad.delim, bad.limit); err == nil {
			t.Errorf("ListPage(delimiter %q, limit %d) = nil error, want one", bad.delim, bad.limit)
		}
	}
}

// names flattens a page into its entries in key order, common prefixes
// marked with "(P)".
func names(p storage.Page) []string {
	var out []string
	i, j := 0, 0
	for i < len(p.Objects) || j < len(p.Prefixes) {
		if j == len(p.Prefixes) || (i < len(p.Objects) && p.Objects[i].Key < p.Prefixes[j]) {
			out = append(out, p.Objects[i].Key)
			i++
			continue
		}
		out = append(out, p.Prefixes[j]+"(P)")
		j++
	}
	return out
}

// ModelID is the id of the i-th model WriteModels writes: orgO/modelM with
// O = i/100 and M = i%100, as scripts/genstore -models names them.
func ModelID(i int) string { return fmt.Sprintf("org%d/model%d", i/100, i%100) }

// ModelFiles are the files of each model WriteModels writes, in key order.
var ModelFiles = []string{"config.json", "export.yaml", "model.safetensors"}

// WriteModels writes n models under dir, as scripts/genstore -models does
// but unsigned and quicker: each has an export.yaml (closed weights when
// closed(i), else open), a config.json and a small model.safetensors.
func WriteModels(tb testing.TB, dir string, n int, closed func(i int) bool) {
	tb.Helper()
	for i := range n {
		id := ModelID(i)
		d := filepath.Join(dir, filepath.FromSlash(id))
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		export := "weights: open\ntraining_compute_flop: 1.0e22\n"
		if closed != nil && closed(i) {
			export = "weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n"
		}
		for name, b := range map[string]string{"config.json": `{"model_type": "llama"}`, "export.yaml": export, "model.safetensors": id} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(b), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// SetETagXattrs gives every regular file below dir the extended attribute
// user.etag, the MD5 of its content in hex, where VersityGW's posix backend
// keeps an object's ETag: dir, inside a VersityGW bucket's directory, is
// then served as if every file had been uploaded.
func SetETagXattrs(tb testing.TB, dir string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := md5.Sum(b)
		return syscall.Setxattr(p, "user.etag", []byte(hex.EncodeToString(sum[:])), 0)
	})
	if err != nil {
		tb.Fatal(err)
	}
}
