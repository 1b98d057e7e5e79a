package screening

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestScreenDenseListsMatchScan compares Screen with refScreen on lists
// drawn from a small vocabulary, so that a few words are in hundreds of
// names (bitmaps), others in dozens (postings merged into bitmaps), and
// most words have a near neighbour one edit away. Queries mix up to a dozen
// distinct words, so candidates come from the bitmap search with and
// without enumerated token sets, across many blocks of 64 names of each
// length, at thresholds from lenient to strict and with dates.
func TestScreenDenseListsMatchScan(t *testing.T) {
	t.Parallel()
	common := []string{"nordic", "trading", "co", "group"}
	rare := []string{
		"nordik", "tradin", "ltd", "alpha", "alpah", "xy", "xz", "b",
		"shipping", "shiping", "holdings", "holding", "star", "stars", "kestrel",
		"mu", "zeta", "omega", "international", "internacional", "orion", "orien",
		"delta", "deltas", "q", "bank", "banks", "energy", "energi", "lux",
	}
	dates := []string{"", "", "", "2020-01-01", "2022-06-30", "2024-12-31"}
	word := func(rng *rand.Rand) string {
		if rng.IntN(2) == 0 {
			return common[rng.IntN(len(common))]
		}
		return rare[rng.IntN(len(rare))]
	}
	thresholds := []struct{ hit, review float64 }{
		{0.9, 0.3}, {0.9, 0.6}, {DefaultHitThreshold, DefaultReviewThreshold}, {0.95, 0.9},
	}
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 99))
		entries := make([]Entry, 700+rng.IntN(300))
		for i := range entries {
			w := make([]string, 1+rng.IntN(5))
			for j := range w {
				w[j] = word(rng)
			}
			e := Entry{ID: fmt.Sprint(i), Source: "L", Type: "Entity", Name: strings.Join(w, " ")}
			if rng.IntN(4) == 0 {
				e.StartDate = dates[3+rng.IntN(3)]
			}
			if rng.IntN(4) == 0 {
				e.EndDate = dates[3+rng.IntN(3)]
			}
			entries[i] = e
		}
		ref := newRefList(entries)
		for _, th := range thresholds {
			ix := mustIndex(t, entries, Options{HitThreshold: th.hit, ReviewThreshold: th.review})
			for range 60 {
				var w []string
				switch rng.IntN(3) {
				case 0: // a listed name, perhaps with extra words
					w = strings.Fields(entries[rng.IntN(len(entries))].Name)
					for range rng.IntN(3) {
						w = append(w, word(rng))
					}
				case 1: // random words
					for range 1 + rng.IntN(6) {
						w = append(w, word(rng))
					}
				case 2: // many distinct words
					for _, j := range rng.Perm(len(rare))[:6+rng.IntN(8)] {
						w = append(w, rare[j])
					}
					w = append(w, common[rng.IntN(len(common))])
				}
				rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
				q := Query{EntityName: strings.Join(w, " "), Date: dates[rng.IntN(len(dates))]}
				got, want := ix.Screen(q), refScreen(ref, th.hit, th.review, q)
				if got != want {
					t.Errorf("seed %d, thresholds %+v, query %+v:\n got  %+v\n want %+v", seed, th, q, got, want)
				}
			}
		}
	}
}

// TestScreenBitmapSearchEdges screens lists where the bitmap search must
// reach a name that sits exactly on one of its bounds.
func TestScreenBitmapSearchEdges(t *testing.T) {
	t.Parallel()
	numbered := func(n int, format string) []string {
		var names []string
		for i := range n {
			if strings.Contains(format, "%") {
				names = append(names, fmt.Sprintf(format, 1000+i))
			} else {
				names = append(names, format)
			}
		}
		return names
	}
	tests := []struct {
		name  string
		list  []string
		query string
		match string
		score float64
	}{
		// The first name screened by a new Index is found through the
		// token sets weighing 1, the smallest weight there is.
		{"one-rune word in every name", numbered(300, "B"), "B", "B", 1},
		// The match is the shortest name of its block of 64, and it
		// needs exactly the whole weight of the query (0.8·(10+15)/2), so
		// the upward scan must not stop there.
		{
			"match needs the whole query",
			append(append(numbered(320, "Star %d"), numbered(320, "Nordic %d")...), "Nordic Star Abcde"),
			"Nordic Star", "Nordic Star Abcde", 0.8,
		},
		// 640 names: the match is the last name of the last full block.
		{
			"match ends the last block",
			append(append(numbered(320, "Star %d"), numbered(319, "Nordic %d")...), "Nordic Star"),
			"Nordic Star", "Nordic Star", 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var entries []Entry
			for i, n := range tt.list {
				entries = append(entries, Entry{ID: fmt.Sprint("e", i), Type: "Entity", Name: n})
			}
			ix := mustIndex(t, entries, Options{HitThreshold: 0.9, ReviewThreshold: 0.8})
			got := ix.Screen(Query{EntityName: tt.query})
			if got, want := got.Name, tt.match; got != want {
				t.Fatalf("Name = %q, want %q (result %+v)", got, want, got)
			}
			if got, want := got.Score, tt.score; got != want {
				t.Errorf("Score = %v, want %v", got, want)
			}
		})
	}
}
