// Command testskips reads the JSON events of a `go test -json` run (the
// file gotestsum writes with --jsonfile), counts the tests and the skips,
// and fails when a test skipped that is not in the expected list: in the
// run scripts/test.sh makes, a skip must not hide a failure.
//
//	go run ./scripts/testskips [-expected FILE] [-when short,nonroot] [-name test.sh] EVENTS.json
//
// The expected list has one skip a line, fields separated by blanks:
//
//	package  test  when  reason
//
// package is an import path; test is a regular expression matched against
// the full test name (subtests as Parent/sub); when says in which runs the
// skip is expected: "always", "short" (the run was given -short) or
// "nonroot" (not root and not CI: root-only tests skip); reason is the rest
// of the line. Blank lines and lines starting with # are ignored. An
// expected skip that does not happen (a -run filter, or a test that now
// runs) is fine.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUnexpected) {
			fmt.Fprintln(os.Stderr, "testskips:", err)
		}
		os.Exit(1)
	}
}

// errUnexpected is returned once the unexpected skips have been reported.
var errUnexpected = errors.New("unexpected skips")

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("testskips", flag.ContinueOnError)
	fs.SetOutput(stderr)
	expectedPath := fs.String("expected", "scripts/testskips/expected.txt", "the expected skips")
	when := fs.String("when", "", "comma-separated conditions of this run besides always: short, nonroot")
	name := fs.String("name", "testskips", "prefix of the lines printed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: testskips [flags] EVENTS.json")
	}
	conds := map[string]bool{"always": true}
	for c := range strings.SplitSeq(*when, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if !knownWhen[c] {
			return fmt.Errorf("-when: unknown condition %q", c)
		}
		conds[c] = true
	}
	exp, err := os.ReadFile(*expectedPath)
	if err != nil {
		return err
	}
	expected, err := parseExpected(exp)
	if err != nil {
		return fmt.Errorf("%s: %w", *expectedPath, err)
	}
	events, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer events.Close()
	res, err := readEvents(events)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	var unexpected []skip
	for _, s := range res.skips {
		if !slices.ContainsFunc(expected, func(e entry) bool { return conds[e.when] && e.matches(s) }) {
			unexpected = append(unexpected, s)
		}
	}
	if len(unexpected) == 0 {
		fmt.Fprintf(stdout, "%s: %d tests, %d skipped (all expected)\n", *name, res.tests, len(res.skips))
		return nil
	}
	fmt.Fprintf(stderr, "%s: %d tests, %d skipped, %d of them not expected:\n", *name, res.tests, len(res.skips), len(unexpected))
	for _, s := range unexpected {
		fmt.Fprintf(stderr, "  %s %s: %s\n", s.pkg, s.test, s.reason)
	}
	fmt.Fprintf(stderr, "%s: these tests must run here: provide what they need, or list them with the reason in %s\n", *name, *expectedPath)
	return errUnexpected
}

// knownWhen are the conditions an expected skip can name.
var knownWhen = map[string]bool{"always": true, "short": true, "nonroot": true}

// entry is a line of the expected list.
type entry struct {
	pkg    string
	test   *regexp.Regexp
	when   string
	reason string
}

func (e entry) matches(s skip) bool { return e.pkg == s.pkg && e.test.MatchString(s.test) }

func parseExpected(b []byte) ([]entry, error) {
	var out []entry
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d: want package, test, when and reason: %q", i+1, line)
		}
		re, err := regexp.Compile(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if !knownWhen[f[2]] {
			return nil, fmt.Errorf("line %d: unknown condition %q (always, short or nonroot)", i+1, f[2])
		}
		out = append(out, entry{pkg: f[0], test: re, when: f[2], reason: strings.Join(f[3:], " ")})
	}
	return out, nil
}

// event is the part of a test2json event this command reads.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skip is a skipped test and what it printed before skipping.
type skip struct{ pkg, test, reason string }

type result struct {
	tests int // tests and subtests that started, including any that never ended (a panic, a timeout)
	skips []skip
}

// readEvents counts the tests and collects the skipped ones. Package-level
// events (a package without test files reports a skip) are not tests. Lines
// that are not JSON events, such as build errors, are left to the run's own
// exit status.
func readEvents(r io.Reader) (result, error) {
	var res result
	output := map[[2]string][]string{}
	tests := map[[2]string]bool{}
	seen := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil {
			continue
		}
		seen = true
		if ev.Test == "" {
			continue
		}
		key := [2]string{ev.Package, ev.Test}
		tests[key] = true
		switch ev.Action {
		case "output":
			output[key] = append(output[key], ev.Output)
		case "pass", "fail":
			delete(output, key)
		case "skip":
			res.skips = append(res.skips, skip{pkg: ev.Package, test: ev.Test, reason: skipReason(output[key])})
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	res.tests = len(tests)
	if !seen {
		return res, errors.New("no go test -json events")
	}
	return res, nil
}

// skipReason is what a skipped test logged, without the framework's
// === RUN/PAUSE/CONT and --- SKIP lines.
func skipReason(lines []string) string {
	var msg []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		msg = append(msg, l)
	}
	if len(msg) == 0 {
		return "(no message)"
	}
	return strings.Join(msg, " | ")
}
