package screening

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

const benchEntries = 30000

var benchData = sync.OnceValues(func() ([]Entry, *synth) {
	s := newSynth(20260501)
	return s.entries(benchEntries), s
})

// benchQueries builds, for each kind of result, queries that are known to
// screen that way, so each sub-benchmark measures what its name says.
// Every query also carries a person's name as the subject and a date, as
// the gateway's queries do; rotating over many queries keeps one query's
// postings from staying hot in the cache.
func benchQueries(tb testing.TB, ix *Index, entries []Entry, s *synth) map[string][]Query {
	tb.Helper()
	const perKind = 256
	const date = "2026-05-01"
	var subjects []string
	for len(subjects) < perKind {
		n := s.word(2) + " " + s.word(3)
		if ix.Screen(Query{SubjectName: n}).Status == StatusClear {
			subjects = append(subjects, n)
		}
	}
	var clearOrgs []string
	for len(clearOrgs) < perKind {
		n := s.orgName(true)
		if ix.Screen(Query{EntityName: n, Date: date}).Status == StatusClear {
			clearOrgs = append(clearOrgs, n)
		}
	}

	qs := map[string][]Query{}
	add := func(kind string, q Query, want string, field string) bool {
		q.Date = date
		if q.SubjectName == "" {
			q.SubjectName = subjects[len(qs[kind])%len(subjects)]
		}
		r := ix.Screen(q)
		if r.Status != want || r.Field != field || len(qs[kind]) >= perKind {
			return false
		}
		qs[kind] = append(qs[kind], q)
		return true
	}
	for i := 0; i < 40*perKind && (len(qs["exact_hit"]) < perKind || len(qs["alt_name_hit"]) < perKind || len(qs["fuzzy_review"]) < perKind || len(qs["id_hit"]) < perKind); i++ {
		ei := s.rng.IntN(len(entries))
		e := &entries[ei]
		if e.Type == "Vessel" || e.Type == "Aircraft" || !ix.active(int32(ei), parseDate(date)) {
			continue
		}
		add("exact_hit", Query{EntityName: e.Name}, StatusHit, FieldEntityName)
		if len(e.AltNames) > 0 {
			add("alt_name_hit", Query{EntityName: e.AltNames[s.rng.IntN(len(e.AltNames))]}, StatusHit, FieldEntityName)
		}
		for range 4 {
			if add("fuzzy_review", Query{EntityName: s.typo(s.typo(e.Name))}, StatusReview, FieldEntityName) {
				break
			}
		}
		if len(e.IDs) > 0 {
			add("id_hit", Query{EntityID: e.IDs[0].Number, EntityName: clearOrgs[len(qs["id_hit"])%len(clearOrgs)]}, StatusHit, FieldEntityID)
		}
	}
	for _, n := range clearOrgs {
		add("clear", Query{EntityName: n}, StatusClear, "")
	}
	for kind, list := range qs {
		if len(list) < perKind {
			tb.Fatalf("%s: found only %d queries", kind, len(list))
		}
	}
	return qs
}

// BenchmarkScreen measures Screen over a synthetic 30,000-entry list. Next
// to ns/op (the mean) it reports p50-ns, the median of separately timed
// calls.
func BenchmarkScreen(b *testing.B) {
	entries, s := benchData()
	ix, err := NewIndex(entries, Options{})
	if err != nil {
		b.Fatal(err)
	}
	qs := benchQueries(b, ix, entries, s)
	for _, kind := range []string{"exact_hit", "alt_name_hit", "fuzzy_review", "clear", "id_hit"} {
		list := qs[kind]
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ix.Screen(list[i%len(list)])
				i++
			}
			b.StopTimer()
			durs := make([]time.Duration, 4*len(list))
			for j := range durs {
				t0 := time.Now()
				ix.Screen(list[j%len(list)])
				durs[j] = time.Since(t0)
			}
			slices.Sort(durs)
			b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkNewIndex measures building the index over the synthetic
// 30,000-entry list, and reports the heap the built index retains.
func BenchmarkNewIndex(b *testing.B) {
	entries, _ := benchData()
	b.ReportAllocs()
	var ix *Index
	for b.Loop() {
		var err error
		if ix, err = NewIndex(entries, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ix = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ix, _ = NewIndex(entries, Options{})
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(len(ix.nameLen)), "names")
	b.ReportMetric(float64(len(ix.vocabText)), "tokens")
	runtime.KeepAlive(ix)
}
