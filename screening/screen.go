package screening

import (
	"bytes"
	"cmp"
	"math"
	"math/bits"
	"slices"

	"github.com/agnivade/levenshtein"
)

// Status values of a Result.
const (
	StatusClear  = "clear"
	StatusReview = "review"
	StatusHit    = "hit"
)

// Field values of a Result: the Query field that matched.
const (
	FieldEntityID    = "entity.id"
	FieldEntityName  = "entity.name"
	FieldSubjectID   = "subject.id"
	FieldSubjectName = "subject.name"
)

// Query is what Screen checks: an organisation (the entity) and a person
// (the subject), each by name and by identifier number. Empty fields are
// not screened.
type Query struct {
	EntityName  string
	EntityID    string
	SubjectName string
	SubjectID   string

	// Date (YYYY-MM-DD) skips entries not in force on that day: those whose
	// end_date is before it or whose start_date is after it. Empty means
	// no date filter.
	Date string
}

// Result is the best match of a Query, or Status "clear" and zero values.
type Result struct {
	Status string  // StatusClear, StatusReview or StatusHit
	List   string  // the entry's Source, or its List when Source is empty
	Entry  string  // the entry's ID, or its EntityNumber when ID is empty
	Name   string  // the list name (primary or alternate) that matched, or the identifier number
	Score  float64 // 0..1
	Field  string  // FieldEntityID, FieldEntityName, FieldSubjectID or FieldSubjectName
}

// match is the best match of one Query field.
type match struct {
	score float64
	entry int32 // -1 for none
	order int32 // the matched name's position among all indexed names, in entry order
	name  string
}

var noMatch = match{entry: -1}

// eps keeps float rounding from pruning a candidate whose exact bound equals
// the threshold.
const eps = 1e-9

// Screen returns the best match of q over the index (see the package
// documentation for the rules).
func (ix *Index) Screen(q Query) Result {
	s := ix.scratch.Get().(*scratch)
	defer ix.scratch.Put(s)
	date := parseDate(q.Date)

	best, field := noMatch, ""
	fields := [...]struct {
		text  string
		id    bool
		field string
	}{
		{q.EntityID, true, FieldEntityID},
		{q.EntityName, false, FieldEntityName},
		{q.SubjectID, true, FieldSubjectID},
		{q.SubjectName, false, FieldSubjectName},
	}
	for _, f := range fields {
		if f.text == "" {
			continue
		}
		if best.score >= 1 {
			break // nothing later can beat it, and ties go to earlier fields
		}
		var m match
		if f.id {
			m = ix.screenID(s, f.text, date)
		} else {
			m = ix.screenName(s, f.text, date, max(ix.review, best.score))
		}
		// Strictly greater: on a tie the earlier field wins.
		if m.entry >= 0 && m.score > best.score {
			best, field = m, f.field
		}
	}
	if best.entry < 0 {
		return Result{Status: StatusClear}
	}
	status := StatusReview
	if best.score >= ix.hit {
		status = StatusHit
	}
	return Result{
		Status: status,
		List:   ix.entryList[best.entry],
		Entry:  ix.entryRef[best.entry],
		Name:   best.name,
		Score:  best.score,
		Field:  field,
	}
}

// active reports whether entry e is in force on date (YYYYMMDD, 0 for any).
func (ix *Index) active(e int32, date int32) bool {
	if date == 0 {
		return true
	}
	if end := ix.entryEnd[e]; end != 0 && end < date {
		return false
	}
	if start := ix.entryStart[e]; start != 0 && start > date {
		return false
	}
	return true
}

func (ix *Index) screenID(s *scratch, id string, date int32) match {
	s.idBuf = appendNormalizedID(s.idBuf[:0], id)
	if len(s.idBuf) == 0 {
		return noMatch
	}
	for _, ref := range ix.ids[string(s.idBuf)] {
		if ix.active(ref.entry, date) {
			return match{score: 1, entry: ref.entry, name: ref.number}
		}
	}
	return noMatch
}

// scratch is the per-call working memory of Screen, pooled so that
// screening does not allocate.
type scratch struct {
	norm   normalizer
	groups []qgroup // distinct query tokens
	pos    []qpos   // query tokens in order
	fz     []fzHit  // similar vocabulary tokens, by group
	order  []int32  // groups with similar tokens, cheapest postings first
	hasher variantHasher
	seen   []int32
	qs     string
	cands  []int32
	pairs  []pair
	usedQ  []bool
	maxN   []float64
	usedN  []bool
	src    [][]uint64
	bits   [][]uint64
	kw     []int32 // weights of s.order's groups
	wsum   [1 << maxSubsetGroups]int32
	subAt  []int32
	subG   []int32
	sums   []int32 // distinct values of wsum
	// The weight the sets in subAt and subG were computed for (-1: none
	// reaches it), and the need that chose it.
	setsFor  int32
	setsNeed float64
	idBuf    []byte

	// The name being screened.
	lq   int32
	th   float64
	date int32
	best match
}

type qgroup struct {
	start, end int32 // the token's bytes in norm.buf
	runes      int32
	weight     int32 // runes × occurrences
	fzAt       int32 // similar tokens are fz[fzAt:fzEnd]
	fzEnd      int32
	cost       int32 // Σ postings of the similar tokens
}

type qpos struct {
	group int32
	runes int32
}

type fzHit struct {
	vocab int32
	runes int32 // of the vocabulary token
	sim   float64
}

type pair struct {
	sim  float64
	c    float64 // sim × (runes of both tokens): the pair's share of the score
	q, n int32
}

const (
	// sparseMaxPostings is the most postings Screen merges to find
	// candidates; beyond it, it intersects bitmaps instead.
	sparseMaxPostings = 256
	// maxSubsetGroups bounds the number of distinct matchable query tokens
	// for which Screen enumerates the minimal token sets a candidate must
	// contain.
	maxSubsetGroups = 8
)

// screenName returns the best match of a name scoring at least floor.
func (ix *Index) screenName(s *scratch, name string, date int32, floor float64) match {
	if len(ix.nameLen) == 0 {
		return noMatch
	}
	s.norm.run(name)
	if len(s.norm.spans) == 0 {
		return noMatch
	}
	var lq int32
	for _, sp := range s.norm.spans {
		lq += sp.runes
	}
	// A name can score th only against names at least th·lq/(2-th) long
	// (see below). Checking that first keeps absurdly long queries from
	// costing more than the longest list name allows.
	if 2*float64(ix.nameLen[len(ix.nameLen)-1]) < floor*float64(lq+ix.nameLen[len(ix.nameLen)-1])-eps {
		return noMatch
	}

	s.groups, s.pos, s.fz, s.order = s.groups[:0], s.pos[:0], s.fz[:0], s.order[:0]
	buf := s.norm.buf
	for _, sp := range s.norm.spans {
		tok := buf[sp.start:sp.end]
		g := -1
		for i, o := range s.groups {
			if bytes.Equal(buf[o.start:o.end], tok) {
				g = i
				break
			}
		}
		if g < 0 {
			g = len(s.groups)
			s.groups = append(s.groups, qgroup{start: sp.start, end: sp.end, runes: sp.runes})
		}
		s.groups[g].weight += sp.runes
		s.pos = append(s.pos, qpos{group: int32(g), runes: sp.runes})
	}

	// Query tokens with no similar vocabulary token can pair with nothing.
	lqMax := lq
	for i := range s.groups {
		g := &s.groups[i]
		g.fzAt = int32(len(s.fz))
		ix.similarTokens(s, buf[g.start:g.end], g.runes)
		g.fzEnd = int32(len(s.fz))
		if g.fzAt == g.fzEnd {
			lqMax -= g.weight
			continue
		}
		for _, h := range s.fz[g.fzAt:g.fzEnd] {
			g.cost += ix.postAt[h.vocab+1] - ix.postAt[h.vocab]
		}
		s.order = append(s.order, int32(i))
	}
	if lqMax == 0 {
		return noMatch
	}

	// Bounds. A pair contributes sim·(la+lb) ≤ 2·min(la,lb), so a name of
	// length ln scores at most 2·min(W, ln)/(lq+ln), where W ≤ lqMax is
	// the weight of the query tokens it contains. Reaching th needs ln in
	// [th·lq/(2-th), (2·lqMax-th·lq)/th] and W ≥ th·(lq+ln)/2.
	th := floor
	flq, flqMax := float64(lq), float64(lqMax)
	if 2*flqMax/(flq+flqMax) < th-eps {
		return noMatch
	}
	lo := int32(math.Ceil(th*flq/(2-th) - eps))
	// A tiny threshold puts the upper bound past any name length, and
	// past int32, whose conversion would wrap (and hi+1 is searched): bound
	// it below int32's limit; no name is that long.
	hi := int32(min(math.Floor((2*flqMax-th*flq)/th+eps), float64(math.MaxInt32-1)))
	idLo, _ := slices.BinarySearch(ix.nameLen, lo)
	idHi, _ := slices.BinarySearch(ix.nameLen, hi+1)
	if idLo >= idHi {
		return noMatch
	}
	wMin := th*float64(lq+ix.nameLen[idLo])/2 - eps
	// A candidate may miss query tokens weighing at most this much.
	slack := flqMax - wMin

	slices.SortFunc(s.order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(s.groups[a].cost, s.groups[b].cost), cmp.Compare(a, b))
	})
	// Every candidate contains at least one token of the shortest prefix
	// of s.order that weighs more than slack.
	var prefixWeight float64
	var prefixCost int32
	np := 0
	for np < len(s.order) {
		g := &s.groups[s.order[np]]
		prefixWeight += float64(g.weight)
		prefixCost += g.cost
		np++
		if prefixWeight > slack {
			break
		}
	}

	s.lq, s.th, s.date, s.best = lq, th, date, noMatch
	if prefixCost <= sparseMaxPostings {
		ix.sparseCandidates(s, np, int32(idLo), int32(idHi))
	} else {
		ix.blockCandidates(s, np, slack, idLo, idHi)
	}
	return s.best
}

// similarTokens appends to s.fz the vocabulary tokens similar to tok.
func (ix *Index) similarTokens(s *scratch, tok []byte, runes int32) {
	if v, ok := ix.vocab[string(tok)]; ok {
		s.fz = append(s.fz, fzHit{v, runes, 1})
		for i := ix.nbrAt[v]; i < ix.nbrAt[v+1]; i++ {
			s.fz = append(s.fz, fzHit{ix.nbr[i], ix.vocabLen[ix.nbr[i]], ix.nbrSim[i]})
		}
		return
	}
	// Not in the vocabulary: look up its deletion variants.
	s.seen = s.seen[:0]
	for _, h := range s.hasher.hashes(tok, ix.base) {
		s.seen = ix.lookupVariant(s.seen, h)
	}
	s.qs = ""
	for _, v := range s.seen {
		lv := ix.vocabLen[v]
		if abs32(lv-runes) > maxEdits(max(lv, runes)) {
			continue
		}
		if s.qs == "" {
			// The only allocation on the query path, and only for
			// tokens that are not in the vocabulary but resemble one.
			s.qs = string(tok)
		}
		d := int32(levenshtein.ComputeDistance(s.qs, ix.vocabText[v]))
		if sim := similarity(d, runes, lv); sim > 0 {
			s.fz = append(s.fz, fzHit{v, lv, sim})
		}
	}
	s.qs = ""
}

// sparseCandidates considers the names in [idLo,idHi) containing a token of
// the first np groups of s.order, found through their postings.
func (ix *Index) sparseCandidates(s *scratch, np int, idLo, idHi int32) {
	s.cands = s.cands[:0]
	lists := 0
	for _, gi := range s.order[:np] {
		g := &s.groups[gi]
		for _, h := range s.fz[g.fzAt:g.fzEnd] {
			post := ix.postings(h.vocab)
			i, _ := slices.BinarySearch(post, idLo)
			for _, id := range post[i:] {
				if id >= idHi {
					break
				}
				s.cands = append(s.cands, id)
			}
			lists++
		}
	}
	if lists > 1 {
		slices.Sort(s.cands)
		s.cands = slices.Compact(s.cands)
	}
	for _, id := range s.cands {
		ix.consider(s, id)
	}
}

// blockCandidates considers the names in [idLo,idHi) that contain enough
// of the query's tokens, found 64 names at a time by combining bitmaps.
//
// A name of length ln needs query tokens weighing th·(lq+ln)/2. Names are
// numbered by length, so each block of 64 has a known minimum length, and
// a name qualifies only if it contains every token of some minimal set of
// tokens weighing that much. The threshold rises with the length and with
// the best score found so far, so the sets are recomputed as it crosses
// achievable weights.
func (ix *Index) blockCandidates(s *scratch, np int, slack float64, idLo, idHi int) {
	nw := (len(ix.nameLen) + 63) / 64
	wLo, wHi := idLo>>6, (idHi+63)>>6
	k := len(s.order)
	s.src, s.kw = s.src[:0], s.kw[:0]
	for i, gi := range s.order {
		g := &s.groups[gi]
		s.kw = append(s.kw, g.weight)
		fz := s.fz[g.fzAt:g.fzEnd]
		if len(fz) == 1 && ix.bitsetOf[fz[0].vocab] >= 0 {
			s.src = append(s.src, ix.bitsets[ix.bitsetOf[fz[0].vocab]])
			continue
		}
		for len(s.bits) <= i {
			s.bits = append(s.bits, nil)
		}
		if len(s.bits[i]) != nw {
			s.bits[i] = make([]uint64, nw)
		}
		bs := s.bits[i]
		clear(bs[wLo:wHi])
		for _, h := range fz {
			if b := ix.bitsetOf[h.vocab]; b >= 0 {
				for w, x := range ix.bitsets[b][wLo:wHi] {
					bs[wLo+w] |= x
				}
				continue
			}
			post := ix.postings(h.vocab)
			j, _ := slices.BinarySearch(post, int32(idLo))
			for _, id := range post[j:] {
				if int(id) >= idHi {
					break
				}
				bs[id>>6] |= 1 << (id & 63)
			}
		}
		s.src = append(s.src, bs)
	}

	enumerate := k <= maxSubsetGroups
	if enumerate {
		s.wsum[0] = 0
		s.sums = s.sums[:0]
		for mask := 1; mask < 1<<k; mask++ {
			s.wsum[mask] = s.wsum[mask&(mask-1)] + s.kw[bits.TrailingZeros(uint(mask))]
			s.sums = append(s.sums, s.wsum[mask])
		}
		slices.Sort(s.sums)
		s.sums = slices.Compact(s.sums)
	} else {
		// Too many tokens to enumerate sets: a candidate contains a token
		// of the prefix and every token heavier than slack.
		s.subG = s.subG[:0]
		for i, w := range s.kw {
			if float64(w) > slack {
				s.subG = append(s.subG, int32(i))
			}
		}
	}

	lqMax := int32(0)
	for _, w := range s.kw {
		lqMax += w
	}
	// The best scores are likeliest among names about as long as the
	// query, and once one is found it prunes the rest: scan the blocks
	// from there upwards, then downwards.
	id, _ := slices.BinarySearch(ix.nameLen[idLo:idHi], lqMax)
	mid := (idLo + id) >> 6
	s.setsFor, s.setsNeed = -1, -1
	for w := mid; w < wHi; w++ {
		if !ix.scanBlock(s, w, k, np, lqMax, idLo, idHi, true) {
			break
		}
	}
	for w := mid - 1; w >= wLo; w-- {
		if !ix.scanBlock(s, w, k, np, lqMax, idLo, idHi, false) {
			break
		}
	}
}

// scanBlock considers the names of block w (names 64w to 64w+63, within
// [idLo,idHi)) that contain a qualifying set of query tokens. It returns
// false when no block further in the scan's direction can qualify.
func (ix *Index) scanBlock(s *scratch, w, k, np int, lqMax int32, idLo, idHi int, up bool) bool {
	th := max(s.th, s.best.score)
	lnMin := ix.nameLen[max(w<<6, idLo)]
	lnMax := ix.nameLen[min(w<<6+63, idHi-1)]
	if up && lnMin >= lqMax && th*float64(s.lq+lnMin)/2-eps > float64(lqMax) {
		return false // longer names need even more of the query
	}
	if !up && lnMax <= lqMax && 2*float64(lnMax) < th*float64(s.lq+lnMax)-eps {
		return false // shorter names can pair even less of it
	}
	need := th*float64(s.lq+lnMin)/2 - eps
	var c uint64
	if k <= maxSubsetGroups {
		// Neighbouring blocks mostly share a minimum length.
		if need != s.setsNeed {
			s.setsNeed = need
			i := 0
			for i < len(s.sums) && float64(s.sums[i]) < need {
				i++
			}
			if i == len(s.sums) {
				s.setsFor = -1
				s.subAt, s.subG = append(s.subAt[:0], 0), s.subG[:0]
			} else if s.sums[i] != s.setsFor {
				s.setsFor = s.sums[i]
				minimalSets(s, k, s.setsFor)
			}
		}
		if s.setsFor < 0 {
			return !up
		}
		for si := 0; si+1 < len(s.subAt); si++ {
			a := ^uint64(0)
			for _, i := range s.subG[s.subAt[si]:s.subAt[si+1]] {
				if a &= s.src[i][w]; a == 0 {
					break
				}
			}
			c |= a
		}
	} else {
		for i := range np {
			c |= s.src[i][w]
		}
		for _, i := range s.subG {
			c &= s.src[i][w]
		}
	}
	if w == idLo>>6 {
		c &= ^uint64(0) << (idLo & 63)
	}
	if w == (idHi-1)>>6 && idHi&63 != 0 {
		c &= 1<<(idHi&63) - 1
	}
	for c != 0 {
		b := bits.TrailingZeros64(c)
		c &= c - 1
		// Bound the name from the bitmaps before touching its tokens.
		var wt int32
		for i, src := range s.src {
			wt += s.kw[i] * int32(src[w]>>b&1)
		}
		id := int32(w<<6 + b)
		ln := ix.nameLen[id]
		if 2*float64(min(wt, ln)) < max(s.th, s.best.score)*float64(s.lq+ln)-eps {
			continue
		}
		ix.consider(s, id)
	}
	return true
}

// minimalSets sets s.subAt and s.subG to the minimal sets of s.order's
// first k groups weighing at least target.
func minimalSets(s *scratch, k int, target int32) {
	s.subAt, s.subG = append(s.subAt[:0], 0), s.subG[:0]
	for mask := 1; mask < 1<<k; mask++ {
		if s.wsum[mask] < target {
			continue
		}
		minimal := true
		for m := mask; m != 0; m &= m - 1 {
			if s.wsum[mask&^(m&-m)] >= target {
				minimal = false
				break
			}
		}
		if !minimal {
			continue
		}
		for m := mask; m != 0; m &= m - 1 {
			s.subG = append(s.subG, int32(bits.TrailingZeros(uint(m))))
		}
		s.subAt = append(s.subAt, int32(len(s.subG)))
	}
}

// consider scores name id if it can reach the threshold and the best match
// so far.
func (ix *Index) consider(s *scratch, id int32) {
	e, order, toks := ix.name(id)
	ln := ix.nameLen[id]
	denom := float64(s.lq + ln)
	floor := max(s.th, s.best.score) - eps

	// The pairs of similar tokens. Each query token and each name token
	// pairs at most once, so the sum of each side's best contributions
	// bounds the score.
	s.pairs = s.pairs[:0]
	s.maxN = slices.Grow(s.maxN[:0], len(toks))[:len(toks)]
	clear(s.maxN)
	var boundQ float64
	for p, qp := range s.pos {
		g := &s.groups[qp.group]
		var best float64
		for _, h := range s.fz[g.fzAt:g.fzEnd] {
			for j, t := range toks {
				if t == h.vocab {
					c := h.sim * float64(qp.runes+h.runes)
					s.pairs = append(s.pairs, pair{sim: h.sim, c: c, q: int32(p), n: int32(j)})
					best = max(best, c)
					s.maxN[j] = max(s.maxN[j], c)
				}
			}
		}
		boundQ += best
	}
	var boundN float64
	for _, c := range s.maxN {
		boundN += c
	}
	if min(boundQ, boundN)/denom < floor {
		return
	}
	if !ix.active(e, s.date) {
		return
	}

	// Greedy one-to-one pairing by descending similarity.
	slices.SortFunc(s.pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(a.q, b.q), cmp.Compare(a.n, b.n))
	})
	s.usedQ = slices.Grow(s.usedQ[:0], len(s.pos))[:len(s.pos)]
	s.usedN = slices.Grow(s.usedN[:0], len(toks))[:len(toks)]
	clear(s.usedQ)
	clear(s.usedN)
	var num float64
	for _, pr := range s.pairs {
		if s.usedQ[pr.q] || s.usedN[pr.n] {
			continue
		}
		s.usedQ[pr.q], s.usedN[pr.n] = true, true
		num += pr.c
	}
	score := num / denom

	if score < s.th {
		return
	}
	if s.best.entry < 0 || score > s.best.score || score == s.best.score && order < s.best.order {
		s.best = match{score: score, entry: e, order: order, name: ix.nameText[id]}
	}
}
