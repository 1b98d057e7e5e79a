package index

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/audittest"
)

// benchRecords is the size of the benchmarks' trail: a million decision and
// transfer records, 2.6 s apart (30 days).
const benchRecords = 1_000_000

// benchTrail returns the benchmarks' trail, generated once and kept under
// the OS temp dir between runs (it is deterministic: same seed, same bytes).
func benchTrail(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "weightgate-bench-trail-1m-v1")
	if _, err := os.Stat(filepath.Join(dir, audit.HeadFileName)); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	start := time.Now()
	if _, err := audittest.Generate(tmp, audittest.GenOptions{Records: benchRecords, Seed: 42}); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d records in %s: %s", benchRecords, time.Since(start).Round(time.Millisecond), dir)
	return dir
}

// benchIndex returns an index of the benchmarks' trail, built once and kept
// beside it.
func benchIndex(b *testing.B) *Index {
	b.Helper()
	dir := benchTrail(b)
	path := filepath.Join(os.TempDir(), "weightgate-bench-index-1m-v1.db")
	ix, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	if err := ix.AddDir("gw-1", dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	n, err := ix.Sync(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if n > 0 {
		b.Logf("indexed %d records in %s", n, time.Since(start).Round(time.Millisecond))
	}
	return ix
}

// BenchmarkIndexSync indexes the whole trail into an empty index: run it
// with -benchtime=1x (one pass is a million records).
func BenchmarkIndexSync(b *testing.B) {
	dir := benchTrail(b)
	ctx := context.Background()
	for b.Loop() {
		ix, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		ix.AddDir("gw-1", dir)
		n, err := ix.Sync(ctx)
		if err != nil || n != benchRecords {
			b.Fatalf("Sync: %d records, %v", n, err)
		}
		ix.Close()
	}
	b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIndexQuery asks for the first page (50 rows, newest first, with
// Total) with the filters the console and `audit query` use most.
func BenchmarkIndexQuery(b *testing.B) {
	ix := benchIndex(b)
	ctx := context.Background()
	last := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name string
		f    Filter
	}{
		{"all", Filter{}},
		{"denials", Filter{Decision: "deny"}},
		{"country+deny", Filter{Country: "CN", Decision: "deny"}},
		{"subject", Filter{Subject: "user-0042"}},
		{"entity", Filter{Entity: "Entity 7 Ltd"}},
		{"model+7d", Filter{Model: "lab-03/model-07", Since: last.AddDate(0, 0, -7)}},
		{"screening-review", Filter{Screening: "review"}},
		{"last-24h", Filter{Since: last.AddDate(0, 0, -1)}},
		{"transfers-any-model", Filter{Kind: KindTransfer, Model: "lab-01/model-01"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total int64
			for b.Loop() {
				p, err := ix.Query(ctx, bc.f, 50, "")
				if err != nil {
					b.Fatal(err)
				}
				total = p.Total
			}
			b.ReportMetric(float64(total), "rows")
		})
	}
}

// BenchmarkIndexOverview sums up the 30 days of the trail (and the last 7,
// ending mid-hour).
func BenchmarkIndexOverview(b *testing.B) {
	ix := benchIndex(b)
	ctx := context.Background()
	end := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name         string
		since, until time.Time
	}{
		{"30d", end.AddDate(0, 0, -30), end},
		{"7d-mid-hour", end.AddDate(0, 0, -7).Add(17 * time.Minute), end.Add(-23 * time.Minute)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var o Overview
			for b.Loop() {
				var err error
				if o, err = ix.Overview(ctx, bc.since, bc.until); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(o.Decisions), "decisions")
		})
	}
}
