package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/whatif"
)

func internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "Internal error.", Err: err}
}

func unavailable(what string, err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "index_unavailable", Message: "The " + what + " cannot be read now; try again later.", Err: err}
}

// Overview windows.
var windows = []struct {
	Key   string
	Label string
	D     time.Duration
}{
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour},
	{"custom", "custom", 0},
}

// maxWindow bounds a custom window: the hourly chart has a column per hour.
const maxWindow = 400 * 24 * time.Hour

type overviewView struct {
	Window                 string
	Windows                any
	Since, Until           time.Time
	SinceField, UntilField string
	O                      index.Overview
	HourChart, CodeChart   template.HTML
	GroupChart, ModelChart template.HTML
	Groups                 []destGroup
	GroupErr               string
	Expiring               []licence.Expiry
	ExpiryErr              string
	Base                   string // the decisions page's link, with the window
}

func (c *Console) overview(x *exchange) {
	q := x.r.URL.Query()
	now := c.opts.Now().UTC()
	win := q.Get("window")
	if win == "" {
		win = "24h"
	}
	var since, until time.Time
	for _, w := range windows {
		if w.Key == win && w.D > 0 {
			until = now.Truncate(time.Minute).Add(time.Minute)
			since = until.Add(-w.D)
		}
	}
	if until.IsZero() {
		if win != "custom" {
			x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_window", Message: "window must be 24h, 7d, 30d or custom."})
			return
		}
		var ok bool
		if since, ok = parseTime(q.Get("since")); !ok {
			x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_window", Message: "A custom window needs since (YYYY-MM-DDTHH:MM, UTC)."})
			return
		}
		until = now
		if s := q.Get("until"); s != "" {
			if until, ok = parseTime(s); !ok {
				x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_window", Message: "until is not a time (YYYY-MM-DDTHH:MM, UTC)."})
				return
			}
		}
		if !since.Before(until) || until.Sub(since) > maxWindow {
			x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_window", Message: "since must be before until, at most 400 days apart."})
			return
		}
	}
	ctx := x.r.Context()
	o, err := c.opts.Index.Overview(ctx, since, until)
	if err != nil {
		x.fail(unavailable("index", err))
		return
	}
	v := overviewView{Window: win, Windows: windows, Since: since, Until: until,
		SinceField: since.Format("2006-01-02T15:04"), UntilField: until.Format("2006-01-02T15:04"), O: o,
		Base: "/console/decisions?" + url.Values{"since": {since.Format(time.RFC3339)}, "until": {until.Format(time.RFC3339)}}.Encode()}
	v.HourChart = hourly(o.ByHour, since, until)
	var codeBars []bar
	for _, n := range o.ByCode {
		codeBars = append(codeBars, bar{Label: n.Key, Value: n.N, Class: "neutral"})
	}
	v.CodeChart = hbars("decisions by code", codeBars)
	groups, gerr := c.groupCountries(ctx, until, o.RefusalsByCountry)
	if gerr != nil {
		v.GroupErr = "The policy in force does not group destinations: " + gerr.Error()
	}
	v.Groups = groups
	var groupBars []bar
	for _, g := range groups {
		var names []string
		for _, cn := range g.Countries {
			names = append(names, fmt.Sprintf("%s (%s) %d", cn.Name, cn.Code, cn.N))
		}
		groupBars = append(groupBars, bar{Label: g.Label, Value: g.N, Class: g.Key, Title: g.Label + ": " + strings.Join(names, ", ")})
	}
	v.GroupChart = hbars("refusals by destination group", groupBars)
	var modelBars []bar
	for _, n := range o.ByModel {
		modelBars = append(modelBars, bar{Label: n.Key, Value: n.Bytes, Text: bytesText(n.Bytes), Class: "allow",
			Title: fmt.Sprintf("%s: %s in %d downloads", n.Key, bytesText(n.Bytes), n.N)})
	}
	v.ModelChart = hbars("bytes sent per model", modelBars)
	if c.opts.Expiry != nil {
		if v.Expiring, err = c.opts.Expiry.Expiring(); err != nil {
			v.ExpiryErr = "The registry could not be read: " + err.Error()
		}
	}
	x.render(http.StatusOK, "overview", "Overview", v)
}

// pageSize is the decisions table's page.
const pageSize = 50

type field struct{ Key, Label, Value string }

type decisionsView struct {
	Fields            []field
	Decision, Kind    string
	Since, Until      string
	Page              index.Page
	Next              string
	Tail              string
	Filter            string
	CSVLink, Evidence string
}

func (c *Console) filterForm(f index.Filter) ([]field, string, string) {
	vals := filterValues(f)
	var fs []field
	for _, ff := range filterFields {
		fs = append(fs, field{ff.Key, ff.Label, vals.Get(ff.Key)})
	}
	var since, until string
	if !f.Since.IsZero() {
		since = f.Since.Format("2006-01-02T15:04")
	}
	if !f.Until.IsZero() {
		until = f.Until.Format("2006-01-02T15:04")
	}
	return fs, since, until
}

func (c *Console) decisions(x *exchange) {
	q := x.r.URL.Query()
	f, e := parseFilter(q)
	if e != nil {
		x.fail(e)
		return
	}
	cursor := q.Get("cursor")
	if len(cursor) > 1024 {
		x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_cursor", Message: "The page cursor is not valid."})
		return
	}
	p, err := c.opts.Index.Query(x.r.Context(), f, pageSize, cursor)
	if err != nil {
		if cursor != "" {
			x.fail(&Error{Status: http.StatusBadRequest, Code: "invalid_cursor", Message: "The page cursor is not valid; start from the first page.", Err: err})
			return
		}
		x.fail(unavailable("index", err))
		return
	}
	v := decisionsView{Page: p, Decision: f.Decision, Kind: f.Kind, Filter: describeFilter(f)}
	v.Fields, v.Since, v.Until = c.filterForm(f)
	vals := filterValues(f)
	v.Tail = "/console/tail?" + vals.Encode()
	v.Evidence = "/console/evidence?" + vals.Encode()
	if p.Next != "" {
		vals.Set("cursor", p.Next)
		v.Next = "/console/decisions?" + vals.Encode()
	}
	x.detail = describeFilter(f)
	x.render(http.StatusOK, "decisions", "Decisions", v)
}

// lineOf is the envelope of a trail line.
type lineOf struct {
	Seq    int64           `json:"seq"`
	Time   time.Time       `json:"time"`
	Kind   string          `json:"kind"`
	Prev   string          `json:"prev"`
	Hash   string          `json:"hash"`
	Record json.RawMessage `json:"record"`
}

type replayView struct {
	Under    string
	Old, New policy.Decision
	OldKnown bool
	Changed  bool
	Err      string
	NoInput  string
}

type decisionView struct {
	E          index.Entry
	Line       lineOf
	Rec        audit.Record
	Pretty     string
	InputJSON  string
	Status     *index.InstanceStatus
	Verified   bool
	VerifyText string
	Replay     replayView
}

func (c *Console) decision(x *exchange) {
	inst := x.r.PathValue("instance")
	seq, err := strconv.ParseInt(x.r.PathValue("seq"), 10, 64)
	if err != nil || seq < 0 || len(inst) > maxFilterField {
		x.fail(&Error{Status: http.StatusNotFound, Code: "not_found", Message: "No such record."})
		return
	}
	ctx := x.r.Context()
	e, err := c.opts.Index.Entry(ctx, inst, seq)
	if errors.Is(err, index.ErrNotFound) {
		x.fail(&Error{Status: http.StatusNotFound, Code: "not_found", Message: "No such record."})
		return
	}
	if err != nil {
		x.fail(unavailable("record", err))
		return
	}
	v := decisionView{E: e}
	if err := json.Unmarshal(e.Line, &v.Line); err != nil {
		x.fail(internal(fmt.Errorf("record %s/%d: %w", inst, seq, err)))
		return
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, e.Line, "", "  ") == nil {
		v.Pretty = pretty.String()
	}
	_ = json.Unmarshal(v.Line.Record, &v.Rec)
	if v.Rec.Input != nil {
		if b, err := json.MarshalIndent(v.Rec.Input, "", "  "); err == nil {
			v.InputJSON = string(b)
		}
	}
	if st, err := c.opts.Index.Integrity(ctx); err == nil {
		for i := range st {
			if st[i].Instance == inst {
				v.Status = &st[i]
			}
		}
	}
	switch {
	case v.Status == nil:
		v.VerifyText = "This instance's chain has not been verified."
	case v.Status.VerifyError != "":
		v.VerifyText = "The chain of this instance is broken: " + v.Status.VerifyError
	case seq <= v.Status.LastSeq:
		v.Verified = true
		v.VerifyText = fmt.Sprintf("Verified: the chain is continuous from seq %d through %d, this record included (checked %s).",
			v.Status.FirstSeq, v.Status.LastSeq, v.Status.LastVerified.UTC().Format(time.RFC3339))
	default:
		v.VerifyText = "Not yet verified: the record is past the last verified seq."
	}
	v.Replay = c.replay(x, v.Rec)
	x.render(http.StatusOK, "decision", fmt.Sprintf("Record %s/%d", inst, seq), v)
}

// replay decides the record's input again under the proposed policy, at
// the request's own time (the input carries it), as `weightgate replay`
// does.
func (c *Console) replay(x *exchange, rec audit.Record) replayView {
	rv := replayView{Under: cmpOr(c.opts.ProposedName, "the policy in force")}
	if rec.Input == nil {
		rv.NoInput = "This record carries no policy input (the request was refused before the policy was asked), so there is nothing to replay."
		return rv
	}
	if rec.Policy != nil {
		rv.Old, rv.OldKnown = *rec.Policy, true
	}
	d, err := c.opts.Proposed.Decide(x.r.Context(), *rec.Input)
	if err != nil {
		rv.Err = "The proposed policy could not evaluate this input; it would deny (policy_error)."
		c.log.Warn("console replay failed", "err", err)
	}
	rv.New = d
	rv.Changed = !rv.OldKnown || rv.Old.Allow != d.Allow || rv.Old.Code != d.Code
	x.detail = fmt.Sprintf("replay under %s: %s %s", rv.Under, verdict(d.Allow), d.Code)
	return rv
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

type modelRow struct {
	M         *catalog.Model
	Signature string
	Class     string
}

func classification(m *catalog.Model) (class, signed string) {
	if m.Manifest == nil {
		return "unclassified: " + cmpOr(m.ParseError, "no export.yaml"), "—"
	}
	man := m.Manifest
	parts := []string{man.Weights + " weights"}
	if man.TrainingComputeFLOP != nil {
		parts = append(parts, strings.Replace(strconv.FormatFloat(*man.TrainingComputeFLOP, 'g', -1, 64), "e+", "e", 1)+" FLOP")
	}
	if man.ECCN != "" {
		parts = append(parts, "ECCN "+man.ECCN)
	}
	if man.BaseModel != "" {
		parts = append(parts, "fine-tune of "+man.BaseModel)
	}
	class = strings.Join(parts, ", ")
	switch s := man.Signature; {
	case s != nil && m.Signed:
		signed = fmt.Sprintf("%s on %s (basis %s, key %.20s…)", s.ClassifiedBy, s.ClassifiedAt.Format("2006-01-02"), s.Basis, s.Key)
	case s != nil:
		signed = fmt.Sprintf("says %s, not checked: no classification key is configured", s.ClassifiedBy)
	default:
		signed = "unsigned"
	}
	return class, signed
}

func (c *Console) models(x *exchange) {
	ms, err := c.opts.Catalog.Models(x.r.Context())
	more := errors.Is(err, catalog.ErrTooManyModels)
	if err != nil && !more {
		x.fail(&Error{Status: http.StatusBadGateway, Code: "storage_unavailable", Message: "The model store cannot be listed now.", Err: err})
		return
	}
	rows := make([]modelRow, len(ms))
	for i, m := range ms {
		rows[i].M = m
		rows[i].Class, rows[i].Signature = classification(m)
	}
	x.render(http.StatusOK, "models", "Models", modelsPage{Rows: rows, More: more, Max: catalog.MaxModelsListed})
}

// modelsPage is the models list: the first catalog.MaxModelsListed models,
// and whether the catalog holds more (a model's own page is reached by its
// link or URL whatever its place).
type modelsPage struct {
	Rows []modelRow
	More bool
	Max  int
}

type matrixCell struct {
	Profile, Code, Category, Reason, Basis string
	Allow                                  bool
}

type matrixRow struct {
	Code, Name string
	Cells      []matrixCell
}

type matrixGroup struct {
	Key, Label string
	Rows       []matrixRow
}

type modelView struct {
	M          *catalog.Model
	Class      string
	Signature  string
	Profiles   []whatif.Profile
	Groups     []matrixGroup
	Regime     string
	At         time.Time
	Errors     int
	GroupErr   string
	Categories []struct{ Key, Label string }
}

// cellCategory is a matrix cell's colour, as `weightgate matrix --format
// html` colours it.
func cellCategory(d policy.Decision) string {
	switch d.Code {
	case policy.CodePolicyError, "unclassified_model", "unknown_destination":
		return "error"
	}
	if d.Allow {
		return "allow"
	}
	switch d.Code {
	case "embargoed_destination", "country_of_concern", "restricted_party":
		return "prohibited"
	}
	return "licence"
}

var cellCategories = []struct{ Key, Label string }{
	{"allow", "allowed"},
	{"licence", "denied: needs a licence, an authorisation or an identity"},
	{"prohibited", "denied: embargoed destination, country of concern or restricted party"},
	{"error", "not decided: policy error, unclassified model or unknown destination"},
}

func (c *Console) model(x *exchange) {
	id := x.r.PathValue("org") + "/" + x.r.PathValue("name")
	ctx := x.r.Context()
	m, err := c.opts.Catalog.Model(ctx, id)
	if errors.Is(err, catalog.ErrModelNotFound) {
		x.fail(&Error{Status: http.StatusNotFound, Code: "not_found", Message: "No such model."})
		return
	}
	if err != nil {
		x.fail(&Error{Status: http.StatusBadGateway, Code: "storage_unavailable", Message: "The model cannot be read now.", Err: err})
		return
	}
	at := c.opts.Now().UTC()
	asker := whatif.Asker{Catalog: c.opts.Catalog, Policy: c.opts.Policy, Screen: c.opts.Screen, Logger: c.log}
	mx, err := asker.Matrix(ctx, id, "", at)
	if err != nil {
		x.fail(&Error{Status: http.StatusBadGateway, Code: "storage_unavailable", Message: "The model's matrix cannot be computed now.", Err: err})
		return
	}
	v := modelView{M: m, Profiles: whatif.Profiles, At: at, Errors: mx.Errors, Regime: mx.Regime, Categories: cellCategories}
	v.Class, v.Signature = classification(m)
	gs, gerr := destinationGroups(ctx, c.opts.Policy, at, mx.Rows, func(r whatif.Row) string { return r.Country })
	if gerr != nil {
		v.GroupErr = "The policy in force does not group destinations: " + gerr.Error()
	}
	for _, g := range gs {
		mg := matrixGroup{Key: g.Key, Label: g.Label}
		for _, r := range g.Items {
			row := matrixRow{Code: r.Country, Name: countryName(r.Country)}
			for i, d := range r.Cells {
				row.Cells = append(row.Cells, matrixCell{Profile: whatif.Profiles[i].Title, Code: d.Code, Category: cellCategory(d),
					Reason: d.Reason, Basis: d.Basis, Allow: d.Allow})
			}
			mg.Rows = append(mg.Rows, row)
		}
		slices.SortFunc(mg.Rows, func(a, b matrixRow) int { return strings.Compare(a.Name, b.Name) })
		v.Groups = append(v.Groups, mg)
	}
	x.render(http.StatusOK, "model", id, v)
}

func (c *Console) integrity(x *exchange) {
	st, err := c.opts.Index.Integrity(x.r.Context())
	if err != nil {
		x.fail(unavailable("index", err))
		return
	}
	x.render(http.StatusOK, "integrity", "Integrity", st)
}
