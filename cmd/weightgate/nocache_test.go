package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/weightgate/weightgate/policy/opa"
)

// TestWhatIfNoDecisionCache: check, matrix (whatIfComponents) and replay
// (replayEngine) decide every input with the policy itself, never from the
// decision cache, though the configuration leaves the gateway's cache on:
// a what-if answer remembered for another input would be no answer at all.
func TestWhatIfNoDecisionCache(t *testing.T) {
	ctx := context.Background()
	path := writeConfig(t) // policy.decision_cache: the default, 10,000
	cfg, err := ReadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	served, err := build(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	if !served.engine.RemembersDecisions() {
		t.Fatal("serve's engine remembers no decision under this configuration: the test proves nothing")
	}

	m := &Main{Stdout: io.Discard, Stderr: io.Discard}
	c, _, err := m.whatIfComponents(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.engine.RemembersDecisions() {
		t.Error("check and matrix decide with a decision cache")
	}

	e, err := replayEngine(ctx, opa.Options{Bundle: "ai-diffusion-2025", DecisionCache: 100})
	if err != nil {
		t.Fatal(err)
	}
	if e.RemembersDecisions() {
		t.Error("replay decides with a decision cache")
	}
}
