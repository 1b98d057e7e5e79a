package audit

import (
	"slices"
	"testing"
)

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
