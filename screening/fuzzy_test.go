package screening

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// TestVariantHashes checks the constant-time variant hashes against hashes
// of the variants spelled out.
func TestVariantHashes(t *testing.T) {
	tests := []string{"abc", "abcd", "glass", "shenzhen", "international", "дмитрии", "müller", "straße"}
	const base = 0x9e3779b97f4a7c15 | 1
	for _, tok := range tests {
		t.Run(tok, func(t *testing.T) {
			runes := []rune(tok)
			n := len(runes)
			var want []uint64
			var g variantHasher
			add := func(rs []rune) {
				want = append(want, g.hashes([]byte(string(rs)), base)[0])
			}
			add(runes)
			for i := range n {
				if maxEdits(int32(n)) >= 1 {
					add(slices.Delete(slices.Clone(runes), i, i+1))
				}
				for j := i + 1; j < n && maxEdits(int32(n)) >= 2; j++ {
					v := slices.Delete(slices.Clone(runes), j, j+1)
					add(slices.Delete(v, i, i+1))
				}
			}
			got := slices.Clone(g.hashes([]byte(tok), base))
			if len(got) != variantCount(n) {
				t.Errorf("%d hashes, want %d", len(got), variantCount(n))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("hashes differ from those of the spelled-out variants")
			}
		})
	}
}

// TestSimilarTokens checks the fuzzy token lookup, for tokens in the
// vocabulary and not, against comparing the query with every vocabulary
// token, around the length boundaries of the edit allowance.
func TestSimilarTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdeжшo"
	word := func(n int) string {
		b := make([]rune, n)
		for i := range b {
			b[i] = []rune(letters)[rng.IntN(len([]rune(letters)))]
		}
		return string(b)
	}
	edit := func(s string) string {
		r := []rune(s)
		p := rng.IntN(len(r) + 1)
		switch rng.IntN(3) {
		case 0:
			if p < len(r) {
				r[p] = []rune(letters)[rng.IntN(len([]rune(letters)))]
			}
		case 1:
			if p < len(r) && len(r) > 1 {
				r = slices.Delete(r, p, p+1)
			}
		default:
			r = slices.Insert(r, p, []rune(letters)[rng.IntN(len([]rune(letters)))])
		}
		return string(r)
	}
	var entries []Entry
	var vocab []string
	seen := map[string]bool{}
	for len(vocab) < 3000 {
		w := word(2 + rng.IntN(9))
		if toks := Normalize(w); len(toks) != 1 || toks[0] != w || seen[w] {
			continue // stemming or stop words would change it
		}
		seen[w] = true
		vocab = append(vocab, w)
		entries = append(entries, Entry{Name: w})
	}
	ix := mustIndex(t, entries, Options{})
	s := new(scratch)
	queries := 3000
	if testing.Short() || raceEnabled {
		queries = 300
	}
	for i := range queries {
		q := vocab[rng.IntN(len(vocab))]
		for range rng.IntN(4) {
			q = edit(q)
		}
		if i%7 == 0 {
			q = word(1 + rng.IntN(11))
		}
		var want []string
		lq := int32(utf8.RuneCountInString(q))
		for _, v := range vocab {
			lv := int32(utf8.RuneCountInString(v))
			if similarity(int32(levenshtein.ComputeDistance(q, v)), lq, lv) > 0 {
				want = append(want, v)
			}
		}
		s.fz = s.fz[:0]
		ix.similarTokens(s, []byte(q), lq)
		var got []string
		for _, h := range s.fz {
			got = append(got, ix.vocabText[h.vocab])
			if wantSim := similarity(int32(levenshtein.ComputeDistance(q, ix.vocabText[h.vocab])), lq, h.runes); h.sim != wantSim {
				t.Errorf("%q ~ %q: sim %v, want %v", q, ix.vocabText[h.vocab], h.sim, wantSim)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("similar tokens of %q = %q, want %q", q, got, want)
		}
	}
}
