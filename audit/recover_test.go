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

// TestOpenRecoversTornTail writes what a crash mid-batch can leave at the
// end of the last file, then reopens: the torn bytes are kept aside, the file
// is cut back to the last good line, and the chain continues with start and
// recovery records.
func TestOpenRecoversTornTail(t *testing.T) {
	// nextLine forges the valid line that would follow last, as a batch
	// that was written completely but never synced would leave it.
	nextLine := func(last string, seq uint64) string {
		line := `{"seq":` + fmt.Sprint(seq+1) + last[strings.Index(last, `,"time"`):]
		line = strings.Replace(line, `"kind":"checkpoint"`, `"kind":"decision"`, 1)
		return rehash(setPrev(line, lineHash(last)))
	}
	tests := []struct {
		name string
		keep bool // a complete unsynced line precedes the torn bytes
		torn func(lastLine string) string
	}{
		{name: "partial line", torn: func(string) string { return `{"seq":9,"time":"2026-11-28T21:58` }},
		{name: "partial line after a complete unsynced line", keep: true, torn: func(string) string { return `{"seq":1` }},
		{name: "zero-filled block", torn: func(string) string { return strings.Repeat("\x00", 4096) }},
		{name: "garbage final line", torn: func(string) string { return "garbage\n" }},
		{name: "final line with bad hash", torn: func(last string) string {
			b := []byte(last)
			b[len(b)-3] ^= 1
			return string(b) + "\n"
		}},
		{name: "final line without its newline", torn: func(last string) string { return last }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 4})
			MustAppend(t, l, 1, 6)
			MustClose(t, l)
			before := MustVerify(t, dir, VerifyOptions{})
			file := filepath.Join(dir, "audit-000001.jsonl")
			lines := readLines(t, file)
			last := lines[len(lines)-1]
			torn := tt.torn(last)
			var kept string
			if tt.keep {
				kept = nextLine(last, before.LastSeq) + "\n"
				before.Records++
				before.LastSeq++
			}
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(kept + torn); err != nil {
				t.Fatal(err)
			}
			f.Close()
			// A torn tail the head file does not claim looks like the line
			// a running gateway is writing: Verify stops there and says
			// so; with the head file claiming it, it would fail.
			if sum, err := Verify([]string{file}, VerifyOptions{}); err == nil && !sum.InFlight {
				t.Fatalf("Verify passed a torn log without reporting it: %+v", sum)
			}

			l = MustOpen(t, Config{Dir: dir, CheckpointKey: testKey, CheckpointEvery: 4})
			MustAppend(t, l, 7, 8)
			MustClose(t, l)

			aside, _ := filepath.Glob(file + ".torn-*")
			if len(aside) != 1 {
				t.Fatalf("kept-aside files: got %v, want one", aside)
			}
			b, err := os.ReadFile(aside[0])
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(b), torn; got != want {
				t.Errorf("kept aside: got %q, want %q", got, want)
			}
			es := MustEntries(t, dir)
			n := before.Records
			if got, want := es[n].Kind+","+es[n+1].Kind, "start,recovery"; got != want {
				t.Fatalf("after the last good record: got %s, want %s", got, want)
			}
			var rec RecoveryRecord
			if err := json.Unmarshal(es[n+1].Record, &rec); err != nil {
				t.Fatal(err)
			}
			if got, want := rec, (RecoveryRecord{TornBytes: int64(len(torn)), KeptAside: aside[0], LastGoodSeq: before.LastSeq}); got != want {
				t.Errorf("recovery record: got %+v, want %+v", got, want)
			}
			s := MustVerify(t, dir, VerifyOptions{PublicKey: testPub()})
			if got, want := s.Records, before.Records+4; got <= want { // start, recovery, 2 records, checkpoints
				t.Errorf("records: got %d, want more than %d", got, want)
			}
			// Files ignores the kept-aside file.
			if got, want := len(MustFiles(t, dir)), 1; got != want {
				t.Errorf("files: got %d, want %d", got, want)
			}
		})
	}
}

// TestOpenRefusesCorruption: damage that a crash cannot cause makes Open
// fail with an error naming the file and line, and changes nothing.
func TestOpenRefusesCorruption(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, file string)
		line   int
		reason string
	}{
		{
			name: "byte edited in the middle",
			tamper: func(t *testing.T, file string) {
				lines := readLines(t, file)
				lines[3] = strings.Replace(lines[3], `"subject":"bob"`, `"subject":"bib"`, 1)
				writeLines(t, file, lines)
			},
			line: 4, reason: "hash mismatch",
		},
		{
			name: "line before the last edited",
			tamper: func(t *testing.T, file string) {
				lines := readLines(t, file)
				n := len(lines)
				lines[n-2] = strings.Replace(lines[n-2], `"subject":"bob"`, `"subject":"bib"`, 1)
				writeLines(t, file, lines)
			},
			line: -2, reason: "hash mismatch",
		},
		{
			name: "line deleted in the middle",
			tamper: func(t *testing.T, file string) {
				lines := readLines(t, file)
				writeLines(t, file, append(lines[:2:2], lines[3:]...))
			},
			line: 3, reason: "seq gap",
		},
		{
			name: "whole last line replayed",
			tamper: func(t *testing.T, file string) {
				lines := readLines(t, file)
				writeLines(t, file, append(lines, lines[len(lines)-1]))
			},
			line: -1, reason: "seq goes backwards",
		},
		{
			name: "tail truncated at a line boundary",
			tamper: func(t *testing.T, file string) {
				lines := readLines(t, file)
				writeLines(t, file, lines[:len(lines)-2])
			},
			reason: "truncated: head file records seq",
		},
		{
			name: "head file garbage",
			tamper: func(t *testing.T, file string) {
				if err := os.WriteFile(filepath.Join(filepath.Dir(file), HeadFileName), []byte("{nope"), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			reason: "head file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := MustOpen(t, Config{Dir: dir})
			MustAppend(t, l, 1, 8)
			MustClose(t, l)
			file := filepath.Join(dir, "audit-000001.jsonl")
			tt.tamper(t, file)
			before, _ := os.ReadFile(file)

			_, err := Open(Config{Dir: dir, Logger: discardLogger})
			if err == nil {
				t.Fatal("Open accepted a corrupt log")
			}
			if !strings.Contains(err.Error(), "refusing to open") || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %v, want refusing to open ... %q", err, tt.reason)
			}
			var ve *VerifyError
			if errors.As(err, &ve) {
				line := tt.line
				n := len(readLines(t, file))
				if line < 0 {
					line += n + 1
				}
				if line > 0 && ve.Line != line {
					t.Errorf("line: got %d, want %d (%v)", ve.Line, line, err)
				}
				if filepath.Base(ve.File) != "audit-000001.jsonl" {
					t.Errorf("file: got %s", ve.File)
				}
			} else if tt.line != 0 {
				t.Errorf("error %v does not wrap a *VerifyError", err)
			}
			after, _ := os.ReadFile(file)
			if string(after) != string(before) {
				t.Error("Open changed a log it refused")
			}
			if aside, _ := filepath.Glob(file + ".torn-*"); len(aside) != 0 {
				t.Errorf("Open set aside %v from a log it refused", aside)
			}
		})
	}
}

// TestOpenEmptyLastFile: a crash right after rotation leaves an empty last
// file; Open continues the chain from the previous file.
func TestOpenEmptyLastFile(t *testing.T) {
	dir := t.TempDir()
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 3)
	MustClose(t, l)
	if err := os.WriteFile(filepath.Join(dir, "audit-000002.jsonl"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	l = MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 4, 4)
	MustClose(t, l)
	s := MustVerify(t, dir, VerifyOptions{})
	if got, want := s.Files, 2; got != want {
		t.Errorf("files: got %d, want %d", got, want)
	}
	lines := readLines(t, filepath.Join(dir, "audit-000002.jsonl"))
	if !strings.Contains(lines[0], `"kind":"start","prev"`) || !strings.Contains(lines[0], `"previous_file":"audit-000001.jsonl"`) {
		t.Errorf("first line of the new file: %s", lines[0])
	}
}

// TestOpenMissingDirStartsChain: a missing directory is created and a new
// chain starts at seq 1.
func TestOpenMissingDirStartsChain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	l := MustOpen(t, Config{Dir: dir})
	MustAppend(t, l, 1, 1)
	MustClose(t, l)
	s := MustVerify(t, dir, VerifyOptions{})
	if s.FirstSeq != 1 || s.Records != 2 {
		t.Errorf("got %+v", s)
	}
}
