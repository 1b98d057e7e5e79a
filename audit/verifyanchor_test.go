package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/anchortest"
	"github.com/weightgate/weightgate/internal/audittest"
)

// anchoredTrail writes a trail of 12 downloads (four files, three sealed),
// anchors it as gateway instance gw-a and returns its directory and anchor.
func anchoredTrail(t *testing.T, withKey bool) (string, *anchortest.Mem) {
	t.Helper()
	dir := t.TempDir()
	o := audittest.Options{Downloads: 12}
	if withKey {
		o.Key = audittest.Key
	}
	audittest.Trail(t, dir, o)
	m := anchortest.NewMem()
	audittest.Anchor(t, m, "gw-a", dir)
	return dir, m
}

func keyOpts(withKey bool) audit.AnchorOptions {
	var o audit.AnchorOptions
	if withKey {
		o.PublicKey = audittest.Pub()
	}
	return o
}

func mustFiles(t *testing.T, dir string) []string {
	t.Helper()
	fs, err := audit.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func wantFirstDiff(t *testing.T, err error, file string, seq uint64, reason string) {
	t.Helper()
	var ve *audit.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *VerifyError naming %s seq %d", err, file, seq)
	}
	if got := filepath.Base(ve.File); got != file || ve.Seq != seq || !strings.Contains(ve.Reason, reason) {
		t.Errorf("got %s seq %d: %q; want %s seq %d: %q", got, ve.Seq, ve.Reason, file, seq, reason)
	}
}

// TestVerifyAnchoredClean: an untouched anchored trail verifies with no
// note; one more record after the newest anchored checkpoint is an
// unanchored tail.
func TestVerifyAnchoredClean(t *testing.T) {
	t.Parallel()
	dir, m := anchoredTrail(t, true)
	s, err := audit.VerifyAnchored(context.Background(), mustFiles(t, dir), "gw-a", m, keyOpts(true))
	if err != nil {
		t.Fatal(err)
	}
	if s.AnchoredFiles != 3 || s.AnchoredCheckpoints == 0 || len(s.Notes) != 0 || s.Unanchored != 0 {
		t.Errorf("summary %+v, want 3 sealed files, checkpoints, no notes", s)
	}
}

// TestVerifyAnchoredForgeries: every forgery of an insider who can write
// the audit directory (and sign with the host's checkpoint key) passes the
// verification without an anchor, and fails against the anchor naming the
// first record that differs.
func TestVerifyAnchoredForgeries(t *testing.T) {
	t.Parallel()
	for _, f := range audittest.Forgeries() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			dir, m := anchoredTrail(t, f.Key)
			file, seq := f.Forge(t, dir)
			if f.OldVerifyPasses {
				if _, err := audit.Verify(mustFiles(t, dir), keyOpts(f.Key).VerifyOptions); err != nil {
					t.Errorf("verification without an anchor caught it already (%v): not a finding", err)
				}
			}
			_, err := audit.VerifyAnchored(context.Background(), mustFiles(t, dir), "gw-a", m, keyOpts(f.Key))
			wantFirstDiff(t, err, file, seq, f.Reason)
		})
	}
}

// TestVerifyAnchoredRewrittenInAnchor: a second version of an anchored
// checkpoint (someone holding the bucket's credentials wrote it again)
// fails even when the local trail is intact.
func TestVerifyAnchoredRewrittenInAnchor(t *testing.T) {
	t.Parallel()
	dir, m := anchoredTrail(t, true)
	cps, _ := m.Checkpoints(context.Background(), "gw-a")
	m.RewriteCheckpoint("gw-a", cps[1].Seq, cps[1].Line)
	_, err := audit.VerifyAnchored(context.Background(), mustFiles(t, dir), "gw-a", m, keyOpts(true))
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "rewritten in the anchor: 2 versions") || !strings.HasPrefix(ve.File, "anchor:gw-a/checkpoints/") || ve.Seq != cps[1].Seq {
		t.Errorf("got %v, want the anchored checkpoint seq %d named as rewritten", err, cps[1].Seq)
	}
	if res, err := audit.VerifyFleet(context.Background(), m, keyOpts(true)); err != nil || res[0].Err == nil {
		t.Errorf("fleet: %v %+v, want gw-a failing", err, res)
	}
}

// TestVerifyAnchoredCadence: anchored checkpoints further apart than the
// interval while the gateway ran fail; the same gap across a restart (the
// gateway was stopped) does not.
func TestVerifyAnchoredCadence(t *testing.T) {
	t.Parallel()
	t.Run("gap while running", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		c := audittest.NewClock()
		audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 12, Clock: c, Between: func(i int) {
			if i == 6 {
				c.Advance(2 * time.Hour)
			}
		}})
		m := anchortest.NewMem()
		audittest.Anchor(t, m, "gw-a", dir)
		var at audittest.Line
		var last time.Time
		for _, l := range audittest.Lines(t, dir) {
			if l.Kind() != "checkpoint" {
				continue
			}
			tm := lineTime(t, l)
			if !last.IsZero() && tm.Sub(last) > time.Hour && at.Text == "" {
				at = l
			}
			last = tm
		}
		if at.Text == "" {
			t.Fatal("the trail has no gap between checkpoints")
		}
		_, err := audit.VerifyAnchored(context.Background(), mustFiles(t, dir), "gw-a", m, keyOpts(true))
		wantFirstDiff(t, err, at.File, at.Seq(), "cadence")
		res, err := audit.VerifyFleet(context.Background(), m, keyOpts(true))
		if err != nil || len(res) != 1 || res[0].Err == nil {
			t.Errorf("fleet: %v %+v, want the cadence failure or a note", err, res)
		}
	})
	t.Run("gap across a restart", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		c := audittest.NewClock()
		audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 6, Clock: c})
		c.Advance(48 * time.Hour)
		audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 6, Clock: c})
		m := anchortest.NewMem()
		audittest.Anchor(t, m, "gw-a", dir)
		s, err := audit.VerifyAnchored(context.Background(), mustFiles(t, dir), "gw-a", m, keyOpts(true))
		if err != nil || len(s.Notes) != 0 {
			t.Errorf("got %v, notes %q; want a restart to explain the gap", err, s.Notes)
		}
	})
}

func lineTime(t *testing.T, l audittest.Line) time.Time {
	t.Helper()
	i := strings.Index(l.Text, `"time":"`) + len(`"time":"`)
	tm, err := time.Parse(time.RFC3339Nano, l.Text[i:i+strings.IndexByte(l.Text[i:], '"')])
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestVerifyAnchoredGenesis: the first record must be checkpointed in the
// anchor, and an anchor that holds nothing for the instance proves nothing.
func TestVerifyAnchoredGenesis(t *testing.T) {
	t.Parallel()
	dir, full := anchoredTrail(t, true)
	ctx := context.Background()
	m := anchortest.NewMem()
	cps, _ := full.Checkpoints(ctx, "gw-a")
	for _, cp := range cps[1:] {
		m.PutCheckpoint(ctx, "gw-a", cp.Seq, cp.Line)
	}
	_, err := audit.VerifyAnchored(ctx, mustFiles(t, dir), "gw-a", m, keyOpts(true))
	wantFirstDiff(t, err, "audit-000001.jsonl", 1, "genesis record is not checkpointed")
	_, err = audit.VerifyAnchored(ctx, mustFiles(t, dir), "gw-b", full, keyOpts(true))
	wantFirstDiff(t, err, "audit-000001.jsonl", 1, `no checkpoint for instance "gw-b"`)
}

// TestVerifyAnchoredNotes: what cannot be proven is a note, not a pass in
// silence: an unanchored tail, a rotated file the anchor lacks, no key.
func TestVerifyAnchoredNotes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 12})
	m := anchortest.NewMem()
	// Anchor as of an earlier moment: the first two files and their
	// checkpoints.
	early := audittest.CopyDir(t, dir)
	files := mustFiles(t, early)
	for _, f := range files[2:] {
		if err := removeFile(f); err != nil {
			t.Fatal(err)
		}
	}
	audittest.Anchor(t, m, "gw-a", early)
	s, err := audit.VerifyAnchored(context.Background(), mustFiles(t, dir), "gw-a", m, audit.AnchorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unanchored tail", "audit-000002.jsonl is a complete (rotated) file the anchor does not hold", "not signature-verified"} {
		if !slices.ContainsFunc(s.Notes, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("notes %q lack %q", s.Notes, want)
		}
	}
	if s.Unanchored == 0 {
		t.Errorf("Unanchored = 0")
	}
}

// TestVerifyFleet: two gateways anchor into one bucket; the anchor alone
// proves both chains (audit/index's tests query such a fleet).
func TestVerifyFleet(t *testing.T) {
	t.Parallel()
	m := anchortest.NewMem()
	for _, inst := range []string{"gw-a", "gw-b"} {
		dir := t.TempDir()
		audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 12})
		audittest.Anchor(t, m, inst, dir)
	}
	res, err := audit.VerifyFleet(context.Background(), m, keyOpts(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d instances, want 2", len(res))
	}
	for _, r := range res {
		if r.Err != nil || r.FirstSeq != 1 || r.Files != 3 || r.CheckpointsVerified == 0 || len(r.Notes) != 0 {
			t.Errorf("%s: %v %+v", r.Instance, r.Err, r.AnchorSummary)
		}
	}
	// A sealed file of gw-b edited in the anchor's first version cannot
	// happen (write once); one missing from the anchor breaks its chain.
	m2 := anchortest.NewMem()
	dir := t.TempDir()
	audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 12})
	audittest.Anchor(t, m2, "gw-a", dir)
	bad := anchortest.NewMem()
	ctx := context.Background()
	cps, _ := m2.Checkpoints(ctx, "gw-a")
	for _, cp := range cps {
		bad.PutCheckpoint(ctx, "gw-a", cp.Seq, cp.Line)
	}
	afs, _ := m2.Files(ctx, "gw-a")
	for _, af := range afs {
		if af.Name == "audit-000002.jsonl" {
			continue
		}
		rc, _ := m2.OpenFile(ctx, "gw-a", af.Name)
		bad.PutFile(ctx, "gw-a", af.Name, rc, af.Size)
	}
	res, err = audit.VerifyFleet(ctx, bad, keyOpts(true))
	if err != nil || len(res) != 1 {
		t.Fatal(err, res)
	}
	wantFirstDiff(t, res[0].Err, "audit-000003.jsonl", 21, "a file is missing")
}

func removeFile(path string) error { return os.Remove(path) }

// BenchmarkVerifyAnchored compares verification of one trail (20 000
// records, checkpoints every 1000, 1 MiB files) alone and against its
// anchor.
func BenchmarkVerifyAnchored(b *testing.B) {
	dir := b.TempDir()
	audittest.Trail(b, dir, audittest.Options{Key: audittest.Key, Downloads: 10000, CheckpointEvery: 1000, MaxFileBytes: 1 << 20})
	m := anchortest.NewMem()
	audittest.Anchor(b, m, "gw-a", dir)
	files, _ := audit.Files(dir)
	opts := keyOpts(true)
	opts.Interval = time.Hour // the test clock moves a second a record
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			if _, err := audit.Verify(files, opts.VerifyOptions); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("anchored", func(b *testing.B) {
		for b.Loop() {
			if _, err := audit.VerifyAnchored(context.Background(), files, "gw-a", m, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
