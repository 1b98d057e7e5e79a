package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// testKey is a fixed checkpoint key for tests.
var testKey = ed25519.NewKeyFromSeed([]byte("weightgate-audit-test-key-seed-0"))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// decisionRecord is a record shaped like the gateway's decision records.
type decisionRecord struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Subject   string `json:"subject"`
	Model     string `json:"model"`
	Decision  string `json:"decision"`
	Status    int    `json:"status"`
	N         int    `json:"n"`
}

func decision(n int) decisionRecord {
	return decisionRecord{Type: "decision", RequestID: "req", Subject: "bob", Model: "open-lab/tiny-open",
		Decision: "allow", Status: 200, N: n}
}

// MustOpen opens a log with a discarded logger unless cfg has one, and
// closes it at cleanup if the test did not.
func MustOpen(tb testing.TB, cfg Config) *Log {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discardLogger
	}
	l, err := Open(cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			tb.Errorf("Close: %v", err)
		}
	})
	return l
}

// MustAppend appends decision records first..last.
func MustAppend(tb testing.TB, l *Log, first, last int) {
	tb.Helper()
	for i := first; i <= last; i++ {
		if err := l.Append(context.Background(), "decision", decision(i)); err != nil {
			tb.Fatalf("Append %d: %v", i, err)
		}
	}
}

func MustClose(tb testing.TB, l *Log) {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

func MustFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	fs, err := Files(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

func MustVerify(tb testing.TB, dir string, opts VerifyOptions) Summary {
	tb.Helper()
	s, err := Verify(MustFiles(tb, dir), opts)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return s
}

// MustEntries returns every entry of the log in dir.
func MustEntries(tb testing.TB, dir string) []Entry {
	tb.Helper()
	var es []Entry
	err := Scan(MustFiles(tb, dir), func(e Entry) error {
		e.Record = append(json.RawMessage(nil), e.Record...)
		es = append(es, e)
		return nil
	})
	if err != nil {
		tb.Fatalf("Scan: %v", err)
	}
	return es
}

// readLines returns the lines of a file without their '\n'; the file must
// end in '\n'.
func readLines(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	if s == "" {
		return nil
	}
	if !strings.HasSuffix(s, "\n") {
		tb.Fatalf("%s does not end in a newline", path)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func writeLines(tb testing.TB, path string, lines []string) {
	tb.Helper()
	s := strings.Join(lines, "\n")
	if len(lines) > 0 {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o640); err != nil {
		tb.Fatal(err)
	}
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
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

// lineHash returns the hash field of a line.
func lineHash(line string) string { return line[len(line)-66 : len(line)-2] }

// lineBody returns the hashed body of a line.
func lineBody(line string) string { return line[:len(line)-suffixLen] + "}" }

// rehash recomputes the hash of a line whose body was edited.
func rehash(line string) string {
	body := lineBody(line)
	sum := sha256.Sum256([]byte(body))
	return body[:len(body)-1] + `,"hash":"` + hex.EncodeToString(sum[:]) + `"}`
}

// setPrev replaces the prev field of a line (without rehashing).
func setPrev(line, prev string) string {
	i := strings.Index(line, `"prev":"`) + len(`"prev":"`)
	return line[:i] + prev + line[i+64:]
}

// forgeChain rewrites lines[from:] of the files in order as a forger who
// knows the format would: every prev and hash recomputed from lines[from]
// on, continuing into later files. With fixCheckpoints, checkpoint records'
// head_hash fields are rewritten too (their signatures cannot be).
func forgeChain(tb testing.TB, files []string, fileIdx, from int, fixCheckpoints bool) {
	tb.Helper()
	prev := ""
	for fi := fileIdx; fi < len(files); fi++ {
		lines := readLines(tb, files[fi])
		start := 0
		if fi == fileIdx {
			start = from
			if from > 0 {
				prev = lineHash(lines[from-1])
			}
		}
		for i := start; i < len(lines); i++ {
			line := lines[i]
			if prev != "" {
				oldPrev := line[strings.Index(line, `"prev":"`)+8:][:64]
				line = setPrev(line, prev)
				if fixCheckpoints && strings.Contains(line, `"kind":"checkpoint"`) {
					line = strings.Replace(line, `"head_hash":"`+oldPrev, `"head_hash":"`+prev, 1)
				}
			}
			line = rehash(line)
			lines[i] = line
			prev = lineHash(line)
		}
		writeLines(tb, files[fi], lines)
	}
	// A forger also rewrites the head file to match.
	dir := filepath.Dir(files[0])
	if h, err := readHead(filepath.Join(dir, HeadFileName)); err == nil && h != nil {
		h.Hash = prev
		b, _ := json.Marshal(h)
		if err := os.WriteFile(filepath.Join(dir, HeadFileName), b, 0o640); err != nil {
			tb.Fatal(err)
		}
	}
}

// wantVerifyError checks that err is a *VerifyError at file:line whose
// reason contains want.
func wantVerifyError(tb testing.TB, err error, file string, line int, want string) {
	tb.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		tb.Fatalf("got error %v, want a *VerifyError containing %q", err, want)
	}
	if got := filepath.Base(ve.File); got != file {
		tb.Errorf("file: got %s, want %s (%v)", got, file, err)
	}
	if line > 0 && ve.Line != line {
		tb.Errorf("line: got %d, want %d (%v)", ve.Line, line, err)
	}
	if !strings.Contains(ve.Reason, want) {
		tb.Errorf("reason: got %q, want it to contain %q", ve.Reason, want)
	}
}

// MustKey returns the public key derived from a 32-byte seed.
func MustKey(tb testing.TB, seed string) ed25519.PublicKey {
	tb.Helper()
	if len(seed) != ed25519.SeedSize {
		tb.Fatalf("seed must be %d bytes", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed([]byte(seed)).Public().(ed25519.PublicKey)
}
