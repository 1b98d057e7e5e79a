package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	pristineOnce sync.Once
	pristineDir  string
	pristineErr  error
)

// pristineLog returns a directory holding a closed, signed log of about 150
// records over several files. Tests must copy it before changing it.
func pristineLog(t *testing.T) string {
	t.Helper()
	pristineOnce.Do(func() {
		dir, err := os.MkdirTemp("", "audit-pristine-")
		if err != nil {
			pristineErr = err
			return
		}
		l, err := Open(Config{Dir: dir, MaxFileBytes: 8 << 10, CheckpointKey: testKey, CheckpointEvery: 10, Logger: discardLogger})
		if err != nil {
			pristineErr = err
			return
		}
		for i := 1; i <= 122; i++ {
			if err := l.Append(t.Context(), "decision", decision(i)); err != nil {
				pristineErr = err
				return
			}
		}
		pristineErr = l.Close()
		pristineDir = dir
	})
	if pristineErr != nil {
		t.Fatalf("pristine log: %v", pristineErr)
	}
	return pristineDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pristineDir != "" {
		os.RemoveAll(pristineDir)
	}
	os.Exit(code)
}

func TestVerifyPristine(t *testing.T) {
	dir := pristineLog(t)
	files := MustFiles(t, dir)
	if got := len(files); got < 4 {
		t.Fatalf("files: got %d, want at least 4 (rotation)", got)
	}
	s := MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
	if got, want := s.Files, len(files); got != want {
		t.Errorf("Files: got %d, want %d", got, want)
	}
	if s.FirstSeq != 1 || s.LastSeq != uint64(s.Records) {
		t.Errorf("seq range: got %d..%d for %d records", s.FirstSeq, s.LastSeq, s.Records)
	}
	if s.Checkpoints < 12 || s.CheckpointsVerified != s.Checkpoints {
		t.Errorf("checkpoints: got %d verified of %d", s.CheckpointsVerified, s.Checkpoints)
	}
	if !s.HeadChecked {
		t.Error("head file not checked")
	}
}

// TestVerifyTamper changes a real log in each way an attacker (or a broken
// disk) might, and checks that Verify names the first bad line and why.
func TestVerifyTamper(t *testing.T) {
	type target struct {
		file   int // index into Files; -1 = last
		line   int // 1-based line reported, 0 = don't check
		reason string
	}
	type tc struct {
		name   string
		tamper func(t *testing.T, files []string) // may change files in place
		order  func(files []string) []string      // optional: the list given to Verify
		opts   VerifyOptions
		want   target
	}
	editLine := func(fi, li int, edit func(string) string) func(*testing.T, []string) {
		return func(t *testing.T, files []string) {
			lines := readLines(t, files[fi])
			lines[li-1] = edit(lines[li-1])
			writeLines(t, files[fi], lines)
		}
	}
	flipByte := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	tests := []tc{
		{
			name:   "byte edited in record",
			tamper: editLine(0, 5, func(s string) string { return strings.Replace(s, `"subject":"bob"`, `"subject":"bib"`, 1) }),
			want:   target{0, 5, "hash mismatch"},
		},
		{
			name:   "byte edited in seq",
			tamper: editLine(1, 3, func(s string) string { return flipByte(s, len(`{"seq":`)) }),
			want:   target{1, 3, "hash mismatch"},
		},
		{
			name:   "byte edited in time",
			tamper: editLine(1, 4, func(s string) string { return flipByte(s, strings.Index(s, `"time":"`)+9) }),
			want:   target{1, 4, "hash mismatch"},
		},
		{
			name:   "byte edited in hash",
			tamper: editLine(2, 2, func(s string) string { return flipByte(s, len(s)-10) }),
			want:   target{2, 2, "hash mismatch"},
		},
		{
			name:   "hash field damaged",
			tamper: editLine(2, 6, func(s string) string { return s[:len(s)-1] }),
			want:   target{2, 6, "unparsable"},
		},
		{
			name:   "line made unparsable with recomputed hash",
			tamper: editLine(0, 7, func(s string) string { return rehash(strings.Replace(s, `"kind":"decision"`, `"kind": "decision"`, 1)) }),
			want:   target{0, 7, "unparsable"},
		},
		{
			name: "line deleted",
			tamper: func(t *testing.T, files []string) {
				lines := readLines(t, files[1])
				writeLines(t, files[1], append(lines[:4:4], lines[5:]...))
			},
			want: target{1, 5, "seq gap"},
		},
		{
			name: "line duplicated",
			tamper: func(t *testing.T, files []string) {
				lines := readLines(t, files[1])
				out := append(append(lines[:5:5], lines[4]), lines[5:]...)
				writeLines(t, files[1], out)
			},
			want: target{1, 6, "seq goes backwards"},
		},
		{
			name: "two lines swapped",
			tamper: func(t *testing.T, files []string) {
				lines := readLines(t, files[0])
				lines[5], lines[6] = lines[6], lines[5]
				writeLines(t, files[0], lines)
			},
			want: target{0, 6, "seq gap"},
		},
		{
			name:   "prev edited and line rehashed",
			tamper: editLine(1, 8, func(s string) string { return rehash(setPrev(s, strings.Repeat("ab", 32))) }),
			want:   target{1, 8, "prev mismatch"},
		},
		{
			name: "start record of a file deleted",
			tamper: func(t *testing.T, files []string) {
				lines := readLines(t, files[2])
				writeLines(t, files[2], lines[1:])
			},
			want: target{2, 1, "file does not begin with a start record"},
		},
		{
			name: "tail truncated at a line boundary",
			tamper: func(t *testing.T, files []string) {
				last := files[len(files)-1]
				lines := readLines(t, last)
				writeLines(t, last, lines[:len(lines)-3])
			},
			want: target{-1, 0, "truncated: head file records seq"},
		},
		{
			name: "last file deleted",
			tamper: func(t *testing.T, files []string) {
				if err := os.Remove(files[len(files)-1]); err != nil {
					t.Fatal(err)
				}
			},
			order: func(files []string) []string { return files[:len(files)-1] },
			want:  target{-2, 0, "truncated: head file records seq"},
		},
		{
			name: "torn partial last line",
			tamper: func(t *testing.T, files []string) {
				last := files[len(files)-1]
				b, _ := os.ReadFile(last)
				if err := os.WriteFile(last, b[:len(b)-40], 0o640); err != nil {
					t.Fatal(err)
				}
			},
			want: target{-1, 0, "torn/incomplete line"},
		},
		{
			name:  "file missing from the sequence",
			order: func(files []string) []string { return append(files[:1:1], files[2:]...) },
			want:  target{2, 1, "does not continue audit-000001.jsonl: expected seq"},
		},
		{
			name: "files out of order",
			order: func(files []string) []string {
				out := append([]string(nil), files...)
				out[1], out[2] = out[2], out[1]
				return out
			},
			want: target{1, 1, "files out of order"},
		},
		{
			name: "files renamed into the wrong order",
			tamper: func(t *testing.T, files []string) {
				tmp := files[1] + ".x"
				for _, mv := range [][2]string{{files[1], tmp}, {files[2], files[1]}, {tmp, files[2]}} {
					if err := os.Rename(mv[0], mv[1]); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: target{1, 1, "a file is missing"},
		},
		{
			name: "forged record with recomputed hashes, checkpoints untouched",
			tamper: func(t *testing.T, files []string) {
				editLine(1, 4, func(s string) string { return strings.Replace(s, `"decision":"allow"`, `"decision":"deny!"`, 1) })(t, files)
				forgeChain(t, files, 1, 3, false)
			},
			want: target{1, 0, "checkpoint head_hash"},
		},
		{
			name: "forged record with recomputed hashes and checkpoints",
			tamper: func(t *testing.T, files []string) {
				editLine(1, 4, func(s string) string { return strings.Replace(s, `"decision":"allow"`, `"decision":"deny!"`, 1) })(t, files)
				forgeChain(t, files, 1, 3, true)
			},
			opts: VerifyOptions{PublicKey: testPub()},
			want: target{1, 0, "checkpoint signature invalid"},
		},
		{
			name: "head file altered",
			tamper: func(t *testing.T, files []string) {
				head := filepath.Join(filepath.Dir(files[0]), HeadFileName)
				h, err := readHead(head)
				if err != nil || h == nil {
					t.Fatalf("head: %v", err)
				}
				h.Hash = strings.Repeat("0f", 32)
				if err := os.WriteFile(head, mustJSON(h), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			want: target{-1, 0, "head file records hash"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, pristineLog(t))
			files := MustFiles(t, dir)
			if tt.tamper != nil {
				tt.tamper(t, files)
			}
			given := files
			if tt.order != nil {
				given = tt.order(files)
			}
			_, err := Verify(given, tt.opts)
			if err == nil {
				t.Fatal("Verify passed a tampered log")
			}
			fi := tt.want.file
			if fi < 0 {
				fi += len(files)
			}
			t.Log(err)
			wantVerifyError(t, err, filepath.Base(files[fi]), tt.want.line, tt.want.reason)
			// The error string has the documented shape.
			var ve *VerifyError
			errors.As(err, &ve)
			if prefix := fmt.Sprintf("%s:%d: ", ve.File, ve.Line); !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestVerifyTruncatedMessage(t *testing.T) {
	dir := copyDir(t, pristineLog(t))
	files := MustFiles(t, dir)
	s := MustVerify(t, dir, VerifyOptions{})
	last := files[len(files)-1]
	lines := readLines(t, last)
	writeLines(t, last, lines[:len(lines)-2])
	_, err := Verify(files, VerifyOptions{})
	want := fmt.Sprintf("truncated: head file records seq %d, log ends at %d", s.LastSeq, s.LastSeq-2)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	// Without the head file the truncation is invisible, except for the
	// checkpoint and mirror; NoHeadFile skips the check explicitly.
	if _, err := Verify(files, VerifyOptions{HeadFile: NoHeadFile}); err != nil {
		t.Fatalf("NoHeadFile: %v", err)
	}
}

func TestVerifyMissingFileMessage(t *testing.T) {
	dir := pristineLog(t)
	files := MustFiles(t, dir)
	es := MustEntries(t, dir)
	var lastOf1, firstOf3 uint64
	for _, e := range es {
		if e.File == files[0] {
			lastOf1 = e.Seq
		}
		if e.File == files[2] && firstOf3 == 0 {
			firstOf3 = e.Seq
		}
	}
	_, err := Verify([]string{files[0], files[2]}, VerifyOptions{HeadFile: NoHeadFile})
	want := fmt.Sprintf("file audit-000003.jsonl does not continue audit-000001.jsonl: expected seq %d, found %d — a file is missing", lastOf1+1, firstOf3)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestVerifyPartialChain: a chain whose older files were archived verifies
// from its first record and reports where it starts.
func TestVerifyPartialChain(t *testing.T) {
	dir := pristineLog(t)
	files := MustFiles(t, dir)
	full := MustVerify(t, dir, VerifyOptions{})
	s, err := Verify(files[2:], VerifyOptions{PublicKey: testPub()})
	if err != nil {
		t.Fatal(err)
	}
	if s.FirstSeq <= 1 {
		t.Errorf("FirstSeq: got %d, want > 1", s.FirstSeq)
	}
	if got, want := s.LastSeq, full.LastSeq; got != want {
		t.Errorf("LastSeq: got %d, want %d", got, want)
	}
	if s.CheckpointsVerified != s.Checkpoints || s.Checkpoints == 0 {
		t.Errorf("checkpoints: got %d of %d", s.CheckpointsVerified, s.Checkpoints)
	}
}

func TestVerifyCheckpointKeys(t *testing.T) {
	dir := pristineLog(t)
	files := MustFiles(t, dir)
	other := MustKey(t, "another-key-seed-for-the-tests-0")
	tests := []struct {
		name     string
		key      []byte
		wantErr  string
		verified bool
	}{
		{name: "right key", key: testPub(), verified: true},
		{name: "no key", key: nil},
		{name: "wrong key", key: other, wantErr: "checkpoint signed by key_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Verify(files, VerifyOptions{PublicKey: tt.key})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Checkpoints == 0 {
				t.Fatal("no checkpoints")
			}
			if got, want := s.CheckpointsVerified == s.Checkpoints, tt.verified; got != want {
				t.Errorf("verified %d of %d, want all=%v", s.CheckpointsVerified, s.Checkpoints, want)
			}
			if !tt.verified && s.CheckpointsVerified != 0 {
				t.Errorf("CheckpointsVerified without key: got %d, want 0", s.CheckpointsVerified)
			}
		})
	}
}

func TestScan(t *testing.T) {
	dir := pristineLog(t)
	s := MustVerify(t, dir, VerifyOptions{})
	es := MustEntries(t, dir)
	if got, want := len(es), s.Records; got != want {
		t.Fatalf("entries: got %d, want %d", got, want)
	}
	for i, e := range es {
		if got, want := e.Seq, uint64(i+1); got != want {
			t.Fatalf("entry %d: seq %d", i, got)
		}
		if i > 0 && e.Prev != es[i-1].Hash {
			t.Fatalf("entry %d: prev does not chain", i)
		}
		if e.Line < 1 || e.File == "" {
			t.Fatalf("entry %d: no position", i)
		}
	}
	if es[0].Kind != KindStart || es[0].Prev != ZeroHash {
		t.Errorf("first entry: kind %q prev %q", es[0].Kind, es[0].Prev)
	}
	stop := errors.New("stop")
	n := 0
	if err := Scan(MustFiles(t, dir), func(Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Scan with stopping fn: got %v after %d", err, n)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"audit-000002.jsonl", "audit-1000000.jsonl", "audit-000010.jsonl", "audit-000001.jsonl",
		"audit-000001.jsonl.torn-123", "audit.head", "audit.lock", "audit-1.jsonl", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	got := MustFiles(t, dir)
	var names []string
	for _, f := range got {
		names = append(names, filepath.Base(f))
	}
	if got, want := strings.Join(names, " "), "audit-000001.jsonl audit-000002.jsonl audit-000010.jsonl audit-1000000.jsonl"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
