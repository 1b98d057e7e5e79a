package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A Filter selects decision and transfer records. Empty fields match
// anything; Entity matches the entity's name or id.
type Filter struct {
	Model, Subject, Entity, Country, Decision, Code string
	Screening, IPCountry                            string
	// Since and Until bound the record's time: at or after Since, before
	// Until. Zero means unbounded.
	Since, Until time.Time
}

// Match reports whether the record r, logged at t, passes f.
func (f Filter) Match(t time.Time, r *Record) bool {
	switch {
	case f.Model != "" && r.Model != f.Model,
		f.Subject != "" && r.Subject != f.Subject,
		f.Entity != "" && r.Entity != f.Entity && r.EntityID != f.Entity,
		f.Country != "" && r.Country != f.Country,
		f.Decision != "" && r.Decision != f.Decision,
		f.Code != "" && r.Code != f.Code,
		f.Screening != "" && r.Screening != f.Screening,
		f.IPCountry != "" && r.IPCountry != f.IPCountry,
		!f.Since.IsZero() && t.Before(f.Since),
		!f.Until.IsZero() && !t.Before(f.Until):
		return false
	}
	return true
}

// Query reads files in order (Scan: line by line, memory flat) and calls emit
// for each decision or transfer record that passes f, with its line and the
// decoded record. The log's own records (start, checkpoint, recovery) are
// skipped. It stops at the first error emit returns, or when ctx is done.
func Query(ctx context.Context, files []string, f Filter, emit func(Entry, *Record) error) error {
	return Scan(files, queryFn(ctx, f, emit))
}

// QueryAnchor is Query over the sealed files an anchor holds: of the
// instances named, or of every instance when none is, in instance and then
// file order. emit also receives the record's instance; Entry.File names the
// anchored object. Only sealed (complete) files are in an anchor: the file a
// gateway is writing is not.
func QueryAnchor(ctx context.Context, anchor AnchorStore, instances []string, f Filter, emit func(string, Entry, *Record) error) error {
	if len(instances) == 0 {
		var err error
		if instances, err = anchor.Instances(ctx); err != nil {
			return fmt.Errorf("audit: anchor: list instances: %w", err)
		}
	}
	for _, inst := range instances {
		files, err := anchor.Files(ctx, inst)
		if err != nil {
			return fmt.Errorf("audit: anchor: list sealed files of %s: %w", inst, err)
		}
		open := func(path string) (io.ReadCloser, error) { return anchor.OpenFile(ctx, inst, filepath.Base(path)) }
		fn := queryFn(ctx, f, func(e Entry, r *Record) error { return emit(inst, e, r) })
		for _, af := range files {
			// A sealed file is complete: a torn last line is damage,
			// not a record being written.
			if err := scanFile(anchoredName(inst, "files", af.Name), false, open, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func queryFn(ctx context.Context, f Filter, emit func(Entry, *Record) error) func(Entry) error {
	return func(e Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Kind != RecordDecision && e.Kind != RecordTransfer {
			return nil
		}
		var r Record
		if err := json.Unmarshal(e.Record, &r); err != nil {
			return fmt.Errorf("%s:%d: %w", e.File, e.Line, err)
		}
		if !f.Match(e.Time, &r) {
			return nil
		}
		return emit(e, &r)
	}
}

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
