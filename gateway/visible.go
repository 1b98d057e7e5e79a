package gateway

import (
	"net/http"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/policy"
)

// Need to know: a requester the policy hides a model from (decision.visible
// false) learns nothing about it, on any endpoint. The model's files,
// sizes, hashes and even its existence are answered exactly as for a model
// that does not exist. Who may know is the policy's to say; the gateway only
// asks, and treats what it cannot read as hidden. An open-weight model is
// public and is never hidden, and an anonymous requester never sees a model
// that is not open, whatever the policy says (the Hub's rule for private
// repositories).

// hiding is why a model was hidden from a request: the policy input and
// decision, for its audit record only.
type hiding struct {
	in *policy.Input
	d  policy.Decision
}

// hiddenModel is the answer for a model hidden from the requester: a
// missing model's, byte for byte, with the real input and decision kept
// for the record.
func hiddenModel(anonymous bool, id string, in *policy.Input, d policy.Decision) *Error {
	e := repoNotFound(anonymous, id)
	e.hidden = &hiding{in: in, d: d}
	return e
}

// hides reports whether decision d, for a request about m, hides m from the
// requester: a denial of a model that is not open, which the policy does
// not declare visible. An allow implies visible.
func hides(m *catalog.Model, d policy.Decision) bool {
	return !d.Allow && !d.Visible && !m.Open()
}

// viewer asks the policy which models one request's requester may know of.
// It screens the requester once, however many models a listing holds.
type viewer struct {
	s    *Server
	r    *http.Request
	sub  policy.Subject
	req  policy.Request
	now  time.Time
	anon bool
}

// newViewer prepares the visibility questions of r, recorded as api.
func (s *Server) newViewer(r *http.Request, api string) *viewer {
	sub := scopeFrom(r.Context()).Subject
	now := s.opts.Now()
	v := &viewer{s: s, r: r, sub: sub, now: now, anon: sub.Anonymous}
	v.req = s.policyRequest(r, api, now)
	v.sub.Screening = Screen(s.opts.Screener, sub, now)
	return v
}

// check returns nil when the requester may know that m exists, and
// otherwise the answer to send: a missing model's when the policy hides it,
// or the policy's failure. The policy is asked as for a download of the
// model's weights (object path ""), so that it answers the question a
// download of the model would raise.
func (v *viewer) check(m *catalog.Model) *Error {
	if m.Open() {
		return nil
	}
	if v.anon {
		return repoNotFound(true, m.ID)
	}
	in := catalog.NewInput(v.sub, m.ID, "", v.req)
	ctx := v.r.Context()
	if err := v.s.opts.Catalog.Describe(ctx, &in, m); err != nil {
		return v.s.storageUnavailable("list", err)
	}
	start := time.Now()
	d, err := v.s.opts.Policy.Decide(ctx, in)
	v.s.metrics.policyEvaluated(time.Since(start))
	if err != nil || d.Code == policy.CodePolicyError || d.Code == "" {
		v.s.logger.Error("policy evaluation failed", "request_id", RequestID(ctx), "model", m.ID, "err", err, "code", d.Code)
		d.Allow, d.Code = false, policy.CodePolicyError
		d.Reason = "The export policy could not be evaluated; access is denied."
		return &Error{Status: http.StatusInternalServerError, Code: policy.CodePolicyError, Message: d.Reason, Err: err}
	}
	if hides(m, d) {
		return hiddenModel(false, m.ID, &in, d)
	}
	return nil
}

// visible reports whether m may appear in a listing for this requester. A
// model the policy cannot decide on is left out: a listing fails closed.
// The error is a storage failure only (503: the page fails).
//
// A listing needs one bit per model, not a decision: when the policy is a
// Lister, it answers from what it remembers of its visible rule, which
// does not depend on the model's id, instead of evaluating a decision per
// model (policy/opa Engine.Listed). check, for a single model, still asks
// for the full decision: its answer and audit record need the reason.
func (v *viewer) visible(m *catalog.Model) (bool, *Error) {
	l, ok := v.s.opts.Policy.(Lister)
	if !ok || m.Open() || v.anon {
		switch e := v.check(m); {
		case e == nil:
			return true, nil
		case e.Status == http.StatusServiceUnavailable:
			return false, e // storage: Describe could not read a base model
		default:
			return false, nil
		}
	}
	in := catalog.NewInput(v.sub, m.ID, "", v.req)
	ctx := v.r.Context()
	if err := v.s.opts.Catalog.Describe(ctx, &in, m); err != nil {
		return false, v.s.storageUnavailable("list", err)
	}
	start := time.Now()
	listed, err := l.Listed(ctx, in)
	v.s.metrics.policyEvaluated(time.Since(start))
	if err != nil {
		v.s.logger.Error("policy evaluation failed", "request_id", RequestID(ctx), "model", m.ID, "err", err, "code", policy.CodePolicyError)
		return false, nil
	}
	return listed, nil
}
