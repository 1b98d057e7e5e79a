package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
)

const replaySynopsis = `--audit FILE|DIR... --policy BUNDLE [--registry DIR] [--extension DIR]... [--setting NAME=VALUE]... [--at RFC3339] [--format text|json]

Re-evaluates every recorded decision (the policy input a decision record
carries) under a proposed policy bundle, and reports each decision that would
change and counts by code: what turning the bundle on would have done to the
recorded traffic. Each input is decided at its own request time, so a bundle's
effective date applies as it would have then; --at decides every input as at
one time instead. Records without a policy input, or whose request was refused
before the policy was asked (bad path, unknown model, storage down), are
counted as skipped, with the reason. Transfer records and the log's own records
are not decisions and are passed over.

A DIR stands for its audit-NNNNNN.jsonl files in rotation order; files may also
follow the flags. The hash chain is not checked here: run
"weightgate audit verify" first to know the records are genuine.

--format text prints a CHANGED line per change, then the counts; json prints
one JSON object per line: {"type":"change",...} per change, then one
{"type":"summary",...}.
Exit 0 when the replay ran (changes are not an error), 2 on errors: an
unreadable file or record, a bundle that does not load, or an input the
proposed policy could not evaluate (reported as a change to policy_error).`

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// replayOutcome is one side of a replayed decision.
type replayOutcome struct {
	Allow   bool   `json:"allow"`
	Code    string `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Bundle  string `json:"bundle,omitempty"`
	Version string `json:"version,omitempty"`
}

func outcomeOf(d policy.Decision) replayOutcome {
	return replayOutcome{Allow: d.Allow, Code: d.Code, Reason: d.Reason, Bundle: d.Bundle, Version: d.Version}
}

func (o replayOutcome) String() string {
	verdict := "deny"
	if o.Allow {
		verdict = "allow"
	}
	return verdict + " " + o.Code
}

// replayChange is one decision that the proposed policy would change.
type replayChange struct {
	Type      string        `json:"type"` // "change"
	Time      time.Time     `json:"time"`
	RequestID string        `json:"request_id"`
	Subject   string        `json:"subject"`
	Country   string        `json:"country,omitempty"`
	Model     string        `json:"model"`
	File      string        `json:"file"`
	Old       replayOutcome `json:"old"`
	New       replayOutcome `json:"new"`
	Error     string        `json:"error,omitempty"`
	Source    string        `json:"source"` // file:line of the record
}

// replayTransition counts changes from one code to another.
type replayTransition struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// replayCodeCount counts the re-evaluated decisions carrying a code before
// and after.
type replayCodeCount struct {
	Code   string `json:"code"`
	Before int    `json:"before"`
	After  int    `json:"after"`
}

type replaySkip struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// replayRegime is one regime of the proposed policy.
type replayRegime struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Effective string `json:"effective,omitempty"` // RFC 3339; absent: always
	Revision  string `json:"revision"`
}

func replayRegimes(rs []opa.RegimeInfo) []replayRegime {
	out := make([]replayRegime, len(rs))
	for i, r := range rs {
		out[i] = replayRegime{Name: r.Name, Version: r.Version, Revision: r.Revision}
		if !r.Effective.IsZero() {
			out[i].Effective = r.Effective.UTC().Format(time.RFC3339)
		}
	}
	return out
}

// replaySummary is what a replay found.
type replaySummary struct {
	Type        string             `json:"type"` // "summary"
	Policy      []replayRegime     `json:"policy"`
	At          string             `json:"at,omitempty"` // --at, when given
	Files       []string           `json:"files"`
	Reevaluated int                `json:"reevaluated"`
	Unchanged   int                `json:"unchanged"`
	Changed     int                `json:"changed"`
	Skipped     int                `json:"skipped"`
	Errors      int                `json:"errors"`
	Transitions []replayTransition `json:"transitions"`
	ByCode      []replayCodeCount  `json:"by_code"`
	SkipReasons []replaySkip       `json:"skip_reasons"`

	transitions map[[2]string]int
	before      map[string]int
	after       map[string]int
	skips       map[string]int
	firstErr    error
}

func (m *Main) replay(ctx context.Context, args []string) error {
	fs := m.newFlagSet("replay", replaySynopsis)
	var files, extensions, settings stringsFlag
	fs.Var(&files, "audit", "audit file or directory (repeatable)")
	bundle := fs.String("policy", "", "proposed bundle: a directory, or the name of a built-in bundle")
	registry := fs.String("registry", "", "registry directory (licences.json, veu.json, ...) to load with the proposed bundle")
	fs.Var(&extensions, "extension", "extension directory to load with the proposed bundle (repeatable)")
	fs.Var(&settings, "setting", "NAME=VALUE: an operator setting for the proposed bundle, as location.unknown and screening.open_weights set them (location_unknown=deny, screening_open_weights=deny; repeatable)")
	at := fs.String("at", "", "decide every input as at this RFC 3339 time instead of its own request time")
	format := fs.String("format", "text", "text or json")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	files = append(files, rest...)
	if len(files) == 0 || *bundle == "" {
		fs.Usage()
		return errors.New("replay: --audit and --policy are required")
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("replay: --format must be text or json, got %q", *format)
	}
	var when time.Time
	if *at != "" {
		if when, err = timeFlag("replay", "at", *at); err != nil {
			return err
		}
	}
	paths, err := auditFiles(files)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	set := map[string]string{}
	for _, kv := range settings {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("replay: --setting %q is not NAME=VALUE", kv)
		}
		set[k] = v
	}
	engine, err := replayEngine(ctx, opa.Options{Bundle: *bundle, Registry: *registry, Extensions: extensions, Settings: set})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}

	sum := &replaySummary{Type: "summary", Policy: replayRegimes(engine.Regimes()), Files: paths,
		transitions: map[[2]string]int{}, before: map[string]int{}, after: map[string]int{}, skips: map[string]int{}}
	if !when.IsZero() {
		sum.At = when.UTC().Format(time.RFC3339)
	}
	var emit func(replayChange) error
	if *format == "json" {
		enc := json.NewEncoder(m.Stdout)
		emit = func(c replayChange) error { return enc.Encode(c) }
	} else {
		fmt.Fprintf(m.Stdout, "replaying %s under %s, %s\n", strings.Join(paths, " "), describeRegimes(sum.Policy), describeAt(sum.At))
		emit = func(c replayChange) error { return writeChange(m.Stdout, c) }
	}

	err = audit.Scan(paths, func(e audit.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Kind != audit.RecordDecision {
			return nil // transfers repeat their decision; the log's own records decide nothing
		}
		var r audit.Record
		if err := json.Unmarshal(e.Record, &r); err != nil {
			return fmt.Errorf("%s:%d: %w", e.File, e.Line, err)
		}
		c, ok := sum.replayRecord(ctx, engine, e, &r, when)
		if !ok {
			return nil
		}
		return emit(c)
	})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	sum.finish()
	if *format == "json" {
		err = json.NewEncoder(m.Stdout).Encode(sum)
	} else {
		err = sum.writeText(m.Stdout)
	}
	if err != nil {
		return err
	}
	if sum.Errors > 0 {
		return fmt.Errorf("replay: the proposed policy could not evaluate %d of %d inputs; first: %w", sum.Errors, sum.Reevaluated, sum.firstErr)
	}
	return nil
}

// replayEngine builds the proposed policy's engine: every input evaluated,
// none answered from the decision cache, so that the replay reports what
// the policy itself decides; and quiet, stdout being the report.
func replayEngine(ctx context.Context, opts opa.Options) (*opa.Engine, error) {
	opts.DecisionCache = opa.NoDecisionCache
	opts.Logger = slog.New(slog.DiscardHandler)
	return opa.New(ctx, opts)
}

// replayRecord re-evaluates one decision record, counts it, and returns the
// change it makes, if any.
func (s *replaySummary) replayRecord(ctx context.Context, engine *opa.Engine, e audit.Entry, r *audit.Record, at time.Time) (replayChange, bool) {
	switch {
	case r.Input == nil:
		s.skip(fmt.Sprintf("no policy input (api %s)", r.API))
		return replayChange{}, false
	case r.Policy == nil:
		s.skip(fmt.Sprintf("refused before the policy was asked (code %s)", r.Code))
		return replayChange{}, false
	}
	in := *r.Input
	switch {
	case !at.IsZero():
		in.Request.Time = at.UTC().Format(time.RFC3339)
	case in.Request.Time == "":
		// Not expected from the gateway; the record's own time is the
		// request's within milliseconds.
		in.Request.Time = e.Time.UTC().Format(time.RFC3339)
	}
	d, err := engine.Decide(ctx, in)
	s.Reevaluated++
	old, now := outcomeOf(*r.Policy), outcomeOf(d)
	s.before[old.Code]++
	s.after[now.Code]++
	c := replayChange{Type: "change", Time: e.Time.UTC(), RequestID: r.RequestID, Subject: subjectOf(in.Subject),
		Country: in.Subject.Country, Model: in.Model.ID, File: in.Object.Path, Old: old, New: now,
		Source: fmt.Sprintf("%s:%d", e.File, e.Line)}
	if err != nil {
		s.Errors++
		if s.firstErr == nil {
			s.firstErr = err
		}
		c.Error = err.Error()
	}
	if old.Allow == now.Allow && old.Code == now.Code {
		s.Unchanged++
		return replayChange{}, false
	}
	s.Changed++
	s.transitions[[2]string{old.Code, now.Code}]++
	return c, true
}

func (s *replaySummary) skip(reason string) {
	s.Skipped++
	s.skips[reason]++
}

func subjectOf(sub policy.Subject) string {
	if sub.Anonymous || sub.ID == "" {
		return "anonymous"
	}
	return sub.ID
}

// finish turns the counting maps into sorted lists: most frequent first,
// then by name, so the output does not depend on map order.
func (s *replaySummary) finish() {
	s.Transitions = []replayTransition{}
	for k, n := range s.transitions {
		s.Transitions = append(s.Transitions, replayTransition{k[0], k[1], n})
	}
	slices.SortFunc(s.Transitions, func(a, b replayTransition) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.From, b.From), strings.Compare(a.To, b.To))
	})
	s.ByCode = []replayCodeCount{}
	for code := range s.before {
		s.ByCode = append(s.ByCode, replayCodeCount{Code: code})
	}
	for code := range s.after {
		if _, ok := s.before[code]; !ok {
			s.ByCode = append(s.ByCode, replayCodeCount{Code: code})
		}
	}
	for i := range s.ByCode {
		s.ByCode[i].Before, s.ByCode[i].After = s.before[s.ByCode[i].Code], s.after[s.ByCode[i].Code]
	}
	slices.SortFunc(s.ByCode, func(a, b replayCodeCount) int { return strings.Compare(a.Code, b.Code) })
	s.SkipReasons = []replaySkip{}
	for r, n := range s.skips {
		s.SkipReasons = append(s.SkipReasons, replaySkip{r, n})
	}
	slices.SortFunc(s.SkipReasons, func(a, b replaySkip) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Reason, b.Reason))
	})
}

func describeRegimes(rs []replayRegime) string {
	var parts []string
	for _, r := range rs {
		s := strings.TrimSpace(r.Name + " " + r.Version)
		if r.Effective != "" {
			s += " (effective " + r.Effective + ")"
		}
		parts = append(parts, s)
	}
	return "policy " + strings.Join(parts, ", then ")
}

func describeAt(at string) string {
	if at == "" {
		return "each input at its own request time"
	}
	return "every input as at " + at
}

func writeChange(w io.Writer, c replayChange) error {
	sub := c.Subject
	if c.Country != "" {
		sub += " (" + c.Country + ")"
	}
	line := fmt.Sprintf("CHANGED %s %s subject=%s model=%s file=%s: %s -> %s",
		c.Time.Format(time.RFC3339), c.RequestID, sub, c.Model, c.File, c.Old, c.New)
	if c.Error != "" {
		line += " (evaluation failed: " + c.Error + ")"
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

func (s *replaySummary) writeText(w io.Writer) error {
	fmt.Fprintf(w, "re-evaluated %d, unchanged %d, changed %d, skipped %d", s.Reevaluated, s.Unchanged, s.Changed, s.Skipped)
	if s.Errors > 0 {
		fmt.Fprintf(w, ", evaluation errors %d", s.Errors)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(s.Transitions) > 0 {
		fmt.Fprintln(tw, "\nchanges\tFROM\tTO\tCOUNT")
		for _, t := range s.Transitions {
			fmt.Fprintf(tw, "\t%s\t%s\t%d\n", t.From, t.To, t.Count)
		}
	}
	if len(s.ByCode) > 0 {
		fmt.Fprintln(tw, "\nby code\tCODE\tBEFORE\tAFTER")
		for _, c := range s.ByCode {
			fmt.Fprintf(tw, "\t%s\t%d\t%d\n", c.Code, c.Before, c.After)
		}
	}
	if len(s.SkipReasons) > 0 {
		fmt.Fprintln(tw, "\nskipped\tREASON\tCOUNT")
		for _, r := range s.SkipReasons {
			fmt.Fprintf(tw, "\t%s\t%d\n", r.Reason, r.Count)
		}
	}
	return tw.Flush()
}
