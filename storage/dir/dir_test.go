package dir_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/storagetest"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// MustWriteFile writes data to root/key, creating directories.
func MustWriteFile(tb testing.TB, root, key, data string) {
	tb.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// MustOpenStore opens a Store over a new directory holding files (key →
// content) and closes it when the test ends.
func MustOpenStore(tb testing.TB, files map[string]string) (*dirstore.Store, string) {
	tb.Helper()
	dir := tb.TempDir()
	for k, v := range files {
		MustWriteFile(tb, dir, k, v)
	}
	s, err := dirstore.Open(dir)
	if err != nil {
		tb.Fatalf("Open(%q): %v", dir, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, dir
}

// MustReadAll reads and closes rc.
func MustReadAll(tb testing.TB, rc io.ReadCloser) string {
	tb.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var testFiles = map[string]string{
	"org/model/config.json":                   `{"a":1}`,
	"org/model/model.safetensors":             "0123456789",
	"org/model/onnx/model.onnx":               "onnx",
	"org/model2/model.bin":                    "m2",
	"org/model.bin/x":                         "dotted dir",
	"org/model-b/x":                           "dashed dir",
	"other/m/README.md":                       "readme",
	".hidden/m/secret.bin":                    "hidden",
	"top.txt":                                 "top",
	"org/model/a/x":                           "ax",
	"org/model/a.bin":                         "abin",
	"org/model/a-b":                           "ab",
	"org/model/sub/deeper/deepest/file.bin":   "deep",
	"org/model/Z-upper-sorts-before-lower.md": "z",
}

func TestStore_Stat(t *testing.T) {
	s, dir := MustOpenStore(t, testFiles)
	ctx := t.Context()
	info, err := s.Stat(ctx, "org/model/model.safetensors")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if got, want := info.Key, "org/model/model.safetensors"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	if got, want := info.Size, int64(10); got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
	// 32 lowercase hex and "-1": never mistaken for the content's MD5.
	if hexPart, ok := strings.CutSuffix(info.ETag, "-1"); !ok || len(hexPart) != 32 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		t.Errorf("ETag = %q, want 32 lowercase hex and -1", info.ETag)
	}
	fi, err := os.Stat(filepath.Join(dir, "org/model/model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.ModTime, fi.ModTime(); !got.Equal(want) {
		t.Errorf("ModTime = %v, want %v", got, want)
	}
	again, err := s.Stat(ctx, "org/model/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.ETag, info.ETag; got != want {
		t.Errorf("ETag not stable: %q, then %q", want, got)
	}
	other, err := s.Stat(ctx, "org/model/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if other.ETag == info.ETag {
		t.Errorf("two files share ETag %q", info.ETag)
	}
}

func TestStore_Open(t *testing.T) {
	s, _ := MustOpenStore(t, testFiles)
	ctx := t.Context()
	info, err := s.Stat(ctx, "org/model/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		etag           string
		offset, length int64
		want           string
	}{
		{"Whole", info.ETag, 0, -1, "0123456789"},
		{"NoETag", "", 0, -1, "0123456789"},
		{"Offset", info.ETag, 4, -1, "456789"},
		{"OffsetLength", info.ETag, 2, 3, "234"},
		{"Length", info.ETag, 0, 1, "0"},
		{"LastByte", info.ETag, 9, 1, "9"},
		{"LengthBeyondEnd", info.ETag, 8, 100, "89"},
		{"ZeroLength", info.ETag, 3, 0, ""},
		{"OffsetAtEnd", info.ETag, 10, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := s.Open(ctx, "org/model/model.safetensors", tt.etag, tt.offset, tt.length)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got, want := MustReadAll(t, rc), tt.want; got != want {
				t.Errorf("read %q, want %q", got, want)
			}
		})
	}
}

func TestStore_Open_StaleETag(t *testing.T) {
	s, dir := MustOpenStore(t, testFiles)
	ctx := t.Context()
	const key = "org/model/model.safetensors"
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rewrite func(t *testing.T, p string)
	}{
		{"SameSizeNewMTime", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("abcdefghij"), 0o644); err != nil {
				t.Fatal(err)
			}
			mt := info.ModTime.Add(time.Hour)
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}},
		{"NewSizeSameMTime", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("short"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, info.ModTime, info.ModTime); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rewrite(t, filepath.Join(dir, filepath.FromSlash(key)))
			rc, err := s.Open(ctx, key, info.ETag, 0, -1)
			if err == nil {
				rc.Close()
				t.Fatalf("Open with a stale ETag succeeded")
			}
			if !errors.Is(err, storage.ErrObjectChanged) {
				t.Errorf("Open error = %v, want ErrObjectChanged", err)
			}
			// The current ETag opens it.
			now, err := s.Stat(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if now.ETag == info.ETag {
				t.Fatalf("ETag unchanged after rewrite: %q", now.ETag)
			}
			rc, err = s.Open(ctx, key, now.ETag, 0, -1)
			if err != nil {
				t.Fatalf("Open with the new ETag: %v", err)
			}
			rc.Close()
		})
	}
}

func TestStore_NotFound(t *testing.T) {
	s, dir := MustOpenStore(t, testFiles)
	// A file just outside the root, under a name the traversal keys aim at.
	outside := filepath.Join(filepath.Dir(dir), "outside-"+filepath.Base(dir))
	if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(outside) })

	keys := []string{
		"org/model/missing.bin",
		"nope/nope/nope",
		"../etc/passwd",
		"/etc/passwd",
		"/abs",
		outside,
		"../" + filepath.Base(outside),
		"org/../../" + filepath.Base(outside),
		"a/../../x",
		"org/model/../model/config.json",
		"./org/model/config.json",
		"org//model/config.json",
		"org/model/config.json/",
		"",
		".",
		"..",
		"org/model", // a directory is not an object
		"org",
		`org\model\config.json`,
	}
	ctx := t.Context()
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			if info, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrObjectNotFound) {
				t.Errorf("Stat(%q) = %+v, %v; want ErrObjectNotFound", key, info, err)
			}
			rc, err := s.Open(ctx, key, "", 0, -1)
			if err == nil {
				t.Errorf("Open(%q) read %q, want ErrObjectNotFound", key, MustReadAll(t, rc))
			} else if !errors.Is(err, storage.ErrObjectNotFound) {
				t.Errorf("Open(%q) error = %v, want ErrObjectNotFound", key, err)
			}
		})
	}
}

func TestStore_SymlinkOutside(t *testing.T) {
	s, dir := MustOpenStore(t, testFiles)
	outDir := t.TempDir()
	MustWriteFile(t, outDir, "outside.bin", "outside secret")
	if err := os.Symlink(filepath.Join(outDir, "outside.bin"), filepath.Join(dir, "org/model/link.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outDir, filepath.Join(dir, "org/model/linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outDir, filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, key := range []string{"org/model/link.bin", "org/model/linkdir/outside.bin", "evil/outside.bin"} {
		t.Run(key, func(t *testing.T) {
			if info, err := s.Stat(ctx, key); err == nil {
				t.Errorf("Stat(%q) = %+v, want an error", key, info)
			}
			rc, err := s.Open(ctx, key, "", 0, -1)
			if err == nil {
				t.Errorf("Open(%q) read %q, want an error", key, MustReadAll(t, rc))
			}
		})
	}
	t.Run("List", func(t *testing.T) {
		for _, prefix := range []string{"", "org/model/", "org/model/linkdir/", "evil/"} {
			objs, _ := s.List(ctx, prefix)
			for _, o := range objs {
				if strings.Contains(o.Key, "link") || strings.Contains(o.Key, "evil") || strings.Contains(o.Key, "outside") {
					t.Errorf("List(%q) includes %q", prefix, o.Key)
				}
			}
		}
	})
	t.Run("ListDirs", func(t *testing.T) {
		for _, prefix := range []string{"", "org/model/"} {
			dirs, err := s.ListDirs(ctx, prefix)
			if err != nil {
				t.Fatalf("ListDirs(%q): %v", prefix, err)
			}
			if slices.Contains(dirs, "evil/") || slices.Contains(dirs, "linkdir/") {
				t.Errorf("ListDirs(%q) = %q includes a symlink out of the root", prefix, dirs)
			}
		}
	})
}

func TestStore_List(t *testing.T) {
	s, _ := MustOpenStore(t, testFiles)
	tests := []struct {
		prefix string
		want   []string
	}{
		{
			prefix: "org/model/",
			want: []string{
				"org/model/Z-upper-sorts-before-lower.md",
				"org/model/a-b",
				"org/model/a.bin",
				"org/model/a/x",
				"org/model/config.json",
				"org/model/model.safetensors",
				"org/model/onnx/model.onnx",
				"org/model/sub/deeper/deepest/file.bin",
			},
		},
		{prefix: "org/model2/", want: []string{"org/model2/model.bin"}},
		{prefix: "org/model/onnx/", want: []string{"org/model/onnx/model.onnx"}},
		{prefix: "org/model/a", want: []string{"org/model/a-b", "org/model/a.bin", "org/model/a/x"}},
		{prefix: "other/", want: []string{"other/m/README.md"}},
		{prefix: "nope/", want: nil},
		{prefix: "org/nope/", want: nil},
		{prefix: "org/model/config.json/", want: nil},
		{prefix: "top.txt/", want: nil},
	}
	ctx := t.Context()
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			objs, err := s.List(ctx, tt.prefix)
			if err != nil {
				t.Fatalf("List(%q): %v", tt.prefix, err)
			}
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.Key)
				st, err := s.Stat(ctx, o.Key)
				if err != nil {
					t.Errorf("Stat(%q) of a listed key: %v", o.Key, err)
				} else if st != o {
					t.Errorf("List entry %+v differs from Stat %+v", o, st)
				}
			}
			if got, want := keys, tt.want; !slices.Equal(got, want) {
				t.Errorf("List(%q) keys = %q, want %q", tt.prefix, got, want)
			}
		})
	}

	t.Run("All", func(t *testing.T) {
		objs, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
		if !slices.IsSorted(keys) {
			t.Errorf("List(\"\") not sorted: %q", keys)
		}
		if got, want := len(keys), len(testFiles); got != want {
			t.Errorf("List(\"\") = %d keys, want %d: %q", got, want, keys)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if objs, err := s.List(ctx, "org/"); err == nil {
			t.Errorf("List with a cancelled context = %d objects, want an error", len(objs))
		}
	})
}

func TestStore_ListDirs(t *testing.T) {
	s, _ := MustOpenStore(t, testFiles)
	tests := []struct {
		prefix string
		want   []string // in any order; see TestStore_ListDirs_Sorted
	}{
		{"", []string{"org/", "other/"}},
		{"org/", []string{"model-b/", "model.bin/", "model/", "model2/"}},
		{"org/model/", []string{"a/", "onnx/", "sub/"}},
		{"org/model/sub/deeper/", []string{"deepest/"}},
		{"nope/", nil},
		{"org/model/config.json/", nil},
	}
	ctx := t.Context()
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got, err := s.ListDirs(ctx, tt.prefix)
			if err != nil && tt.want != nil {
				t.Fatalf("ListDirs(%q): %v", tt.prefix, err)
			}
			got = slices.Sorted(slices.Values(got))
			if want := tt.want; !slices.Equal(got, want) {
				t.Errorf("ListDirs(%q) = %q, want %q", tt.prefix, got, want)
			}
		})
	}
	t.Run("Outside", func(t *testing.T) {
		for _, prefix := range []string{"../", "../../", "org/../../"} {
			if got, _ := s.ListDirs(ctx, prefix); len(got) > 0 {
				t.Errorf("ListDirs(%q) = %q, want nothing", prefix, got)
			}
		}
	})
}

// TestStore_ListDirs_Sorted checks the ObjectStore contract that ListDirs
// returns its names sorted, as s3store does (slices.Sort on "name/"). With
// the trailing "/", "model-b/" < "model.bin/" < "model/" byte-wise, which is
// not the directory-entry order ("model" < "model-b") that fs.ReadDir gives,
// so the two backends list the same tree in different orders.
func TestStore_ListDirs_Sorted(t *testing.T) {
	s, _ := MustOpenStore(t, testFiles)
	got, err := s.ListDirs(t.Context(), "org/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"model-b/", "model.bin/", "model/", "model2/"}; !slices.Equal(got, want) {
		t.Errorf("ListDirs(%q) = %q, want %q (sorted)", "org/", got, want)
	}
}

func TestStore_Ping(t *testing.T) {
	s, _ := MustOpenStore(t, testFiles)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Errorf("Ping after Close = nil, want an error")
	}
}

func TestOpen_NotADirectory(t *testing.T) {
	dir := t.TempDir()
	MustWriteFile(t, dir, "file", "x")
	for _, p := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "file")} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if s, err := dirstore.Open(p); err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded, want an error", p)
			}
		})
	}
}

func TestStore_String(t *testing.T) {
	s, dir := MustOpenStore(t, nil)
	if got, want := s.String(), "dir:"+dir; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestStore_SymlinkInside: a link that stays inside the root (a closed
// model's shard linked under an open model) is refused too: the file would be
// served under the wrong model's classification.
func TestStore_SymlinkInside(t *testing.T) {
	s, dir := MustOpenStore(t, testFiles)
	MustWriteFile(t, dir, "closed/m/shard.bin", "closed weights")
	if err := os.Symlink(filepath.Join("..", "..", "closed", "m", "shard.bin"), filepath.Join(dir, "org/model/shard.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "..", "closed", "m"), filepath.Join(dir, "org/model/linked")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, key := range []string{"org/model/shard.bin", "org/model/linked/shard.bin"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrObjectNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrObjectNotFound", key, err)
		}
		if _, err := s.Open(ctx, key, "", 0, -1); !errors.Is(err, storage.ErrObjectNotFound) {
			t.Errorf("Open(%q) = %v, want ErrObjectNotFound", key, err)
		}
	}
	if _, err := s.Stat(ctx, "closed/m/shard.bin"); err != nil {
		t.Errorf("the real file: %v", err)
	}
}

func TestStore_ListPage(t *testing.T) {
	t.Parallel()
	dir := storagetest.WriteTree(t, t.TempDir(), storagetest.Keys)
	// An empty directory and one holding only a symbolic link are no
	// common prefix: S3 has keys, not directories.
	if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "links"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "z"), filepath.Join(dir, "links", "z")); err != nil {
		t.Fatal(err)
	}
	st, err := dirstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storagetest.CheckListPage(t, st, storagetest.Keys)
}
