package index

import (
	"context"
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

// TestAnchorFleet: two instances read from their anchor alone: the rows of
// every sealed file of each (the live files are not in an anchor), every
// checkpoint and file marked anchored; a local directory of a third
// instance beside them is read whole, and a sealed file the anchor lacks
// shows as a gap.
func TestAnchorFleet(t *testing.T) {
	t.Parallel()
	m := anchortest.NewMem()
	dirs := map[string]string{}
	for i, inst := range []string{"gw-b", "gw-a"} {
		dirs[inst] = smallTrail(t, 700, uint64(30+i))
		audittest.Anchor(t, m, inst, dirs[inst])
	}
	local := smallTrail(t, 700, 40)
	audittest.Anchor(t, m, "gw-local", local)
	files, _ := audit.Files(local)
	// A sealed file the anchor never got: the anchor of gw-local loses
	// its second file (an insider cannot do that to Object Lock; a
	// backlog the gateway has not yet anchored looks the same).
	lost := anchortest.NewMem()
	ctx := context.Background()
	for _, inst := range []string{"gw-a", "gw-b", "gw-local"} {
		cps, _ := m.Checkpoints(ctx, inst)
		for _, cp := range cps {
			lost.PutCheckpoint(ctx, inst, cp.Seq, cp.Line)
		}
		afs, _ := m.Files(ctx, inst)
		for _, af := range afs {
			if inst == "gw-local" && af.Name == filepath.Base(files[1]) {
				continue
			}
			rc, _ := m.OpenFile(ctx, inst, af.Name)
			lost.PutFile(ctx, inst, af.Name, rc, af.Size)
			rc.Close()
		}
	}
	ix := mustOpen(t, Options{AnchorInterval: -1})
	ix.AddAnchor(lost)
	ix.AddDir("gw-local", local)
	mustSync(t, ix)

	var want []Row
	for _, inst := range []string{"gw-a", "gw-b"} {
		sealed := audittest.CopyDir(t, dirs[inst])
		fs, _ := audit.Files(sealed)
		os.Remove(fs[len(fs)-1]) // the live file: not anchored
		want = append(want, trailRows(t, inst, sealed)...)
	}
	want = append(want, trailRows(t, "gw-local", local)...)
	var got []Row
	if err := ix.Each(ctx, Filter{Kind: KindAny}, func(r Row) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Each: %d rows, want %d: %s", len(got), len(want), firstDiff(got, want))
	}
	st, err := ix.Integrity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 {
		t.Fatalf("%d instances", len(st))
	}
	for _, s := range st {
		if s.VerifyError != "" || s.Checkpoints == 0 || s.AnchoredCheckpoints != s.Checkpoints {
			t.Errorf("%s: %+v", s.Instance, s)
		}
		switch s.Instance {
		case "gw-local":
			if s.Source != local || s.AnchoredFiles != s.SealedFiles-1 || len(s.Gaps) != 1 || !strings.Contains(s.Gaps[0], filepath.Base(files[1])+" is not in the anchor") {
				t.Errorf("gw-local: %+v", s)
			}
		default:
			if s.Source != "anchor" || s.AnchoredFiles != s.SealedFiles || len(s.Gaps) != 0 {
				t.Errorf("%s: %+v", s.Instance, s)
			}
		}
	}
}

// blockingAnchor is an anchor whose listing waits for release: a Sync that
// reads it stays in progress until the test lets it go.
type blockingAnchor struct {
	audit.AnchorStore
	entered chan struct{}
	release chan struct{}
}

func (b *blockingAnchor) Instances(ctx context.Context) ([]string, error) {
	close(b.entered)
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.AnchorStore.Instances(ctx)
}

// TestReadersDuringSync: while a Sync is in progress (the first over a big
// trail takes minutes), Integrity answers instead of waiting for it, and
// Progress says the index is still catching up; once it ends, Progress says
// it caught up and how many rows it read.
func TestReadersDuringSync(t *testing.T) {
	t.Parallel()
	ix := mustOpen(t, Options{})
	if err := ix.AddDir("gw-local", smallTrail(t, 300, 7)); err != nil {
		t.Fatal(err)
	}
	a := &blockingAnchor{AnchorStore: anchortest.NewMem(), entered: make(chan struct{}), release: make(chan struct{})}
	if err := ix.AddAnchor(a); err != nil {
		t.Fatal(err)
	}
	if p := ix.Progress(); p.CaughtUp || p.Syncing || !p.LastSync.IsZero() {
		t.Fatalf("before any Sync: %+v", p)
	}
	type result struct {
		n   int
		err error
	}
	synced := make(chan result, 1)
	go func() {
		n, err := ix.Sync(context.Background())
		synced <- result{n, err}
	}()
	<-a.entered
	if p := ix.Progress(); p.CaughtUp || !p.Syncing {
		t.Errorf("during the first Sync: %+v, want syncing and not caught up", p)
	}
	answered := make(chan error, 1)
	go func() {
		_, err := ix.Integrity(context.Background())
		answered <- err
	}()
	// A bound for a deadlock, not a measure of speed: Integrity waits for
	// nothing but SQLite.
	select {
	case err := <-answered:
		if err != nil {
			t.Errorf("Integrity during a Sync: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("Integrity waited for the Sync in progress")
	}
	close(a.release)
	r := <-synced
	if r.err != nil || r.n == 0 {
		t.Fatalf("Sync: %d rows, %v", r.n, r.err)
	}
	if p := ix.Progress(); !p.CaughtUp || p.Syncing || p.Read != int64(r.n) || p.LastSync.IsZero() {
		t.Errorf("after the Sync: %+v, want caught up, %d rows read", p, r.n)
	}
}
