package screening

import (
	"fmt"
	"testing"
)

// TestScreenFieldTie: when two fields match equally well below 1, the
// earlier field is reported, even though the later one is screened too.
func TestScreenFieldTie(t *testing.T) {
	t.Parallel()
	ix := mustIndex(t, testEntries, Options{})
	q := Query{EntityName: "Quantum Dynamix Shenzen", SubjectName: "Quantum Dynamix Shenzen"}
	got := ix.Screen(q)
	if got, want := got.Status, StatusReview; got != want {
		t.Fatalf("Status = %q, want %q (result %+v)", got, want, got)
	}
	if got, want := got.Field, FieldEntityName; got != want {
		t.Errorf("Field = %q, want %q", got, want)
	}
}

// TestScreenExactThreshold screens names whose score equals the review
// threshold exactly (0.8 is 8/10 in floating point too). Each sits on the
// edge of one of the length and weight bounds Screen prunes with, so a
// bound that is off by its rounding allowance loses the match.
func TestScreenExactThreshold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		list  []string // entry names, in order
		query string
		match string
	}{
		// The longest list name (4 runes) is exactly as long as a query
		// of 6 runes allows, and the query's second token pairs with
		// nothing.
		{"query longer than name", []string{"Acme"}, "Acme Xy", "Acme"},
		// The name is exactly as long as a 4-rune query allows.
		{"name longer than query", []string{"Acme Xy"}, "Acme", "Acme Xy"},
		// xy and acme have one posting each, so xy comes first; the match
		// misses it and carries exactly the weight the shortest name in
		// the window needs.
		{"match misses the cheapest token", []string{"Acme", "Xy Borealis"}, "Xy Acme", "Acme"},
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
			if got, want := got.Status, StatusReview; got != want {
				t.Fatalf("Status = %q, want %q (result %+v)", got, want, got)
			}
			if got, want := got.Name, tt.match; got != want {
				t.Errorf("Name = %q, want %q", got, want)
			}
			if got, want := got.Score, 0.8; got != want {
				t.Errorf("Score = %v, want %v", got, want)
			}
		})
	}
}

// TestScreenTinyReviewThreshold: at this review threshold the weight a
// 1-rune name must share with a 1-rune query, 1e-9·(1+1)/2, is within
// Screen's rounding allowance, so no query token outweighs what a
// candidate may miss and Screen takes candidates from all of them.
func TestScreenTinyReviewThreshold(t *testing.T) {
	t.Parallel()
	ix := mustIndex(t, []Entry{{ID: "x", Type: "Entity", Name: "X"}}, Options{ReviewThreshold: 1e-9})
	got := ix.Screen(Query{EntityName: "X"})
	if got, want := got.Status, StatusHit; got != want {
		t.Fatalf("Status = %q, want %q (result %+v)", got, want, got)
	}
	if got, want := got.Entry, "x"; got != want {
		t.Errorf("Entry = %q, want %q", got, want)
	}
}

// TestScreenMinuteReviewThreshold: a review threshold so small that the
// longest name it could match is beyond int32 still finds the match a plain
// scan finds.
func TestScreenMinuteReviewThreshold(t *testing.T) {
	t.Parallel()
	ix := mustIndex(t, []Entry{{ID: "a", Type: "Entity", Name: "Acme"}, {ID: "b", Type: "Entity", Name: "Xy Borealis"}},
		Options{ReviewThreshold: 1e-12})
	got := ix.Screen(Query{EntityName: "Xy Acme"})
	if got.Status != StatusReview || got.Entry != "a" || got.Score != 0.8 {
		t.Errorf("Screen(Xy Acme) = %+v, want review of entry a with score 0.8", got)
	}
}
