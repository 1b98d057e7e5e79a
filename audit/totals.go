package audit

import (
	"slices"
	"strings"
)

// TotalsKey groups records in Totals.
type TotalsKey struct{ Model, Country, Decision string }

// TotalsRow totals one group: decision records (requests), those denied,
// and the bytes transfer records report.
type TotalsRow struct {
	TotalsKey
	Requests, Denials, Bytes int64
}

// Totals counts records per model x country x decision.
type Totals struct {
	rows map[TotalsKey]*TotalsRow
}

// Add counts r.
func (s *Totals) Add(r *Record) {
	k := TotalsKey{r.Model, r.Country, r.Decision}
	if r.Type == RecordTransfer {
		// Bytes flow only on allowed requests.
		k.Decision = "allow"
	}
	if s.rows == nil {
		s.rows = map[TotalsKey]*TotalsRow{}
	}
	row := s.rows[k]
	if row == nil {
		row = &TotalsRow{TotalsKey: k}
		s.rows[k] = row
	}
	switch r.Type {
	case RecordDecision:
		row.Requests++
		if r.Decision == "deny" {
			row.Denials++
		}
	case RecordTransfer:
		row.Bytes += r.Bytes
	}
}

// Rows returns the totals, sorted by model, country and decision.
func (s *Totals) Rows() []TotalsRow {
	out := make([]TotalsRow, 0, len(s.rows))
	for _, r := range s.rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b TotalsRow) int {
		return strings.Compare(a.Model+"\x00"+a.Country+"\x00"+a.Decision, b.Model+"\x00"+b.Country+"\x00"+b.Decision)
	})
	return out
}
