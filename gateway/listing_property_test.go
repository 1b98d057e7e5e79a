package gateway_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// visibility is a policy that hides each closed or unclassified model from
// each requester at random (by a hash of the seed, the requester and the
// model), and lets nobody download anything.
type visibility struct{ seed uint64 }

func (v visibility) visible(sub, model string) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%s", v.seed, sub, model)
	return h.Sum64()%3 == 0
}

func (v visibility) Decide(_ context.Context, in policy.Input) (policy.Decision, error) {
	return policy.Decision{Code: "test_denied", Reason: "a test policy", Visible: v.visible(in.Subject.ID, in.Model.ID)}, nil
}

func (visibility) Bundle() (string, string) { return "test-visibility", "1" }

// randomCatalog is a random store's keys and which of its models are open:
// ids and paths chosen so that key order differs from directory order
// ("a-b/" before "a/", "m-2/" before "m/"), with keys outside the
// ORG/NAME/PATH layout beside them.
func randomCatalog(rng *rand.Rand) (keys []string, open map[string]bool) {
	orgs := []string{"a", "a-b", "a0", "org", "org2", "z"}
	names := []string{"m", "m-2", "m.x", "model", "model-b", "mm"}
	files := []string{"config.json", "w/part-1.bin", "w/part-2.bin", "a-b", "z.safetensors", "sub/x", "sub-y"}
	open = map[string]bool{}
	seen := map[string]bool{}
	for range 1 + rng.IntN(40) {
		id := orgs[rng.IntN(len(orgs))] + "/" + names[rng.IntN(len(names))]
		if seen[id] {
			continue
		}
		seen[id] = true
		switch rng.IntN(5) {
		case 0:
			keys = append(keys, id+"/export.yaml:open")
			open[id] = true
		case 1: // unclassified
		default:
			keys = append(keys, id+"/export.yaml:closed")
		}
		for _, f := range files {
			if rng.IntN(3) == 0 {
				keys = append(keys, id+"/"+f)
			}
		}
		if !strings.HasPrefix(keys[len(keys)-1], id+"/") {
			keys = append(keys, id+"/config.json")
		}
	}
	keys = append(keys, "README.md", "org/file-at-org.bin")
	return keys, open
}

// writeCatalog writes keys under dir (export.yaml's content named after
// its ":" suffix), with VersityGW's ETag attribute when xattr is set, and
// returns the keys without suffix, sorted.
func writeCatalog(t *testing.T, dir string, keys []string, xattr bool) []string {
	t.Helper()
	var out []string
	for _, k := range keys {
		content := k
		if key, weights, ok := strings.Cut(k, ":"); ok {
			k = key
			content = "weights: " + weights + "\ntraining_compute_flop: 3.0e26\neccn: 4E091\n"
			if weights == "open" {
				content = "weights: open\ntraining_compute_flop: 1.0e22\n"
			}
		}
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if xattr {
			sum := md5.Sum([]byte(content))
			if err := syscall.Setxattr(p, "user.etag", []byte(hex.EncodeToString(sum[:])), 0); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestListingProperty: over random catalogs, with a random visibility of
// each model to each requester (and anonymous requesters, who see open
// models only), random scan bounds small enough to end pages short or
// empty, random page sizes, prefixes and delimiters, walking every
// listing to its end gives exactly the keys (S3) or models (Hub API) the
// requester may see, each once, in order, on both backends.
func TestListingProperty(t *testing.T) {
	t.Parallel()
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		for seed := range uint64(30) {
			dir := t.TempDir()
			listingProperty(t, seed, func(keys []string) ([]string, storage.ObjectStore) {
				return writeCatalog(t, dir, keys, false), gatewaytest.OpenDirStore(t, dir)
			})
		}
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		cfg, bucketDir, stop := s3test.StartEmpty(t)
		defer stop()
		for seed := range uint64(8) {
			prefix := fmt.Sprintf("run%d/", seed)
			listingProperty(t, 1000+seed, func(keys []string) ([]string, storage.ObjectStore) {
				sorted := writeCatalog(t, filepath.Join(bucketDir, prefix), keys, true)
				c := cfg
				c.Prefix = prefix
				return sorted, gatewaytest.S3Store(t, c)
			})
		}
	})
}

func listingProperty(t *testing.T, seed uint64, write func(keys []string) ([]string, storage.ObjectStore)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	raw, open := randomCatalog(rng)
	keys, store := write(raw)
	vis := visibility{seed: seed}
	lim := gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}, Policy: vis}
	lim.ScanLimits.Entries, lim.ScanLimits.Requests = 1+rng.IntN(12), 1+rng.IntN(3)
	h := gatewaytest.Start(t, store, lim)
	where := fmt.Sprintf("seed %d (bounds %+v)", seed, lim.ScanLimits)

	type requester struct {
		sub, token string
		creds      *s3Creds
	}
	requesters := []requester{{sub: ""}}
	for i := range 2 {
		c := gatewaytest.Claims("US")
		c.Subject = fmt.Sprintf("r%d", i)
		tok := h.Token(t, c)
		requesters = append(requesters, requester{sub: c.Subject, token: tok, creds: stsCreds(t, h, tok)})
	}
	for _, r := range requesters {
		sees := func(id string) bool { return open[id] || (r.sub != "" && vis.visible(r.sub, id)) }
		var visibleKeys []storage.ObjectInfo
		var visibleIDs []string
		for _, k := range keys {
			parts := strings.SplitN(k, "/", 3)
			if len(parts) < 3 {
				continue
			}
			id := parts[0] + "/" + parts[1]
			if !sees(id) {
				continue
			}
			visibleKeys = append(visibleKeys, storage.ObjectInfo{Key: k})
			if len(visibleIDs) == 0 || visibleIDs[len(visibleIDs)-1] != id {
				visibleIDs = append(visibleIDs, id)
			}
		}

		// S3: a random prefix and delimiter, pages of 1 to 7 entries.
		for range 3 {
			prefix := []string{"", "a", "a/", "a-b/", "org/", "org/m", "org/m/", "z/mm/w/"}[rng.IntN(8)]
			delim := []string{"", "/", "/", "-"}[rng.IntN(4)]
			maxKeys := 1 + rng.IntN(7)
			want := storage.PageOf(visibleKeys, prefix, "", delim, len(visibleKeys)+1)
			var gotKeys, gotPrefixes []string
			q := url.Values{"list-type": {"2"}, "max-keys": {fmt.Sprint(maxKeys)}, "prefix": {prefix}, "delimiter": {delim}}
			for pages := 0; ; pages++ {
				if pages > 4*len(keys)+10 {
					t.Fatalf("%s, requester %q, S3 %s: no end after %d pages", where, r.sub, q.Encode(), pages)
				}
				a := s3List(t, h, r.creds, q)
				if a.Status != 200 {
					t.Fatalf("%s, requester %q, S3 %s: %d %s %s", where, r.sub, q.Encode(), a.Status, a.Code, a.Message)
				}
				if len(a.Contents)+len(a.CommonPrefixes) > maxKeys {
					t.Fatalf("%s: a page of %d entries for max-keys %d", where, len(a.Contents)+len(a.CommonPrefixes), maxKeys)
				}
				for _, c := range a.Contents {
					gotKeys = append(gotKeys, c.Key)
				}
				for _, p := range a.CommonPrefixes {
					gotPrefixes = append(gotPrefixes, p.Prefix)
				}
				if !a.IsTruncated {
					break
				}
				q.Set("continuation-token", a.NextContinuationToken)
			}
			var wantKeys []string
			for _, o := range want.Objects {
				wantKeys = append(wantKeys, o.Key)
			}
			if !slices.Equal(gotKeys, wantKeys) || !slices.Equal(gotPrefixes, want.Prefixes) {
				t.Fatalf("%s, requester %q, S3 prefix %q delimiter %q max-keys %d:\nkeys %q\nwant %q\nprefixes %q\nwant %q",
					where, r.sub, prefix, delim, maxKeys, gotKeys, wantKeys, gotPrefixes, want.Prefixes)
			}
		}

		// The Hub API: pages of 1 to 5 models, by author or not.
		for range 2 {
			author := []string{"", "a", "org", "z", "nobody"}[rng.IntN(5)]
			limit := 1 + rng.IntN(5)
			next := fmt.Sprintf("/api/models?limit=%d", limit)
			var want []string
			for _, id := range visibleIDs {
				if author == "" || strings.HasPrefix(id, author+"/") {
					want = append(want, id)
				}
			}
			if author != "" {
				next += "&author=" + author
			}
			var got []string
			for pages := 0; next != ""; pages++ {
				if pages > 4*len(keys)+10 {
					t.Fatalf("%s, requester %q, Hub: no end after %d pages", where, r.sub, pages)
				}
				status, ids, nx, code := hubModels(t, h, next, r.token)
				if status != 200 || len(ids) > limit {
					t.Fatalf("%s, requester %q, Hub %s: %d %s, %d models for limit %d", where, r.sub, next, status, code, len(ids), limit)
				}
				got = append(got, ids...)
				next = nx
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, requester %q, Hub author %q limit %d:\n got %q\nwant %q", where, r.sub, author, limit, got, want)
			}
		}
	}
}
