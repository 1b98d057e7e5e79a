package config_test

import (
	"errors"
	"testing"

	"github.com/weightgate/weightgate/config"
)

func TestProblems(t *testing.T) {
	t.Parallel()
	var p config.Problems
	if err := p.Err("invalid configuration"); err != nil {
		t.Fatalf("no problems: Err = %v, want nil", err)
	}
	errTooSmall := errors.New("must be at least 1")
	p.Add("audit.max_batch", 0, errTooSmall)
	p.Addf("log.format", "xml", "must be text or json")
	err := p.Err("invalid configuration")
	want := "invalid configuration:\n  - audit.max_batch: must be at least 1 (got \"0\")\n  - log.format: must be text or json (got \"xml\")"
	if err == nil || err.Error() != want {
		t.Fatalf("Err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, errTooSmall) {
		t.Error("errors.Is does not reach a problem's error")
	}
	var e *config.Error
	if !errors.As(err, &e) || e.Field != "audit.max_batch" {
		t.Errorf("errors.As found %+v, want the first problem", e)
	}
}
