package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fuzz targets of audit-line parsing, verification and recovery.

// fuzzLog returns a small valid log: a start record and n records, each
// line as the writer makes it.
func fuzzLog(n int) []byte {
	var buf []byte
	prev := ZeroHash
	t := time.Date(2026, 7, 1, 12, 0, 0, 123456789, time.UTC)
	buf, prev = appendLine(buf, 1, t, KindStart, prev, []byte(`{"reason":"start","file":"audit-000001.jsonl","pid":1}`))
	for i := range n {
		buf, prev = appendLine(buf, uint64(i+2), t.Add(time.Duration(i)*time.Second), "download",
			prev, []byte(`{"model":"acme/open-7b","decision":"allow","n":`+string(rune('0'+i%10))+`}`))
	}
	return buf
}

// selfHash reports whether line (without '\n') ends in the hash field and
// that hash is the sha256 of the rest closed with '}', computed here
// independently of splitHash.
func selfHash(line []byte) bool {
	const n = len(`,"hash":"`) + 64 + len(`"}`)
	if len(line) < n+1 {
		return false
	}
	body := append(bytes.Clone(line[:len(line)-n]), '}')
	sum := sha256.Sum256(body)
	return string(line[len(line)-n:]) == `,"hash":"`+hex.EncodeToString(sum[:])+`"}`
}

// FuzzCheckLine: checkLine never accepts a line whose stored hash is not the
// sha256 of its body, nor one with any single byte changed; what it accepts
// has a UTC time, a valid kind, a 64-hex prev and an object record, agrees
// with decodeLine, and written again by appendLine reads back the same.
func FuzzCheckLine(f *testing.F) {
	for _, l := range bytes.Split(fuzzLog(3), []byte("\n")) {
		f.Add(l, uint(0))
		f.Add(l, uint(len(l)/2))
	}
	f.Add([]byte(`{"seq":1,"time":"2026-07-01T12:00:00+02:00","kind":"start","prev":"`+ZeroHash+`","record":{},"hash":"`+strings.Repeat("0", 64)+`"}`), uint(3))
	f.Add([]byte(`{"hash":"`+strings.Repeat("a", 64)+`"}`), uint(1))
	f.Add([]byte(`,"hash":"`+strings.Repeat("a", 64)+`"}`), uint(1))
	f.Fuzz(func(t *testing.T, line []byte, flip uint) {
		p, lerr := checkLine(line)
		d, derr := decodeLine(line)
		if lerr != nil {
			if lerr.reason == "" {
				t.Fatalf("checkLine(%q): error without a reason", line)
			}
			return
		}
		if !selfHash(line) || p.Hash != string(line[len(line)-66:len(line)-2]) {
			t.Fatalf("checkLine(%q) accepted a line whose hash does not match", line)
		}
		switch {
		case p.Time.Location() != time.UTC:
			t.Fatalf("checkLine(%q): time %v is not UTC", line, p.Time)
		case validKind(p.Kind) != nil:
			t.Fatalf("checkLine(%q): kind %q", line, p.Kind)
		case len(p.Prev) != 64 || !isLowerHex([]byte(p.Prev)):
			t.Fatalf("checkLine(%q): prev %q", line, p.Prev)
		case len(p.Record) == 0 || p.Record[0] != '{':
			t.Fatalf("checkLine(%q): record %q", line, p.Record)
		}
		if derr != nil || d.Seq != p.Seq || !d.Time.Equal(p.Time) || d.Kind != p.Kind || d.Prev != p.Prev ||
			!bytes.Equal(d.Record, p.Record) || d.Hash != p.Hash {
			t.Fatalf("decodeLine(%q) = %+v, %v; checkLine gave %+v", line, d, derr, p)
		}
		again, _ := appendLine(nil, p.Seq, p.Time, p.Kind, p.Prev, p.Record)
		p2, lerr2 := checkLine(bytes.TrimSuffix(again, []byte("\n")))
		if lerr2 != nil || p2.Seq != p.Seq || !p2.Time.Equal(p.Time) || p2.Kind != p.Kind || p2.Prev != p.Prev ||
			!bytes.Equal(p2.Record, p.Record) {
			t.Fatalf("checkLine(%q) = %+v, written again as %q: %+v, %v", line, p, again, p2, lerr2)
		}
		// Any one byte changed: refused, as a torn or altered line.
		i := int(flip % uint(len(line)))
		for _, delta := range []byte{1, 0x80} {
			bad := bytes.Clone(line)
			bad[i] ^= delta
			if _, e := checkLine(bad); e == nil {
				t.Fatalf("checkLine accepted %q with byte %d changed from %q", bad, i, line)
			} else if e.selfConsistent {
				t.Fatalf("checkLine(%q) with byte %d changed: %q, reported as a self-consistent line", bad, i, e.reason)
			}
		}
	})
}

// FuzzVerifyFile: Verify and the recovery scan read any file without
// panicking; a file Verify accepts is a chain of lines that each match their
// own hash, link to the one before and begin with a start record, and the
// recovery scan finds the same end of chain in it.
func FuzzVerifyFile(f *testing.F) {
	log := fuzzLog(4)
	f.Add(log)
	f.Add(log[:len(log)-1])
	f.Add(log[:len(log)/2])
	f.Add(bytes.Replace(log, []byte(`"n":1`), []byte(`"n":7`), 1))
	lines := bytes.SplitAfter(log, []byte("\n"))
	f.Add(bytes.Join([][]byte{lines[0], lines[2], lines[1]}, nil))
	f.Add(bytes.Join([][]byte{lines[0], lines[1], lines[1]}, nil))
	f.Add(append(bytes.Clone(log), "garbage\n"...))
	f.Add([]byte{})
	f.Add([]byte("\n"))
	// One file per fuzzing process, rewritten for each input: a directory
	// per input costs more than the verification.
	path := filepath.Join(f.TempDir(), fileName(1))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, verr := Verify([]string{path}, VerifyOptions{HeadFile: NoHeadFile})
		fs, serr := scanForOpen(path)
		if serr == nil && (fs.goodEnd > fs.size || fs.size != int64(len(data))) {
			t.Fatalf("scanForOpen: good end %d, size %d, file %d bytes", fs.goodEnd, fs.size, len(data))
		}
		if verr != nil {
			return
		}
		// An independent check of what Verify accepted.
		prev, n := ZeroHash, 0
		rest := data
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if !s.InFlight {
					t.Fatalf("Verify accepted an incomplete last line without reporting it in flight")
				}
				break
			}
			line := rest[:i]
			rest = rest[i+1:]
			n++
			if !selfHash(line) {
				t.Fatalf("Verify accepted line %d, whose hash does not match: %q", n, line)
			}
			p, lerr := checkLine(line)
			if lerr != nil {
				t.Fatalf("Verify accepted line %d, which checkLine refuses: %v", n, lerr)
			}
			if n == 1 && p.Kind != KindStart {
				t.Fatalf("Verify accepted a file that begins with kind %q", p.Kind)
			}
			if (n > 1 || p.Seq == 1) && p.Prev != prev {
				t.Fatalf("Verify accepted line %d whose prev does not link", n)
			}
			prev = p.Hash
		}
		if n != s.Records || n == 0 || s.LastHash != prev {
			t.Fatalf("Verify: %d records, last hash %s; the file has %d lines ending in %s", s.Records, s.LastHash, n, prev)
		}
		if serr != nil {
			t.Fatalf("Verify accepts the file but the recovery scan refuses it: %v", serr)
		}
		if fs.lines != n || fs.hash != prev || fs.seq != s.LastSeq {
			t.Fatalf("recovery scan: %d lines ending at seq %d %s; Verify: %d records ending at seq %d %s",
				fs.lines, fs.seq, fs.hash, n, s.LastSeq, prev)
		}
	})
}
