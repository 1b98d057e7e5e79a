package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	defaultbundle "github.com/weightgate/weightgate/rego"
)

// Query is the rule every bundle must define.
const Query = "data.weightgate.decision"

// DefaultBundleName names the embedded bundle should its data not name it.
const DefaultBundleName = "embedded"

// policyErrorReason is what a requester is told when the policy fails; the
// details go to the operator's log through the error Decide returns.
const policyErrorReason = "the access policy could not be evaluated; access is denied"

// Options configures an Engine.
type Options struct {
	// Bundle is a directory holding the bundle's Rego modules and JSON data.
	// "" selects the default bundle embedded in the binary (package rego).
	Bundle string

	// BundleFS, when non-nil, is used instead of Bundle, e.g. in tests.
	BundleFS fs.FS

	// Extensions are directories of extension modules and data, loaded on
	// top of the bundle. Their modules must be in packages
	// weightgate.extensions.<name> and their data under
	// data.weightgate.extensions.<name>; they can only add denials.
	Extensions []string

	// Logger receives load and reload events. nil discards them.
	Logger *slog.Logger
}

// Engine evaluates data.weightgate.decision for each request. It compiles its
// bundle once, in New, and again on each Reload. It is safe for concurrent
// use: Decide may run while Reload swaps in a new policy.
type Engine struct {
	opts   Options
	logger *slog.Logger

	reloadMu sync.Mutex // serialises Reload
	state    atomic.Pointer[state]
}

// state is one compiled policy. It is immutable once published.
type state struct {
	pq       rego.PreparedEvalQuery
	name     string
	revision string
	modules  int
	files    int
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
	e.logger.Info("policy loaded", "bundle", st.name, "revision", st.revision, "modules", st.modules, "files", st.files)
	return e, nil
}

// Reload recompiles the policy from the same sources as New. On failure the
// engine keeps serving the policy it had and Reload returns the error.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()

	old := e.state.Load()
	if old == nil {
		old = &state{} // an Engine not made by New
	}
	st, err := e.build(ctx)
	if err != nil {
		e.logger.Error("policy reload failed; keeping the current policy",
			"bundle", old.name, "revision", old.revision, "error", err)
		return err
	}
	e.state.Store(st)
	e.logger.Info("policy reloaded", "bundle", st.name, "revision", st.revision,
		"previous_revision", old.revision, "changed", st.revision != old.revision)
	return nil
}

// Bundle returns the name and revision of the policy currently in use.
func (e *Engine) Bundle() (name, revision string) {
	if st := e.state.Load(); st != nil {
		return st.name, st.revision
	}
	return "", ""
}

// Decide evaluates the policy for in. It always returns a usable Decision
// stamped with the bundle name and revision that produced it. When evaluation
// fails, is undefined or yields a malformed result, the Decision denies with
// Code CodePolicyError and a Reason safe to show the requester, and the
// returned error says what went wrong (for the operator's log).
func (e *Engine) Decide(ctx context.Context, in Input) (d Decision, err error) {
	if e == nil || e.state.Load() == nil {
		return policyError("", ""), errors.New("policy: nil engine")
	}
	st := e.state.Load()
	defer func() {
		// A panic inside the evaluator must not become an allow, nor take
		// the request down with it.
		if r := recover(); r != nil {
			d, err = policyError(st.name, st.revision), fmt.Errorf("policy %s: panic in evaluation: %v", st.name, r)
		}
	}()

	d, err = st.decide(ctx, &in)
	if err != nil {
		return policyError(st.name, st.revision), fmt.Errorf("policy %s@%.12s: %w", st.name, st.revision, err)
	}
	d.Bundle, d.Revision = st.name, st.revision
	return d, nil
}

func policyError(name, revision string) Decision {
	return Decision{
		Allow:    false,
		Code:     CodePolicyError,
		Reason:   policyErrorReason,
		Basis:    "weightgate fails closed when its policy cannot decide",
		Bundle:   name,
		Revision: revision,
	}
}

func (st *state) decide(ctx context.Context, in *Input) (Decision, error) {
	// OPA notices cancellation from a watcher goroutine, so a short
	// evaluation can finish under a context that is already done. Check it
	// here so that a cancelled request never gets a decision.
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	input, err := inputValue(in)
	if err != nil {
		return Decision{}, err
	}
	rs, err := st.pq.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", Query, err)
	}
	switch {
	case len(rs) == 0:
		return Decision{}, fmt.Errorf("%s is undefined", Query)
	case len(rs) > 1:
		return Decision{}, fmt.Errorf("%s has %d results, want 1", Query, len(rs))
	case len(rs[0].Expressions) != 1:
		return Decision{}, fmt.Errorf("%s has %d expressions, want 1", Query, len(rs[0].Expressions))
	}
	return parseDecision(rs[0].Expressions[0].Value)
}

// parseDecision accepts only {"allow": bool, "code": non-empty string,
// "reason": string, "basis": string}; reason and basis may be absent. Other
// keys are ignored. Anything else is an error, never an allow.
func parseDecision(v any) (Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("%s is a %T, want an object", Query, v)
	}
	var d Decision
	if d.Allow, ok = obj["allow"].(bool); !ok {
		return Decision{}, fmt.Errorf("%s.allow is %T, want a boolean", Query, obj["allow"])
	}
	if d.Code, ok = obj["code"].(string); !ok || d.Code == "" {
		return Decision{}, fmt.Errorf("%s.code is missing or not a non-empty string", Query)
	}
	for key, dst := range map[string]*string{"reason": &d.Reason, "basis": &d.Basis} {
		raw, present := obj[key]
		if !present {
			continue
		}
		if *dst, ok = raw.(string); !ok {
			return Decision{}, fmt.Errorf("%s.%s is %T, want a string", Query, key, raw)
		}
	}
	if d.Code == CodePolicyError && d.Allow {
		return Decision{}, fmt.Errorf("%s allows with code %s", Query, CodePolicyError)
	}
	return d, nil
}

// sources lists what the engine loads, in a fixed order.
func (e *Engine) sources() []source {
	var srcs []source
	switch {
	case e.opts.BundleFS != nil:
		srcs = append(srcs, source{label: "bundle", name: "bundle", fsys: e.opts.BundleFS})
	case e.opts.Bundle != "":
		srcs = append(srcs, source{label: "bundle", name: e.opts.Bundle, fsys: os.DirFS(e.opts.Bundle)})
	default:
		srcs = append(srcs, source{label: "bundle", name: "rego", fsys: defaultbundle.FS})
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

// defaultName is the bundle's name when its data declares none.
func (e *Engine) defaultName() string {
	switch {
	case e.opts.BundleFS != nil:
		return "bundle"
	case e.opts.Bundle != "":
		return filepath.Base(filepath.Clean(e.opts.Bundle))
	default:
		return DefaultBundleName
	}
}

func (e *Engine) build(ctx context.Context) (*state, error) {
	l, err := load(e.sources())
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(l.modules) == 0 {
		return nil, errors.New("policy: bundle has no Rego modules")
	}

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(l.modules); compiler.Failed() {
		return nil, fmt.Errorf("policy: compile: %w", compiler.Errors)
	}
	if len(compiler.GetRulesForVirtualDocument(ast.MustParseRef(Query))) == 0 {
		return nil, fmt.Errorf("policy: no rule defines %s", Query)
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

	name, ok := bundleName(l.data)
	if !ok {
		name = e.defaultName()
	}
	return &state{
		pq:       pq,
		name:     name,
		revision: revision(l.files),
		modules:  len(l.modules),
		files:    len(l.files),
	}, nil
}
