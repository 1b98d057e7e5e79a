package screening

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// testEntries is a small list covering each matching rule.
var testEntries = []Entry{
	{ID: "acme", Source: "Test List", Type: "Entity", Name: "Acme Ltd"},
	{ID: "muller", Source: "Test List", Type: "Entity", Name: "Müller Maschinenbau GmbH"},
	{ID: "qd", Source: "Test List", Type: "Entity", Name: "Quantum Dynamics Shenzhen Co., Ltd.", AltNames: []string{"QD Tech"}},
	{ID: "vessel", Source: "Test List", Type: "Vessel", Name: "Kestrel Star", IDs: []Identifier{{Type: "IMO", Number: "9387421"}}},
	{ID: "expired", Source: "Test List", Type: "Entity", Name: "Old Harbour Trading", StartDate: "2010-01-01", EndDate: "2020-01-01"},
	{ID: "future", Source: "Test List", Type: "Entity", Name: "Future Listing Corp", StartDate: "2030-01-01"},
	{ID: "global", Source: "Test List", Type: "Entity", Name: "Global Trading International", IDs: []Identifier{
		{Type: "Registration Number", Number: "AB 12 34"}, {Type: "Gender", Number: "Male"}, {Type: "Website", Number: "www.global.example"},
	}},
	{ID: "ivanov", Source: "Test List", Type: "Individual", Name: "IVANOV, Pyotr"},
	{EntityNumber: "L-1", List: "Local list", Type: "Entity", Name: "Local Party Ltd"},
	{ID: "acme-2", Source: "Other List", Type: "Entity", Name: "ACME LIMITED"},
	{ID: "plane", Source: "Test List", Type: "aircraft", Name: "Quantum Dynamics"},
}

func mustIndex(tb testing.TB, entries []Entry, opts Options) *Index {
	tb.Helper()
	ix, err := NewIndex(entries, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return ix
}

func TestScreen(t *testing.T) {
	ix := mustIndex(t, testEntries, Options{})
	tests := []struct {
		name   string
		q      Query
		status string
		entry  string
		match  string  // Result.Name
		field  string  // empty: entity.name unless clear
		score  float64 // 0: not checked
	}{
		{"exact", Query{EntityName: "Acme Ltd"}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"case", Query{EntityName: "ACME LTD"}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"punctuation", Query{EntityName: "A.C.M.E., Ltd."}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"legal suffix LIMITED", Query{EntityName: "ACME LIMITED"}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"legal suffix Co., Ltd.", Query{EntityName: "Acme Co., Ltd."}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"no legal suffix", Query{EntityName: "acme"}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"diacritics stripped", Query{EntityName: "MULLER MASCHINENBAU"}, StatusHit, "muller", "Müller Maschinenbau GmbH", "", 1},
		{"diacritics on query", Query{EntityName: "Müller Maschinenbau"}, StatusHit, "muller", "Müller Maschinenbau GmbH", "", 1},
		// mueller/muller: one edit in 7 runes, sim 6/7.
		{"transliterated umlaut", Query{EntityName: "Mueller Maschinenbau"}, StatusHit, "muller", "Müller Maschinenbau GmbH", "", (6.0/7*13 + 24) / 37},
		{"word order", Query{EntityName: "Shenzhen Quantum Dynamics"}, StatusHit, "qd", "Quantum Dynamics Shenzhen Co., Ltd.", "", 1},
		{"alt name", Query{EntityName: "QD Technologies"}, StatusClear, "", "", "", 0},
		{"alt name exact", Query{EntityName: "Q.D. Tech"}, StatusHit, "qd", "QD Tech", "", 1},
		// quantum 1, dynamix/dynamic 6/7, shenzen/shenzhen 7/8.
		{"near miss", Query{EntityName: "Quantum Dynamix Shenzen"}, StatusReview, "qd", "Quantum Dynamics Shenzhen Co., Ltd.", "", (14 + 6.0/7*14 + 7.0/8*15) / 43},
		{"unrelated", Query{EntityName: "Northwind Analytics"}, StatusClear, "", "", "", 0},
		{"shares only a common word", Query{EntityName: "Blue Ocean Trading"}, StatusClear, "", "", "", 0},
		{"shares two of three words", Query{EntityName: "Global Trading"}, StatusClear, "", "", "", 0},
		{"individual, order swapped", Query{SubjectName: "Pyotr Ivanov"}, StatusHit, "ivanov", "IVANOV, Pyotr", FieldSubjectName, 1},
		{"vessel not name-matched", Query{EntityName: "Kestrel Star"}, StatusClear, "", "", "", 0},
		{"aircraft not name-matched", Query{EntityName: "Quantum Dynamics"}, StatusClear, "", "", "", 0},
		{"vessel id", Query{SubjectID: "9387421"}, StatusHit, "vessel", "9387421", FieldSubjectID, 1},
		{"id", Query{EntityID: "AB 12 34"}, StatusHit, "global", "AB 12 34", FieldEntityID, 1},
		{"id case and spaces", Query{EntityID: " ab1234 "}, StatusHit, "global", "AB 12 34", FieldEntityID, 1},
		{"id other number", Query{EntityID: "AB1235"}, StatusClear, "", "", "", 0},
		// The ids cell also carries facts that name nobody.
		{"gender is not an id", Query{SubjectID: "male"}, StatusClear, "", "", "", 0},
		{"website is not an id", Query{EntityID: "www.global.example"}, StatusClear, "", "", "", 0},
		{"id blank", Query{EntityID: "  "}, StatusClear, "", "", "", 0},
		{"no date filter", Query{EntityName: "Old Harbour Trading"}, StatusHit, "expired", "Old Harbour Trading", "", 1},
		{"before end_date", Query{EntityName: "Old Harbour Trading", Date: "2019-12-31"}, StatusHit, "expired", "Old Harbour Trading", "", 1},
		{"on end_date", Query{EntityName: "Old Harbour Trading", Date: "2020-01-01"}, StatusHit, "expired", "Old Harbour Trading", "", 1},
		{"after end_date", Query{EntityName: "Old Harbour Trading", Date: "2024-01-01"}, StatusClear, "", "", "", 0},
		{"before start_date", Query{EntityName: "Old Harbour Trading", Date: "2009-12-31"}, StatusClear, "", "", "", 0},
		{"future listing", Query{EntityName: "Future Listing", Date: "2026-01-01"}, StatusClear, "", "", "", 0},
		{"future listing in force", Query{EntityName: "Future Listing", Date: "2030-01-01"}, StatusHit, "future", "Future Listing Corp", "", 1},
		{"unreadable date filters nothing", Query{EntityName: "Old Harbour Trading", Date: "next year"}, StatusHit, "expired", "Old Harbour Trading", "", 1},
		{"expired id", Query{EntityID: "9387421", Date: "2024-01-01"}, StatusHit, "vessel", "9387421", FieldEntityID, 1},
		{"local list without source", Query{EntityName: "Local Party"}, StatusHit, "L-1", "Local Party Ltd", "", 1},
		// Ties: the earlier field wins, and within a field the earlier entry.
		{"tie: entity.id before subject.name", Query{EntityID: "AB1234", SubjectName: "Acme"}, StatusHit, "global", "AB 12 34", FieldEntityID, 1},
		{"tie: entity.name before subject.name", Query{EntityName: "Acme", SubjectName: "Global Trading International"}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"tie: first entry", Query{EntityName: "Acme Limited"}, StatusHit, "acme", "Acme Ltd", "", 1},
		{"best score wins over field order", Query{EntityName: "Quantum Dynamix Shenzen", SubjectName: "Acme"}, StatusHit, "acme", "Acme Ltd", FieldSubjectName, 1},
		{"empty query", Query{}, StatusClear, "", "", "", 0},
		{"no letters", Query{EntityName: "---", SubjectName: "&"}, StatusClear, "", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Screen(tt.q)
			if got, want := got.Status, tt.status; got != want {
				t.Fatalf("Status = %q, want %q (result %+v)", got, want, got)
			}
			if tt.status == StatusClear {
				if got != (Result{Status: StatusClear}) {
					t.Errorf("clear result = %+v, want zero fields", got)
				}
				return
			}
			field := cmp.Or(tt.field, FieldEntityName)
			if got.Entry != tt.entry || got.Name != tt.match || got.Field != field {
				t.Errorf("got Entry %q Name %q Field %q, want %q %q %q", got.Entry, got.Name, got.Field, tt.entry, tt.match, field)
			}
			if tt.score != 0 && math.Abs(got.Score-tt.score) > 1e-12 {
				t.Errorf("Score = %v, want %v", got.Score, tt.score)
			}
		})
	}
}

func TestScreenList(t *testing.T) {
	ix := mustIndex(t, testEntries, Options{})
	tests := []struct {
		q    Query
		list string
	}{
		{Query{EntityName: "Acme"}, "Test List"},         // Source
		{Query{EntityName: "Local Party"}, "Local list"}, // List, as Source is empty
	}
	for _, tt := range tests {
		if got := ix.Screen(tt.q).List; got != tt.list {
			t.Errorf("Screen(%q).List = %q, want %q", tt.q.EntityName, got, tt.list)
		}
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
		// A score of 39.125/43 ≈ 0.9099 (the near miss of TestScreen).
		nearMiss string
	}{
		{"defaults", Options{}, false, StatusReview},
		{"hit lowered", Options{HitThreshold: 0.9}, false, StatusHit},
		{"review raised", Options{ReviewThreshold: 0.915}, false, StatusClear},
		{"equal", Options{HitThreshold: 0.85, ReviewThreshold: 0.85}, false, StatusHit},
		{"hit of 1", Options{HitThreshold: 1, ReviewThreshold: 0.5}, false, StatusReview},
		{"review above hit", Options{HitThreshold: 0.7, ReviewThreshold: 0.8}, true, ""},
		{"review above default hit", Options{ReviewThreshold: 0.95}, true, ""},
		{"hit above 1", Options{HitThreshold: 1.5}, true, ""},
		{"negative review", Options{ReviewThreshold: -0.1}, true, ""},
		{"NaN", Options{HitThreshold: math.NaN()}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := NewIndex(testEntries, tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatal("NewIndex succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ix.Screen(Query{EntityName: "Quantum Dynamix Shenzen"}).Status, tt.nearMiss; got != want {
				t.Errorf("near miss Status = %q, want %q", got, want)
			}
		})
	}
}

func TestIndexLen(t *testing.T) {
	tests := []struct {
		entries []Entry
		want    int
	}{
		{nil, 0},
		{testEntries, len(testEntries)},
	}
	for _, tt := range tests {
		ix := mustIndex(t, tt.entries, Options{})
		if got := ix.Len(); got != tt.want {
			t.Errorf("Len() = %d, want %d", got, tt.want)
		}
		if got := ix.Screen(Query{EntityName: "Acme", EntityID: "1"}); tt.want == 0 && got.Status != StatusClear {
			t.Errorf("empty index: %+v", got)
		}
	}
}

// refList is a list prepared for refScreen: each entry's names, normalised.
type refList struct {
	entries []Entry
	names   [][]refName
}

type refName struct {
	text string
	toks []string
	lens []int32 // runes
}

func newRefName(text string) refName {
	n := refName{text: text, toks: Normalize(text)}
	for _, t := range n.toks {
		n.lens = append(n.lens, int32(utf8.RuneCountInString(t)))
	}
	return n
}

func newRefList(entries []Entry) *refList {
	l := &refList{entries: entries, names: make([][]refName, len(entries))}
	for i, e := range entries {
		for _, n := range append([]string{e.Name}, e.AltNames...) {
			l.names[i] = append(l.names[i], newRefName(n))
		}
	}
	return l
}

// refScreen is the matching rules written as plainly as possible: score
// every name of every entry. The index must agree with it exactly.
func refScreen(l *refList, hit, review float64, q Query) Result {
	entries := l.entries
	date := parseDate(q.Date)
	active := func(e *Entry) bool {
		if date == 0 {
			return true
		}
		end, start := parseDate(e.EndDate), parseDate(e.StartDate)
		return (end == 0 || end >= date) && (start == 0 || start <= date)
	}
	normID := func(s string) string {
		return strings.ToLower(strings.Join(strings.Fields(s), ""))
	}
	type best struct {
		score float64
		entry int
		name  string
	}
	byID := func(id string) best {
		if normID(id) == "" {
			return best{entry: -1}
		}
		for i := range entries {
			for _, x := range entries[i].IDs {
				if normID(x.Number) == normID(id) && active(&entries[i]) {
					return best{1, i, x.Number}
				}
			}
		}
		return best{entry: -1}
	}
	byName := func(name string) best {
		b := best{entry: -1}
		qt := newRefName(name)
		if len(qt.toks) == 0 {
			return b
		}
		for i := range entries {
			e := &entries[i]
			if strings.EqualFold(e.Type, "vessel") || strings.EqualFold(e.Type, "aircraft") || !active(e) {
				continue
			}
			for _, n := range l.names[i] {
				if len(n.toks) == 0 {
					continue
				}
				if s := refScore(qt, n); s >= review && s > b.score {
					b = best{s, i, n.text}
				}
			}
		}
		return b
	}
	var b best
	b.entry = -1
	field := ""
	try := func(x best, f string) {
		if x.entry >= 0 && x.score > b.score {
			b, field = x, f
		}
	}
	if q.EntityID != "" {
		try(byID(q.EntityID), FieldEntityID)
	}
	if q.EntityName != "" {
		try(byName(q.EntityName), FieldEntityName)
	}
	if q.SubjectID != "" {
		try(byID(q.SubjectID), FieldSubjectID)
	}
	if q.SubjectName != "" {
		try(byName(q.SubjectName), FieldSubjectName)
	}
	if b.entry < 0 {
		return Result{Status: StatusClear}
	}
	e := &entries[b.entry]
	r := Result{Status: StatusReview, List: cmp.Or(e.Source, e.List), Entry: cmp.Or(e.ID, e.EntityNumber), Name: b.name, Score: b.score, Field: field}
	if b.score >= hit {
		r.Status = StatusHit
	}
	return r
}

func refScore(qn, nn refName) float64 {
	type p struct {
		sim  float64
		i, j int
	}
	var pairs []p
	q, n := qn.toks, nn.toks
	var total int32
	for _, l := range qn.lens {
		total += l
	}
	for _, l := range nn.lens {
		total += l
	}
	for i, a := range q {
		for j, b := range n {
			la, lb := qn.lens[i], nn.lens[j]
			if abs32(la-lb) > 2 {
				continue // the distance is at least the length difference
			}
			d := int32(levenshtein.ComputeDistance(a, b))
			if d <= maxEdits(max(la, lb)) {
				pairs = append(pairs, p{1 - float64(d)/float64(max(la, lb)), i, j})
			}
		}
	}
	slices.SortFunc(pairs, func(x, y p) int {
		return cmp.Or(cmp.Compare(y.sim, x.sim), cmp.Compare(x.i, y.i), cmp.Compare(x.j, y.j))
	})
	usedQ, usedN := make([]bool, len(q)), make([]bool, len(n))
	var num float64
	for _, x := range pairs {
		if usedQ[x.i] || usedN[x.j] {
			continue
		}
		usedQ[x.i], usedN[x.j] = true, true
		num += x.sim * float64(qn.lens[x.i]+nn.lens[x.j])
	}
	return num / float64(total)
}

// TestScreenMatchesScan checks the index, with all its pruning, against
// refScreen on a synthetic list with realistic common words, for queries
// that hit, nearly hit, share only common words, or match nothing.
func TestScreenMatchesScan(t *testing.T) {
	nEntries, nQueries := 1200, 500
	if testing.Short() || raceEnabled {
		// The race detector slows the plain scan twentyfold; concurrency
		// is TestScreenConcurrent's business.
		nEntries, nQueries = 300, 100
	}
	s := newSynth(7)
	entries := s.entries(nEntries)
	opts := []Options{{}, {HitThreshold: 0.9, ReviewThreshold: 0.6}}
	ref := newRefList(entries)
	statuses := map[string]int{}
	for _, o := range opts {
		ix := mustIndex(t, entries, o)
		for i := range nQueries {
			e := &entries[s.rng.IntN(len(entries))]
			names := append([]string{e.Name}, e.AltNames...)
			name := names[s.rng.IntN(len(names))]
			var q Query
			switch i % 9 {
			case 0:
				q.EntityName = name
			case 1:
				q.EntityName = s.typo(name)
			case 2:
				q.EntityName = s.typo(s.typo(s.typo(name)))
			case 3:
				// drop a word
				w := strings.Fields(name)
				if len(w) > 1 {
					j := s.rng.IntN(len(w))
					w = slices.Delete(w, j, j+1)
				}
				q.EntityName = strings.Join(w, " ")
			case 4:
				// common words only
				q.EntityName = commonWords[s.rng.IntN(8)].word + " " + commonWords[s.rng.IntN(8)].word
			case 5:
				q.EntityName = s.orgName(s.rng.IntN(2) == 0)
				q.SubjectName = s.typo(name)
			case 6:
				q.EntityName = name + " " + commonWords[s.rng.IntN(len(commonWords))].word
				q.Date = "2024-06-30"
			case 8:
				// more distinct tokens than blockCandidates enumerates
				// sets for
				var w []string
				for _, c := range commonWords[:9] {
					w = append(w, c.word)
				}
				s.rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
				q.EntityName = strings.Join(w[:6+s.rng.IntN(4)], " ") + " " + name
			case 7:
				q.SubjectName = s.transliterate(name)
				if len(e.IDs) > 0 {
					q.SubjectID = e.IDs[0].Number
				}
			}
			hit := cmp.Or(o.HitThreshold, DefaultHitThreshold)
			review := cmp.Or(o.ReviewThreshold, DefaultReviewThreshold)
			got, want := ix.Screen(q), refScreen(ref, hit, review, q)
			statuses[want.Status]++
			if got != want {
				t.Errorf("opts %+v, query %+v:\n got  %+v\n want %+v", o, q, got, want)
			}
		}
	}
	t.Logf("compared %v", statuses)
	// The comparison means little unless every outcome occurs often.
	for _, st := range []string{StatusHit, StatusReview, StatusClear} {
		if statuses[st] < nQueries/10 {
			t.Errorf("only %d queries screened %s", statuses[st], st)
		}
	}
}

// TestScreenConcurrent screens from several goroutines at once (run it with
// -race): each must get what a lone caller gets.
func TestScreenConcurrent(t *testing.T) {
	s := newSynth(11)
	entries := s.entries(2000)
	ix := mustIndex(t, entries, Options{})
	var queries []Query
	var want []Result
	for i := range 200 {
		e := &entries[s.rng.IntN(len(entries))]
		q := Query{EntityName: e.Name, SubjectName: s.typo(e.Name), Date: "2025-01-01"}
		if i%3 == 0 {
			q.EntityName = s.orgName(true)
		}
		if len(e.IDs) > 0 && i%5 == 0 {
			q.SubjectID = e.IDs[0].Number
		}
		queries = append(queries, q)
		want = append(want, ix.Screen(q))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range queries {
				j := (i + g*50) % len(queries)
				if got := ix.Screen(queries[j]); got != want[j] {
					t.Errorf("goroutine %d, query %+v: got %+v, want %+v", g, queries[j], got, want[j])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestScreenLongQuery: a query far longer than any list name is cheap and
// clear, however many tokens it has.
func TestScreenLongQuery(t *testing.T) {
	ix := mustIndex(t, testEntries, Options{})
	long := strings.Repeat("Acme Quantum Dynamics Shenzhen ", 2000) + strings.Repeat("x", 5000)
	if got := ix.Screen(Query{EntityName: long}); got.Status != StatusClear {
		t.Errorf("got %+v, want clear", got)
	}
}
