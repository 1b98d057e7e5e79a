package opa

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/weightgate/weightgate/policy"
)

// VisibleQuery is the rule a bundle may define so that listings need not
// evaluate a whole decision per model (Engine.Listed). It must equal
// decision.visible for every input.
const VisibleQuery = "data.weightgate.visible"

// A listing asks, for every closed model it meets, only whether the
// requester may know of it. Every decision's footprint holds model.id (its
// reasons name the model), so the decision cache never helps there; the
// visible rule of the built-in bundles reads neither the model's id nor the
// object, so its answers, remembered by what it reads, serve a whole
// listing after a handful of evaluations.

// visibility is a regime's shortcut for Listed: the bundle's visible rule,
// prepared on its own, and its answers remembered by its own footprint.
type visibility struct {
	pq      rego.PreparedEvalQuery
	fp      footprint
	answers *lru.Cache[string, bool]
	// off is set once the rule has disagreed with decision.visible: from
	// then on the regime answers Listed from full decisions.
	off    atomic.Bool
	logger *slog.Logger
}

// newVisibility prepares the visible rule of a compiled bundle named name.
// It returns nil, and Listed then decides from full decisions, when the
// bundle defines no visible rule, when answers are not to be remembered
// (size < 0), or when the rule's footprint cannot be trusted (its why).
func newVisibility(ctx context.Context, compiler *ast.Compiler, store storage.Store, name string, size int, logger *slog.Logger) (*visibility, error) {
	ref := ast.MustParseRef(VisibleQuery)
	if size < 0 || len(compiler.GetRulesForVirtualDocument(ref)) == 0 {
		return nil, nil
	}
	fp := inputFootprint(compiler.Modules, reachable(compiler, ref))
	if fp.why != "" {
		logger.Info("listings decide visibility from full decisions", "bundle", name, "why", fp.why)
		return nil, nil
	}
	pq, err := rego.New(
		rego.Query(VisibleQuery),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", VisibleQuery, err)
	}
	answers, err := lru.New[string, bool](size)
	if err != nil {
		return nil, err
	}
	return &visibility{pq: pq, fp: fp, answers: answers, logger: logger}, nil
}

// listed is Listed for the regime.
func (r *regime) listed(ctx context.Context, in *policy.Input) (bool, error) {
	// As decide: a cancelled request never gets an answer.
	if err := ctx.Err(); err != nil {
		return false, err
	}
	input, err := inputValue(in)
	if err != nil {
		return false, err
	}
	v := r.visible
	if v == nil || v.off.Load() {
		return r.listedByValue(ctx, input)
	}
	key := v.fp.key(input)
	if ok, found := v.answers.Get(key); found {
		if ok {
			return true, nil
		}
		// Hidden is the rarer answer, and the one a listing acts on
		// by leaving the model out: the full decision has the last word.
		return r.listedByValue(ctx, input)
	}
	ok, defined := r.evalVisible(ctx, input)
	// Evaluated fresh: the full decision is needed to check it (and is
	// remembered for the downloads that may follow).
	d, err := r.decideValue(ctx, input)
	if err != nil {
		return false, err
	}
	if !defined || (ok && !listedBy(d)) {
		// Nothing to remember: a true is kept only where the decision
		// it was checked against lists the model.
		return listedBy(d), nil
	}
	if ok != d.Visible {
		if v.off.CompareAndSwap(false, true) {
			v.logger.Error("the policy's visible rule disagrees with decision.visible; listings now decide visibility from full decisions",
				"bundle", r.Name, "revision", r.Revision, "rule", VisibleQuery, "visible", ok, "decision_visible", d.Visible)
		}
		return listedBy(d), nil
	}
	v.answers.Add(key, ok)
	return listedBy(d), nil
}

// evalVisible evaluates the visible rule for input; defined is false when it
// is undefined, not a boolean, or fails (the full decision then answers).
func (r *regime) evalVisible(ctx context.Context, input ast.Value) (ok, defined bool) {
	r.counts.visible.Add(1)
	rs, err := r.evalQuery(ctx, &r.visible.pq, input)
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return false, false
	}
	t, isTerm := rs[0].Expressions[0].Value.(*ast.Term)
	if !isTerm {
		b, isBool := rs[0].Expressions[0].Value.(bool)
		return b, isBool
	}
	b, isBool := t.Value.(ast.Boolean)
	return bool(b), isBool
}

// listedBy is a listing's reading of decision d: the model is listed when
// d allows it or declares it visible, and never on a decision that says
// the policy failed (code policy_error, or none), as the gateway reads a
// decision for one model.
func listedBy(d policy.Decision) bool {
	return d.Code != "" && d.Code != policy.CodePolicyError && (d.Allow || d.Visible)
}

// listedByValue is Listed from the full decision, for the input as a
// value.
func (r *regime) listedByValue(ctx context.Context, input ast.Value) (bool, error) {
	d, err := r.decideValue(ctx, input)
	return listedBy(d), err
}
