package gatewaytest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// The testdata/store models' download paths (append a file name) and the
// first shard of the closed ones.
const (
	Open      = "/open-lab/tiny-open/resolve/main/"
	Frontier  = "/frontier-lab/frontier-x/resolve/main/"
	Mini      = "/frontier-lab/mini-x/resolve/main/"
	Unlabeled = "/unknown-lab/unlabeled/resolve/main/"
	Shard1    = "model-00001-of-00002.safetensors"
)

// Backends runs fn against every storage backend: the dir backend always, the
// s3 backend against the shared S3 server (skipped without one, a failure
// when WEIGHTGATE_TEST_S3_REQUIRED=1).
func Backends(t *testing.T, fn func(t *testing.T, store storage.ObjectStore)) {
	t.Run("dir", func(t *testing.T) { fn(t, DirStore(t)) })
	t.Run("s3", func(t *testing.T) { fn(t, S3Store(t, s3test.Env(t))) })
}

// Hex40 matches a git object ID or commit hash as the Hub API gives them.
var Hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Claims are a requester's token claims: location, then entity HQ and
// parent HQ.
func Claims(country string, hq ...string) identity.TokenClaims {
	// The policy needs an explicit nationality and parent headquarters for
	// controlled weights: the requester is a national of where they are (no
	// deemed export beyond the location), and the parent is headquartered
	// there unless given, as the policy once assumed of a missing claim.
	c := identity.TokenClaims{Subject: "user-" + country, Country: country, ParentHQ: country}
	if country != "" {
		c.Nationality = []string{country}
	}
	if len(hq) > 0 {
		c.EntityHQ = hq[0]
	}
	if len(hq) > 1 {
		c.ParentHQ = hq[1]
	}
	return c
}

// StoreFile returns the bytes in testdata/store behind a download path,
// /{org}/{name}/resolve/{rev}/{file}.
func StoreFile(tb testing.TB, path string) []byte {
	tb.Helper()
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 5)
	return ReadFile(tb, filepath.Join(s3test.StoreDir(tb), parts[0], parts[1], filepath.FromSlash(parts[4])))
}

// StoreFiles lists a model's files in testdata/store, relative and sorted.
func StoreFiles(tb testing.TB, repo string) []string {
	tb.Helper()
	root := filepath.Join(s3test.StoreDir(tb), filepath.FromSlash(repo))
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// SHA256Hex is the hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CopyStore copies testdata/store to a temp dir, for tests that change it.
func CopyStore(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS(s3test.StoreDir(tb))); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// OpenDirStore is the dir backend over dir.
func OpenDirStore(tb testing.TB, dir string) storage.ObjectStore {
	tb.Helper()
	st, err := dirstore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// AppendManifest appends yaml to a model's export.yaml in a store directory.
func AppendManifest(tb testing.TB, dir, model, yaml string) {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(model), "export.yaml")
	b := ReadFile(tb, p)
	if err := os.WriteFile(p, append(b, yaml...), 0o644); err != nil {
		tb.Fatal(err)
	}
}
