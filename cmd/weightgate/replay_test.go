package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/policy"
)

// frozenBundle writes a proposed bundle that denies everything with code
// "frozen", and returns its directory.
func frozenBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"policy.rego": `package weightgate

decision := {"allow": false, "code": "frozen", "reason": "all downloads are frozen", "basis": "test bundle"}
`,
		"bundle.json": `{"weightgate": {"bundle": {"name": "frozen", "version": "0.0.1"}}}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// unpolicedTrail writes an audit file of decision records shaped like the
// gateway's for requests the policy never saw: one without an input, one
// refused before the policy was asked.
func unpolicedTrail(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := audit.Open(audit.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	recs := []*audit.Record{
		{Type: audit.RecordDecision, Time: now, RequestID: "r-info", API: "model_info", Decision: "deny", Status: 401, Code: "unauthenticated"},
		{Type: audit.RecordDecision, Time: now, RequestID: "r-404", API: "resolve", Decision: "deny", Status: 404, Code: "repo_not_found",
			Input: &policy.Input{Model: policy.Model{ID: "nobody/nothing"}, Request: policy.Request{Method: "GET", API: "resolve", Time: now.Format(time.RFC3339)}}},
	}
	for _, r := range recs {
		if err := l.Append(context.Background(), r.Type, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := audit.Files(dir)
	if err != nil || len(files) != 1 {
		t.Fatalf("audit files %q: %v", files, err)
	}
	return files[0]
}

// replaySummaryOf runs replay --format json and returns the change lines and
// the summary.
func replayJSON(t *testing.T, args ...string) ([]replayChange, replaySummary) {
	t.Helper()
	out, stderr, code := runMain(t, append([]string{"replay", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("replay %q: exit %d: %s%s", args, code, out, stderr)
	}
	var changes []replayChange
	var sum replaySummary
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var typ struct{ Type string }
		if err := json.Unmarshal([]byte(line), &typ); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch typ.Type {
		case "change":
			var c replayChange
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Fatal(err)
			}
			changes = append(changes, c)
		case "summary":
			if err := json.Unmarshal([]byte(line), &sum); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("line of type %q: %s", typ.Type, line)
		}
	}
	if sum.Type != "summary" {
		t.Fatalf("no summary line in:\n%s", out)
	}
	return changes, sum
}

// TestReplay replays a real trail, written by the gateway, under the policy
// that made it (nothing changes) and under proposed ones.
func TestReplay(t *testing.T) {
	dir, _ := servedTrail(t, "")
	extra := unpolicedTrail(t)

	// (a) The same policy: every decision stands.
	changes, sum := replayJSON(t, "--audit", dir, "--audit", extra, "--policy", "ai-diffusion-2025")
	if len(changes) != 0 || sum.Changed != 0 {
		t.Errorf("same policy: %d changes %+v, want none", sum.Changed, changes)
	}
	// servedTrail makes four policy decisions: frontier-x for US (allow)
	// and twice for CN (deny), and tiny-open anonymously.
	if sum.Reevaluated != 4 || sum.Unchanged != 4 || sum.Skipped != 2 || sum.Errors != 0 {
		t.Errorf("same policy: summary %+v, want 4 re-evaluated and unchanged, 2 skipped", sum)
	}
	wantSkips := map[string]int{"no policy input (api model_info)": 1, "refused before the policy was asked (code repo_not_found)": 1}
	for _, s := range sum.SkipReasons {
		if wantSkips[s.Reason] != s.Count {
			t.Errorf("skip %q x%d, want %v", s.Reason, s.Count, wantSkips)
		}
	}

	// (b) A bundle that denies everything: every decision changes.
	frozen := frozenBundle(t)
	changes, sum = replayJSON(t, "--audit", dir, "--policy", frozen)
	if sum.Reevaluated != 4 || sum.Changed != 4 || sum.Unchanged != 0 || sum.Skipped != 0 {
		t.Errorf("frozen: summary %+v, want 4 re-evaluated, all changed", sum)
	}
	wantTransitions := []replayTransition{
		{"country_of_concern", "frozen", 2},
		{"not_an_export", "frozen", 1},
		{"open_weights", "frozen", 1},
	}
	if got, want := jsonString(t, sum.Transitions), jsonString(t, wantTransitions); got != want {
		t.Errorf("frozen: transitions %s, want %s", got, want)
	}
	wantByCode := []replayCodeCount{
		{"country_of_concern", 2, 0},
		{"frozen", 0, 4},
		{"not_an_export", 1, 0},
		{"open_weights", 1, 0},
	}
	if got, want := jsonString(t, sum.ByCode), jsonString(t, wantByCode); got != want {
		t.Errorf("frozen: by code %s, want %s", got, want)
	}
	if len(sum.Policy) != 1 || sum.Policy[0].Name != "frozen" {
		t.Errorf("frozen: policy %+v", sum.Policy)
	}
	var us *replayChange
	for i, c := range changes {
		if c.Subject == "" || c.RequestID == "" || c.Model == "" || c.File == "" || c.Time.IsZero() || c.Source == "" {
			t.Errorf("change %+v lacks a field", c)
		}
		if c.Country == "US" {
			us = &changes[i]
		}
	}
	if us == nil || us.Subject != "user-US" || us.Model != "frontier-lab/frontier-x" || us.File != "model-00001-of-00002.safetensors" ||
		!us.Old.Allow || us.Old.Code != "not_an_export" || us.New.Allow || us.New.Code != "frozen" || us.New.Bundle != "frozen" {
		t.Errorf("US change = %+v", us)
	}

	// (c) The default bundle with an extension: only the closed-weight
	// allow to a requester without a listed entity changes.
	ext, err := filepath.Abs(repoPath("rego/examples/employees_only"))
	if err != nil {
		t.Fatal(err)
	}
	changes, sum = replayJSON(t, dir, "--policy", "ai-diffusion-2025", "--extension", ext)
	found := false
	for _, c := range changes {
		if c.Country == "US" && c.Old.Code == "not_an_export" && c.New.Code == "employees_only" && !c.New.Allow {
			found = true
		}
		if c.Old.Code == "open_weights" {
			t.Errorf("the extension changed an open-weights decision: %+v", c)
		}
	}
	if !found {
		t.Errorf("extension: no US not_an_export -> employees_only change in %+v", changes)
	}

	// The text form: a CHANGED line per change, then the counts.
	out, stderr, code := runMain(t, "replay", "--audit", dir, "--policy", frozen)
	if code != 0 {
		t.Fatalf("text: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"policy frozen 0.0.1",
		"subject=user-US (US) model=frontier-lab/frontier-x file=model-00001-of-00002.safetensors: allow not_an_export -> deny frozen",
		"re-evaluated 4, unchanged 0, changed 4, skipped 0",
		"country_of_concern  frozen  2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Count(out, "\nCHANGED "); got != 4 {
		t.Errorf("text output has %d CHANGED lines, want 4:\n%s", got, out)
	}
}

// TestReplayAt: a bundle that takes effect after the recorded requests
// cannot decide them at their own time (exit 2, reported as changes to
// policy_error), but can with --at.
func TestReplayAt(t *testing.T) {
	dir, _ := servedTrail(t, "")
	future := frozenBundle(t)
	if err := os.WriteFile(filepath.Join(future, "bundle.json"),
		[]byte(`{"weightgate": {"bundle": {"name": "frozen", "version": "0.0.2", "effective_date": "2999-01-01"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runMain(t, "replay", "--audit", dir, "--policy", future)
	if code != 2 || !strings.Contains(out, "-> deny policy_error (evaluation failed: ") || !strings.Contains(out, "evaluation errors 4") {
		t.Errorf("before the effective date: exit %d, want 2 with policy_error changes:\n%s%s", code, out, stderr)
	}
	changes, sum := replayJSON(t, "--audit", dir, "--policy", future, "--at", "2999-06-01T00:00:00Z")
	if sum.Changed != 4 || sum.At != "2999-06-01T00:00:00Z" || len(changes) != 4 || changes[0].New.Code != "frozen" {
		t.Errorf("--at: summary %+v changes %+v", sum, changes)
	}
}

func TestReplayErrors(t *testing.T) {
	dir, _ := servedTrail(t, "")
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "policy.rego"), []byte("package weightgate\nthis is not rego\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbled := filepath.Join(t.TempDir(), "audit-000001.jsonl")
	if err := os.WriteFile(garbled, []byte("not an audit line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"no audit":        {"replay", "--policy", "ai-diffusion-2025"},
		"no policy":       {"replay", "--audit", dir},
		"missing file":    {"replay", "--audit", filepath.Join(dir, "nope.jsonl"), "--policy", "ai-diffusion-2025"},
		"garbled file":    {"replay", "--audit", garbled, "--policy", "ai-diffusion-2025"},
		"unknown bundle":  {"replay", "--audit", dir, "--policy", "no-such-bundle"},
		"broken bundle":   {"replay", "--audit", dir, "--policy", broken},
		"bad format":      {"replay", "--audit", dir, "--policy", "ai-diffusion-2025", "--format", "xml"},
		"bad --at":        {"replay", "--audit", dir, "--policy", "ai-diffusion-2025", "--at", "yesterday"},
		"empty directory": {"replay", "--audit", t.TempDir(), "--policy", "ai-diffusion-2025"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, code := runMain(t, args...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplaySetting: an operator setting changes what the proposed policy
// decides on recorded traffic. The recorded requests came from loopback, an
// address of unknown country, so denying unknown addresses refuses the one
// closed-weights allow.
func TestReplaySetting(t *testing.T) {
	dir, _ := servedTrail(t, "")
	changes, sum := replayJSON(t, "--audit", dir, "--policy", "ai-diffusion-2025", "--setting", "location_unknown=deny")
	if sum.Changed != 1 || len(changes) != 1 || changes[0].Old.Code != "not_an_export" || changes[0].New.Code != "location_unknown" {
		t.Errorf("location_unknown=deny: summary %+v, changes %+v; want the US allow to become location_unknown", sum, changes)
	}
	if err := runErr(t, "replay", "--audit", dir, "--policy", "ai-diffusion-2025", "--setting", "location_unknown"); exitCode(err) != 2 || !strings.Contains(err.Error(), "NAME=VALUE") {
		t.Errorf("a malformed --setting: %v (exit %d); want exit 2 naming the form", err, exitCode(err))
	}
}
