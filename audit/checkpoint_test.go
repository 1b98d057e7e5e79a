package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCheckpoints(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 10})
	MustAppend(t, l, 1, 35)
	MustClose(t, l)

	es := MustEntries(t, dir)
	since := 0
	var cps int
	for i, e := range es {
		if e.Kind != KindCheckpoint {
			since++
			continue
		}
		cps++
		var cp CheckpointRecord
		if err := json.Unmarshal(e.Record, &cp); err != nil {
			t.Fatal(err)
		}
		head := es[i-1]
		if cp.HeadSeq != head.Seq || cp.HeadHash != head.Hash {
			t.Errorf("checkpoint at seq %d covers %d/%s, want the record before it", e.Seq, cp.HeadSeq, cp.HeadHash)
		}
		if got, want := cp.KeyID, KeyID(testPub()); got != want {
			t.Errorf("key_id: got %s, want %s", got, want)
		}
		if !ed25519.Verify(testPub(), []byte("weightgate-audit-checkpoint\n"+jsonNum(cp.HeadSeq)+"\n"+cp.HeadHash+"\n"), cp.Sig) {
			t.Errorf("checkpoint at seq %d: signature does not verify over the documented message", e.Seq)
		}
		// The first checkpoint signs the genesis (start) record alone.
		if want := 10; cps == 1 && since != 1 || cps > 1 && i < len(es)-1 && since != want {
			t.Errorf("checkpoint %d at seq %d after %d records, want 1 for the first, then %d", cps, e.Seq, since, want)
		}
		since = 0
	}
	// 36 records (start + 35): checkpoints after the start, then after 10,
	// 20, 30, and on Close.
	if got, want := cps, 5; got != want {
		t.Errorf("checkpoints: got %d, want %d", got, want)
	}
	if got := es[len(es)-1].Kind; got != KindCheckpoint {
		t.Errorf("last record: got %s, want the Close checkpoint", got)
	}
	s := MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
	if s.Checkpoints != 5 || s.CheckpointsVerified != 5 {
		t.Errorf("verified %d of %d checkpoints", s.CheckpointsVerified, s.Checkpoints)
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestCheckpointInterval: an idle log gets a checkpoint every
// CheckpointInterval, without further traffic, so that anchored checkpoints
// are never further apart than that.
func TestCheckpointInterval(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 1 << 20, CheckpointInterval: 100 * time.Millisecond})
	MustAppend(t, l, 1, 2)
	countCheckpoints := func() int {
		n := 0
		for _, e := range MustEntries(t, dir) {
			if e.Kind == KindCheckpoint {
				n++
			}
		}
		return n
	}
	// The genesis checkpoint, then one per interval while idle.
	deadline := time.Now().Add(10 * time.Second)
	for countCheckpoints() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d checkpoints on an idle log, want 3", countCheckpoints())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Records that flow past the interval get one at batch time too.
	MustAppend(t, l, 3, 3)
	time.Sleep(150 * time.Millisecond)
	MustAppend(t, l, 4, 4)
	MustClose(t, l)
	if got := countCheckpoints(); got < 2 {
		t.Errorf("checkpoints: got %d, want at least 2", got)
	}
	MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
}

// TestCheckpointForgery: a forger who rewrites a record and recomputes every
// hash after it (checkpoint head_hash fields included) gets past a verifier
// without the key, but not one with the key.
func TestCheckpointForgery(t *testing.T) {
	tests := []struct {
		name    string
		key     ed25519.PublicKey
		fixCP   bool
		wantErr string
	}{
		{name: "without key, checkpoints rewritten", key: nil, fixCP: true},
		{name: "with key, checkpoints rewritten", key: testPub(), fixCP: true, wantErr: "checkpoint signature invalid"},
		{name: "without key, checkpoints untouched", key: nil, wantErr: "checkpoint head_hash"},
		{name: "with key, checkpoints untouched", key: testPub(), wantErr: "checkpoint head_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, pristineLog(t))
			files := MustFiles(t, dir)
			lines := readLines(t, files[0])
			lines[4] = strings.Replace(lines[4], `"subject":"bob"`, `"subject":"eve"`, 1)
			writeLines(t, files[0], lines)
			forgeChain(t, files, 0, 4, tt.fixCP)
			s, err := Verify(files, VerifyOptions{PublicKey: tt.key})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if s.CheckpointsVerified != 0 {
					t.Errorf("CheckpointsVerified: got %d, want 0 without a key", s.CheckpointsVerified)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestCheckpointRewrittenWithOtherKey: a forger who re-signs checkpoints
// with their own key fails on key_id.
func TestCheckpointRewrittenWithOtherKey(t *testing.T) {
	dir := t.TempDir()
	other := ed25519.NewKeyFromSeed([]byte("forger-key-seed-for-audit-tests0"))
	l := MustOpen(t, Config{Dir: dir, CheckpointKey: other, CheckpointEvery: 5})
	MustAppend(t, l, 1, 12)
	MustClose(t, l)
	MustVerify(t, dir, VerifyOptions{})
	_, err := Verify(MustFiles(t, dir), VerifyOptions{PublicKey: testPub()})
	if err == nil || !strings.Contains(err.Error(), "checkpoint signed by key_id "+KeyID(other.Public().(ed25519.PublicKey))) {
		t.Fatalf("got %v, want a key_id mismatch", err)
	}
}
