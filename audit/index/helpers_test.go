package index

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/audittest"
)

// mustOpen opens an index in a temporary directory.
func mustOpen(tb testing.TB, opts Options) *Index {
	tb.Helper()
	ix, err := Open(filepath.Join(tb.TempDir(), "index.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ix.Close() })
	return ix
}

// mustGenerate writes a generated trail into a new directory.
func mustGenerate(tb testing.TB, o audittest.GenOptions) string {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := audittest.Generate(dir, o); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func mustSync(tb testing.TB, ix *Index) int {
	tb.Helper()
	n, err := ix.Sync(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// trailRows reads every decision and transfer record of dir the plain way
// (audit.Scan and audit.Record), as the oracle of the tests.
func trailRows(tb testing.TB, instance, dir string) []Row {
	tb.Helper()
	files, err := audit.Files(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []Row
	err = audit.Scan(files, func(e audit.Entry) error {
		if e.Kind != audit.RecordDecision && e.Kind != audit.RecordTransfer {
			return nil
		}
		var r audit.Record
		if err := json.Unmarshal(e.Record, &r); err != nil {
			return err
		}
		row := Row{Instance: instance, Seq: int64(e.Seq), Time: e.Time.UTC(), Kind: e.Kind, RequestID: r.RequestID, API: r.API,
			Method: r.Method, Subject: r.Subject, EntityName: r.Entity, EntityID: r.EntityID, Country: r.Country,
			IPCountry: r.IPCountry, Model: r.Model, File: r.Object, Decision: r.Decision, Code: r.Code, Reason: r.Reason,
			Screening: r.Screening, Status: r.Status, Outcome: r.Outcome}
		if e.Kind == audit.RecordTransfer {
			row.Bytes = r.Bytes
		}
		if r.Policy != nil {
			row.PolicyBundle, row.PolicyRevision = r.Policy.Bundle, r.Policy.Revision
		}
		out = append(out, row)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// match is the brute-force filter the index must agree with.
func match(f Filter, r Row) bool {
	kind := f.Kind
	if kind == "" {
		kind = KindDecision
	}
	eq := func(want, got string) bool { return want == "" || want == got }
	return (kind == KindAny || r.Kind == kind) &&
		eq(f.Instance, r.Instance) && eq(f.Subject, r.Subject) && eq(f.Country, r.Country) && eq(f.IPCountry, r.IPCountry) &&
		eq(f.Model, r.Model) && eq(f.File, r.File) && eq(f.Decision, r.Decision) && eq(f.Code, r.Code) &&
		eq(f.Screening, r.Screening) && (f.Entity == "" || f.Entity == r.EntityName || f.Entity == r.EntityID) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) && (f.Until.IsZero() || r.Time.Before(f.Until))
}

func filterRows(f Filter, rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if match(f, r) {
			out = append(out, r)
		}
	}
	return out
}

// randomFilter draws a filter from values the rows hold (and now and then
// one they do not), with one to three conditions.
func randomFilter(r *rand.Rand, rows []Row) Filter {
	var f Filter
	pick := func() Row { return rows[r.IntN(len(rows))] }
	for range 1 + r.IntN(3) {
		switch r.IntN(12) {
		case 0:
			f.Subject = pick().Subject
		case 1:
			if r.IntN(2) == 0 {
				f.Entity = pick().EntityName
			} else {
				f.Entity = pick().EntityID
			}
		case 2:
			f.Country = pick().Country
		case 3:
			f.IPCountry = pick().IPCountry
		case 4:
			f.Model = pick().Model
		case 5:
			f.File = pick().File
		case 6:
			f.Decision = pick().Decision
		case 7:
			f.Code = pick().Code
		case 8:
			f.Screening = pick().Screening
		case 9:
			f.Since = pick().Time.Add(time.Duration(r.IntN(3)-1) * time.Nanosecond)
		case 10:
			f.Until = pick().Time.Add(time.Duration(r.IntN(3)-1) * time.Nanosecond)
		case 11:
			f.Subject = "nobody"
		}
	}
	f.Kind = []string{"", KindDecision, KindTransfer, KindAny}[r.IntN(4)]
	return f
}

// newestFirst orders rows as Query does.
func newestFirst(rows []Row) []Row {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b Row) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return int(b.Seq - a.Seq)
	})
	return out
}

// dump is every table's content but the row ids, for comparing two
// indexes of the same trail.
func dump(tb testing.TB, ix *Index) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for name, q := range map[string]string{
		"rows":        "SELECT i.name, " + qualified("r", rowCols) + ", f.name, r.line_no, r.off, r.len, r.hash FROM rows r JOIN instances i ON i.id = r.inst JOIN files f ON f.id = r.file_id ORDER BY i.name, r.seq",
		"checkpoints": "SELECT i.name, seq, time, key_id, f.name, c.line_no, c.off, c.len, c.anchored FROM checkpoints c JOIN instances i ON i.id = c.inst JOIN files f ON f.id = c.file ORDER BY i.name, seq",
		"agg":         "SELECT span, dim, bucket, key, n, bytes FROM agg ORDER BY span, dim, bucket, key",
		"files":       "SELECT i.name, f.name, off, lines, sealed FROM files f JOIN instances i ON i.id = f.inst ORDER BY i.name, f.name",
		"instances":   "SELECT name, source, first_seq, last_seq, last_hash, last_time, records, broken FROM instances ORDER BY name",
	} {
		rows, err := ix.r.Query(q)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			b, _ := json.Marshal(vals)
			out[name] = append(out[name], string(b))
		}
		rows.Close()
	}
	return out
}

// copyGrowing copies the bytes of src's files into dst in pieces cut at
// random places (mid-line too), as a running gateway appends and rotates,
// calling step after each piece.
func copyGrowing(tb testing.TB, r *rand.Rand, src, dst string, pieces int, step func()) {
	tb.Helper()
	files, err := audit.Files(src)
	if err != nil {
		tb.Fatal(err)
	}
	var all []struct {
		name string
		b    []byte
	}
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, struct {
			name string
			b    []byte
		}{filepath.Base(f), b})
		total += len(b)
	}
	cuts := []int{total}
	for range pieces - 1 {
		cuts = append(cuts, r.IntN(total))
	}
	slices.Sort(cuts)
	written := 0
	for _, cut := range cuts {
		for written < cut {
			// Find the file holding byte `written`.
			pos := written
			for _, f := range all {
				if pos < len(f.b) {
					n := min(len(f.b)-pos, cut-written)
					fh, err := os.OpenFile(filepath.Join(dst, f.name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
					if err != nil {
						tb.Fatal(err)
					}
					if _, err := fh.Write(f.b[pos : pos+n]); err != nil {
						tb.Fatal(err)
					}
					fh.Close()
					written += n
					break
				}
				pos -= len(f.b)
			}
		}
		step()
	}
	for _, f := range all {
		got, _ := os.ReadFile(filepath.Join(dst, f.name))
		if !bytes.Equal(got, f.b) {
			tb.Fatalf("copy of %s differs", f.name)
		}
	}
}

// qualified prefixes each of a list of columns with table.
func qualified(table, cols string) string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		out = append(out, table+"."+strings.TrimSpace(c))
	}
	return strings.Join(out, ", ")
}
