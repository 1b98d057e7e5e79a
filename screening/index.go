package screening

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Default thresholds, used when Options leaves them zero.
const (
	DefaultHitThreshold    = 0.92
	DefaultReviewThreshold = 0.80
)

// Options tunes an Index.
type Options struct {
	// HitThreshold is the lowest score that is a hit; 0 means
	// DefaultHitThreshold.
	HitThreshold float64
	// ReviewThreshold is the lowest score that is a review; 0 means
	// DefaultReviewThreshold. It must not exceed HitThreshold.
	ReviewThreshold float64
}

// Index is an immutable, searchable set of list entries. Its methods are
// safe for concurrent use.
type Index struct {
	hit, review float64

	// Per entry, in the order given to NewIndex.
	entryList  []string // Result.List
	entryRef   []string // Result.Entry
	entryStart []int32  // start_date as YYYYMMDD, 0 when absent or unreadable
	entryEnd   []int32  // end_date likewise

	// ids maps a normalised identifier number to the entries listing it,
	// in entry order.
	ids map[string][]idRef

	// Names, numbered in ascending order of normalised length so that a
	// length window is a contiguous range of numbers.
	nameText []string
	nameLen  []int32 // Σ token runes
	// Name i is nameData[nameAt[i]:nameAt[i+1]]: its entry, its position
	// among all names in entry order (primary name first; it breaks
	// ties), and its tokens' vocabulary ids. Keeping them together costs
	// scoring one cache miss instead of several.
	nameAt   []int32
	nameData []int32

	// Vocabulary.
	vocab     map[string]int32
	vocabText []string
	vocabLen  []int32 // runes
	postAt    []int32 // token v's postings are post[postAt[v]:postAt[v+1]]
	post      []int32 // name numbers, ascending
	bitsetOf  []int32 // index into bitsets, or -1
	bitsets   [][]uint64
	nbrAt     []int32 // token v's similar tokens are nbr[nbrAt[v]:nbrAt[v+1]]
	nbr       []int32
	nbrSim    []float64

	// Deletion neighbourhood of the vocabulary, for query tokens that are
	// not in it (see fuzzy.go): the low 32 bits of a variant's hash map to
	// one token id, or (as -(i+1)) to delMulti[i], the count of tokens, and
	// the tokens. The bloom filter over the full hashes screens out most
	// absent variants first.
	base       uint64 // of the polynomial variant hash; random and odd
	dels       delTable
	delMulti   []int32
	bloom      []uint64
	bloomShift uint

	scratch sync.Pool
}

type idRef struct {
	entry  int32
	number string // as listed
}

// bitsetMinPostings is the smallest posting count for which a token also
// gets a bitmap (one bit per name). Rarer tokens are cheaper to scatter
// from their postings when a query needs their bitmap.
const bitsetMinPostings = 256

// NewIndex builds an Index over entries. The entries are not modified; the
// index keeps the strings it reports in a Result, not the slice.
func NewIndex(entries []Entry, opts Options) (*Index, error) {
	hit, review := opts.HitThreshold, opts.ReviewThreshold
	if hit == 0 {
		hit = DefaultHitThreshold
	}
	if review == 0 {
		review = DefaultReviewThreshold
	}
	if !(review > 0 && review <= hit && hit <= 1) { // also rejects NaN
		return nil, fmt.Errorf("screening: invalid thresholds: want 0 < review (%v) <= hit (%v) <= 1", review, hit)
	}
	if len(entries) > math.MaxInt32/4 {
		return nil, fmt.Errorf("screening: too many entries (%d)", len(entries))
	}

	ix := &Index{
		hit:        hit,
		review:     review,
		entryList:  make([]string, len(entries)),
		entryRef:   make([]string, len(entries)),
		entryStart: make([]int32, len(entries)),
		entryEnd:   make([]int32, len(entries)),
		ids:        make(map[string][]idRef),
		vocab:      make(map[string]int32),
		base:       rand.Uint64() | 1,
	}

	type nameRec struct {
		entry int32
		order int32
		text  string
		len   int32
		toks  []int32
	}
	var names []nameRec
	var n normalizer
	var idBuf []byte
	for ei := range entries {
		e := &entries[ei]
		ix.entryList[ei] = cmp.Or(e.Source, e.List)
		ix.entryRef[ei] = cmp.Or(e.ID, e.EntityNumber)
		ix.entryStart[ei] = parseDate(e.StartDate)
		ix.entryEnd[ei] = parseDate(e.EndDate)
		for _, id := range e.IDs {
			if !identifies(id.Type) {
				continue
			}
			idBuf = appendNormalizedID(idBuf[:0], id.Number)
			if len(idBuf) == 0 {
				continue
			}
			refs := ix.ids[string(idBuf)]
			if len(refs) > 0 && refs[len(refs)-1].entry == int32(ei) {
				continue // listed twice on one entry
			}
			ix.ids[string(idBuf)] = append(refs, idRef{entry: int32(ei), number: id.Number})
		}
		if t := strings.TrimSpace(e.Type); strings.EqualFold(t, "Vessel") || strings.EqualFold(t, "Aircraft") {
			continue
		}
		first := len(names)
		for ni := -1; ni < len(e.AltNames); ni++ {
			text := e.Name
			if ni >= 0 {
				text = e.AltNames[ni]
			}
			n.run(text)
			if len(n.spans) == 0 {
				continue
			}
			rec := nameRec{entry: int32(ei), text: text, toks: make([]int32, len(n.spans))}
			for i, sp := range n.spans {
				rec.toks[i] = ix.intern(n.buf[sp.start:sp.end], sp.runes)
				rec.len += sp.runes
			}
			// An alternate name that normalises like an earlier name of
			// the same entry can only tie with it, and ties go to the
			// earlier one.
			dup := slices.ContainsFunc(names[first:], func(o nameRec) bool { return sameTokens(o.toks, rec.toks) })
			if !dup {
				rec.order = int32(len(names))
				names = append(names, rec)
			}
		}
	}

	// Number names by length; the stable sort keeps entry order, then the
	// primary name before the alternates, within a length.
	slices.SortStableFunc(names, func(a, b nameRec) int { return cmp.Compare(a.len, b.len) })
	ix.nameText = make([]string, len(names))
	ix.nameLen = make([]int32, len(names))
	ix.nameAt = make([]int32, len(names)+1)
	df := make([]int32, len(ix.vocabText))
	for i, rec := range names {
		ix.nameText[i] = rec.text
		ix.nameLen[i] = rec.len
		ix.nameData = append(append(ix.nameData, rec.entry, rec.order), rec.toks...)
		ix.nameAt[i+1] = int32(len(ix.nameData))
		for j, t := range rec.toks {
			if !slices.Contains(rec.toks[:j], t) {
				df[t]++
			}
		}
	}

	// Postings, ascending because names are visited in number order.
	ix.postAt = make([]int32, len(ix.vocabText)+1)
	for v, c := range df {
		ix.postAt[v+1] = ix.postAt[v] + c
	}
	ix.post = make([]int32, ix.postAt[len(ix.vocabText)])
	fill := slices.Clone(ix.postAt[:len(ix.vocabText)])
	for i, rec := range names {
		toks := rec.toks
		for j, t := range toks {
			if !slices.Contains(toks[:j], t) {
				ix.post[fill[t]] = int32(i)
				fill[t]++
			}
		}
	}
	ix.bitsetOf = make([]int32, len(ix.vocabText))
	words := (len(names) + 63) / 64
	for v := range ix.vocabText {
		ix.bitsetOf[v] = -1
		if df[v] < bitsetMinPostings {
			continue
		}
		bs := make([]uint64, words)
		for _, id := range ix.postings(int32(v)) {
			bs[id>>6] |= 1 << (id & 63)
		}
		ix.bitsetOf[v] = int32(len(ix.bitsets))
		ix.bitsets = append(ix.bitsets, bs)
	}

	ix.buildFuzzy()
	ix.scratch.New = func() any { return new(scratch) }
	return ix, nil
}

// Len returns the number of entries in the index.
func (ix *Index) Len() int { return len(ix.entryRef) }

func (ix *Index) intern(tok []byte, runes int32) int32 {
	if id, ok := ix.vocab[string(tok)]; ok {
		return id
	}
	id := int32(len(ix.vocabText))
	s := string(tok)
	ix.vocab[s] = id
	ix.vocabText = append(ix.vocabText, s)
	ix.vocabLen = append(ix.vocabLen, runes)
	return id
}

func (ix *Index) postings(v int32) []int32 { return ix.post[ix.postAt[v]:ix.postAt[v+1]] }

// name returns name id's entry, tie-breaking position and tokens.
func (ix *Index) name(id int32) (entry, order int32, toks []int32) {
	d := ix.nameData[ix.nameAt[id]:ix.nameAt[id+1]]
	return d[0], d[1], d[2:]
}

func sameTokens(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// maxEdits is the edit allowance of a token pair whose longer token has
// runes runes.
func maxEdits(runes int32) int32 {
	switch {
	case runes <= 3:
		return 0
	case runes <= 7:
		return 1
	default:
		return 2
	}
}

// similarity returns sim(a,b) for tokens of la and lb runes at edit distance
// d, or 0 when d exceeds the allowance.
func similarity(d, la, lb int32) float64 {
	m := max(la, lb)
	if d > maxEdits(m) {
		return 0
	}
	return 1 - float64(d)/float64(m)
}

// parseDate reads the YYYY-MM-DD at the start of s as YYYYMMDD, or returns
// 0 when s does not start with such a date.
func parseDate(s string) int32 {
	s = strings.TrimSpace(s)
	if len(s) < 10 || s[4] != '-' || s[7] != '-' || len(s) > 10 && unicode.IsDigit(rune(s[10])) {
		return 0
	}
	var v int32
	for i, c := range []byte(s[:10]) {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + int32(c-'0')
	}
	if m, d := v/100%100, v%100; m < 1 || m > 12 || d < 1 || d > 31 {
		return 0
	}
	return v
}

// appendNormalizedID appends id lower-cased and without any whitespace.
func appendNormalizedID(dst []byte, id string) []byte {
	for _, r := range id {
		if unicode.IsSpace(r) {
			continue
		}
		if r < 0x80 {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			dst = append(dst, byte(r))
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

// notIdentifiers are the types of the CSL's ids cell that carry a fact
// about the party rather than a number naming it ("Gender, Male",
// "Website, www.example.com", "Organization Type, ..."): matched as ids,
// a requester whose id happened to be "male" would be a hit. Compared
// case-insensitively as prefixes.
var notIdentifiers = []string{
	"gender", "website", "email address", "phone number", "organization type",
	"organization established date", "secondary sanctions risk",
	"additional sanctions information", "transactions prohibited",
	"nationality of registration", "nationality country", "citizenship country",
	"target type", "vessel year of build", "aircraft construction", "aircraft manufacture",
	"aircraft model", "aircraft operator", "aircraft tail", "previous aircraft",
}

// identifies reports whether an id of this type names its party.
func identifies(typ string) bool {
	t := strings.ToLower(strings.TrimSpace(typ))
	for _, p := range notIdentifiers {
		if strings.HasPrefix(t, p) {
			return false
		}
	}
	return true
}
