// Package audittest writes real audit trails for tests, anchors them as a
// gateway does, and forges them as an insider with write access to the
// audit directory (and the checkpoint key on the host) can.
package audittest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
)

// Key is the checkpoint key of the trails written here.
var Key = ed25519.NewKeyFromSeed([]byte("weightgate-audittest-cp-key-seed"))

// Pub is Key's public half.
func Pub() ed25519.PublicKey { return Key.Public().(ed25519.PublicKey) }

// Clock is a test clock: every call to Now advances it by Step.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	Step time.Duration
}

// NewClock starts at a fixed time.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Step: time.Second}
}

// Now returns the time and advances the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.Step)
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Options shape a trail.
type Options struct {
	Key             ed25519.PrivateKey // nil: no checkpoints
	Downloads       int                // decision + transfer pairs
	CheckpointEvery int                // default 5
	MaxFileBytes    int64              // default 4096: several files
	Clock           *Clock             // default NewClock()
	// Between, if set, runs after each download (to advance the clock).
	Between func(i int)
}

// Trail writes a trail into dir as a gateway does: its genesis record is
// followed by a checkpoint (opened and closed once, so the first record is
// checkpointed on its own), then the downloads, each a decision and its
// transfer, by requesters "alice" and "bob" in turn.
func Trail(tb testing.TB, dir string, o Options) {
	tb.Helper()
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 5
	}
	if o.MaxFileBytes == 0 {
		o.MaxFileBytes = 4096
	}
	if o.Clock == nil {
		o.Clock = NewClock()
	}
	cfg := audit.Config{Dir: dir, CheckpointKey: o.Key, CheckpointEvery: o.CheckpointEvery, MaxFileBytes: o.MaxFileBytes,
		Now: o.Clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CheckpointInterval: time.Hour}
	open := func() *audit.Log {
		l, err := audit.Open(cfg)
		if err != nil {
			tb.Fatalf("audit.Open: %v", err)
		}
		return l
	}
	l := open()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	l = open()
	ctx := context.Background()
	for i := range o.Downloads {
		who, country := "alice", "US"
		if i%2 == 1 {
			who, country = "bob", "DE"
		}
		rec := audit.Record{Type: audit.RecordDecision, RequestID: fmt.Sprintf("req-%d", i), API: "resolve", Subject: who,
			Country: country, Model: "frontier-lab/frontier-x", Object: "model-00001-of-00002.safetensors", Decision: "allow", Status: 200}
		if err := l.Append(ctx, audit.RecordDecision, rec); err != nil {
			tb.Fatal(err)
		}
		rec.Type, rec.Bytes, rec.Outcome = audit.RecordTransfer, int64(1000+i), audit.OutcomeComplete
		if err := l.Append(ctx, audit.RecordTransfer, rec); err != nil {
			tb.Fatal(err)
		}
		if o.Between != nil {
			o.Between(i)
		}
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
}

// Anchor copies what a gateway anchors into store under instance: every
// checkpoint line (under its own seq, its exact bytes) and every sealed
// file (all but the newest, which is still being written).
func Anchor(tb testing.TB, store audit.AnchorStore, instance, dir string) {
	tb.Helper()
	ctx := context.Background()
	files, err := audit.Files(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			if bytes.Contains(line, []byte(`"kind":"checkpoint"`)) {
				if err := store.PutCheckpoint(ctx, instance, seqOf(tb, string(line)), line); err != nil {
					tb.Fatal(err)
				}
			}
		}
		if i < len(files)-1 {
			if err := store.PutFile(ctx, instance, filepath.Base(f), bytes.NewReader(b), int64(len(b))); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// Line is one line of a trail and the file holding it.
type Line struct {
	File string // base name
	Text string // without its newline
}

// Kind returns the line's kind.
func (l Line) Kind() string {
	i := strings.Index(l.Text, `"kind":"`) + len(`"kind":"`)
	return l.Text[i : i+strings.IndexByte(l.Text[i:], '"')]
}

// Record returns the line's record.
func (l Line) Record() map[string]any {
	var m map[string]any
	i := strings.Index(l.Text, `,"record":`) + len(`,"record":`)
	j := strings.LastIndex(l.Text, `,"hash":"`)
	if err := json.Unmarshal([]byte(l.Text[i:j]), &m); err != nil {
		panic(err)
	}
	return m
}

// WithRecord returns the line with another record (not rehashed).
func (l Line) WithRecord(m map[string]any) Line {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	i := strings.Index(l.Text, `,"record":`) + len(`,"record":`)
	j := strings.LastIndex(l.Text, `,"hash":"`)
	l.Text = l.Text[:i] + string(b) + l.Text[j:]
	return l
}

// Seq returns the line's seq.
func (l Line) Seq() uint64 {
	n, err := strconv.ParseUint(l.Text[len(`{"seq":`):strings.Index(l.Text, `,"time":`)], 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func seqOf(tb testing.TB, line string) uint64 {
	tb.Helper()
	return Line{Text: line}.Seq()
}

// Lines reads every line of the trail in dir.
func Lines(tb testing.TB, dir string) []Line {
	tb.Helper()
	files, err := audit.Files(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []Line
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			out = append(out, Line{filepath.Base(f), strings.TrimSuffix(string(line), "\n")})
		}
	}
	return out
}

// Rechain rewrites the trail in dir as an insider does after editing it:
// edit gets every line and returns the forged trail; Rechain then numbers
// the records from seq 1 on, recomputes every prev and hash, rewrites each
// checkpoint over its new head (signed with key, as an insider holding the
// host's key can; with a nil key the old signature stays), writes the files
// (removing those left empty) and rewrites audit.head to match.
func Rechain(tb testing.TB, dir string, key ed25519.PrivateKey, edit func([]Line) []Line) {
	tb.Helper()
	lines := edit(Lines(tb, dir))
	prev := strings.Repeat("0", 64)
	contents := map[string]*bytes.Buffer{}
	var order []string
	var lastSeq uint64
	var lastFile string
	for i, l := range lines {
		seq := uint64(i + 1)
		t := l.Text
		t = `{"seq":` + strconv.FormatUint(seq, 10) + t[strings.Index(t, `,"time":`):]
		p := strings.Index(t, `"prev":"`) + len(`"prev":"`)
		t = t[:p] + prev + t[p+64:]
		if l.Kind() == audit.KindCheckpoint {
			var cp audit.CheckpointRecord
			if err := json.Unmarshal([]byte(recordOf(t)), &cp); err != nil {
				tb.Fatal(err)
			}
			cp.HeadSeq, cp.HeadHash = seq-1, prev
			if key != nil {
				cp.KeyID = audit.KeyID(key.Public().(ed25519.PublicKey))
				cp.Sig = ed25519.Sign(key, audit.CheckpointMessage(cp.HeadSeq, cp.HeadHash))
			}
			b, _ := json.Marshal(cp)
			i := strings.Index(t, `,"record":`) + len(`,"record":`)
			t = t[:i] + string(b) + t[strings.LastIndex(t, `,"hash":"`):]
		}
		body := t[:strings.LastIndex(t, `,"hash":"`)] + "}"
		sum := sha256.Sum256([]byte(body))
		h := hex.EncodeToString(sum[:])
		t = body[:len(body)-1] + `,"hash":"` + h + `"}`
		prev = h
		if contents[l.File] == nil {
			contents[l.File] = &bytes.Buffer{}
			order = append(order, l.File)
		}
		contents[l.File].WriteString(t + "\n")
		lastSeq, lastFile = seq, l.File
	}
	files, err := audit.Files(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		if contents[filepath.Base(f)] == nil {
			if err := os.Remove(f); err != nil {
				tb.Fatal(err)
			}
		}
	}
	for _, name := range order {
		if err := os.WriteFile(filepath.Join(dir, name), contents[name].Bytes(), 0o640); err != nil {
			tb.Fatal(err)
		}
	}
	head, _ := json.Marshal(map[string]any{"seq": lastSeq, "hash": prev, "file": lastFile, "time": time.Now().UTC()})
	if err := os.WriteFile(filepath.Join(dir, audit.HeadFileName), head, 0o640); err != nil {
		tb.Fatal(err)
	}
}

func recordOf(t string) string {
	i := strings.Index(t, `,"record":`) + len(`,"record":`)
	return t[i:strings.LastIndex(t, `,"hash":"`)]
}

// CopyDir copies the regular files of src into a new temporary directory.
func CopyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == audit.LockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o640); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

// Snapshot is the content of every file in an audit directory but its lock
// file, by name: equal snapshots mean nothing was written.
func Snapshot(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == audit.LockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
