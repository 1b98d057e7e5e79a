package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lineSeq is the seq of one audit line.
func lineSeq(tb testing.TB, line string) uint64 {
	tb.Helper()
	var l struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		tb.Fatalf("line %q: %v", line, err)
	}
	return l.Seq
}

// TestVerifyErrorSeq: a failure names the seq of the record that failed, or,
// when the record cannot tell (empty file, torn or unparsable line), the seq
// that should have come next.
func TestVerifyErrorSeq(t *testing.T) {
	t.Parallel()
	pristine := MustFiles(t, pristineLog(t))
	lines0 := readLines(t, pristine[0])
	tests := []struct {
		name    string
		tamper  func(t *testing.T, files []string)
		file    int
		wantSeq uint64
		reason  string
	}{
		{
			name: "empty file",
			tamper: func(t *testing.T, files []string) {
				if err := os.WriteFile(files[1], nil, 0o640); err != nil {
					t.Fatal(err)
				}
			},
			file: 1, wantSeq: lineSeq(t, lines0[len(lines0)-1]) + 1, reason: "empty file",
		},
		{
			name: "unparsable line",
			tamper: func(t *testing.T, files []string) {
				lines := readLines(t, files[0])
				lines[4] = "not json"
				writeLines(t, files[0], lines)
			},
			file: 0, wantSeq: lineSeq(t, lines0[3]) + 1, reason: "",
		},
		{
			name: "line over the size limit",
			tamper: func(t *testing.T, files []string) {
				lines := readLines(t, files[0])
				lines[4] = strings.Repeat("x", MaxLineBytes+1)
				writeLines(t, files[0], lines)
			},
			file: 0, wantSeq: lineSeq(t, lines0[3]) + 1, reason: "unreadable",
		},
		{
			name: "torn last line",
			tamper: func(t *testing.T, files []string) {
				last := files[len(files)-1]
				b, err := os.ReadFile(last)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(last, b[:len(b)-40], 0o640); err != nil {
					t.Fatal(err)
				}
			},
			file: -1, reason: "torn/incomplete line",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := MustFiles(t, copyDir(t, pristineLog(t)))
			fi := tt.file
			if fi < 0 {
				fi += len(files)
			}
			want := tt.wantSeq
			if want == 0 {
				// The torn line is the last record's.
				lines := readLines(t, files[fi])
				want = lineSeq(t, lines[len(lines)-1])
			}
			tt.tamper(t, files)
			_, err := Verify(files, VerifyOptions{})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			if got := filepath.Base(ve.File); got != filepath.Base(files[fi]) {
				t.Errorf("file %s, want %s", got, filepath.Base(files[fi]))
			}
			if ve.Seq != want {
				t.Errorf("seq %d, want %d (%v)", ve.Seq, want, err)
			}
			if !strings.Contains(ve.Reason, tt.reason) {
				t.Errorf("reason %q, want %q", ve.Reason, tt.reason)
			}
		})
	}
}

// TestVerifyFileOrder: a file given twice, or after a later one, is refused
// before any record is read, naming both files.
func TestVerifyFileOrder(t *testing.T) {
	t.Parallel()
	files := MustFiles(t, pristineLog(t))
	for _, tt := range []struct {
		name  string
		given []string
		want  string
	}{
		{"twice", []string{files[0], files[0]}, fmt.Sprintf("files out of order: %s given after %s", filepath.Base(files[0]), filepath.Base(files[0]))},
		{"swapped", []string{files[0], files[2], files[1]}, fmt.Sprintf("files out of order: %s given after %s", filepath.Base(files[1]), filepath.Base(files[2]))},
	} {
		_, err := Verify(tt.given, VerifyOptions{})
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Reason != tt.want || ve.Line != 1 {
			t.Errorf("%s: Verify = %v, want line 1: %s", tt.name, err, tt.want)
		}
	}
}

// TestVerifyHeadFileOption: a head file named explicitly must exist; one
// that records the last record in another file than the log's is refused.
func TestVerifyHeadFileOption(t *testing.T) {
	t.Parallel()
	dir := copyDir(t, pristineLog(t))
	files := MustFiles(t, dir)
	head := filepath.Join(dir, HeadFileName)
	if _, err := Verify(files, VerifyOptions{HeadFile: head}); err != nil {
		t.Fatalf("Verify with the log's own head file: %v", err)
	}
	if _, err := Verify(files, VerifyOptions{HeadFile: filepath.Join(dir, "missing.head")}); err == nil || !strings.Contains(err.Error(), "is missing or empty") {
		t.Errorf("Verify with a missing head file: %v, want it refused as missing", err)
	}
	h, err := readHead(head)
	if err != nil || h == nil {
		t.Fatalf("head: %v", err)
	}
	h.File = filepath.Base(files[0])
	if err := os.WriteFile(head, mustJSON(h), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(files, VerifyOptions{})
	want := fmt.Sprintf("head file records seq %d in %s, log has it in %s", h.Seq, h.File, filepath.Base(files[len(files)-1]))
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Reason != want {
		t.Errorf("Verify with a head file naming another file: %v, want %s", err, want)
	}
}

// TestVerifyMaxUnsigned: MaxUnsigned is the most records allowed in a row
// without a signed checkpoint, counted across files; the pristine log's
// longest such run passes at exactly that bound and fails one below it.
func TestVerifyMaxUnsigned(t *testing.T) {
	t.Parallel()
	files := MustFiles(t, pristineLog(t))
	longest, run := 0, 0
	for _, f := range files {
		for _, line := range readLines(t, f) {
			var l struct {
				Kind string `json:"kind"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			if l.Kind == KindCheckpoint {
				run = 0
				continue
			}
			run++
			longest = max(longest, run)
		}
	}
	if longest < 2 {
		t.Fatalf("longest unsigned run %d: the log is too small to test the bound", longest)
	}
	if _, err := Verify(files, VerifyOptions{PublicKey: testPub(), MaxUnsigned: longest}); err != nil {
		t.Errorf("MaxUnsigned %d (the longest run): %v", longest, err)
	}
	if _, err := Verify(files, VerifyOptions{PublicKey: testPub(), MaxUnsigned: longest - 1}); err == nil || !strings.Contains(err.Error(), "without a signed checkpoint") {
		t.Errorf("MaxUnsigned %d (one below the longest run): %v, want it refused", longest-1, err)
	}
}
