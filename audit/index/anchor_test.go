package index

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
