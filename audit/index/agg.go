package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The Overview is answered from sums kept per hour and per day as rows are
// added (table agg), so that a month costs a few thousand sums, not a scan
// of a million rows; only the partial hours at either end of a range are
// read from the rows themselves. One function, contribute, says what a row
// adds to which sum, for both.

// Dimensions of the sums.
const (
	dimDecision    = 1 // decision rows by decision (allow, deny)
	dimCode        = 2 // decision rows by code
	dimDenyCountry = 3 // denials by requester country
	dimModel       = 4 // transfer rows by model: count and bytes
	dimSubject     = 5 // decision rows by subject (anonymous ones not counted)
	dimEntity      = 6 // decision rows by entity name, or id when it has none
	dimScreening   = 7 // decision rows by screening status
)

var dims = []int{dimDecision, dimCode, dimDenyCountry, dimModel, dimSubject, dimEntity, dimScreening}

const (
	spanHour = int64(time.Hour)
	spanDay  = int64(24 * time.Hour)
)

// contribute calls add for every sum row r counts in.
func contribute(r *Row, add func(dim int, key string, bytes int64)) {
	switch r.Kind {
	case KindDecision:
		add(dimDecision, r.Decision, 0)
		add(dimCode, r.Code, 0)
		if r.Decision == "deny" {
			add(dimDenyCountry, r.Country, 0)
		}
		if r.Subject != "" {
			add(dimSubject, r.Subject, 0)
		}
		if e := entityKey(r.EntityName, r.EntityID); e != "" {
			add(dimEntity, e, 0)
		}
		add(dimScreening, r.Screening, 0)
	case KindTransfer:
		add(dimModel, r.Model, r.Bytes)
	}
}

func entityKey(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

type sumKey struct {
	span, bucket int64
	dim          int
	key          string
}

// sums accumulates one batch's additions to agg.
type sums struct {
	m map[sumKey]*[2]int64
}

func (s *sums) add(r *Row) {
	if s.m == nil {
		s.m = map[sumKey]*[2]int64{}
	}
	t := r.Time.UnixNano()
	contribute(r, func(dim int, key string, bytes int64) {
		for _, span := range []int64{spanHour, spanDay} {
			k := sumKey{span, floorTo(t, span), dim, key}
			v := s.m[k]
			if v == nil {
				v = new([2]int64)
				s.m[k] = v
			}
			v[0]++
			v[1] += bytes
		}
	})
}

func (s *sums) flush(ctx context.Context, tx *sql.Tx) error {
	if len(s.m) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO agg (span, dim, bucket, key, n, bytes) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (span, dim, bucket, key) DO UPDATE SET n = n + excluded.n, bytes = bytes + excluded.bytes`)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer st.Close()
	for k, v := range s.m {
		if _, err := st.ExecContext(ctx, k.span, k.dim, k.bucket, k.key, v[0], v[1]); err != nil {
			return fmt.Errorf("index: sums: %w", err)
		}
	}
	return nil
}

// floorTo rounds t (Unix ns) down to a multiple of span.
func floorTo(t, span int64) int64 {
	f := t / span * span
	if f > t {
		f -= span
	}
	return f
}

func ceilTo(t, span int64) int64 {
	f := floorTo(t, span)
	if f < t {
		f += span
	}
	return f
}

// segment is a part of a time range [lo, hi) read at one granularity: span
// 0 means from the rows.
type segment struct {
	span, lo, hi int64
}

// segments splits [lo, hi) into whole days, whole hours around them and
// the partial hours at either end.
func segments(lo, hi int64) []segment {
	if lo >= hi {
		return nil
	}
	ha, hb := ceilTo(lo, spanHour), floorTo(hi, spanHour)
	if ha >= hb {
		return []segment{{0, lo, hi}}
	}
	var out []segment
	add := func(span, a, b int64) {
		if a < b {
			out = append(out, segment{span, a, b})
		}
	}
	add(0, lo, ha)
	da, db := ceilTo(ha, spanDay), floorTo(hb, spanDay)
	if da >= db {
		add(spanHour, ha, hb)
	} else {
		add(spanHour, ha, da)
		add(spanDay, da, db)
		add(spanHour, db, hb)
	}
	add(0, hb, hi)
	return out
}
