package opa

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/weightgate/weightgate/policy"
	defaultbundle "github.com/weightgate/weightgate/rego"
)

// Query is the rule every bundle must define.
const Query = "data.weightgate.decision"

// policyErrorReason is what a requester is told when the policy fails; the
// details go to the operator's log through the error Decide returns.
const policyErrorReason = "the access policy could not be evaluated; access is denied"

// Options configures an Engine.
type Options struct {
	// Bundle is the policy bundle: the name of a built-in bundle (see
	// rego.Bundles) or a directory holding Rego modules and JSON data. ""
	// selects rego.DefaultBundle.
	Bundle string

	// BundleFS, when non-nil, is used instead of Bundle, e.g. in tests.
	BundleFS fs.FS

	// Regimes, when set, replaces Bundle and BundleFS: several bundles, each
	// in effect from its effective date until the next one's. Every decision
	// is made by the regime in effect at its request time.
	Regimes []Regime

	// Registry is a directory of operator data files (licences.json,
	// veu.json, attestations.json, ...). Each is loaded, for every regime,
	// as data.weightgate.registry.<file name without .json>.
	Registry string

	// RegistryFS, when non-nil, is used instead of Registry.
	RegistryFS fs.FS

	// Extensions are directories of extension modules and data, loaded on
	// top of every regime. Their modules must be in packages
	// weightgate.extensions.<name> and their data under
	// data.weightgate.extensions.<name>; they can only add denials.
	Extensions []string

	// Settings are operator switches a bundle reads as
	// data.weightgate.settings.<name> (lib.setting in rego/lib), loaded with
	// every regime: the gateway's configuration sets location_unknown and
	// screening_open_weights here, so that flipping one needs no Rego.
	Settings map[string]string

	// DecisionCache is how many decisions each regime remembers, keyed by
	// what of the input its policy can read (see Engine.Decide), and how
	// many answers of its visible rule (see Engine.Listed); 0 means
	// DefaultDecisionCache, a negative number (NoDecisionCache) none.
	DecisionCache int

	// Logger receives load and reload events. nil discards them.
	Logger *slog.Logger
}

// Regime is one bundle of a schedule.
type Regime struct {
	// Bundle and FS name the bundle as Options.Bundle and Options.BundleFS do.
	Bundle string
	FS     fs.FS
	// Effective overrides the date the bundle declares
	// (data.weightgate.bundle.effective_date). Zero keeps the declared one;
	// a bundle that declares none is in effect from the beginning of time.
	Effective time.Time
}

// RegimeInfo describes one loaded regime.
type RegimeInfo struct {
	Name      string
	Version   string
	Effective time.Time // zero: always
	Revision  string
}

// Engine evaluates data.weightgate.decision for each request. It compiles its
// regimes once, in New, and again on each Reload. It is safe for concurrent
// use: Decide may run while Reload swaps in a new policy.
type Engine struct {
	opts   Options
	logger *slog.Logger

	reloadMu sync.Mutex // serialises Reload
	state    atomic.Pointer[state]
	counts   evalCounts
}

// evalCounts counts evaluations, of every regime the engine has built.
type evalCounts struct{ decisions, visible atomic.Int64 }

// Evaluations counts what an Engine has evaluated, rather than answered
// from memory, since New.
type Evaluations struct {
	// Decisions counts evaluations of data.weightgate.decision (Decide,
	// and Listed when it needs the full decision).
	Decisions int64
	// Visible counts evaluations of data.weightgate.visible (Listed).
	Visible int64
}

// Evaluations returns what e has evaluated so far.
func (e *Engine) Evaluations() Evaluations {
	return Evaluations{Decisions: e.counts.decisions.Load(), Visible: e.counts.visible.Load()}
}

// state is one compiled policy schedule. It is immutable once published.
type state struct {
	regimes []*regime // sorted by effective time, oldest first
}

// regime is one compiled bundle.
type regime struct {
	pq rego.PreparedEvalQuery
	// constants holds the values of the rules that are the same in every
	// evaluation (vcache.go), computed when the regime was built.
	constants *vtable
	// fp is what of the input the regime's modules can read, and decisions
	// the decisions remembered by fp's key; nil when the policy cannot be
	// trusted to decide alike on inputs that agree on fp (fp.why).
	fp        footprint
	decisions *lru.Cache[string, policy.Decision]
	// visible answers Listed from the bundle's visible rule; nil when the
	// bundle has none, or Listed must decide from full decisions.
	visible *visibility
	// counts are the engine's.
	counts *evalCounts
	RegimeInfo
	modules int
	files   int
	// sources (Rego modules only) and data are what pq was prepared from,
	// kept for Export.
	sources []file
	data    map[string]any
	// groups evaluates the bundle's destination_group for a list of
	// countries; nil when the bundle defines none.
	groups *rego.PreparedEvalQuery
}

// at returns the regime in effect at t: the one with the latest effective
// time not after t.
func (st *state) at(t time.Time) *regime {
	var in *regime
	for _, r := range st.regimes {
		if !r.Effective.After(t) {
			in = r
		}
	}
	return in
}

// New loads, compiles and prepares the policy described by opts. It refuses a
// bundle that fails to load or compile, an extension module or data file
// outside data.weightgate.extensions (ErrExtensionNamespace), and a policy
// that does not define data.weightgate.decision.
func New(ctx context.Context, opts Options) (*Engine, error) {
	e := &Engine{opts: opts, logger: opts.Logger}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	st, err := e.build(ctx)
	if err != nil {
		return nil, err
	}
	e.state.Store(st)
	for _, r := range st.regimes {
		e.logger.Info("policy loaded", "bundle", r.Name, "version", r.Version, "effective", effectiveString(r.Effective),
			"revision", r.Revision, "modules", r.modules, "files", r.files)
	}
	return e, nil
}

func effectiveString(t time.Time) string {
	if t.IsZero() {
		return "always"
	}
	return t.Format(time.RFC3339)
}

// Reload recompiles the policy from the same sources as New. On failure the
// engine keeps serving the policy it had and Reload returns the error.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()

	oldName, oldRev := e.Bundle()
	st, err := e.build(ctx)
	if err != nil {
		e.logger.Error("policy reload failed; keeping the current policy",
			"bundle", oldName, "revision", oldRev, "error", err)
		return err
	}
	e.state.Store(st)
	name, rev := e.Bundle()
	e.logger.Info("policy reloaded", "bundle", name, "revision", rev,
		"previous_revision", oldRev, "changed", rev != oldRev, "regimes", len(st.regimes))
	return nil
}

// Bundle returns the name and revision of the regime in effect now.
func (e *Engine) Bundle() (name, revision string) {
	if st := e.state.Load(); st != nil {
		if r := st.at(time.Now()); r != nil {
			return r.Name, r.Revision
		}
	}
	return "", ""
}

// Regimes describes every loaded regime, oldest effective date first.
func (e *Engine) Regimes() []RegimeInfo {
	st := e.state.Load()
	if st == nil {
		return nil
	}
	out := make([]RegimeInfo, len(st.regimes))
	for i, r := range st.regimes {
		out[i] = r.RegimeInfo
	}
	return out
}

// Decide evaluates the policy for in. It always returns a usable Decision
// stamped with the bundle name and revision that produced it. When evaluation
// fails, is undefined or yields a malformed result, the Decision denies with
// Code CodePolicyError and a Reason safe to show the requester, and the
// returned error says what went wrong (for the operator's log).
func (e *Engine) Decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	r, err := e.regimeFor(&in)
	if err != nil {
		return policyError(r), err
	}
	var d policy.Decision
	if err := r.guard(func() (err error) {
		d, err = r.decide(ctx, &in)
		return err
	}); err != nil {
		return policyError(r), err
	}
	d.Bundle, d.Version, d.Revision = r.Name, r.Version, r.Revision
	return d, nil
}

// regimeFor returns the regime in effect at in's request time.
func (e *Engine) regimeFor(in *policy.Input) (*regime, error) {
	if e == nil || e.state.Load() == nil {
		return nil, errors.New("policy: nil engine")
	}
	st := e.state.Load()
	t, err := time.Parse(time.RFC3339, in.Request.Time)
	if err != nil {
		return nil, fmt.Errorf("policy: request.time %q is not an RFC 3339 time", in.Request.Time)
	}
	r := st.at(t)
	if r == nil {
		return nil, fmt.Errorf("policy: no regime in effect at %s (the first, %s, takes effect %s)",
			in.Request.Time, st.regimes[0].Name, effectiveString(st.regimes[0].Effective))
	}
	return r, nil
}

// guard runs f, an evaluation by r, and returns its error naming the
// regime. A panic inside the evaluator becomes an error: it must not become
// an allow, nor take the request down with it.
func (r *regime) guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("policy %s: panic in evaluation: %v", r.Name, p)
		}
	}()
	if err := f(); err != nil {
		return fmt.Errorf("policy %s@%.12s: %w", r.Name, r.Revision, err)
	}
	return nil
}

// Listed reports whether the requester of in may know that in's model
// exists: d.Allow || d.Visible for the Decision d that Decide(ctx, in)
// would return, and false when d's code is policy_error or empty (as the
// gateway reads one model's decision), computed more cheaply where it can
// be. It fails as Decide
// does (an error, and false: a listing fails closed), for the same inputs.
//
// A regime whose bundle defines data.weightgate.visible (which must equal
// decision.visible; docs/policies.md) evaluates that rule alone, and
// remembers its answers by what of the input it can read: for a listing,
// where every decision names a different model, that is a handful of
// evaluations instead of one per model. Every answer but a remembered true
// comes from the full decision; an answer of the rule evaluated afresh is
// compared with it, and should the two ever disagree, the regime logs it
// and answers every later Listed from full decisions (until Reload).
func (e *Engine) Listed(ctx context.Context, in policy.Input) (bool, error) {
	r, err := e.regimeFor(&in)
	if err != nil {
		return false, err
	}
	var listed bool
	err = r.guard(func() (err error) {
		listed, err = r.listed(ctx, &in)
		return err
	})
	return listed && err == nil, err
}

func policyError(r *regime) policy.Decision {
	d := policy.Decision{
		Allow:  false,
		Code:   policy.CodePolicyError,
		Reason: policyErrorReason,
		Basis:  "weightgate fails closed when its policy cannot decide",
	}
	if r != nil {
		d.Bundle, d.Version, d.Revision = r.Name, r.Version, r.Revision
	}
	return d
}

func (r *regime) decide(ctx context.Context, in *policy.Input) (policy.Decision, error) {
	// OPA notices cancellation from a watcher goroutine, so a short
	// evaluation can finish under a context that is already done. Check it
	// here so that a cancelled request never gets a decision.
	if err := ctx.Err(); err != nil {
		return policy.Decision{}, err
	}
	input, err := inputValue(in)
	if err != nil {
		return policy.Decision{}, err
	}
	return r.decideValue(ctx, input)
}

// decideValue is decide for the input as a value.
func (r *regime) decideValue(ctx context.Context, input ast.Value) (policy.Decision, error) {
	var key string
	if r.decisions != nil {
		key = r.fp.key(input)
		if d, ok := r.decisions.Get(key); ok {
			return d, nil
		}
	}
	d, err := r.eval(ctx, input)
	if err == nil && r.decisions != nil {
		r.decisions.Add(key, d)
	}
	return d, err
}

// eval evaluates the query for input.
func (r *regime) eval(ctx context.Context, input ast.Value) (policy.Decision, error) {
	r.counts.decisions.Add(1)
	rs, err := r.evalQuery(ctx, &r.pq, input)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("evaluate %s: %w", Query, err)
	}
	switch {
	case len(rs) == 0:
		return policy.Decision{}, fmt.Errorf("%s is undefined", Query)
	case len(rs) > 1:
		return policy.Decision{}, fmt.Errorf("%s has %d results, want 1", Query, len(rs))
	case len(rs[0].Expressions) != 1:
		return policy.Decision{}, fmt.Errorf("%s has %d expressions, want 1", Query, len(rs[0].Expressions))
	}
	return parseDecisionTerm(rs[0].Expressions[0].Value)
}

// evalQuery evaluates pq, one of r's prepared queries, for input, leaving
// the results as AST terms.
func (r *regime) evalQuery(ctx context.Context, pq *rego.PreparedEvalQuery, input ast.Value) (rego.ResultSet, error) {
	// Cancellation: instead of the goroutine per evaluation that rego
	// starts to watch ctx, a callback flags the evaluation as cancelled.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	cache := newVCache(r.constants)
	defer cache.release()
	return pq.Eval(ctx, rego.EvalParsedInput(input),
		rego.EvalExternalCancel(cancel),
		rego.EvalVirtualCache(cache),
		// Nobody reads an evaluation's metrics.
		rego.EvalMetrics(metrics.NoOp()),
		// The result stays an AST value: parseDecisionTerm reads the four
		// fields it needs from it instead of converting the whole object.
		rego.EvalGenerateJSON(keepTerm))
}

// DefaultDecisionCache is how many decisions a regime remembers by default:
// a decision is a few hundred bytes, so a few MiB.
const DefaultDecisionCache = 10_000

// NoDecisionCache, as Options.DecisionCache, makes every Decide evaluate the
// policy. The what-if commands (check, matrix, replay) use it: their answer
// must be the policy's own for that input, never one remembered for another.
const NoDecisionCache = -1

// RemembersDecisions reports whether any regime may answer Decide from its
// decision cache.
func (e *Engine) RemembersDecisions() bool {
	if st := e.state.Load(); st != nil {
		for _, r := range st.regimes {
			if r.decisions != nil {
				return true
			}
		}
	}
	return false
}

// keepTerm is the EvalGenerateJSON function that leaves a result as it is.
func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// The keys of a decision.
var (
	keyAllow  = ast.StringTerm("allow")
	keyCode   = ast.StringTerm("code")
	keyReason = ast.StringTerm("reason")
	keyBasis  = ast.StringTerm("basis")
	keyVis    = ast.StringTerm("visible")
	keyRel    = ast.StringTerm("releases")
)

// parseDecisionTerm is parseDecision for a result kept as an AST term (or,
// should keepTerm not have been used, a Go value). A well-formed decision is
// read directly; anything else is converted as rego would and left to
// parseDecision, so that the checks and their errors are parseDecision's.
func parseDecisionTerm(v any) (policy.Decision, error) {
	t, ok := v.(*ast.Term)
	if !ok {
		return parseDecision(v)
	}
	if obj, ok := t.Value.(ast.Object); ok {
		var d policy.Decision
		allow, okA := termValue[ast.Boolean](obj, keyAllow, false)
		code, okC := termValue[ast.String](obj, keyCode, false)
		reason, okR := termValue[ast.String](obj, keyReason, true)
		basis, okB := termValue[ast.String](obj, keyBasis, true)
		visible, okV := termValue[ast.Boolean](obj, keyVis, true)
		// A decision naming licence releases is rare: parseDecision reads
		// and checks them.
		if okA && okC && okR && okB && okV && code != "" && !(bool(allow) && code == policy.CodePolicyError) && obj.Get(keyRel) == nil {
			d.Allow, d.Code, d.Reason, d.Basis, d.Visible = bool(allow), string(code), string(reason), string(basis), bool(visible)
			return d, nil
		}
	}
	x, err := ast.JSON(t.Value)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("evaluate %s: %w", Query, err)
	}
	return parseDecision(x)
}

// termValue is obj[key] when it is a T; a missing key is the zero T when
// optional.
func termValue[T ast.Value](obj ast.Object, key *ast.Term, optional bool) (T, bool) {
	var zero T
	x := obj.Get(key)
	if x == nil {
		return zero, optional
	}
	v, ok := x.Value.(T)
	return v, ok
}

// parseDecision accepts only {"allow": bool, "code": non-empty string,
// "reason": string, "basis": string, "visible": bool}; reason, basis and
// visible may be absent (an absent visible is false: hidden). Other keys are
// ignored. Anything else is an error, never an allow.
func parseDecision(v any) (policy.Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return policy.Decision{}, fmt.Errorf("%s is a %T, want an object", Query, v)
	}
	var d policy.Decision
	if d.Allow, ok = obj["allow"].(bool); !ok {
		return policy.Decision{}, fmt.Errorf("%s.allow is %T, want a boolean", Query, obj["allow"])
	}
	if d.Code, ok = obj["code"].(string); !ok || d.Code == "" {
		return policy.Decision{}, fmt.Errorf("%s.code is missing or not a non-empty string", Query)
	}
	for key, dst := range map[string]*string{"reason": &d.Reason, "basis": &d.Basis} {
		raw, present := obj[key]
		if !present {
			continue
		}
		if *dst, ok = raw.(string); !ok {
			return policy.Decision{}, fmt.Errorf("%s.%s is %T, want a string", Query, key, raw)
		}
	}
	if raw, present := obj["visible"]; present {
		if d.Visible, ok = raw.(bool); !ok {
			return policy.Decision{}, fmt.Errorf("%s.visible is %T, want a boolean", Query, raw)
		}
	}
	if d.Code == policy.CodePolicyError && d.Allow {
		return policy.Decision{}, fmt.Errorf("%s allows with code %s", Query, policy.CodePolicyError)
	}
	if raw, present := obj["releases"]; present {
		rs, err := parseReleases(raw)
		if err != nil {
			return policy.Decision{}, err
		}
		d.Releases = rs
	}
	return d, nil
}

// maxReleases bounds the licences one decision may ask to count, so that a
// broken policy cannot make one request reserve without limit.
const maxReleases = 64

// parseReleases reads a decision's releases: a list of {"licence":
// non-empty string, "max_releases": whole number >= 1}. Anything else is an
// error: a release the gateway cannot count must not pass uncounted.
func parseReleases(raw any) ([]policy.Release, error) {
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.releases is %T, want a list", Query, raw)
	}
	if len(list) > maxReleases {
		return nil, fmt.Errorf("%s.releases has %d entries, more than %d", Query, len(list), maxReleases)
	}
	out := make([]policy.Release, 0, len(list))
	for i, x := range list {
		obj, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s.releases[%d] is %T, want an object", Query, i, x)
		}
		id, ok := obj["licence"].(string)
		if !ok || id == "" {
			return nil, fmt.Errorf("%s.releases[%d].licence is missing or not a non-empty string", Query, i)
		}
		n, ok := wholeNumber(obj["max_releases"])
		if !ok || n < 1 {
			return nil, fmt.Errorf("%s.releases[%d].max_releases is %v, want a whole number of at least 1", Query, i, obj["max_releases"])
		}
		out = append(out, policy.Release{Licence: id, MaxReleases: n})
	}
	return out, nil
}

// wholeNumber is v as an int when it is a whole JSON number that fits.
func wholeNumber(v any) (int, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil || i > math.MaxInt32 {
			return 0, false
		}
		return int(i), true
	case float64:
		f = n
	case int:
		return n, true
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	if f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// regimeSpecs is Options.Regimes, or the single bundle Bundle/BundleFS names.
func (e *Engine) regimeSpecs() []Regime {
	if len(e.opts.Regimes) > 0 {
		return e.opts.Regimes
	}
	return []Regime{{Bundle: e.opts.Bundle, FS: e.opts.BundleFS}}
}

// bundleSource resolves a regime's bundle: its FS, a built-in name, or a
// directory. The default name is what the bundle is called should its data
// not name it.
func bundleSource(r Regime) (src source, defaultName string, err error) {
	switch {
	case r.FS != nil:
		return source{label: "bundle", name: "bundle", fsys: r.FS}, "bundle", nil
	case r.Bundle == "":
		f, err := defaultbundle.Bundle(defaultbundle.DefaultBundle)
		return source{label: "bundle", name: defaultbundle.DefaultBundle, fsys: f}, defaultbundle.DefaultBundle, err
	case slices.Contains(defaultbundle.Bundles(), r.Bundle):
		f, err := defaultbundle.Bundle(r.Bundle)
		return source{label: "bundle", name: r.Bundle, fsys: f}, r.Bundle, err
	}
	if fi, err := os.Stat(r.Bundle); err != nil || !fi.IsDir() {
		return source{}, "", fmt.Errorf("policy bundle %q is neither a built-in bundle %v nor a directory", r.Bundle, defaultbundle.Bundles())
	}
	return source{label: "bundle", name: r.Bundle, fsys: os.DirFS(r.Bundle)}, filepath.Base(filepath.Clean(r.Bundle)), nil
}

// sources lists what the engine loads for one bundle, in a fixed order: the
// library, the bundle, the registry, the extensions.
func (e *Engine) sources(bundle source) []source {
	srcs := []source{libSource(false), bundle}
	switch {
	case e.opts.RegistryFS != nil:
		srcs = append(srcs, source{label: "registry", name: "registry", fsys: e.opts.RegistryFS, registry: true})
	case e.opts.Registry != "":
		srcs = append(srcs, source{label: "registry", name: e.opts.Registry, fsys: os.DirFS(e.opts.Registry), registry: true})
	}
	for i, dir := range e.opts.Extensions {
		srcs = append(srcs, source{
			label:     fmt.Sprintf("extension[%d]", i),
			name:      dir,
			fsys:      os.DirFS(dir),
			extension: true,
		})
	}
	return srcs
}

func libSource(tests bool) source {
	return source{label: "lib", name: "lib", fsys: defaultbundle.Lib(), lib: true, tests: tests}
}

func (e *Engine) build(ctx context.Context) (*state, error) {
	st := &state{}
	for _, spec := range e.regimeSpecs() {
		r, err := e.buildRegime(ctx, spec)
		if err != nil {
			return nil, err
		}
		st.regimes = append(st.regimes, r)
	}
	slices.SortStableFunc(st.regimes, func(a, b *regime) int { return a.Effective.Compare(b.Effective) })
	for i := 1; i < len(st.regimes); i++ {
		if a, b := st.regimes[i-1], st.regimes[i]; a.Effective.Equal(b.Effective) {
			return nil, fmt.Errorf("policy: regimes %s and %s take effect at the same time (%s)", a.Name, b.Name, effectiveString(a.Effective))
		}
	}
	return st, nil
}

func (e *Engine) buildRegime(ctx context.Context, spec Regime) (*regime, error) {
	bundle, defaultName, err := bundleSource(spec)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	l, err := load(e.sources(bundle))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := l.addSettings(e.opts.Settings); err != nil {
		return nil, fmt.Errorf("policy: bundle %s: %w", bundle.name, err)
	}
	if l.bundleModules == 0 {
		return nil, fmt.Errorf("policy: bundle %s has no Rego modules", bundle.name)
	}

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(l.modules); compiler.Failed() {
		return nil, fmt.Errorf("policy: compile %s: %w", bundle.name, compiler.Errors)
	}
	if len(compiler.GetRulesForVirtualDocument(ast.MustParseRef(Query))) == 0 {
		return nil, fmt.Errorf("policy: no rule of %s defines %s", bundle.name, Query)
	}

	store := inmem.NewFromObjectWithOpts(l.data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	pq, err := rego.New(
		rego.Query(Query),
		rego.Compiler(compiler),
		rego.Store(store),
		// A built-in error (a bad regex, sprintf on the wrong type...) must
		// fail the evaluation, not silently make a rule body undefined and
		// let the decision fall through to a later row.
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", Query, err)
	}
	constants, err := seedConstants(ctx, compiler, store)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", bundle.name, err)
	}

	meta, err := bundleMeta(l.data)
	if err != nil {
		return nil, fmt.Errorf("policy: bundle %s: %w", bundle.name, err)
	}
	if meta.Name == "" {
		meta.Name = defaultName
	}
	if !spec.Effective.IsZero() {
		meta.Effective = spec.Effective.UTC()
	}
	meta.Revision = revision(l.files)
	var sources []file
	for _, f := range l.files {
		if strings.HasSuffix(f.path, ".rego") {
			sources = append(sources, f)
		}
	}
	var groups *rego.PreparedEvalQuery
	if len(compiler.GetRules(ast.MustParseRef(groupRule))) > 0 {
		gq, err := rego.New(rego.Query(groupsQuery), rego.Compiler(compiler), rego.Store(store),
			rego.StrictBuiltinErrors(true)).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy: prepare %s: %w", groupRule, err)
		}
		groups = &gq
	}
	r := &regime{pq: pq, constants: constants, groups: groups, RegimeInfo: meta, modules: len(l.modules), files: len(l.files), sources: sources, data: l.data,
		fp: inputFootprint(compiler.Modules, nil), counts: &e.counts}
	size := cmp.Or(e.opts.DecisionCache, DefaultDecisionCache)
	switch {
	case size < 0:
	case r.fp.why != "":
		e.logger.Info("policy decisions are not remembered", "bundle", meta.Name, "why", r.fp.why)
	default:
		if r.fp.whole != "" {
			// Still sound, but every request is its own key: say which
			// rule costs the bundle its cache.
			e.logger.Info("policy decisions are remembered by the whole input", "bundle", meta.Name,
				"why", "a rule uses the input other than by constant paths", "rule", r.fp.whole)
		}
		if r.decisions, err = lru.New[string, policy.Decision](size); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	if r.visible, err = newVisibility(ctx, compiler, store, meta.Name, size, e.logger); err != nil {
		return nil, fmt.Errorf("policy: %s: %w", bundle.name, err)
	}
	return r, nil
}

// groupRule is the function a bundle may define to say which group of
// destinations a country is in (destination_group in the built-in bundles).
const groupRule = "data.weightgate.destination_group"

const groupsQuery = "groups := {c: g | some c in input.countries; g := " + groupRule + "(c)}"

// ErrNoGroups is returned by DestinationGroups when the bundle in effect
// defines no destination_group.
var ErrNoGroups = errors.New("policy: the bundle defines no destination_group")

// DestinationGroups returns the group the regime in effect at t puts each of
// countries in: its destination_group(c), evaluated with the request time t
// (a bundle's lists may change with the date). Reports use it to group
// destinations as the policy's own data does, never by a list of their own.
// A country the function leaves undefined is absent from the map.
func (e *Engine) DestinationGroups(ctx context.Context, t time.Time, countries []string) (map[string]string, error) {
	if e == nil || e.state.Load() == nil {
		return nil, fmt.Errorf("policy: nil engine")
	}
	r := e.state.Load().at(t)
	if r == nil {
		return nil, fmt.Errorf("policy: no regime in effect at %s", t.UTC().Format(time.RFC3339))
	}
	if r.groups == nil {
		return nil, ErrNoGroups
	}
	list := make([]any, len(countries))
	for i, c := range countries {
		list[i] = c
	}
	in := map[string]any{"countries": list, "request": map[string]any{"time": t.UTC().Format(time.RFC3339)}}
	rs, err := r.groups.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", groupRule, err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("policy: %s: %d results", groupRule, len(rs))
	}
	out := map[string]string{}
	switch m := rs[0].Bindings["groups"].(type) {
	case map[string]any:
		for c, g := range m {
			if s, ok := g.(string); ok {
				out[c] = s
			}
		}
	default:
		return nil, fmt.Errorf("policy: %s: not an object of strings", groupRule)
	}
	return out, nil
}
