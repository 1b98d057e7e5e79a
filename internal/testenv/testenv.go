// Package testenv decides what a test does when the machine lacks something
// it needs (root, a third-party program): on a developer's machine it skips,
// but where scripts/test.sh has promised the thing is there (and so in CI) it
// fails, so that a skip never hides a failure.
//
// The promise is an environment variable per kind of need,
// WEIGHTGATE_TEST_<WHAT>_REQUIRED=1; scripts/test.sh documents which it sets.
// The S3 server's settings are read by internal/s3test, through Skip.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Kinds of need, the <WHAT> of WEIGHTGATE_TEST_<WHAT>_REQUIRED.
const (
	// Root: tests that mount a tmpfs to fill a real device.
	Root = "ROOT"
	// Clients: third-party programs driven by end-to-end tests (rclone,
	// s3cmd, node with scripts/hfclient's packages, the tools docs/clients.md runs).
	Clients = "CLIENTS"
	// S3: the shared S3 test server (WEIGHTGATE_TEST_S3_*).
	S3 = "S3"
)

// Var returns the name of the variable that makes a missing what a failure.
func Var(what string) string { return "WEIGHTGATE_TEST_" + what + "_REQUIRED" }

// Required reports whether a missing what must fail the test.
func Required(what string) bool { return os.Getenv(Var(what)) == "1" }

// Skip skips tb with the formatted reason, or fails it when
// WEIGHTGATE_TEST_<what>_REQUIRED=1. It does not return either way.
func Skip(tb testing.TB, what, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required(what) {
		tb.Fatalf("%s, but %s=1: this test must run here", msg, Var(what))
	}
	tb.Skipf("%s (%s=1 makes this a failure)", msg, Var(what))
}

// RequireRoot returns if the test runs as root, and otherwise skips it, or
// fails it under WEIGHTGATE_TEST_ROOT_REQUIRED=1. why says what needs root.
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, Root, "%s needs root", why)
	}
}

// Outcome runs f with a testing.TB that records a Skip or Fatal instead of
// acting on it, and stops f there as the real one would; it returns what was
// recorded. Tests of Skip's callers use it to see which way a need went.
func Outcome(tb testing.TB, f func(testing.TB)) (skipped, failed string) {
	tb.Helper()
	r := &recordingTB{TB: tb}
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(stopTB); !ok {
					panic(p)
				}
			}
		}()
		f(r)
	}()
	return r.skipped, r.failed
}

// recordingTB records Skipf/Fatalf instead of acting on them, and stops the
// caller like they would.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

type stopTB struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	panic(stopTB{})
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stopTB{})
}
