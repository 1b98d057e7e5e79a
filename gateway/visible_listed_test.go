package gateway_test

import (
	"context"
	"slices"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/storagetest"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
)

// decideOnly is an engine that is a Decider only, not a Lister: listings
// ask it for a full decision per model.
type decideOnly struct{ e *opa.Engine }

func (d decideOnly) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	return d.e.Decide(ctx, in)
}
func (d decideOnly) Bundle() (name, revision string) { return d.e.Bundle() }

var (
	_ gateway.Lister  = (*opa.Engine)(nil)
	_ gateway.Decider = decideOnly{}
)

// TestVisibleListing: a listing by a signed-in requester over many closed
// models of one kind evaluates the bundle's visible rule a handful of
// times, not once per model (policy/opa Engine.Listed), and lists exactly
// the models a listing that asks for a full decision per model lists, for
// requesters who see them all (US), some (CN: not the controlled ones) or
// only the open ones (anonymous).
func TestVisibleListing(t *testing.T) {
	t.Parallel()
	const n = 300 // models: org0 to org2, a third open, the rest closed
	dir := t.TempDir()
	storagetest.WriteModels(t, dir, n, func(i int) bool { return i%3 != 0 })
	ctx := context.Background()
	lister, err := opa.New(ctx, opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := opa.New(ctx, opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{Policy: lister})
	hf := gatewaytest.Start(t, gatewaytest.OpenDirStore(t, dir), gatewaytest.Options{Policy: decideOnly{full}})

	list := func(h *gatewaytest.Harness, token string) []string {
		t.Helper()
		var ids []string
		for next := "/api/models?limit=50"; next != ""; {
			status, page, nx, code := hubModels(t, h, next, token)
			if status != 200 {
				t.Fatalf("%s: %d %s", next, status, code)
			}
			ids, next = append(ids, page...), nx
		}
		return ids
	}
	for _, c := range []struct {
		name    string
		country string // "": anonymous
		want    int    // models listed
		// most visible rule evaluations: a handful (a new second of
		// request.time is a new key); 0 when none should be asked.
		most int64
	}{
		{name: "US", country: "US", want: n, most: 5},
		{name: "CN", country: "CN", want: n / 3, most: 5},
		{name: "anonymous", want: n / 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tok, tokf string
			if c.country != "" {
				tok, tokf = h.Token(t, gatewaytest.Claims(c.country)), hf.Token(t, gatewaytest.Claims(c.country))
			}
			before := lister.Evaluations()
			got := list(h, tok)
			evals := lister.Evaluations()
			fullBefore := full.Evaluations()
			want := list(hf, tokf)
			fullEvals := full.Evaluations()
			if !slices.Equal(got, want) {
				t.Errorf("listing with Listed: %d models, with full decisions: %d\n%v\n%v", len(got), len(want), got, want)
			}
			if len(got) != c.want {
				t.Errorf("%d models listed, want %d", len(got), c.want)
			}
			visible, decisions := evals.Visible-before.Visible, evals.Decisions-before.Decisions
			t.Logf("%d models listed: %d visible rule and %d decision evaluations; with full decisions, %d decision evaluations",
				len(got), visible, decisions, fullEvals.Decisions-fullBefore.Decisions)
			if visible > c.most {
				t.Errorf("%d evaluations of the visible rule for %d closed models, want at most %d", visible, 2*n/3, c.most)
			}
			if c.country == "US" && decisions > c.most {
				t.Errorf("%d decisions evaluated for %d closed models all visible, want at most %d", decisions, 2*n/3, c.most)
			}
			if c.country != "" && fullEvals.Decisions-fullBefore.Decisions < int64(n/2) {
				t.Errorf("the listing with full decisions evaluated %d: not one per closed model, the comparison proves nothing",
					fullEvals.Decisions-fullBefore.Decisions)
			}
		})
	}
}
