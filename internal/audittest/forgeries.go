package audittest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A Forgery is what an insider with write access to the audit directory
// does to a trail written by Trail (12 downloads, four files: three sealed,
// the newest live) after it was anchored.
type Forgery struct {
	Name string
	// Key says whether the trail is written with the checkpoint key.
	Key bool
	// Forge forges the trail in dir and returns the first record that now
	// differs from what the anchor holds: its file (base name) and seq.
	Forge func(tb testing.TB, dir string) (file string, seq uint64)
	// Reason is part of the failure verification must report.
	Reason string
	// OldVerifyPasses: verification without an anchor (with the key when
	// Key) passes the forgery.
	OldVerifyPasses bool
}

// index returns the position of the n-th line (0-based) of kind in file.
func index(tb testing.TB, lines []Line, file, kind string, n int) int {
	tb.Helper()
	for i, l := range lines {
		if l.File == file && (kind == "" || l.Kind() == kind) {
			if n == 0 {
				return i
			}
			n--
		}
	}
	tb.Fatalf("no %s line in %s", kind, file)
	return -1
}

// Forgeries are the insider's forgeries that anchoring must catch.
func Forgeries() []Forgery {
	return []Forgery{
		{
			Name: "delete a download, drop later checkpoints, renumber, re-chain, rewrite head", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				i := index(tb, lines, "audit-000002.jsonl", "decision", 0)
				at := lines[i]
				Rechain(tb, dir, nil, func(ls []Line) []Line {
					var out []Line
					for j, l := range ls {
						if j == i || j == i+1 || (j > i && l.Kind() == "checkpoint") {
							continue
						}
						out = append(out, l)
					}
					return out
				})
				return at.File, at.Seq()
			},
			Reason: "differs from the sealed copy", OldVerifyPasses: true,
		},
		{
			Name: "rename a requester and zero a transfer's bytes, re-chain, re-sign", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				i := index(tb, lines, "audit-000003.jsonl", "transfer", 0)
				at := lines[i]
				Rechain(tb, dir, Key, func(ls []Line) []Line {
					r := ls[i].Record()
					r["subject"], r["bytes"] = "mallory", 0
					ls[i] = ls[i].WithRecord(r)
					return ls
				})
				return at.File, at.Seq()
			},
			Reason: "record fields bytes, subject", OldVerifyPasses: true,
		},
		{
			// In the live file only checkpoints are anchored: the first
			// checkpoint after the edit is the first record proven to
			// differ.
			Name: "rename a requester in the live file, re-chain, re-sign", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				i := index(tb, lines, "audit-000004.jsonl", "transfer", 0)
				Rechain(tb, dir, Key, func(ls []Line) []Line {
					r := ls[i].Record()
					r["subject"] = "mallory"
					ls[i] = ls[i].WithRecord(r)
					return ls
				})
				j := i + index(tb, lines[i:], "audit-000004.jsonl", "checkpoint", 0)
				return lines[j].File, lines[j].Seq()
			},
			Reason: "differs from the anchored checkpoint", OldVerifyPasses: true,
		},
		{
			Name: "no key: a whole file rewritten",
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				first := index(tb, lines, "audit-000002.jsonl", "decision", 0)
				Rechain(tb, dir, nil, func(ls []Line) []Line {
					for j, l := range ls {
						if l.File == "audit-000002.jsonl" && l.Kind() == "decision" {
							r := l.Record()
							r["decision"], r["status"] = "deny", 403
							ls[j] = l.WithRecord(r)
						}
					}
					return ls
				})
				return lines[first].File, lines[first].Seq()
			},
			Reason: "record fields decision, status", OldVerifyPasses: true,
		},
		{
			Name: "cut the tail and delete audit.head", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				i := index(tb, lines, "audit-000004.jsonl", "transfer", 0)
				writeFile(tb, dir, "audit-000004.jsonl", lines[index(tb, lines, "audit-000004.jsonl", "", 0):i])
				if err := os.Remove(filepath.Join(dir, "audit.head")); err != nil {
					tb.Fatal(err)
				}
				return lines[i].File, lines[i].Seq()
			},
			Reason: "records deleted", OldVerifyPasses: true,
		},
		{
			Name: "replace the whole trail with a fresh chain", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				files, _ := filepath.Glob(filepath.Join(dir, "audit*"))
				for _, f := range files {
					os.Remove(f)
				}
				c := NewClock()
				c.Advance(time.Hour)
				Trail(tb, dir, Options{Key: Key, Downloads: 12, Clock: c})
				return "audit-000001.jsonl", 1
			},
			Reason: "differs from the sealed copy", OldVerifyPasses: true,
		},
		{
			Name: "delete the newest sealed file", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				if err := os.Remove(filepath.Join(dir, "audit-000003.jsonl")); err != nil {
					tb.Fatal(err)
				}
				return "audit-000003.jsonl", lines[index(tb, lines, "audit-000003.jsonl", "", 0)].Seq()
			},
			Reason: "sealed file deleted locally",
		},
		{
			Name: "delete the live file's checkpoints, re-chain", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				i := index(tb, lines, "audit-000004.jsonl", "checkpoint", 0)
				Rechain(tb, dir, nil, func(ls []Line) []Line {
					return slices.DeleteFunc(ls, func(l Line) bool { return l.File == "audit-000004.jsonl" && l.Kind() == "checkpoint" })
				})
				return lines[i].File, lines[i].Seq()
			},
			Reason: "differs from the anchored checkpoint", OldVerifyPasses: true,
		},
		{
			Name: "truncate a sealed file mid-line and re-chain", Key: true,
			Forge: func(tb testing.TB, dir string) (string, uint64) {
				lines := Lines(tb, dir)
				i := index(tb, lines, "audit-000002.jsonl", "", 4)
				Rechain(tb, dir, Key, func(ls []Line) []Line {
					// The torn line and the rest of the file are gone; the
					// later files are renumbered onto what is left.
					var out []Line
					for j, l := range ls {
						if l.File == "audit-000002.jsonl" && j >= i {
							continue
						}
						out = append(out, l)
					}
					return out
				})
				return lines[i].File, lines[i].Seq()
			},
			Reason: "missing: the local file ends at line 4", OldVerifyPasses: true,
		},
	}
}

func writeFile(tb testing.TB, dir, name string, lines []Line) {
	tb.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o640); err != nil {
		tb.Fatal(err)
	}
}
