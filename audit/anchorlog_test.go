package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/anchortest"
	"github.com/weightgate/weightgate/internal/audittest"
)

// flaky is an anchor that can be made unreachable while the log runs.
type flaky struct {
	*anchortest.Mem
	down atomic.Bool
}

var errDown = errors.New("anchor down")

func (f *flaky) err() error {
	if f.down.Load() {
		return errDown
	}
	return nil
}
func (f *flaky) PutCheckpoint(ctx context.Context, i string, s uint64, l []byte) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Mem.PutCheckpoint(ctx, i, s, l)
}
func (f *flaky) PutFile(ctx context.Context, i, n string, r io.Reader, sz int64) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Mem.PutFile(ctx, i, n, r, sz)
}
func (f *flaky) Checkpoints(ctx context.Context, i string) ([]audit.AnchoredCheckpoint, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Mem.Checkpoints(ctx, i)
}
func (f *flaky) Files(ctx context.Context, i string) ([]audit.AnchoredFile, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Mem.Files(ctx, i)
}

const instance = "gw-1"

func anchoredConfig(dir string, a audit.AnchorStore) audit.Config {
	return audit.Config{Dir: dir, CheckpointKey: audit.TestKey, CheckpointEvery: 5, CheckpointInterval: time.Hour,
		Anchor: a, Instance: instance, Logger: audit.DiscardLog, MaxFileBytes: 4096}
}

// writeTrail writes n decision records through an anchored log and closes
// it, so that every checkpoint and sealed file is anchored.
func writeTrail(t *testing.T, dir string, a audit.AnchorStore, n int) {
	t.Helper()
	l := audit.MustOpen(t, anchoredConfig(dir, a))
	audit.MustAppend(t, l, 1, n)
	audit.MustClose(t, l)
}

// trailLines returns every line of the trail with the file it is in.
type fileLine struct{ file, line string }

func trailLines(t *testing.T, dir string) []fileLine {
	var out []fileLine
	for _, p := range audit.MustFiles(t, dir) {
		for _, l := range audit.ReadLines(t, p) {
			out = append(out, fileLine{filepath.Base(p), l})
		}
	}
	return out
}

var seqRE = regexp.MustCompile(`^\{"seq":([0-9]+),`)

// rechain rewrites the trail as an insider holding the checkpoint key
// would: seqs renumbered from 1, every prev and hash recomputed, every
// checkpoint re-signed over its new head, and the head file rewritten.
func rechain(t *testing.T, dir string, lines []fileLine) {
	t.Helper()
	prev := audit.ZeroHash
	byFile := map[string][]string{}
	var order []string
	var last fileLine
	for i, fl := range lines {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(fl.line), &m); err != nil {
			t.Fatal(err)
		}
		var kind string
		_ = json.Unmarshal(m["kind"], &kind)
		var ts string
		_ = json.Unmarshal(m["time"], &ts)
		rec := m["record"]
		if kind == audit.KindCheckpoint {
			seq := uint64(i)
			cp := audit.CheckpointRecord{HeadSeq: seq, HeadHash: prev, KeyID: audit.KeyID(audit.TestKey.Public().(ed25519.PublicKey)),
				Sig: ed25519.Sign(audit.TestKey, audit.CheckpointMessage(seq, prev))}
			rec, _ = json.Marshal(cp)
		}
		body := fmt.Sprintf(`{"seq":%d,"time":%q,"kind":%q,"prev":%q,"record":%s}`, i+1, ts, kind, prev, rec)
		h := audit.HashLine([]byte(body))
		line := body[:len(body)-1] + `,"hash":"` + h + `"}`
		prev = h
		if _, ok := byFile[fl.file]; !ok {
			order = append(order, fl.file)
		}
		byFile[fl.file] = append(byFile[fl.file], line)
		last = fileLine{fl.file, line}
	}
	for _, p := range audit.MustFiles(t, dir) {
		os.Remove(p)
	}
	for _, f := range order {
		audit.WriteLines(t, filepath.Join(dir, f), byFile[f])
	}
	head := map[string]any{"seq": len(lines), "hash": prev, "file": last.file, "time": time.Now().UTC()}
	b, _ := json.Marshal(head)
	if err := os.WriteFile(filepath.Join(dir, audit.HeadFileName), b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func kindOf(line string) string {
	var m struct{ Kind string }
	_ = json.Unmarshal([]byte(line), &m)
	return m.Kind
}

func seqOf(line string) uint64 {
	m := seqRE.FindStringSubmatch(line)
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// TestAnchorRefusesForgedTrail: every forgery an insider with write access
// to the audit directory (and the checkpoint key) can make is refused by
// Open against the anchor, which names the first record found to differ,
// and Open writes nothing.
func TestAnchorRefusesForgedTrail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		forge func(t *testing.T, dir string)
		want  string // in the error
	}{
		{"delete records, drop later checkpoints, re-chain", func(t *testing.T, dir string) {
			ls := trailLines(t, dir)
			var out []fileLine
			for i, fl := range ls {
				if i >= 10 && i < 14 || i >= 10 && kindOf(fl.line) == audit.KindCheckpoint {
					continue
				}
				out = append(out, fl)
			}
			rechain(t, dir, out)
		}, "seq 11: audit-000001.jsonl: line is missing"},
		{"rename a requester and zero bytes, re-chain and re-sign", func(t *testing.T, dir string) {
			ls := trailLines(t, dir)
			i := len(ls) - 4
			for kindOf(ls[i].line) != "decision" {
				i--
			}
			ls[i].line = strings.Replace(ls[i].line, `"subject":"bob"`, `"subject":"eve"`, 1)
			ls[i].line = strings.Replace(ls[i].line, `"status":200`, `"status":0`, 1)
			rechain(t, dir, ls)
		}, "differs from the checkpoint the anchor holds"},
		{"replace the whole trail with a fresh chain", func(t *testing.T, dir string) {
			for _, p := range audit.MustFiles(t, dir) {
				os.Remove(p)
			}
			os.Remove(filepath.Join(dir, audit.HeadFileName))
			l := audit.MustOpen(t, audit.Config{Dir: dir, CheckpointKey: audit.TestKey, CheckpointEvery: 5, Logger: audit.DiscardLog, MaxFileBytes: 4096})
			audit.MustAppend(t, l, 1, 3)
			audit.MustClose(t, l)
		}, "anchor holds"},
		{"empty directory", func(t *testing.T, dir string) {
			for _, p := range audit.MustFiles(t, dir) {
				os.Remove(p)
			}
			os.Remove(filepath.Join(dir, audit.HeadFileName))
		}, "no local audit files"},
		{"delete the newest sealed file", func(t *testing.T, dir string) {
			fs := audit.MustFiles(t, dir)
			os.Remove(fs[len(fs)-2])
		}, "missing locally"},
		{"delete the file holding the newest checkpoint and the head", func(t *testing.T, dir string) {
			fs := audit.MustFiles(t, dir)
			os.Remove(fs[len(fs)-1])
			os.Remove(filepath.Join(dir, audit.HeadFileName))
		}, "the anchor holds checkpoints up to"},
		{"truncate mid-line and re-chain", func(t *testing.T, dir string) {
			ls := trailLines(t, dir)
			cut := ls[:20]
			cut[19].line = cut[19].line[:len(cut[19].line)/2] + `"}}`
			rechain(t, dir, cut[:19])
		}, ""},
		{"edit a sealed file in place, re-chain", func(t *testing.T, dir string) {
			ls := trailLines(t, dir)
			ls[3].line = strings.Replace(ls[3].line, `"decision":"allow"`, `"decision":"deny"`, 1)
			rechain(t, dir, ls)
		}, "seq 4: audit-000001.jsonl: line differs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			a := anchortest.NewMem()
			writeTrail(t, dir, a, 60)
			if fs := audit.MustFiles(t, dir); len(fs) < 3 {
				t.Fatalf("want a rotated trail, got %d files", len(fs))
			}
			tt.forge(t, dir)
			before := audittest.Snapshot(t, dir)
			_, err := audit.Open(anchoredConfig(dir, a))
			if err == nil {
				t.Fatal("Open accepted a forged trail")
			}
			if !errors.Is(err, audit.ErrAnchorMismatch) {
				t.Fatalf("got %v, want ErrAnchorMismatch", err)
			}
			var ve *audit.VerifyError
			if !errors.As(err, &ve) {
				t.Errorf("got %v, want a *VerifyError naming the record", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
			if after := audittest.Snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("Open wrote to a refused trail")
			}
		})
	}
}

// TestAnchorAcceptsGenuineTrail: an untouched trail reopens against its
// anchor, also after a crash left it unanchored checkpoints, which Open
// anchors.
func TestAnchorAcceptsGenuineTrail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := anchortest.NewMem()
	writeTrail(t, dir, a, 40)
	// Checkpoints the anchor never got (as after a crash with a backlog).
	b := anchortest.NewMem()
	cps, _ := a.Checkpoints(context.Background(), instance)
	for _, c := range cps[:len(cps)/2] {
		if err := b.PutCheckpoint(context.Background(), instance, c.Seq, c.Line); err != nil {
			t.Fatal(err)
		}
	}
	l := audit.MustOpen(t, anchoredConfig(dir, b))
	audit.MustAppend(t, l, 41, 45)
	audit.MustClose(t, l)
	got, _ := b.Checkpoints(context.Background(), instance)
	var local int
	for _, fl := range trailLines(t, dir) {
		if kindOf(fl.line) == audit.KindCheckpoint {
			local++
		}
	}
	if len(got) != local {
		t.Errorf("anchor holds %d checkpoints, the trail %d", len(got), local)
	}
	files, _ := b.Files(context.Background(), instance)
	if want := len(audit.MustFiles(t, dir)) - 1; len(files) != want {
		t.Errorf("anchor holds %d sealed files, want %d", len(files), want)
	}
}

// TestAnchorRewrittenObjectRefused: a second version of an anchored
// checkpoint (someone with the bucket's write credentials) is refused.
func TestAnchorRewrittenObjectRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := anchortest.NewMem()
	writeTrail(t, dir, a, 12)
	cps, _ := a.Checkpoints(context.Background(), instance)
	a.RewriteCheckpoint(instance, cps[0].Seq, []byte("forged\n"))
	if _, err := audit.Open(anchoredConfig(dir, a)); !errors.Is(err, audit.ErrAnchorMismatch) || !strings.Contains(err.Error(), "2 versions") {
		t.Fatalf("got %v, want a refusal naming 2 versions", err)
	}
}

// TestAnchorGenesisAndIdleCheckpoints: a new chain is checkpointed right
// after its start record, and an idle log still checkpoints every
// interval, each anchored.
func TestAnchorGenesisAndIdleCheckpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := anchortest.NewMem()
	cfg := anchoredConfig(dir, a)
	cfg.CheckpointInterval = 20 * time.Millisecond
	l := audit.MustOpen(t, cfg)
	waitFor(t, "3 anchored checkpoints on an idle log", func() bool {
		cps, _ := a.Checkpoints(context.Background(), instance)
		return len(cps) >= 3
	})
	audit.MustClose(t, l)
	ls := trailLines(t, dir)
	if kindOf(ls[0].line) != audit.KindStart || kindOf(ls[1].line) != audit.KindCheckpoint {
		t.Errorf("genesis not checkpointed: %s / %s", kindOf(ls[0].line), kindOf(ls[1].line))
	}
	cps, _ := a.Checkpoints(context.Background(), instance)
	if cps[0].Seq != 2 {
		t.Errorf("first anchored checkpoint is seq %d, want 2", cps[0].Seq)
	}
}

// TestAnchorUnreachable: a required anchor that cannot be reached refuses
// Open and writes nothing; an optional one opens, reports unhealthy, and
// anchors the backlog once it answers.
func TestAnchorUnreachable(t *testing.T) {
	t.Parallel()
	t.Run("required", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		a := &flaky{Mem: anchortest.NewMem()}
		a.down.Store(true)
		cfg := anchoredConfig(dir, a)
		cfg.AnchorRequired = true
		if _, err := audit.Open(cfg); !errors.Is(err, audit.ErrAnchorUnavailable) {
			t.Fatalf("got %v, want ErrAnchorUnavailable", err)
		}
		if s := audittest.Snapshot(t, dir); len(s) != 0 {
			t.Errorf("Open wrote %v", s)
		}
	})
	t.Run("optional", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		a := &flaky{Mem: anchortest.NewMem()}
		a.down.Store(true)
		l := audit.MustOpen(t, anchoredConfig(dir, a))
		audit.MustAppend(t, l, 1, 7)
		if err := l.AnchorHealthy(context.Background()); err == nil {
			t.Fatal("AnchorHealthy: nil while the anchor is down")
		}
		a.down.Store(false)
		waitFor(t, "the anchor healthy and holding the backlog", func() bool {
			cps, _ := a.Checkpoints(context.Background(), instance)
			ok := l.AnchorHealthy(context.Background()) == nil && len(cps) >= 2 && l.AnchorStats().Backlog == 0
			if !ok {
				t.Logf("health %v, %d checkpoints, stats %+v", l.AnchorHealthy(context.Background()), len(cps), l.AnchorStats())
			}
			return ok
		})
		a.down.Store(true)
		audit.MustAppend(t, l, 8, 12) // a checkpoint at 10: backlog
		waitFor(t, "AnchorHealthy failing", func() bool { return l.AnchorHealthy(context.Background()) != nil })
		if err := l.Healthy(context.Background()); err != nil {
			t.Errorf("Healthy: %v (the local log is fine)", err)
		}
		a.down.Store(false)
		audit.MustClose(t, l)
	})
	t.Run("mismatch found later", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		m := anchortest.NewMem()
		writeTrail(t, dir, m, 20)
		ls := trailLines(t, dir)
		ls[4].line = strings.Replace(ls[4].line, `"subject":"bob"`, `"subject":"eve"`, 1)
		rechain(t, dir, ls)
		a := &flaky{Mem: m}
		a.down.Store(true)
		l, err := audit.Open(anchoredConfig(dir, a))
		if err != nil {
			t.Fatal(err)
		}
		a.down.Store(false)
		waitFor(t, "the mismatch found", func() bool {
			return errors.Is(l.AnchorHealthy(context.Background()), audit.ErrAnchorMismatch)
		})
		if err := l.Append(context.Background(), "decision", audit.TestDecision(1)); !errors.Is(err, audit.ErrAnchorMismatch) {
			t.Errorf("Append after a mismatch: %v, want ErrAnchorMismatch", err)
		}
		if err := l.Healthy(context.Background()); !errors.Is(err, audit.ErrAnchorMismatch) {
			t.Errorf("Healthy after a mismatch: %v", err)
		}
		if err := l.Close(); !errors.Is(err, audit.ErrAnchorMismatch) {
			t.Errorf("Close after a mismatch: %v, want the mismatch", err)
		}
	})
}

func TestAnchorConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  audit.Config
	}{
		{"no key", audit.Config{Dir: t.TempDir(), Anchor: anchortest.NewMem(), Instance: "a"}},
		{"bad instance", audit.Config{Dir: t.TempDir(), Anchor: anchortest.NewMem(), Instance: "a/b", CheckpointKey: audit.TestKey}},
		{"no instance", audit.Config{Dir: t.TempDir(), Anchor: anchortest.NewMem(), CheckpointKey: audit.TestKey}},
	} {
		if _, err := audit.Open(tt.cfg); err == nil {
			t.Errorf("%s: Open accepted it", tt.name)
		}
	}
}

// waitFor polls cond (bounded): no timed assertion, only a bound on a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAnchorConfigValidate: an anchor without a checkpoint key has nothing
// to anchor, and is a configuration error like the anchor's other faults.
func TestAnchorConfigValidate(t *testing.T) {
	t.Parallel()
	ok := audit.DefaultTrailConfig()
	ok.Checkpoint.Key = "key.pem"
	ok.Anchor.URL = "s3://bucket/fleet"
	if p := ok.Validate("audit"); len(p) != 0 {
		t.Fatalf("valid anchor refused: %v", p)
	}
	for _, tt := range []struct {
		name, field string
		edit        func(c *audit.TrailConfig)
	}{
		{"no key", "audit.anchor.url", func(c *audit.TrailConfig) { c.Checkpoint.Key = "" }},
		{"not s3", "audit.anchor.url", func(c *audit.TrailConfig) { c.Anchor.URL = "https://bucket/x" }},
		{"no bucket", "audit.anchor.url", func(c *audit.TrailConfig) { c.Anchor.URL = "s3:///x" }},
		{"bad instance", "audit.anchor.instance", func(c *audit.TrailConfig) { c.Anchor.Instance = "a/b" }},
		{"no retention", "audit.anchor.retention", func(c *audit.TrailConfig) { c.Anchor.Retention = 0 }},
		{"half the credentials", "audit.anchor.secret_key", func(c *audit.TrailConfig) { c.Anchor.AccessKey = "AK" }},
		{"required without url", "audit.anchor.required", func(c *audit.TrailConfig) { c.Anchor.URL, c.Anchor.Required = "", true }},
	} {
		c := ok
		tt.edit(&c)
		p := c.Validate("audit")
		if !strings.Contains(fmt.Sprint(p), tt.field) {
			t.Errorf("%s: problems %v, want one for %s", tt.name, p, tt.field)
		}
	}
}
