package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// events is a go test -json run: a package without tests, a pass, a skipped
// subtest, a skipped test, a failure and a test that never ended.
const events = `{"Action":"start","Package":"example.com/m/empty"}
{"Action":"skip","Package":"example.com/m/empty"}
{"Action":"run","Package":"example.com/m/a","Test":"TestOK"}
{"Action":"pass","Package":"example.com/m/a","Test":"TestOK"}
{"Action":"run","Package":"example.com/m/a","Test":"TestTable"}
{"Action":"run","Package":"example.com/m/a","Test":"TestTable/root"}
{"Action":"output","Package":"example.com/m/a","Test":"TestTable/root","Output":"=== RUN   TestTable/root\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestTable/root","Output":"    a_test.go:9: mounting a tmpfs needs root\n"}
{"Action":"output","Package":"example.com/m/a","Test":"TestTable/root","Output":"--- SKIP: TestTable/root (0.00s)\n"}
{"Action":"skip","Package":"example.com/m/a","Test":"TestTable/root"}
{"Action":"pass","Package":"example.com/m/a","Test":"TestTable"}
{"Action":"output","Package":"example.com/m/b","Test":"TestSoak","Output":"    b_test.go:3: WEIGHTGATE_SOAK=1 runs the soak\n"}
{"Action":"skip","Package":"example.com/m/b","Test":"TestSoak"}
not json: a build error
{"Action":"fail","Package":"example.com/m/b","Test":"TestBad"}
{"Action":"run","Package":"example.com/m/b","Test":"TestPanics"}
{"Action":"fail","Package":"example.com/m/b"}
`

func TestReadEvents(t *testing.T) {
	res, err := readEvents(strings.NewReader(events))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.tests, 6; got != want {
		t.Errorf("tests: got %d, want %d", got, want)
	}
	want := []skip{
		{"example.com/m/a", "TestTable/root", "a_test.go:9: mounting a tmpfs needs root"},
		{"example.com/m/b", "TestSoak", "b_test.go:3: WEIGHTGATE_SOAK=1 runs the soak"},
	}
	if got := res.skips; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("skips: got %+v, want %+v", got, want)
	}
	if _, err := readEvents(strings.NewReader("FAIL\n")); err == nil {
		t.Error("a file without events passed")
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	eventsFile := filepath.Join(dir, "test.json")
	if err := os.WriteFile(eventsFile, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	const expected = `# comment
example.com/m/b  ^TestSoak$        always   runs separately
example.com/m/a  ^TestTable/root$  nonroot  needs root
`
	expectedFile := filepath.Join(dir, "expected.txt")
	if err := os.WriteFile(expectedFile, []byte(expected), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, when, wantOut, wantErr string
	}{
		{name: "all expected", when: "nonroot", wantOut: "test.sh: 6 tests, 2 skipped (all expected)\n"},
		{name: "root skip not expected", when: "short", wantErr: "1 of them not expected:\n  example.com/m/a TestTable/root: a_test.go:9: mounting a tmpfs needs root\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run([]string{"-expected", expectedFile, "-when", tt.when, "-name", "test.sh", eventsFile}, &stdout, &stderr)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if tt.wantErr != "" && !errors.Is(err, errUnexpected) {
				t.Fatalf("run: got %v, want the unexpected skips reported", err)
			}
			if got := stdout.String(); got != tt.wantOut {
				t.Errorf("stdout: got %q, want %q", got, tt.wantOut)
			}
			if got := stderr.String(); !strings.Contains(got, tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", got, tt.wantErr)
			}
		})
	}
}

// TestExpectedFile parses the repository's list.
func TestExpectedFile(t *testing.T) {
	b, err := os.ReadFile("expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := parseExpected(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("expected.txt lists no skips")
	}
	for _, bad := range []string{"pkg ^T$ always", "pkg ^T$ sometimes reason", "pkg ( always reason"} {
		if _, err := parseExpected([]byte(bad)); err == nil {
			t.Errorf("parseExpected(%q) passed", bad)
		}
	}
}
