package screening

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/agnivade/levenshtein"
)

// buildFuzzy indexes the deletion neighbourhood of every vocabulary token
// and, from it, precomputes each token's similar tokens.
//
// If lev(a,b) ≤ maxEdits(max(la,lb)), some string is reachable from a by
// deleting at most maxEdits(la) runes and from b by deleting at most
// maxEdits(lb): a substitution costs one deletion on each side, an
// insertion one on the longer side, and when the lengths differ the shorter
// token's own allowance always covers its deletions. So indexing each
// token's variants up to its own allowance finds every similar pair, and a
// query token hashing its own variants finds every similar vocabulary
// token. Hash collisions only add candidates, which the Levenshtein check
// removes.
func (ix *Index) buildFuzzy() {
	// The bloom filter answers most lookups of absent variants from a few
	// megabytes instead of the much larger table.
	total := 0
	for _, n := range ix.vocabLen {
		total += variantCount(int(n))
	}
	wordBits := min(max(bits.Len(uint(total*bloomBitsPerKey/64)), 1), maxBloomWordBits)
	ix.bloom = make([]uint64, 1<<wordBits)
	ix.bloomShift = uint(64 - wordBits)

	// Each variant as key<<32 | token, so that sorting groups the tokens
	// sharing a key.
	pairs := make([]uint64, 0, total)
	var g variantHasher
	for v, text := range ix.vocabText {
		for _, h := range g.hashes([]byte(text), ix.base) {
			w, m := ix.bloomSlot(h)
			ix.bloom[w] |= m
			pairs = append(pairs, uint64(uint32(h))<<32|uint64(v))
		}
	}
	slices.Sort(pairs)
	pairs = slices.Compact(pairs)

	keys := 0
	for i := range pairs {
		if i == 0 || pairs[i]>>32 != pairs[i-1]>>32 {
			keys++
		}
	}
	ix.dels.init(keys)
	var cand []uint64 // pairs of tokens sharing a key, as a<<32 | b
	for i := 0; i < len(pairs); {
		key := uint32(pairs[i] >> 32)
		// The tokens sharing this key (pairs holds no repeats).
		at := len(ix.delMulti)
		ix.delMulti = append(ix.delMulti, 0)
		j := i
		for ; j < len(pairs) && uint32(pairs[j]>>32) == key; j++ {
			ix.delMulti = append(ix.delMulti, int32(uint32(pairs[j])))
		}
		toks := ix.delMulti[at+1:]
		if len(toks) == 1 {
			ix.dels.put(key, toks[0])
			ix.delMulti = ix.delMulti[:at]
		} else {
			ix.delMulti[at] = int32(len(toks))
			ix.dels.put(key, -int32(at)-1)
			for a := range toks {
				for b := a + 1; b < len(toks); b++ {
					cand = append(cand, uint64(toks[a])<<32|uint64(toks[b]))
				}
			}
		}
		i = j
	}

	slices.Sort(cand)
	cand = slices.Compact(cand)
	type nb struct {
		a, b int32
		sim  float64
	}
	var nbs []nb
	for _, c := range cand {
		a, b := int32(c>>32), int32(uint32(c))
		la, lb := ix.vocabLen[a], ix.vocabLen[b]
		if abs32(la-lb) > maxEdits(max(la, lb)) {
			continue
		}
		d := int32(levenshtein.ComputeDistance(ix.vocabText[a], ix.vocabText[b]))
		if sim := similarity(d, la, lb); sim > 0 {
			nbs = append(nbs, nb{a, b, sim}, nb{b, a, sim})
		}
	}
	slices.SortFunc(nbs, func(x, y nb) int { return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b)) })
	ix.nbrAt = make([]int32, len(ix.vocabText)+1)
	ix.nbr = make([]int32, len(nbs))
	ix.nbrSim = make([]float64, len(nbs))
	for i, x := range nbs {
		ix.nbrAt[x.a+1]++
		ix.nbr[i] = x.b
		ix.nbrSim[i] = x.sim
	}
	for v := range ix.vocabText {
		ix.nbrAt[v+1] += ix.nbrAt[v]
	}
}

const (
	bloomBitsPerKey  = 8
	maxBloomWordBits = 20 // 8 MiB; bloomSlot needs the hash's top 20 bits free of its bits 32..43
)

// bloomSlot returns the bloom filter word of a variant hash and the two
// bits it sets there. Keeping both bits in one word costs one cache miss
// per lookup.
func (ix *Index) bloomSlot(h uint64) (int, uint64) {
	return int(h >> ix.bloomShift), 1<<(h>>32&63) | 1<<(h>>38&63)
}

// lookupVariant appends the vocabulary tokens whose deletion neighbourhood
// may contain the variant hashed to h.
func (ix *Index) lookupVariant(dst []int32, h uint64) []int32 {
	w, m := ix.bloomSlot(h)
	if ix.bloom[w]&m != m {
		return dst
	}
	x, ok := ix.dels.get(uint32(h))
	switch {
	case !ok:
		return dst
	case x >= 0:
		if !slices.Contains(dst, x) {
			dst = append(dst, x)
		}
	default:
		at := -x - 1
		for _, v := range ix.delMulti[at+1 : at+1+ix.delMulti[at]] {
			if !slices.Contains(dst, v) {
				dst = append(dst, v)
			}
		}
	}
	return dst
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// variantCount is the size of the deletion neighbourhood of a token of n
// runes, counting repeats.
func variantCount(n int) int {
	switch maxEdits(int32(n)) {
	case 0:
		return 1
	case 1:
		return 1 + n
	default:
		return 1 + n + n*(n-1)/2
	}
}

// variantHasher hashes a token's deletion neighbourhood: the token and
// every string left after deleting up to maxEdits of its runes. It hashes
// each variant in constant time from prefix and suffix polynomial hashes
// instead of building it, which matters for long tokens: a 13-rune token
// has 92 variants. Any two equal variants hash equally, whichever deletions
// produced them. It reuses its buffers between calls.
type variantHasher struct {
	runes, pre, suf, pow, out []uint64
}

func (g *variantHasher) hashes(tok []byte, base uint64) []uint64 {
	g.runes = g.runes[:0]
	for _, r := range string(tok) {
		g.runes = append(g.runes, uint64(r))
	}
	n := len(g.runes)
	g.pre = slices.Grow(g.pre[:0], n+1)[:n+1]
	g.suf = slices.Grow(g.suf[:0], n+1)[:n+1]
	g.pow = slices.Grow(g.pow[:0], n+1)[:n+1]
	g.pow[0], g.pre[0], g.suf[n] = 1, 0, 0
	for i, r := range g.runes {
		g.pow[i+1] = g.pow[i] * base
		g.pre[i+1] = g.pre[i]*base + r
	}
	for i := n - 1; i >= 0; i-- {
		g.suf[i] = g.runes[i]*g.pow[n-1-i] + g.suf[i+1]
	}
	// pre[i] hashes runes[:i] and suf[i] hashes runes[i:] as the tail of a
	// string of length n, so a variant's hash is its pieces' hashes
	// shifted into place.
	pre, suf, pow := g.pre, g.suf, g.pow
	g.out = append(g.out[:0], mixHash(pre[n], n))
	k := int(maxEdits(int32(n)))
	for i := 0; k >= 1 && i < n; i++ {
		g.out = append(g.out, mixHash(pre[i]*pow[n-1-i]+suf[i+1], n-1))
		for j := i + 1; k >= 2 && j < n; j++ {
			mid := (pre[j] - pre[i+1]*pow[j-1-i]) * pow[n-1-j]
			g.out = append(g.out, mixHash(pre[i]*pow[n-2-i]+mid+suf[j+1], n-2))
		}
	}
	return g.out
}

// mixHash finishes a polynomial hash of a string of n runes (the
// SplitMix64 finaliser), so that all its bits are usable as table keys and
// bloom positions. Its low 32 bits, the table key, are never 0, which
// marks an empty slot; merging such keys with key 1 only adds candidates.
func mixHash(h uint64, n int) uint64 {
	h ^= uint64(n) * 0x9e3779b97f4a7c15
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	if uint32(h) == 0 {
		h |= 1
	}
	return h
}

// delTable maps the 32-bit key of a deletion variant to an int32. It is an
// open-addressing table of key<<32|value slots, so that a lookup usually
// costs one cache line; a Go map of this size costs several.
type delTable struct {
	slots []uint64
	mask  uint32
}

func (t *delTable) init(n int) {
	size := 1 << bits.Len(uint(n+n/2)) // load ≤ 2/3
	t.slots = make([]uint64, max(size, 8))
	t.mask = uint32(len(t.slots) - 1)
}

// put stores v under k, which must not be 0 (mixHash never makes one).
func (t *delTable) put(k uint32, v int32) {
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i] == 0 || uint32(t.slots[i]>>32) == k {
			t.slots[i] = uint64(k)<<32 | uint64(uint32(v))
			return
		}
	}
}

func (t *delTable) get(k uint32) (int32, bool) {
	for i := k & t.mask; ; i = (i + 1) & t.mask {
		switch s := t.slots[i]; {
		case s == 0:
			return 0, false
		case uint32(s>>32) == k:
			return int32(uint32(s)), true
		}
	}
}
