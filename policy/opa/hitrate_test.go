package opa

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/weightgate/weightgate/policy"
)

// TestDecisionCacheHitRate: with the built-in bundles the decision cache
// keeps answering what a download asks again. Over the equivalence test's
// generated requests, each asked as a download asks it (the request, a HEAD
// from another connection with a range, the request again), every answer
// but the first comes from memory; were the footprint the whole input, only
// the third would.
func TestDecisionCacheHitRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"ai-diffusion-2025", Options{}},
		{"ai-diffusion-2025+registry", Options{Registry: "../../testdata/registry"}},
		{"embargo-only+registry", Options{Bundle: "embargo-only", Registry: "../../testdata/registry"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := New(context.Background(), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := e.state.Load().regimes[0]
			rnd := rand.New(rand.NewPCG(1, 1))
			calls, hits := 0, 0
			for range 500 {
				in := randomInput(rnd)
				twin := in
				twin.Request.RemoteAddr, twin.Request.Method, twin.Request.Range = "198.51.100.7:40000", "HEAD", "bytes=0-99"
				for _, x := range []policy.Input{in, twin, in} {
					before := r.decisions.Len()
					if _, err := e.Decide(context.Background(), x); err != nil {
						continue
					}
					calls++
					if r.decisions.Len() == before {
						hits++
					}
				}
			}
			// Besides, for the record: of the requests that differ from a
			// remembered one in one leaf of Input, how many are answered
			// from memory (those whose leaf no rule reads, or whose
			// change leaves the key alike).
			leafCalls, leafHits := 0, 0
			for range 50 {
				in := randomInput(rnd)
				if _, err := e.Decide(context.Background(), in); err != nil {
					continue
				}
				for _, p := range inputPaths() {
					m, ok := mutate(t, rnd, in, p)
					if !ok {
						continue
					}
					before := r.decisions.Len()
					if _, err := e.Decide(context.Background(), m); err != nil {
						continue
					}
					leafCalls++
					if r.decisions.Len() == before {
						leafHits++
					}
				}
			}
			rate := float64(hits) / float64(calls)
			t.Logf("%d of %d decisions from memory (%.1f%%); one-leaf neighbours: %d of %d (%.1f%%)",
				hits, calls, 100*rate, leafHits, leafCalls, 100*float64(leafHits)/float64(leafCalls))
			if rate < 0.6 {
				t.Errorf("hit rate %.1f%%: a download's repeated requests are no longer answered from memory", 100*rate)
			}
		})
	}
}
