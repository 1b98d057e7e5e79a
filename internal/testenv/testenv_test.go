package testenv

import (
	"fmt"
	"strings"
	"testing"
)

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

func callSkip(t *testing.T) *recordingTB {
	r := &recordingTB{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(stopTB); !ok {
					panic(p)
				}
			}
		}()
		Skip(r, Clients, "%s is not on PATH", "rclone")
		t.Fatal("Skip returned")
	}()
	return r
}

func TestSkip(t *testing.T) {
	for _, tt := range []struct {
		name, env       string
		skipped, failed bool
		wantInMsg       string
	}{
		{name: "unset", env: "", skipped: true, wantInMsg: "rclone is not on PATH (WEIGHTGATE_TEST_CLIENTS_REQUIRED=1 makes this a failure)"},
		{name: "not 1", env: "yes", skipped: true, wantInMsg: "rclone is not on PATH"},
		{name: "required", env: "1", failed: true, wantInMsg: "rclone is not on PATH, but WEIGHTGATE_TEST_CLIENTS_REQUIRED=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WEIGHTGATE_TEST_CLIENTS_REQUIRED", tt.env)
			r := callSkip(t)
			if got, want := r.skipped != "", tt.skipped; got != want {
				t.Errorf("skipped: got %v (%q), want %v", got, r.skipped, want)
			}
			if got, want := r.failed != "", tt.failed; got != want {
				t.Errorf("failed: got %v (%q), want %v", got, r.failed, want)
			}
			if msg := r.skipped + r.failed; !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantInMsg)
			}
		})
	}
}
