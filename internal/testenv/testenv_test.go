package testenv

import (
	"strings"
	"testing"
)

func callSkip(t *testing.T) (skipped, failed string) {
	return Outcome(t, func(tb testing.TB) {
		Skip(tb, Clients, "%s is not on PATH", "rclone")
		t.Fatal("Skip returned")
	})
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
			skipped, failed := callSkip(t)
			if got, want := skipped != "", tt.skipped; got != want {
				t.Errorf("skipped: got %v (%q), want %v", got, skipped, want)
			}
			if got, want := failed != "", tt.failed; got != want {
				t.Errorf("failed: got %v (%q), want %v", got, failed, want)
			}
			if msg := skipped + failed; !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantInMsg)
			}
		})
	}
}
