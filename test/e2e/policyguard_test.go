package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
)

// fakeDecider is a gateway.Decider whose methods are its fields.
type fakeDecider struct {
	DecideFn func(ctx context.Context, in policy.Input) (policy.Decision, error)
	BundleFn func() (name, revision string)
}

var _ gateway.Decider = (*fakeDecider)(nil)

func (f *fakeDecider) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	return f.DecideFn(ctx, in)
}

func (f *fakeDecider) Bundle() (name, revision string) { return f.BundleFn() }

// TestMalformedDecisionDenies: a decision that claims allow but is
// malformed (no code, the policy_error code) or comes with an evaluation
// error is a denial, on the Hub API and the S3 API, on both backends: 500
// policy_error (S3's InternalError), not one byte of the closed shard it
// would allow, one deny decision record whose policy output is a deny, and
// no transfer record.
func TestMalformedDecisionDenies(t *testing.T) {
	t.Parallel()
	eng, err := opa.New(t.Context(), opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Each mangles the embedded policy's real decision, which allows the
	// US requester the shard (the controls below check it does).
	mangles := []struct {
		name   string
		mangle func(policy.Decision) (policy.Decision, error)
	}{
		{"as decided", func(d policy.Decision) (policy.Decision, error) { return d, nil }},
		{"allow without a code", func(d policy.Decision) (policy.Decision, error) {
			d.Allow, d.Code, d.Reason = true, "", "allowed"
			return d, nil
		}},
		{"allow with code policy_error", func(d policy.Decision) (policy.Decision, error) {
			d.Allow, d.Code, d.Reason = true, policy.CodePolicyError, "allowed"
			return d, nil
		}},
		{"allow with an error", func(d policy.Decision) (policy.Decision, error) {
			d.Allow = true
			return d, errors.New("evaluation failed half-way")
		}},
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		var current atomic.Int64 // index into mangles
		fake := &fakeDecider{
			DecideFn: func(ctx context.Context, in policy.Input) (policy.Decision, error) {
				d, err := eng.Decide(ctx, in)
				if err != nil {
					return d, err
				}
				return mangles[current.Load()].mangle(d)
			},
			BundleFn: eng.Bundle,
		}
		h := gatewaytest.Start(t, store, gatewaytest.Options{Policy: fake, S3: &gateway.S3Options{Anonymous: true}})
		token, creds := h.Token(t, gatewaytest.Claims("US")), stsCredentials(t, h, gatewaytest.Claims("US"))
		const key = "frontier-lab/frontier-x/" + gatewaytest.Shard1
		whole := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)

		// assertPolicyDenied checks the record's policy output: a deny
		// with code policy_error, whatever the policy claimed.
		assertPolicyDenied := func(t *testing.T, resp *http.Response) {
			t.Helper()
			d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(d) != 1 || d[0].Policy == nil {
				t.Fatalf("decision records = %+v, want one with the policy's output", d)
			}
			if p := d[0].Policy; p.Allow || p.Code != policy.CodePolicyError {
				t.Errorf("recorded policy output = allow %v, code %q; want a deny with code %s", p.Allow, p.Code, policy.CodePolicyError)
			}
		}

		for i, m := range mangles {
			t.Run(m.name, func(t *testing.T) {
				current.Store(int64(i))
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					hub, hubBody := h.Do(t, method, gatewaytest.Frontier+gatewaytest.Shard1, token, nil)
					s3, s3Body := s3Send(t, h, method, "/models/"+key, nil, signedBy(creds))
					if i == 0 {
						if hub.StatusCode != http.StatusOK || s3.StatusCode != http.StatusOK ||
							(method == http.MethodGet && (!bytes.Equal(hubBody, whole) || !bytes.Equal(s3Body, whole))) {
							t.Fatalf("control %s: Hub %d (%d bytes), S3 %d (%d bytes); want both 200 with the shard",
								method, hub.StatusCode, len(hubBody), s3.StatusCode, len(s3Body))
						}
						continue
					}
					want := refusal{status: http.StatusInternalServerError, code: policy.CodePolicyError}
					if method == http.MethodHead {
						want.code = ""
						if got := hub.Header.Get("X-Error-Code"); got != policy.CodePolicyError {
							t.Errorf("Hub HEAD: X-Error-Code = %q, want %s", got, policy.CodePolicyError)
						}
					}
					assertRefused(t, h, hub, hubBody, want)
					assertPolicyDenied(t, hub)
					assertS3Refused(t, h, method, s3, s3Body, s3Refusal{http.StatusInternalServerError, "InternalError", policy.CodePolicyError})
					assertPolicyDenied(t, s3)
				}
			})
		}
	})
}
