package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/internal/anchortest"
	"github.com/weightgate/weightgate/internal/audittest"
)

func genTrail(t *testing.T, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := audittest.Generate(dir, audittest.GenOptions{Records: 500, Seed: seed, CheckpointEvery: 40,
		MaxFileBytes: 64 << 10, Subjects: 20, Step: 61 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openIndex(t *testing.T) *index.Index {
	t.Helper()
	ix, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{AnchorInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// export writes the archive of f over a local trail.
func export(t *testing.T, f index.Filter) ([]byte, Summary) {
	t.Helper()
	ix := openIndex(t)
	if err := ix.AddDir("gw-1", genTrail(t, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sum, err := Write(context.Background(), &buf, ix, f)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sum
}

func rehash(line string) string {
	body := line[:strings.LastIndex(line, `,"hash":"`)] + "}"
	sum := sha256.Sum256([]byte(body))
	return body[:len(body)-1] + `,"hash":"` + hex.EncodeToString(sum[:]) + `"}`
}

// segmentLines returns the indexes of the archive's segment line members.
func segmentMembers(ms []audittest.ArchiveMember) []int {
	var out []int
	for i, m := range ms {
		if strings.HasSuffix(m.Name, ".jsonl") {
			out = append(out, i)
		}
	}
	return out
}

func lines(b []byte) []string { return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") }

func join(ls []string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// TestExportVerifies: an archive of a filter's records verifies with the
// key, every record in it, every checkpoint's signature checked.
func TestExportVerifies(t *testing.T) {
	t.Parallel()
	archive, sum := export(t, index.Filter{Country: "CN", Kind: index.KindAny})
	if sum.Records < 10 || sum.Checkpoints < 2 || len(sum.Instances) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	res, err := Verify(context.Background(), bytes.NewReader(archive), VerifyOptions{PublicKey: audittest.Pub()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != sum.Records || res.Lines != sum.Lines || res.CheckpointsVerified != sum.Checkpoints {
		t.Fatalf("verified %+v, exported %+v", res, sum)
	}
	names := map[string]bool{}
	for _, m := range audittest.ReadArchive(t, archive) {
		names[m.Name] = true
	}
	for _, want := range []string{"report.json", "report.txt", "manifest.json"} {
		if !names[want] {
			t.Errorf("archive lacks %s", want)
		}
	}
}

// TestVerifyRefusesTampering: each alteration of an archive fails, naming
// the member and line (or record) that shows it.
func TestVerifyRefusesTampering(t *testing.T) {
	t.Parallel()
	archive, _ := export(t, index.Filter{Decision: "deny"})
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	cases := []struct {
		name string
		edit func(ms []audittest.ArchiveMember) string // returns the member the failure must name
		want string
	}{
		{"flipped byte", func(ms []audittest.ArchiveMember) string {
			i := segmentMembers(ms)[1]
			ms[i].Body = bytes.Replace(ms[i].Body, []byte(`"country":"`), []byte(`"country":"X`), 1)
			return ms[i].Name
		}, "hash mismatch"},
		{"dropped line", func(ms []audittest.ArchiveMember) string {
			i := segmentMembers(ms)[2]
			ls := lines(ms[i].Body)
			if len(ls) < 3 {
				panic("segment too short")
			}
			ms[i].Body = join(append(ls[:1], ls[2:]...))
			return ms[i].Name
		}, "seq gap"},
		{"forged checkpoint signature", func(ms []audittest.ArchiveMember) string {
			i := segmentMembers(ms)[0]
			ls := lines(ms[i].Body)
			cp := audittest.Line{Text: ls[len(ls)-1]}
			rec := cp.Record()
			var c audit.CheckpointRecord
			c.HeadSeq, c.HeadHash = uint64(rec["head_seq"].(float64)), rec["head_hash"].(string)
			rec["sig"] = ed25519.Sign(otherKey, audit.CheckpointMessage(c.HeadSeq, c.HeadHash))
			ls[len(ls)-1] = rehash(cp.WithRecord(rec).Text)
			ms[i].Body = join(ls)
			return ms[i].Name
		}, "checkpoint signature invalid"},
		{"record moved between segments", func(ms []audittest.ArchiveMember) string {
			segs := segmentMembers(ms)
			a, b := segs[0], segs[1]
			la, lb := lines(ms[a].Body), lines(ms[b].Body)
			moved := la[1]
			ms[a].Body = join(append(la[:1:1], la[2:]...))
			ms[b].Body = join(append([]string{lb[0], moved}, lb[1:]...))
			return ms[a].Name
		}, "seq gap"},
		{"segment removed", func(ms []audittest.ArchiveMember) string {
			i := segmentMembers(ms)[1]
			copy(ms[i-1:], ms[i+1:])
			for j := range ms {
				if ms[j].Name == "manifest.json" {
					return "manifest.json"
				}
			}
			return ""
		}, "segments were removed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := audittest.ReadArchive(t, archive)
			name := tc.edit(ms)
			if tc.name == "segment removed" {
				ms = ms[:len(ms)-2]
			}
			_, err := Verify(context.Background(), bytes.NewReader(audittest.WriteArchive(t, ms)), VerifyOptions{PublicKey: audittest.Pub()})
			var ve *audit.VerifyError
			if !errors.As(err, &ve) || ve.File != name || !strings.Contains(ve.Reason, tc.want) {
				t.Fatalf("Verify: %v, want a failure in %s: %s", err, name, tc.want)
			}
		})
	}
	// Untouched, it passes (the cases above fail for their edit alone).
	if _, err := Verify(context.Background(), bytes.NewReader(audittest.WriteArchive(t, audittest.ReadArchive(t, archive))), VerifyOptions{PublicKey: audittest.Pub()}); err != nil {
		t.Fatalf("repacked archive: %v", err)
	}
}

// TestExportFleet: an archive of two instances read from their anchor
// verifies against that anchor, every checkpoint anchored; against an
// anchor holding other checkpoints it fails.
func TestExportFleet(t *testing.T) {
	t.Parallel()
	m := anchortest.NewMem()
	for i, inst := range []string{"gw-a", "gw-b"} {
		audittest.Anchor(t, m, inst, genTrail(t, uint64(10+i)))
	}
	ix := openIndex(t)
	ix.AddAnchor(m)
	ctx := context.Background()
	if _, err := ix.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sum, err := Write(ctx, &buf, ix, index.Filter{Decision: "deny"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Instances) != 2 {
		t.Fatalf("instances %v", sum.Instances)
	}
	res, err := Verify(ctx, bytes.NewReader(buf.Bytes()), VerifyOptions{PublicKey: audittest.Pub(), Anchor: m})
	if err != nil {
		t.Fatal(err)
	}
	// From an anchor the records after a sealed file's last checkpoint
	// have theirs in the live file, which an anchor does not hold: noted.
	if res.CheckpointsAnchored != res.Checkpoints || res.Checkpoints == 0 || len(res.Notes) > 1 ||
		(res.Unsigned > 0) != (len(res.Notes) == 1) {
		t.Fatalf("result %+v", res)
	}
	// Another fleet's anchor: same instance names, other checkpoints.
	other := anchortest.NewMem()
	for i, inst := range []string{"gw-a", "gw-b"} {
		audittest.Anchor(t, other, inst, genTrail(t, uint64(20+i)))
	}
	_, err = Verify(ctx, bytes.NewReader(buf.Bytes()), VerifyOptions{PublicKey: audittest.Pub(), Anchor: other})
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "differs from the anchored one") {
		t.Fatalf("against another anchor: %v", err)
	}
}
