package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/audittest"
)

func smallTrail(tb testing.TB, records int, seed uint64) string {
	tb.Helper()
	return mustGenerate(tb, audittest.GenOptions{Records: records, Seed: seed, CheckpointEvery: 50, MaxFileBytes: 128 << 10,
		Subjects: 40, Step: 37 * time.Second})
}

// TestQueryEqualsBruteForce: for random filters over a generated trail,
// Each returns exactly the rows a brute-force filter over the records
// returns, in trail order; Query's pages, followed to the end with random
// page sizes, return each of them exactly once, newest first, and every
// page's Total is their number.
func TestQueryEqualsBruteForce(t *testing.T) {
	t.Parallel()
	dir := smallTrail(t, 3000, 1)
	ix := mustOpen(t, Options{})
	if err := ix.AddDir("gw-1", dir); err != nil {
		t.Fatal(err)
	}
	if got, want := mustSync(t, ix), 3000; got != want {
		t.Fatalf("Sync added %d, want %d", got, want)
	}
	all := trailRows(t, "gw-1", dir)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	nonEmpty := 0
	for i := range 150 {
		f := randomFilter(r, all)
		want := filterRows(f, all)
		if len(want) > 0 {
			nonEmpty++
		}
		var got []Row
		if err := ix.Each(ctx, f, func(r Row) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("filter %d %+v: Each returned %d rows, brute force %d; first difference %s", i, f, len(got), len(want), firstDiff(got, want))
		}
		limit := 1 + r.IntN(200)
		var paged []Row
		cursor := ""
		for pages := 0; ; pages++ {
			p, err := ix.Query(ctx, f, limit, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != int64(len(want)) {
				t.Fatalf("filter %+v: Total %d, want %d", f, p.Total, len(want))
			}
			if len(p.Rows) > limit || (p.Next != "" && len(p.Rows) != limit) {
				t.Fatalf("filter %+v: page of %d rows (limit %d), next %q", f, len(p.Rows), limit, p.Next)
			}
			paged = append(paged, p.Rows...)
			if p.Next == "" {
				break
			}
			if pages > len(want) {
				t.Fatalf("filter %+v: paging does not end", f)
			}
			cursor = p.Next
		}
		if wantNewest := newestFirst(want); !slices.Equal(paged, wantNewest) {
			t.Fatalf("filter %d %+v, limit %d: pages returned %d rows, want %d; first difference %s", i, f, limit, len(paged), len(wantNewest), firstDiff(paged, wantNewest))
		}
	}
	if nonEmpty < 75 {
		t.Fatalf("only %d of 150 random filters matched anything: the test is too weak", nonEmpty)
	}
}

func firstDiff(a, b []Row) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: got %+v, want %+v", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// TestSyncAppendsEqualsRebuild: a trail copied into place piece by piece
// (cut anywhere, mid-line included, rotating as it grows), with a Sync
// after each piece and the index closed and reopened now and then, ends in
// exactly the index a single Sync of the whole trail builds.
func TestSyncAppendsEqualsRebuild(t *testing.T) {
	t.Parallel()
	src := smallTrail(t, 2000, 2)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0))
			live := t.TempDir()
			path := filepath.Join(t.TempDir(), "index.db")
			open := func() *Index {
				ix, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := ix.AddDir("gw", live); err != nil {
					t.Fatal(err)
				}
				return ix
			}
			ix := open()
			added := 0
			copyGrowing(t, r, src, live, 40, func() {
				added += mustSync(t, ix)
				if r.IntN(5) == 0 {
					ix.Close()
					ix = open()
				}
			})
			defer ix.Close()
			if added != 2000 {
				st, _ := ix.Integrity(context.Background())
				t.Fatalf("Syncs added %d records, want 2000: %+v", added, st)
			}
			fresh := mustOpen(t, Options{})
			fresh.AddDir("gw", live)
			mustSync(t, fresh)
			got, want := dump(t, ix), dump(t, fresh)
			for _, table := range []string{"instances", "files", "rows", "checkpoints", "agg"} {
				if !slices.Equal(got[table], want[table]) {
					t.Errorf("table %s: incremental index (%d rows) differs from a rebuild (%d rows)", table, len(got[table]), len(want[table]))
				}
			}
			st, err := ix.Integrity(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].VerifyError != "" || st[0].Records != 2000 || st[0].FirstSeq != 1 {
				t.Fatalf("integrity %+v", st)
			}
		})
	}
}

// TestTamperStopsInstance: a line altered in the middle of the trail stops
// the instance there: Integrity names the file and line, nothing after it
// is indexed, and Sync does not go past it later.
func TestTamperStopsInstance(t *testing.T) {
	t.Parallel()
	tampers := []struct {
		name string
		edit func(lines []string, i int) []string
		at   int // lines after the edited one where the break shows
		want string
	}{
		{"byte flipped", func(l []string, i int) []string {
			l[i] = strings.Replace(l[i], `"subject":"user-`, `"subject":"usex-`, 1)
			return l
		}, 0, "hash mismatch"},
		{"line deleted", func(l []string, i int) []string { return slices.Delete(l, i, i+1) }, 0, "seq gap"},
		{"lines swapped", func(l []string, i int) []string { l[i], l[i+1] = l[i+1], l[i]; return l }, 0, "seq gap"},
		{"line duplicated", func(l []string, i int) []string { return slices.Insert(l, i, l[i]) }, 1, "seq goes backwards"},
		{"record rewritten and rehashed", func(l []string, i int) []string {
			l[i] = rehash(strings.Replace(l[i], `"subject":"user-`, `"subject":"usex-`, 1))
			return l
		}, 1, "prev mismatch"},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := smallTrail(t, 600, 3)
			files, _ := audit.Files(dir)
			victim := files[1]
			b, _ := os.ReadFile(victim)
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			i := len(lines) / 2
			for !strings.Contains(lines[i], `"kind":"decision"`) {
				i++
			}
			seqAt := audittest.Line{Text: lines[i]}.Seq()
			lines = tc.edit(lines, i)
			if err := os.WriteFile(victim, []byte(strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			ix := mustOpen(t, Options{})
			ix.AddDir("gw", dir)
			mustSync(t, ix)
			st, err := ix.Integrity(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantAt := fmt.Sprintf("%s:%d:", victim, i+1+tc.at)
			if !strings.HasPrefix(st[0].VerifyError, wantAt) || !strings.Contains(st[0].VerifyError, tc.want) {
				t.Fatalf("VerifyError %q, want %q ... %q", st[0].VerifyError, wantAt, tc.want)
			}
			var last int64
			ix.Each(context.Background(), Filter{Kind: KindAny}, func(r Row) error { last = r.Seq; return nil })
			if last >= int64(seqAt)+int64(tc.at) {
				t.Fatalf("indexed up to seq %d, past the break at seq %d", last, seqAt)
			}
			if st[0].LastSeq != int64(seqAt)-1+int64(tc.at) {
				t.Fatalf("LastSeq %d, want %d", st[0].LastSeq, int64(seqAt)-1+int64(tc.at))
			}
			if n := mustSync(t, ix); n != 0 {
				t.Fatalf("a later Sync added %d records past the break", n)
			}
		})
	}
}

// TestTornTailWaits: the live file's incomplete last line is not indexed
// until it is complete; a sealed file ending in one breaks the chain.
func TestTornTailWaits(t *testing.T) {
	t.Parallel()
	dir := smallTrail(t, 101, 4) // ends in a record, not a checkpoint
	files, _ := audit.Files(dir)
	last := files[len(files)-1]
	b, _ := os.ReadFile(last)
	cut := len(b) - 40
	os.WriteFile(last, b[:cut], 0o640)
	ix := mustOpen(t, Options{})
	ix.AddDir("gw", dir)
	n1 := mustSync(t, ix)
	if n1 != 100 {
		t.Fatalf("first Sync added %d, want 100 (the last line is incomplete)", n1)
	}
	f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(b[cut:])
	f.Close()
	if n2 := mustSync(t, ix); n2 != 1 {
		t.Fatalf("second Sync added %d, want 1", n2)
	}
	st, _ := ix.Integrity(context.Background())
	if st[0].VerifyError != "" || st[0].Records != 101 {
		t.Fatalf("integrity %+v", st[0])
	}

	// The same cut in a file that has a successor is a torn sealed file.
	dir2 := smallTrail(t, 600, 4)
	files, _ = audit.Files(dir2)
	b, _ = os.ReadFile(files[0])
	os.WriteFile(files[0], b[:len(b)-40], 0o640)
	ix2 := mustOpen(t, Options{})
	ix2.AddDir("gw", dir2)
	mustSync(t, ix2)
	st, _ = ix2.Integrity(context.Background())
	if !strings.Contains(st[0].VerifyError, "torn/incomplete line") || !strings.HasPrefix(st[0].VerifyError, files[0]) {
		t.Fatalf("VerifyError %q", st[0].VerifyError)
	}
}

// TestOverviewEqualsBruteForce: Overview over random ranges (whole days,
// hours and partial hours) equals sums computed from the records.
func TestOverviewEqualsBruteForce(t *testing.T) {
	t.Parallel()
	dir := smallTrail(t, 4000, 5) // 37 s apart: about 41 hours
	ix := mustOpen(t, Options{})
	ix.AddDir("gw", dir)
	mustSync(t, ix)
	all := trailRows(t, "gw", dir)
	r := rand.New(rand.NewPCG(5, 5))
	first, last := all[0].Time, all[len(all)-1].Time
	span := last.Sub(first)
	ranges := [][2]time.Time{{}, {first.Truncate(time.Hour), last.Add(time.Hour).Truncate(time.Hour)}}
	for range 30 {
		a := first.Add(time.Duration(r.Int64N(int64(span))) - time.Hour)
		b := a.Add(time.Duration(r.Int64N(int64(span))))
		ranges = append(ranges, [2]time.Time{a, b})
	}
	for _, rg := range ranges {
		until := rg[1]
		if until.IsZero() {
			until = last.Add(time.Second)
		}
		got, err := ix.Overview(context.Background(), rg[0], until)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteOverview(filterRows(Filter{Kind: KindAny, Since: rg[0], Until: until}, all))
		want.Since, want.Until = rg[0], until
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Fatalf("range %v .. %v:\n got %+v\nwant %+v", rg[0], until, got, want)
		}
	}
}

// bruteOverview computes an Overview from rows directly.
func bruteOverview(rows []Row) Overview {
	var o Overview
	count := func(m map[string]*Count, key string, bytes int64) {
		c := m[key]
		if c == nil {
			c = &Count{Key: key}
			m[key] = c
		}
		c.N++
		c.Bytes += bytes
	}
	codes, countries, models, subjects, entities := map[string]*Count{}, map[string]*Count{}, map[string]*Count{}, map[string]*Count{}, map[string]*Count{}
	hours := map[string]*Count{}
	for _, r := range rows {
		switch r.Kind {
		case KindDecision:
			o.Decisions++
			count(codes, r.Code, 0)
			count(hours, r.Time.Truncate(time.Hour).Format(time.RFC3339), 0)
			if r.Decision == "deny" {
				o.Denials++
				count(countries, r.Country, 0)
			}
			if r.Subject != "" {
				count(subjects, r.Subject, 0)
			}
			if e := r.EntityName; e != "" {
				count(entities, e, 0)
			} else if r.EntityID != "" {
				count(entities, r.EntityID, 0)
			}
			switch r.Screening {
			case "hit":
				o.ScreeningHits++
			case "review":
				o.ScreeningReviews++
			}
		case KindTransfer:
			o.Bytes += r.Bytes
			count(models, r.Model, r.Bytes)
		}
	}
	list := func(m map[string]*Count) []Count {
		var out []Count
		for _, c := range m {
			out = append(out, *c)
		}
		return out
	}
	o.ByCode, o.RefusalsByCountry, o.ByModel, o.TopSubjects, o.TopEntities, o.ByHour =
		list(codes), list(countries), list(models), list(subjects), list(entities), list(hours)
	return o
}

// normalize orders an Overview's lists the way the contract says (most
// first, ties by key; ByHour oldest first) and cuts the tops to 10.
func normalize(o Overview) Overview {
	byN := func(a, b Count) int {
		if a.N != b.N {
			return cmpDesc(a.N, b.N)
		}
		return strings.Compare(a.Key, b.Key)
	}
	for _, l := range []*[]Count{&o.ByCode, &o.RefusalsByCountry, &o.TopSubjects, &o.TopEntities} {
		slices.SortFunc(*l, byN)
		if len(*l) == 0 {
			*l = nil
		}
	}
	slices.SortFunc(o.ByModel, func(a, b Count) int {
		if a.Bytes != b.Bytes {
			return cmpDesc(a.Bytes, b.Bytes)
		}
		return byN(a, b)
	})
	slices.SortFunc(o.ByHour, func(a, b Count) int { return strings.Compare(a.Key, b.Key) })
	o.TopSubjects, o.TopEntities = o.TopSubjects[:min(10, len(o.TopSubjects))], o.TopEntities[:min(10, len(o.TopEntities))]
	for _, l := range []*[]Count{&o.ByModel, &o.ByHour, &o.TopSubjects, &o.TopEntities} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return o
}

// TestSubscribe: rows a Sync adds reach a subscriber in order; one that
// does not read misses rows and is told so with Gap on the next row it
// gets, and Sync never waits for it.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	src := smallTrail(t, subscriberBuffer+1500, 6)
	live := t.TempDir()
	ix := mustOpen(t, Options{})
	ix.AddDir("gw", live)
	rows, cancel := ix.Subscribe()
	defer cancel()
	slow, cancelSlow := ix.Subscribe()
	defer cancelSlow()
	files, _ := audit.Files(src)
	var got []Row
	drain := func(ch <-chan Row) (out []Row) {
		for {
			select {
			case r := <-ch:
				out = append(out, r)
			default:
				return out
			}
		}
	}
	copyFile := func(f string) {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(live, filepath.Base(f)), b, 0o640)
		mustSync(t, ix)
		got = append(got, drain(rows)...)
	}
	for _, f := range files[:len(files)-1] {
		copyFile(f)
	}
	early := drain(slow)
	if len(early) != subscriberBuffer || early[0].Gap {
		t.Fatalf("slow subscriber holds %d rows (first with Gap %v), want its buffer, %d", len(early), early[0].Gap, subscriberBuffer)
	}
	copyFile(files[len(files)-1])
	late := drain(slow)
	if len(late) == 0 || !late[0].Gap || slices.ContainsFunc(late[1:], func(r Row) bool { return r.Gap }) {
		t.Fatalf("after missing rows the slow subscriber got %d rows, Gap on the first %v: want Gap on the first only", len(late), len(late) > 0 && late[0].Gap)
	}
	want := trailRows(t, "gw", src)
	if !slices.Equal(got, want) {
		t.Fatalf("subscriber got %d rows, want %d: %s", len(got), len(want), firstDiff(got, want))
	}
}

// TestEntry: a record's line, its place and the checkpoint after it.
func TestEntry(t *testing.T) {
	t.Parallel()
	dir := smallTrail(t, 300, 8)
	ix := mustOpen(t, Options{})
	ix.AddDir("gw", dir)
	mustSync(t, ix)
	lines := audittest.Lines(t, dir)
	ctx := context.Background()
	checked := 0
	for i, l := range lines {
		if l.Kind() != audit.RecordDecision || i%7 != 0 {
			continue
		}
		e, err := ix.Entry(ctx, "gw", int64(l.Seq()))
		if err != nil {
			t.Fatal(err)
		}
		if string(e.Line) != l.Text || filepath.Base(e.File) != l.File {
			t.Fatalf("seq %d: line %q in %s, want %q in %s", l.Seq(), e.Line, e.File, l.Text, l.File)
		}
		var wantCP *audittest.Line
		for j := i + 1; j < len(lines); j++ {
			if lines[j].Kind() == audit.KindCheckpoint {
				wantCP = &lines[j]
				break
			}
		}
		switch {
		case wantCP == nil && e.Checkpoint != nil:
			t.Fatalf("seq %d: checkpoint %d, want none", l.Seq(), e.Checkpoint.Seq)
		case wantCP != nil && (e.Checkpoint == nil || string(e.Checkpoint.Line) != wantCP.Text):
			t.Fatalf("seq %d: checkpoint %+v, want seq %d", l.Seq(), e.Checkpoint, wantCP.Seq())
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d entries checked", checked)
	}
	if _, err := ix.Entry(ctx, "gw", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Entry of the start record: %v, want ErrNotFound", err)
	}
	if _, err := ix.Entry(ctx, "other", 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Entry of an unknown instance: %v, want ErrNotFound", err)
	}
}

// rehash recomputes a line's hash after an edit, as a forger does.
func rehash(line string) string {
	body := line[:strings.LastIndex(line, `,"hash":"`)] + "}"
	sum := sha256.Sum256([]byte(body))
	return body[:len(body)-1] + `,"hash":"` + hex.EncodeToString(sum[:]) + `"}`
}
