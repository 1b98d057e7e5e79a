// Package whatif asks the policy what it would decide, without a download:
// for one requester (Check) or for every country and four requester profiles
// (Matrix, with its table, CSV and HTML renderings). Each input is built as
// the gateway builds a download's (catalog.NewInput, Catalog.Describe), so
// that an answer here is the answer a download would get.
package whatif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/policy"
)

// Decider decides one policy input; *opa.Engine implements it.
type Decider interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
}

// An Asker asks the policy about models in the catalog.
type Asker struct {
	Catalog *catalog.Catalog
	Policy  Decider
	// Screen screens a subject against the restricted-party lists at a time,
	// as the gateway does (gateway.Screen).
	Screen func(sub policy.Subject, at time.Time) policy.Screening
	// Logger receives policy evaluation failures; nil discards them.
	Logger *slog.Logger
	// Releases, when set, is the releases counted under each capped
	// licence, put in every input as the gateway does.
	Releases func() map[string]int
}

// Result is the answer to one what-if question.
type Result struct {
	Decision policy.Decision `json:"decision"`
	// FileExists says whether the file asked about is in the model; absent
	// when the question was about the model's weights.
	FileExists *bool        `json:"file_exists,omitempty"`
	Input      policy.Input `json:"input"`
}

// Check decides a download of file ("": the model's weights) of model id by
// subject at time at, from a client placed as where says (its IPCountry and
// IPTrustedNetwork). A policy that fails to evaluate gives its fail-closed
// decision, logged; a model that is not in storage, or storage that fails,
// is an error.
func (a Asker) Check(ctx context.Context, subject policy.Subject, id, file string, at time.Time, where policy.Request) (Result, error) {
	m, err := a.Catalog.Model(ctx, id)
	if errors.Is(err, catalog.ErrModelNotFound) {
		return Result{}, fmt.Errorf("check: model %s not found in storage", id)
	}
	if err != nil {
		return Result{}, fmt.Errorf("check: %w", err)
	}
	var res Result
	var size int64
	if file != "" {
		f, ok := m.File(file)
		size, res.FileExists = f.Size, &ok
	}
	where.API = "check"
	if res.Input, err = a.Input(ctx, subject, m, file, size, where, at); err != nil {
		return Result{}, fmt.Errorf("check: %w", err)
	}
	d, err := a.Policy.Decide(ctx, res.Input)
	if err != nil && a.Logger != nil {
		a.Logger.Error("policy evaluation failed", "err", err)
	}
	res.Decision = d
	return res, nil
}

// Input is the policy input for subject asking for file (of size bytes; "":
// the weights) of model m at time at, as the gateway builds it for a GET
// through where.API from a client placed as where says: with the fine-tune's
// base model and the open-weight frontier from the catalog, and the subject
// screened against the restricted-party lists.
func (a Asker) Input(ctx context.Context, subject policy.Subject, m *catalog.Model, file string, size int64, where policy.Request, at time.Time) (policy.Input, error) {
	where.Method, where.Time = "GET", at.UTC().Format(time.RFC3339)
	in := catalog.NewInput(subject, m.ID, file, where)
	in.Object.Size = size
	in.Subject.Screening = a.Screen(subject, at)
	if a.Releases != nil {
		in.LicenceReleases = a.Releases()
	}
	return in, a.Catalog.Describe(ctx, &in, m)
}
