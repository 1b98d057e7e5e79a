package catalog

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/storage"
)

// benchStore is an in-memory store of n models (orgO/modelM, three files
// each, one in four closed) whose ListPage costs a binary search and the
// page, as a store's ordered listing should: what the benchmarks below
// measure is the catalog's own work.
func benchStore(n int) *CatalogFakeStore {
	objs := make([]storage.ObjectInfo, 0, 3*n)
	for i := range n {
		id := fmt.Sprintf("org%d/model%d", i/100, i%100)
		for _, f := range []string{"config.json", "export.yaml", "model.safetensors"} {
			objs = append(objs, storage.ObjectInfo{Key: id + "/" + f, Size: 100, ETag: fmt.Sprintf("%x", i), ModTime: time.Unix(1, 0)})
		}
	}
	slices.SortFunc(objs, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return &CatalogFakeStore{
		ListPageFn: func(_ context.Context, prefix, after, delim string, limit int) (storage.Page, error) {
			return storage.PageOf(objs, prefix, after, delim, limit), nil
		},
		OpenFn: func(_ context.Context, key, _ string, _, _ int64) (io.ReadCloser, error) {
			y := "weights: open\ntraining_compute_flop: 1.0e22\n"
			if strings.HasSuffix(strings.Split(key, "/")[1], "3") {
				y = "weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n"
			}
			return io.NopCloser(strings.NewReader(y)), nil
		},
	}
}

// BenchmarkScanPage builds one listing page of 1,000 keys (333 models
// assembled from the scan, classifications remembered) from the middle of
// catalogs of 1,000 to 100,000 models, without the listing-page cache: its
// cost should not grow with the catalog.
func BenchmarkScanPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("models=%d", n), func(b *testing.B) {
			c := NewCatalog(benchStore(n), 64, time.Hour, nil)
			c.SetListingCacheBytes(0)
			ctx := context.Background()
			from := fmt.Sprintf("org%d/model50/", n/200)
			page := func() {
				models := 0
				_, _, err := c.Scan(ctx, "", from, DefaultScanLimits, func(g Group) (string, bool) {
					if _, err := c.ModelOf(ctx, g.ID, g.Files); err != nil {
						b.Fatal(err)
					}
					models++
					return Past(g.ID + "/"), models == 333
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			page() // read the classifications once
			for b.Loop() {
				page()
			}
		})
	}
}

// BenchmarkPageCache answers listings from the listing-page cache holding
// every page of catalogs of 1,000 to 100,000 models, from a random
// position inside a cached page (the tail after it): the lookup is a
// binary search over the pages of one prefix.
func BenchmarkPageCache(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("models=%d", n), func(b *testing.B) {
			st := benchStore(n)
			pc := newPageCache(st, time.Hour, 1<<30)
			ctx := context.Background()
			var afters []string
			for after := ""; ; {
				p, err := pc.listPage(ctx, "", after)
				if err != nil {
					b.Fatal(err)
				}
				pc.idle()
				if !p.Truncated {
					break
				}
				afters = append(afters, p.Objects[len(p.Objects)/2].Key)
				after = p.Last()
			}
			i := 0
			for b.Loop() {
				if _, ok := pc.lookup("", afters[i%len(afters)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}
