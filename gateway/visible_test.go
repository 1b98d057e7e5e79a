package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/policy"
)

// decideFunc is a gateway.Decider that answers with a function.
type decideFunc func(in policy.Input) (policy.Decision, error)

func (f decideFunc) Decide(_ context.Context, in policy.Input) (policy.Decision, error) { return f(in) }
func (f decideFunc) Bundle() (name, revision string)                                    { return "test", "rev" }

var _ gateway.Decider = decideFunc(nil)

// TestVisibility: the gateway shows a model that is not open only when the
// decision allows or says visible; a decision without visible hides (fail
// closed); an open model is never hidden; a policy that cannot decide is a
// 500 on the model's own endpoints and leaves the model out of a listing.
// Every other model is allowed.
func TestVisibility(t *testing.T) {
	t.Parallel()
	const closed, open = "frontier-lab/frontier-x", "open-lab/tiny-open"
	deny := func(visible bool) decideFunc {
		return func(in policy.Input) (policy.Decision, error) {
			if in.Model.ID == closed || in.Model.ID == open {
				return policy.Decision{Code: "test_denied", Reason: "no", Visible: visible}, nil
			}
			return policy.Decision{Allow: true, Code: "ok"}, nil
		}
	}
	tests := []struct {
		name   string
		policy decideFunc
		model  string
		info   int    // status of the model info
		file   int    // status of a download of a weights file
		code   string // the download's body code
		listed bool   // the catalog lists the model
	}{
		{"visible denial", deny(true), closed, 200, 403, "test_denied", true},
		{"hidden denial", deny(false), closed, 404, 404, "repo_not_found", false},
		{"allow without visible", func(policy.Input) (policy.Decision, error) {
			return policy.Decision{Allow: true, Code: "ok"}, nil
		}, closed, 200, 200, "", true},
		{"open model, hidden denial", deny(false), open, 200, 403, "test_denied", true},
		{"policy error", func(in policy.Input) (policy.Decision, error) {
			if in.Model.ID == closed {
				return policy.Decision{Code: policy.CodePolicyError}, errors.New("broken")
			}
			return policy.Decision{Allow: true, Code: "ok"}, nil
		}, closed, 500, 500, policy.CodePolicyError, false},
	}
	h := map[string]*gatewaytest.Harness{}
	for _, tt := range tests {
		h[tt.name] = gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{Policy: tt.policy})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h[tt.name]
			tok := h.Token(t, gatewaytest.Claims("US"))
			resp, body := h.Do(t, http.MethodGet, "/api/models/"+tt.model, tok, nil)
			if resp.StatusCode != tt.info {
				t.Errorf("model info: %d %s, want %d", resp.StatusCode, body, tt.info)
			}
			file := "/" + tt.model + "/resolve/main/model.safetensors"
			if tt.model == closed {
				file = gatewaytest.Frontier + gatewaytest.Shard1
			}
			resp, body = h.Do(t, http.MethodGet, file, tok, nil)
			if resp.StatusCode != tt.file {
				t.Errorf("download: %d, want %d", resp.StatusCode, tt.file)
			}
			if tt.code != "" {
				if got := gatewaytest.DecodeError(t, body).Code; got != tt.code {
					t.Errorf("download code %q, want %q", got, tt.code)
				}
			}
			d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if hidden := tt.file == 404; len(d) != 1 || d[0].Hidden != hidden || (hidden && d[0].Code != "test_denied") {
				t.Errorf("download record %+v, want one, hidden %v with the policy's code", d, hidden)
			}
			_, body = h.Do(t, http.MethodGet, "/api/models", tok, nil)
			if got := strings.Contains(string(body), `"id":"`+tt.model+`"`); got != tt.listed {
				t.Errorf("catalog lists %s: %v, want %v", tt.model, got, tt.listed)
			}
			if _, body := h.Do(t, http.MethodGet, "/api/models", tok, nil); !strings.Contains(string(body), `"id":"frontier-lab/mini-x"`) {
				t.Errorf("catalog lacks the other models: %.300s", body)
			}
		})
	}
}
