package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
)

// policyBench compares a decision by the embedded engine (a prepared query,
// in process) with the same decision asked of OPA's own server over HTTP,
// the sidecar deployment the embedding replaces.
type policyBench struct {
	engine *opa.Engine
	opaURL string // http://127.0.0.1:port/v1/data/weightgate/decision
	hc     *http.Client
}

// opaDecision is the part of OPA's answer compared with the engine's.
type opaDecision struct {
	Allow  bool   `json:"allow"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Basis  string `json:"basis"`
}

// startPolicyBench compiles the default bundle with the test registry,
// exports it (opa.Engine.Export) and starts `opa run --server` on it.
func startPolicyBench(ctx context.Context, ps *procs, t *tools, work, repo string) (*policyBench, *proc, error) {
	// DecisionCache -1: every call evaluates, as OPA's server does; the
	// gateway's decision cache (which answers a repeated request from
	// memory) is measured by BenchmarkDecide/remembered instead.
	engine, err := opa.New(ctx, opa.Options{Registry: filepath.Join(repo, "testdata", "registry"), DecisionCache: -1})
	if err != nil {
		return nil, nil, fmt.Errorf("policy engine: %w", err)
	}
	exportDir := filepath.Join(work, "opa", "export")
	if err := os.MkdirAll(filepath.Dir(exportDir), 0o755); err != nil {
		return nil, nil, err
	}
	if err := engine.Export(exportDir, time.Now()); err != nil {
		return nil, nil, err
	}
	p, port, err := startOnFreePort(ctx, "opa", func(port int) (*proc, error) {
		p, err := ps.start("opa", filepath.Join(work, "opa", "opa.log"), nil, t.opa,
			"run", "--server", "--addr", hostPort(port), "--log-level", "error", "--skip-version-check", exportDir)
		if err != nil {
			return nil, err
		}
		return p, ps.readyOrInUse(ctx, p, "http://"+hostPort(port)+"/health", 60*time.Second)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("opa server: %w", err)
	}
	pb := &policyBench{engine: engine, opaURL: "http://" + hostPort(port) + "/v1/data/weightgate/decision", hc: newClient(1)}
	return pb, p, nil
}

// policyInputs are requests as the gateway builds them for the bench
// model: the allow every download of the benchmark gets (License Exception
// AIA, the longest path through the table), a country-of-concern denial,
// and open weights (the shortest).
func policyInputs(now time.Time) map[string]policy.Input {
	allow := policy.Input{
		Subject: policy.Subject{
			ID: "bench-requester", Country: "US",
			Entity: policy.Entity{Name: "Bench Lab", ID: "bench-lab", HQ: "US", ParentHQ: "US"},
			Claims: map[string]any{"sub": "bench-requester", "country": "US", "entity": "Bench Lab",
				"entity_id": "bench-lab", "entity_hq": "US", "parent_hq": "US", "iss": "weightgate-dev", "aud": "weightgate"},
			Screening: policy.Screening{Status: policy.ScreeningClear},
		},
		Model: policy.Model{ID: benchModel, Classified: true, Weights: "closed", TrainingComputeFLOP: 3e26, ECCN: "4E091",
			Revision: "5d41402abc4b2a76b9719d911017c592ae2b1c3f"},
		Object: policy.Object{Path: "model-00001-of-00016.safetensors", Kind: policy.KindWeights, Size: 256 << 20},
		Request: policy.Request{Method: "GET", API: "resolve", RemoteAddr: "127.0.0.1:50000", Time: now.UTC().Format(time.RFC3339),
			ClientIP: "127.0.0.1", ClientIPVia: "peer"},
		Frontier: policy.Frontier{Source: policy.FrontierNone},
	}
	concern := allow
	concern.Subject.Country, concern.Subject.Entity.HQ, concern.Subject.Entity.ParentHQ = "CN", "CN", "CN"
	open := allow
	open.Model.Weights, open.Model.ECCN, open.Model.TrainingComputeFLOP = "open", "", 1e24
	return map[string]policy.Input{"allow": allow, "concern": concern, "open": open}
}

// askOPA posts one input to OPA's data API, as a sidecar client would:
// marshalling the input is part of the call.
func (pb *policyBench) askOPA(ctx context.Context, in policy.Input) (opaDecision, error) {
	body, err := json.Marshal(struct {
		Input policy.Input `json:"input"`
	}{in})
	if err != nil {
		return opaDecision{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pb.opaURL, bytes.NewReader(body))
	if err != nil {
		return opaDecision{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := pb.hc.Do(req)
	if err != nil {
		return opaDecision{}, fmt.Errorf("opa: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return opaDecision{}, fmt.Errorf("opa: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return opaDecision{}, fmt.Errorf("opa: status %s: %s", resp.Status, raw)
	}
	var out struct {
		Result *opaDecision `json:"result"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return opaDecision{}, fmt.Errorf("opa: %w: %s", err, raw)
	}
	if out.Result == nil {
		return opaDecision{}, fmt.Errorf("opa: %s is undefined: %s", opa.Query, raw)
	}
	return *out.Result, nil
}

// checkAgreement asks both for every input and fails unless OPA's server
// decides exactly what the engine decides: comparing the speed of two
// different answers would be meaningless.
func (pb *policyBench) checkAgreement(ctx context.Context, inputs map[string]policy.Input) ([]string, error) {
	var lines []string
	for _, name := range []string{"allow", "concern", "open"} {
		in := inputs[name]
		want, err := pb.engine.Decide(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("engine, %s input: %w", name, err)
		}
		got, err := pb.askOPA(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("%s input: %w", name, err)
		}
		if got.Allow != want.Allow || got.Code != want.Code || got.Reason != want.Reason || got.Basis != want.Basis {
			return nil, fmt.Errorf("decision mismatch for the %s input: OPA's server decided %+v, the embedded engine %+v", name, got, want)
		}
		lines = append(lines, fmt.Sprintf("%s: allow=%v code=%s (both)", name, want.Allow, want.Code))
	}
	slog.Info("OPA's server and the embedded engine agree", "inputs", len(inputs))
	return lines, nil
}

// embeddedLatencies times n sequential Engine.Decide calls, in microseconds.
func (pb *policyBench) embeddedLatencies(ctx context.Context, in policy.Input, want string, n int) ([]float64, error) {
	out := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		d, err := pb.engine.Decide(ctx, in)
		el := time.Since(t0)
		if err != nil || d.Code != want {
			return nil, fmt.Errorf("embedded decision: %+v, %v; want code %s", d, err, want)
		}
		out = append(out, float64(el.Nanoseconds())/1e3)
	}
	return out, nil
}

// opaLatencies times n sequential decisions by OPA's server, in microseconds.
func (pb *policyBench) opaLatencies(ctx context.Context, in policy.Input, want string, n int) ([]float64, error) {
	out := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		d, err := pb.askOPA(ctx, in)
		el := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if d.Code != want {
			return nil, fmt.Errorf("OPA server decided %+v, want code %s", d, want)
		}
		out = append(out, float64(el.Nanoseconds())/1e3)
	}
	return out, nil
}
