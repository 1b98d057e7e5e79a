package gateway

import (
	"errors"
	"math"
	"path"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weightgate/weightgate/gateway/httpsem"
)

// Fuzz targets of the gateway's parsers. scripts/test.sh runs each
// for a bounded time; a corpus entry that found a bug is kept under
// testdata/fuzz/<FuzzName>/.

// FuzzParseRange: a satisfiable range lies inside [0,size) with Length > 0;
// every error is a 416 *Error with one of the range codes; ok=false without
// an error only for an absent header or another unit; and a plain
// "bytes=a-b" gives exactly the bytes a..min(b,size-1).
func FuzzParseRange(f *testing.F) {
	for _, s := range []struct {
		h    string
		size int64
	}{
		{"bytes=0-9", 100}, {"bytes=10-", 100}, {"bytes=-10", 100}, {"bytes=-200", 100},
		{"bytes=0-0", 1}, {"bytes=99-99", 100}, {"bytes=100-", 100}, {"bytes=-0", 100},
		{"bytes=0-", 0}, {"bytes=-1", 0}, {"bytes=5-4", 100}, {"bytes=0-9,20-29", 100},
		{"bytes = 0 - 9 ", 100}, {"BYTES=0-9", 100}, {"items=0-9", 100}, {"bytes", 100},
		{"bytes=", 100}, {"bytes=-", 100}, {"bytes=+1-2", 100}, {"bytes=0x1-2", 100},
		{"bytes=9223372036854775807-", math.MaxInt64}, {"bytes=0-99999999999999999999", 100},
		{"bytes=-9223372036854775807", math.MaxInt64}, {"", 100},
	} {
		f.Add(s.h, s.size)
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1) // object sizes are never negative
		}
		r, ok, err := parseRange(header, size)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("parseRange(%q, %d): error %T %v, want *Error", header, size, err, err)
			}
			switch {
			case e.Status != 416:
				t.Fatalf("parseRange(%q, %d): status %d, want 416", header, size, e.Status)
			case e.Code != CodeInvalidRange && e.Code != CodeMultipleRanges && e.Code != CodeRangeNotSatisfiable:
				t.Fatalf("parseRange(%q, %d): code %q", header, size, e.Code)
			case ok || r != (httpsem.Range{}):
				t.Fatalf("parseRange(%q, %d): error with ok=%v range %+v", header, size, ok, r)
			}
			return
		}
		unit, spec, found := strings.Cut(header, "=")
		if !ok {
			if r != (httpsem.Range{}) {
				t.Fatalf("parseRange(%q, %d): not ok with range %+v", header, size, r)
			}
			if header != "" && (!found || strings.EqualFold(strings.TrimSpace(unit), "bytes")) {
				t.Fatalf("parseRange(%q, %d): a bytes range ignored without an error", header, size)
			}
			return
		}
		if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
			t.Fatalf("parseRange(%q, %d): unit %q accepted", header, size, unit)
		}
		if r.Start < 0 || r.Length <= 0 || r.Start >= size || r.Length > size-r.Start {
			t.Fatalf("parseRange(%q, %d) = %+v: outside [0,%d) or empty", header, size, r, size)
		}
		want := "bytes " + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.Start+r.Length-1, 10) + "/" + strconv.FormatInt(size, 10)
		if got := r.ContentRange(size); got != want {
			t.Fatalf("contentRange = %q, want %q", got, want)
		}
		// An independent reading of the plain forms.
		first, last, _ := strings.Cut(strings.TrimSpace(spec), "-")
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		a, errA := strconv.ParseUint(first, 10, 63)
		b, errB := strconv.ParseUint(last, 10, 63)
		switch {
		case first == "" && errB == nil: // suffix
			if n := min(int64(b), size); r.Start != size-n || r.Length != n {
				t.Fatalf("parseRange(%q, %d) = %+v, want the last %d bytes", header, size, r, n)
			}
		case errA == nil && last == "":
			if r.Start != int64(a) || r.Start+r.Length != size {
				t.Fatalf("parseRange(%q, %d) = %+v, want %d to the end", header, size, r, a)
			}
		case errA == nil && errB == nil:
			if r.Start != int64(a) || r.Start+r.Length-1 != min(int64(b), size-1) {
				t.Fatalf("parseRange(%q, %d) = %+v, want %d-%d", header, size, r, a, b)
			}
		}
	})
}

// FuzzCheckFilePath: an accepted path is non-empty, at most 1024 bytes,
// valid UTF-8, has no "\", NUL or control character, no empty, "." or ".."
// segment, is relative and already clean; and a path with none of those
// flaws is accepted. Every refusal is a 400 invalid_path *Error.
func FuzzCheckFilePath(f *testing.F) {
	for _, s := range []string{
		"config.json", "model-00001-of-00002.safetensors", "onnx/model.onnx", "a/b/c/d.bin",
		"", ".", "..", "../x", "a/../b", "a/./b", "a//b", "/abs", "trailing/", "a\\b", "a\x00b",
		"a\tb", "a\x7fb", "a..b/c...d", "...", "é/ü.bin", strings.Repeat("a", 1024), strings.Repeat("a", 1025),
		"\xff\xfe", "a/\u2028/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		e := checkFilePath(p)
		segs := strings.Split(p, "/")
		flawed := p == "" || len(p) > 1024 || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") ||
			strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f }) ||
			containsAny(segs, "", ".", "..")
		if e != nil {
			if e.Status != 400 || e.Code != CodeInvalidPath {
				t.Fatalf("checkFilePath(%q) = %d %s, want 400 %s", p, e.Status, e.Code, CodeInvalidPath)
			}
			if !flawed {
				t.Fatalf("checkFilePath(%q) refused a well-formed path: %v", p, e)
			}
			return
		}
		if flawed {
			t.Fatalf("checkFilePath(%q) accepted a flawed path", p)
		}
		if path.IsAbs(p) || path.Clean(p) != p || path.Clean(p) == ".." || strings.HasPrefix(path.Clean(p), "../") {
			t.Fatalf("checkFilePath(%q) accepted a path that is absolute or not clean (%q)", p, path.Clean(p))
		}
		// Below any prefix, the path stays below it.
		if j := path.Join("org/model", p); !strings.HasPrefix(j, "org/model/") {
			t.Fatalf("checkFilePath(%q) accepted a path that leaves its model: %q", p, j)
		}
	})
}

func containsAny(segs []string, bad ...string) bool {
	for _, s := range segs {
		for _, b := range bad {
			if s == b {
				return true
			}
		}
	}
	return false
}
