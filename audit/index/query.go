package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrBadCursor is returned by Query for a cursor it did not make.
var ErrBadCursor = errors.New("index: bad cursor")

// ErrBadFilter wraps a filter Query, Each or Overview cannot run.
var ErrBadFilter = errors.New("index: bad filter")

// rowCols are the columns scanRow reads, in its order.
const rowCols = `inst, seq, time, kind, request_id, api, method, subject, entity_name, entity_id, country, ip_country,
	model, file, decision, code, reason, screening, status, bytes, policy_bundle, policy_revision, outcome`

type scanner interface{ Scan(...any) error }

func scanRow(sc scanner, names map[int64]string, extra ...any) (Row, error) {
	var r Row
	var inst, t int64
	dst := append([]any{&inst, &r.Seq, &t, &r.Kind, &r.RequestID, &r.API, &r.Method, &r.Subject, &r.EntityName, &r.EntityID,
		&r.Country, &r.IPCountry, &r.Model, &r.File, &r.Decision, &r.Code, &r.Reason, &r.Screening, &r.Status, &r.Bytes,
		&r.PolicyBundle, &r.PolicyRevision, &r.Outcome}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return r, fmt.Errorf("index: %w", err)
	}
	r.Instance, r.Time = names[inst], time.Unix(0, t).UTC()
	return r, nil
}

// where turns f into a WHERE clause on rows.
func where(f Filter) (string, []any, error) {
	var conds []string
	var args []any
	switch f.Kind {
	case "", KindDecision:
		conds = append(conds, "kind = 'decision'")
	case KindTransfer:
		conds = append(conds, "kind = 'transfer'")
	case KindAny:
	default:
		return "", nil, fmt.Errorf("%w: kind %q: want decision, transfer or any", ErrBadFilter, f.Kind)
	}
	if f.Instance != "" {
		conds = append(conds, "inst = (SELECT id FROM instances WHERE name = ?)")
		args = append(args, f.Instance)
	}
	for _, c := range []struct{ col, v string }{
		{"subject", f.Subject}, {"country", f.Country}, {"ip_country", f.IPCountry}, {"model", f.Model},
		{"file", f.File}, {"decision", f.Decision}, {"code", f.Code}, {"screening", f.Screening},
	} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Entity != "" {
		// Name or id: as a set of row ids from the two indexes, which
		// SQLite reads directly; "name = ? OR id = ?" makes it scan
		// every row of the kind instead.
		conds = append(conds, "id IN (SELECT id FROM rows WHERE entity_name = ? UNION SELECT id FROM rows WHERE entity_id = ?)")
		args = append(args, f.Entity, f.Entity)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= ?")
		args = append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < ?")
		args = append(args, nanos(f.Until))
	}
	if len(conds) == 0 {
		return "1", nil, nil
	}
	return strings.Join(conds, " AND "), args, nil
}

// instNames maps instance ids to names.
func instNames(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[int64]string, []int64, error) {
	m := map[int64]string{}
	var ids []int64
	err := collect(ctx, q, "SELECT id, name FROM instances ORDER BY name", nil, func(r *sql.Rows) error {
		var id int64
		var name string
		if err := r.Scan(&id, &name); err != nil {
			return err
		}
		m[id] = name
		ids = append(ids, id)
		return nil
	})
	return m, ids, err
}

// Query returns the rows that match f, newest first (by time, then the
// order they were indexed), limit of them (0: DefaultLimit; at most
// MaxLimit), after cursor (from the previous Page.Next; "" for the first
// page). Total counts every matching row, from the same snapshot.
func (ix *Index) Query(ctx context.Context, f Filter, limit int, cursor string) (Page, error) {
	switch {
	case limit < 0:
		return Page{}, fmt.Errorf("%w: negative limit %d", ErrBadFilter, limit)
	case limit == 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	w, args, err := where(f)
	if err != nil {
		return Page{}, err
	}
	tx, err := ix.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Page{}, fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	names, _, err := instNames(ctx, tx)
	if err != nil {
		return Page{}, err
	}
	var p Page
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM rows WHERE "+w, args...).Scan(&p.Total); err != nil {
		return Page{}, fmt.Errorf("index: %w", err)
	}
	if cursor != "" {
		t, id, ok := parseCursor(cursor)
		if !ok {
			return Page{}, ErrBadCursor
		}
		w += " AND (time, id) < (?, ?)"
		args = append(args, t, id)
	}
	var lastT, lastID int64
	err = collect(ctx, tx, "SELECT "+rowCols+", id FROM rows WHERE "+w+" ORDER BY time DESC, id DESC LIMIT ?",
		append(args, limit+1), func(rs *sql.Rows) error {
			if len(p.Rows) == limit {
				p.Next = strconv.FormatInt(lastT, 10) + "." + strconv.FormatInt(lastID, 10)
				return nil
			}
			r, err := scanRow(rs, names, &lastID)
			if err != nil {
				return err
			}
			lastT = r.Time.UnixNano()
			p.Rows = append(p.Rows, r)
			return nil
		})
	return p, err
}

func parseCursor(c string) (int64, int64, bool) {
	a, b, ok := strings.Cut(c, ".")
	if !ok {
		return 0, 0, false
	}
	t, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	return t, id, err1 == nil && err2 == nil
}

// Each calls fn for every row that matches f: instance by instance (in
// name order), each in its trail's order (seq: oldest first). It streams
// in constant memory and stops at the first error fn returns.
func (ix *Index) Each(ctx context.Context, f Filter, fn func(Row) error) error {
	return ix.each(ctx, f, func(r Row, _ linePos) error { return fn(r) })
}

// linePos locates a row's line in its trail.
type linePos struct {
	file       int64
	lineNo     int
	off        int64
	length     int
	hash       string
	instanceID int64
}

func (ix *Index) each(ctx context.Context, f Filter, fn func(Row, linePos) error) error {
	w, args, err := where(f)
	if err != nil {
		return err
	}
	names, ids, err := instNames(ctx, ix.r)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if f.Instance != "" && names[id] != f.Instance {
			continue
		}
		err := collect(ctx, ix.r, "SELECT "+rowCols+", file_id, line_no, off, len, hash FROM rows WHERE inst = ? AND "+w+" ORDER BY seq",
			append([]any{id}, args...), func(rs *sql.Rows) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				p := linePos{instanceID: id}
				r, err := scanRow(rs, names, &p.file, &p.lineNo, &p.off, &p.length, &p.hash)
				if err != nil {
					return err
				}
				return fn(r, p)
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// Overview sums up the records of [since, until): zero since is the
// beginning, zero until now (Options.Now).
func (ix *Index) Overview(ctx context.Context, since, until time.Time) (Overview, error) {
	if until.IsZero() {
		until = ix.now()
	}
	o := Overview{Since: since, Until: until}
	lo, hi := int64(0), nanos(until)
	if !since.IsZero() {
		lo = max(0, nanos(since))
	}
	if lo >= hi {
		return o, fmt.Errorf("%w: since %s is not before until %s", ErrBadFilter, since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	tx, err := ix.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return o, fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()

	// Sums per dimension and key, and decisions per hour.
	type dk struct {
		dim int
		key string
	}
	tot := map[dk]*[2]int64{}
	hours := map[int64]int64{}
	addSum := func(dim int, key string, n, bytes int64) {
		v := tot[dk{dim, key}]
		if v == nil {
			v = new([2]int64)
			tot[dk{dim, key}] = v
		}
		v[0] += n
		v[1] += bytes
	}
	for _, seg := range segments(lo, hi) {
		if seg.span == 0 {
			// A partial hour: from the rows, through contribute as Sync.
			err := collect(ctx, tx, "SELECT "+rowCols+" FROM rows WHERE kind = ? AND time >= ? AND time < ? UNION ALL SELECT "+rowCols+
				" FROM rows WHERE kind = ? AND time >= ? AND time < ?", []any{KindDecision, seg.lo, seg.hi, KindTransfer, seg.lo, seg.hi},
				func(rs *sql.Rows) error {
					r, err := scanRow(rs, nil)
					if err != nil {
						return err
					}
					contribute(&r, func(dim int, key string, bytes int64) { addSum(dim, key, 1, bytes) })
					if r.Kind == KindDecision {
						hours[floorTo(r.Time.UnixNano(), spanHour)]++
					}
					return nil
				})
			if err != nil {
				return o, err
			}
			continue
		}
		for _, dim := range dims {
			err := collect(ctx, tx, "SELECT key, sum(n), sum(bytes) FROM agg WHERE span = ? AND dim = ? AND bucket >= ? AND bucket < ? GROUP BY key",
				[]any{seg.span, dim, seg.lo, seg.hi}, func(rs *sql.Rows) error {
					var key string
					var n, b int64
					if err := rs.Scan(&key, &n, &b); err != nil {
						return err
					}
					addSum(dim, key, n, b)
					return nil
				})
			if err != nil {
				return o, err
			}
		}
	}
	// Decisions per hour: the hour sums over the whole hours (the day sums
	// are too coarse for the chart).
	if ha, hb := ceilTo(lo, spanHour), floorTo(hi, spanHour); ha < hb {
		err := collect(ctx, tx, "SELECT bucket, sum(n) FROM agg WHERE span = ? AND dim = ? AND bucket >= ? AND bucket < ? GROUP BY bucket",
			[]any{spanHour, dimDecision, ha, hb}, func(rs *sql.Rows) error {
				var b, n int64
				if err := rs.Scan(&b, &n); err != nil {
					return err
				}
				hours[b] += n
				return nil
			})
		if err != nil {
			return o, err
		}
	}

	counts := func(dim int) []Count {
		var cs []Count
		for k, v := range tot {
			if k.dim == dim {
				cs = append(cs, Count{Key: k.key, N: v[0], Bytes: v[1]})
			}
		}
		return cs
	}
	byN := func(a, b Count) int {
		if a.N != b.N {
			return cmpDesc(a.N, b.N)
		}
		return strings.Compare(a.Key, b.Key)
	}
	for _, c := range counts(dimDecision) {
		o.Decisions += c.N
		if c.Key == "deny" {
			o.Denials += c.N
		}
	}
	for _, c := range counts(dimScreening) {
		switch c.Key {
		case "hit":
			o.ScreeningHits = c.N
		case "review":
			o.ScreeningReviews = c.N
		}
	}
	o.ByCode = slices.SortedFunc(slices.Values(counts(dimCode)), byN)
	o.RefusalsByCountry = slices.SortedFunc(slices.Values(counts(dimDenyCountry)), byN)
	o.ByModel = slices.SortedFunc(slices.Values(counts(dimModel)), func(a, b Count) int {
		if a.Bytes != b.Bytes {
			return cmpDesc(a.Bytes, b.Bytes)
		}
		return byN(a, b)
	})
	for _, c := range o.ByModel {
		o.Bytes += c.Bytes
	}
	top := func(cs []Count) []Count {
		slices.SortFunc(cs, byN)
		return cs[:min(len(cs), 10)]
	}
	o.TopSubjects, o.TopEntities = top(counts(dimSubject)), top(counts(dimEntity))
	for _, h := range slices.Sorted(func(yield func(int64) bool) {
		for h := range hours {
			if !yield(h) {
				return
			}
		}
	}) {
		o.ByHour = append(o.ByHour, Count{Key: time.Unix(0, h).UTC().Format(time.RFC3339), N: hours[h]})
	}
	return o, nil
}

func cmpDesc(a, b int64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// nanos is t in Unix nanoseconds, clamped to what an int64 holds (years
// 1678 to 2262): a bound beyond them is as good as open.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
