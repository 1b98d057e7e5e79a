package opa

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
)

// TestDecide_RemembersDecisions checks that the decision cache is both
// filled and read: a decision is stored under its input's footprint key, and
// a second request with that key is answered from the cache (an entry put
// there by hand comes back, which a fresh evaluation could not produce).
func TestDecide_RemembersDecisions(t *testing.T) {
	t.Parallel()
	e, err := New(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := allowedInput(rand.New(rand.NewPCG(7, 11)))
	first, err := e.Decide(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, in.Request.Time)
	if err != nil {
		t.Fatal(err)
	}
	r := e.state.Load().at(at)
	if r == nil || r.decisions == nil {
		t.Fatal("the default bundle's regime remembers no decisions")
	}
	if got, want := r.decisions.Len(), 1; got != want {
		t.Fatalf("remembered decisions after one Decide = %d, want %d", got, want)
	}
	v, err := inputValue(&in)
	if err != nil {
		t.Fatal(err)
	}
	key := r.fp.key(v)
	remembered, ok := r.decisions.Peek(key)
	if !ok {
		t.Fatalf("no decision remembered under the input's key %q", key)
	}
	first.Bundle, first.Version, first.Revision = "", "", ""
	if got, want := jsonOf(remembered), jsonOf(first); got != want {
		t.Errorf("remembered %s, decided %s", got, want)
	}

	r.decisions.Add(key, policy.Decision{Code: "from-the-cache"})
	again, err := e.Decide(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Code, "from-the-cache"; got != want {
		t.Errorf("second Decide: code %q, want %q (the remembered decision)", got, want)
	}
}

// TestSharedStrings checks that every two-letter code and every enumerated
// value gets the one shared term, whichever input asks: countries repeat in
// every input, and sharing them keeps a decision's allocations down.
func TestSharedStrings(t *testing.T) {
	t.Parallel()
	var want []string
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			want = append(want, string([]rune{a, b}))
		}
	}
	want = append(want, "x-forwarded-for", policy.ScreeningReview, policy.FrontierConfigured, policy.KindWeights)
	for _, s := range want {
		x, y := (&terms{}).str(s), (&terms{}).str(s)
		if x != y {
			t.Errorf("%q: two inputs got two terms; want the shared one", s)
		}
		if got := x.Value.String(); got != `"`+s+`"` {
			t.Errorf("%q: term %s", s, got)
		}
	}
	if x, y := (&terms{}).str("frontier-lab/x"), (&terms{}).str("frontier-lab/x"); x == y {
		t.Error("a string outside the shared set got a shared term")
	}
}
