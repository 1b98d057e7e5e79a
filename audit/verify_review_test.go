package audit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestVerifyCheckpointsStripped: a forger without the key rewrites a record,
// recomputes every hash and removes every checkpoint after it (the only way
// past them). Without a key that passes; with the key, the unsigned run it
// leaves is longer than the cadence allows.
func TestVerifyCheckpointsStripped(t *testing.T) {
	dir := copyDir(t, pristineLog(t))
	files := MustFiles(t, dir)
	for _, f := range files {
		var kept []string
		for _, line := range readLines(t, f) {
			if !strings.Contains(line, `"kind":"checkpoint"`) {
				kept = append(kept, line)
			}
		}
		writeLines(t, f, kept)
	}
	// Renumber and rehash the whole chain, as a forger would.
	var prev string
	seq := 0
	for _, f := range files {
		lines := readLines(t, f)
		for i, line := range lines {
			seq++
			line = replaceField(line, `"seq":`, ",", strconv.Itoa(seq))
			if prev != "" {
				line = setPrev(line, prev)
			}
			line = rehash(line)
			lines[i] = line
			prev = lineHash(line)
		}
		writeLines(t, f, lines)
	}
	opts := VerifyOptions{HeadFile: NoHeadFile}
	if _, err := Verify(files, opts); err != nil {
		t.Fatalf("without a key the forged log should pass (that is what the key is for): %v", err)
	}
	opts.PublicKey, opts.MaxUnsigned = testPub(), 10+4
	_, err := Verify(files, opts)
	if err == nil || !strings.Contains(err.Error(), "without a signed checkpoint") {
		t.Fatalf("Verify with the key = %v, want the unsigned run caught", err)
	}
}

// TestVerifyInFlight: an incomplete last line of the last file is a record
// being written (reported, not an error) unless the head file claims it.
func TestVerifyInFlight(t *testing.T) {
	dir := copyDir(t, pristineLog(t))
	files := MustFiles(t, dir)
	last := files[len(files)-1]
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":999,"time":"2026-`)
	f.Close()
	s, err := Verify(files, VerifyOptions{PublicKey: testPub()})
	if err != nil || !s.InFlight {
		t.Fatalf("Verify = %+v, %v; want OK with InFlight", s, err)
	}
	n := 0
	if err := Scan(files, func(Entry) error { n++; return nil }); err != nil {
		t.Fatalf("Scan of a log being written: %v", err)
	}
	if n != s.Records {
		t.Errorf("Scan saw %d records, Verify %d", n, s.Records)
	}
	// The same incomplete line in a file that is not the last is torn.
	if len(files) > 1 {
		mid := files[0]
		b, _ := os.ReadFile(mid)
		os.WriteFile(mid, append(b, []byte(`{"seq":`)...), 0o640)
		if _, err := Verify(files, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "torn/incomplete") {
			t.Errorf("torn line in an earlier file: %v", err)
		}
	}
}

// TestVerifyRemovedBeginnings: the first file, or the first session of it,
// removed; an emptied middle file; a head file left without any log.
func TestVerifyRemovedBeginnings(t *testing.T) {
	t.Run("first lines of audit-000001", func(t *testing.T) {
		dir := copyDir(t, pristineLog(t))
		files := MustFiles(t, dir)
		lines := readLines(t, files[0])
		writeLines(t, files[0], lines[3:])
		if _, err := Verify(files, VerifyOptions{}); err == nil {
			t.Fatal("Verify passed a first file missing its first lines")
		}
	})
	t.Run("empty middle file", func(t *testing.T) {
		dir := copyDir(t, pristineLog(t))
		files := MustFiles(t, dir)
		if len(files) < 3 { // the pristine log rotates into at least four
			t.Fatalf("the pristine log has %d files, want three or more", len(files))
		}
		os.WriteFile(files[1], nil, 0o640)
		_, err := Verify(files, VerifyOptions{})
		wantVerifyError(t, err, filepath.Base(files[1]), 1, "empty file")
	})
	t.Run("restart inside a file", func(t *testing.T) {
		// Two sessions in one file; the first session's lines removed.
		dir := t.TempDir()
		l := MustOpen(t, Config{Dir: dir})
		MustAppend(t, l, 1, 3)
		MustClose(t, l)
		l = MustOpen(t, Config{Dir: dir})
		MustAppend(t, l, 4, 5)
		MustClose(t, l)
		files := MustFiles(t, dir)
		lines := readLines(t, files[0])
		writeLines(t, files[0], lines[4:]) // from the second start record on
		_, err := Verify(files, VerifyOptions{HeadFile: NoHeadFile})
		if err == nil || !strings.Contains(err.Error(), "must begin the chain at seq 1") {
			t.Fatalf("Verify = %v, want the cut caught", err)
		}
	})
	t.Run("log removed, head left", func(t *testing.T) {
		dir := copyDir(t, pristineLog(t))
		for _, f := range MustFiles(t, dir) {
			os.Remove(f)
		}
		if l, err := Open(Config{Dir: dir, Logger: discardLogger}); err == nil {
			l.Close()
			t.Fatal("Open started a new chain over a removed trail")
		} else if !strings.Contains(err.Error(), "removed") {
			t.Errorf("Open: %v", err)
		}
	})
}

// TestRestartKeepsCheckpointCadence: after an unclean stop the writer counts
// the records since the last checkpoint, so the bound Verify applies holds.
func TestRestartKeepsCheckpointCadence(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 5})
		MustAppend(t, l, 1, 4) // fewer than the cadence each time
		// No Close: the final checkpoint is never written (as in a crash);
		// release the directory lock the way the process exit would.
		l.closeMu.Lock()
		l.closed = true
		l.closeMu.Unlock()
		close(l.stop)
		<-l.done
		unlockDir(l.lock)
	}
	MustVerify(t, dir, VerifyOptions{PublicKey: testPub(), MaxUnsigned: 5 + 3})
}

// replaceField replaces the value after key up to the next sep.
func replaceField(line, key, sep, val string) string {
	i := strings.Index(line, key) + len(key)
	j := i + strings.Index(line[i:], sep)
	return line[:i] + val + line[j:]
}
