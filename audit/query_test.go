package audit

import (
	"slices"
	"testing"
	"time"
)

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := Record{Type: RecordDecision, Model: "lab/m", Subject: "alice", Entity: "Acme", EntityID: "acme",
		Country: "US", Decision: "deny", Code: "country_of_concern", Screening: "clear", IPCountry: "DE"}
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"empty", Filter{}, true},
		{"all fields", Filter{Model: "lab/m", Subject: "alice", Entity: "Acme", Country: "US", Decision: "deny",
			Code: "country_of_concern", Screening: "clear", IPCountry: "DE", Since: at, Until: at.Add(time.Second)}, true},
		{"entity by id", Filter{Entity: "acme"}, true},
		{"model", Filter{Model: "lab/other"}, false},
		{"subject", Filter{Subject: "bob"}, false},
		{"entity", Filter{Entity: "Other"}, false},
		{"country", Filter{Country: "GB"}, false},
		{"decision", Filter{Decision: "allow"}, false},
		{"code", Filter{Code: "tier1"}, false},
		{"screening", Filter{Screening: "hit"}, false},
		{"ip country", Filter{IPCountry: "US"}, false},
		{"since is inclusive", Filter{Since: at}, true},
		{"since after", Filter{Since: at.Add(time.Nanosecond)}, false},
		{"until is exclusive", Filter{Until: at}, false},
		{"until after", Filter{Until: at.Add(time.Nanosecond)}, true},
	}
	for _, tt := range tests {
		if got := tt.f.Match(at, &rec); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTotals(t *testing.T) {
	t.Parallel()
	var s Totals
	for _, r := range []Record{
		{Type: RecordDecision, Model: "b/m", Country: "US", Decision: "allow"},
		{Type: RecordTransfer, Model: "b/m", Country: "US", Bytes: 100},
		{Type: RecordTransfer, Model: "b/m", Country: "US", Bytes: 23},
		{Type: RecordDecision, Model: "a/m", Country: "CN", Decision: "deny"},
		{Type: RecordDecision, Model: "a/m", Country: "CN", Decision: "deny"},
		{Type: RecordDecision, Model: "a/m", Country: "CN", Decision: "allow"},
	} {
		s.Add(&r)
	}
	want := []TotalsRow{
		{TotalsKey{"a/m", "CN", "allow"}, 1, 0, 0},
		{TotalsKey{"a/m", "CN", "deny"}, 2, 2, 0},
		{TotalsKey{"b/m", "US", "allow"}, 1, 0, 123},
	}
	if got := s.Rows(); !slices.Equal(got, want) {
		t.Errorf("Rows = %+v, want %+v", got, want)
	}
}

// TestQuery reads a closed log: every decision and transfer record, in order,
// and none of the log's own records; a filter narrows them.
func TestQuery(t *testing.T) {
	t.Parallel()
	files := MustFiles(t, pristineLog(t))
	var all, some []uint64
	if err := Query(t.Context(), files, Filter{}, func(e Entry, r *Record) error {
		if r.Type != RecordDecision && r.Type != RecordTransfer {
			t.Errorf("seq %d: record type %q", e.Seq, r.Type)
		}
		all = append(all, e.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) != 122 || !slices.IsSorted(all) {
		t.Fatalf("Query found %d records (sorted: %v), want the 122 decisions in order", len(all), slices.IsSorted(all))
	}
	if err := Query(t.Context(), files, Filter{Until: time.Unix(0, 0)}, func(e Entry, _ *Record) error {
		some = append(some, e.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(some) != 0 {
		t.Errorf("Query with Until 1970 found %d records", len(some))
	}
}
