package whatif

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy"
)

// Profile is one kind of requester the Matrix asks about.
type Profile struct {
	Key     string // CSV column
	Title   string // HTML heading
	Detail  string // HTML legend
	subject func(country string) policy.Subject
}

// matrixSubjectID is the subject id of every Matrix input.
const matrixSubjectID = "matrix"

// Profiles are the matrix's columns, in order.
var Profiles = []Profile{
	{"no_entity", "no entity", "a person located in the country and a national of it, acting for no entity",
		func(c string) policy.Subject {
			// A person acting for themselves is their own "ultimate parent":
			// the policy needs that said, and a nationality, for controlled
			// weights.
			return policy.Subject{ID: matrixSubjectID, Country: c, Nationality: []string{c}, Entity: policy.Entity{HQ: c, ParentHQ: c}}
		}},
	{"tier1_hq_entity", "Tier-1-HQ entity", "a national of the country acting for an entity headquartered, with its ultimate parent, in the US",
		func(c string) policy.Subject {
			return policy.Subject{ID: matrixSubjectID, Country: c, Nationality: []string{c}, Entity: policy.Entity{
				ID: "matrix-tier1", Name: "Tier-1-headquartered entity", HQ: "US", ParentHQ: "US"}}
		}},
	{"local_entity", "local entity", "a national of the country acting for an entity headquartered, with its ultimate parent, in the country itself",
		func(c string) policy.Subject {
			return policy.Subject{ID: matrixSubjectID, Country: c, Nationality: []string{c}, Entity: policy.Entity{
				ID: "matrix-local", Name: "locally headquartered entity", HQ: c, ParentHQ: c}}
		}},
	{"uveu", "UVEU", "a national of the country acting for a US-headquartered Universal Validated End User (the veu claim trusted)",
		func(c string) policy.Subject {
			return policy.Subject{ID: matrixSubjectID, Country: c, Nationality: []string{c}, Entity: policy.Entity{
				ID: "matrix-uveu", Name: "Universal Validated End User", HQ: "US", ParentHQ: "US", VEU: "uveu"}}
		}},
}

// Matrix cell categories, in legend order.
const (
	catAllow      = "allow"
	catLicence    = "licence"
	catProhibited = "prohibited"
	catError      = "error"
)

var matrixCategories = []struct{ Key, Label string }{
	{catAllow, "allowed"},
	{catLicence, "denied: needs a licence, an authorisation or an identity"},
	{catProhibited, "denied: embargoed destination, country of concern or restricted party"},
	{catError, "not decided: policy error, unclassified model or unknown destination"},
}

// matrixCategory is the colour of a decision.
func matrixCategory(d policy.Decision) string {
	switch d.Code {
	case policy.CodePolicyError, "unclassified_model", "unknown_destination":
		return catError
	}
	if d.Allow {
		return catAllow
	}
	switch d.Code {
	case "embargoed_destination", "country_of_concern", "restricted_party":
		return catProhibited
	}
	return catLicence
}

// Matrix is a computed matrix.
type Matrix struct {
	Model  policy.Model
	Object policy.Object
	Time   string
	// Regime names the regime that decided (name and version), Revision
	// its content hash; empty when no cell was decided by a regime.
	Regime, Revision string
	Rows             []Row
	// Errors counts the cells the policy failed to evaluate; FirstErr is
	// the first of them.
	Errors   int
	FirstErr error
}

type Row struct {
	Country string
	Cells   []policy.Decision // one per Profiles entry
}

// codeCount is how many cells carry a code.
type codeCount struct {
	Code     string
	Allow    bool
	Category string
	Cells    int
}

// codes counts the cells per code, in category order then by code.
func (mx *Matrix) codes() []codeCount {
	byCode := map[string]*codeCount{}
	for _, r := range mx.Rows {
		for _, d := range r.Cells {
			c := byCode[d.Code]
			if c == nil {
				c = &codeCount{Code: d.Code, Allow: d.Allow, Category: matrixCategory(d)}
				byCode[d.Code] = c
			}
			c.Cells++
		}
	}
	rank := func(cat string) int {
		return slices.IndexFunc(matrixCategories, func(c struct{ Key, Label string }) bool { return c.Key == cat })
	}
	out := make([]codeCount, 0, len(byCode))
	for _, c := range byCode {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b codeCount) int {
		if d := rank(a.Category) - rank(b.Category); d != 0 {
			return d
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out
}

// Matrix decides every country x profile for a download of file (its
// weights when "") of model id at time at. A cell the policy could not decide
// is counted in Matrix.Errors; a storage error ends it.
func (a Asker) Matrix(ctx context.Context, id, file string, at time.Time) (*Matrix, error) {
	gm, err := a.Catalog.Model(ctx, id)
	if errors.Is(err, catalog.ErrModelNotFound) {
		return nil, fmt.Errorf("matrix: model %s not found in storage", id)
	}
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	var size int64
	if file != "" {
		f, ok := gm.File(file)
		if !ok {
			return nil, fmt.Errorf("matrix: model %s has no file %s", id, file)
		}
		size = f.Size
	}
	mx := &Matrix{Time: at.UTC().Format(time.RFC3339)}
	for _, country := range identity.Countries() {
		row := Row{Country: country}
		for _, p := range Profiles {
			in, err := a.Input(ctx, p.subject(country), gm, file, size, policy.Request{API: "matrix"}, at)
			if err != nil {
				return nil, fmt.Errorf("matrix: %w", err)
			}
			mx.Model, mx.Object = in.Model, in.Object
			d, err := a.Policy.Decide(ctx, in)
			if err != nil {
				if mx.Errors++; mx.FirstErr == nil {
					mx.FirstErr = err
				}
			}
			if mx.Regime == "" && d.Bundle != "" {
				mx.Regime, mx.Revision = strings.TrimSpace(d.Bundle+" "+d.Version), d.Revision
			}
			row.Cells = append(row.Cells, d)
		}
		mx.Rows = append(mx.Rows, row)
	}
	return mx, nil
}

// describeModel is the model's classification in a few words.
func (mx *Matrix) describeModel() string {
	m := mx.Model
	if !m.Classified {
		return m.ID + " (unclassified)"
	}
	parts := []string{m.Weights + " weights"}
	if m.TrainingComputeFLOP > 0 {
		parts = append(parts, flops(m.TrainingComputeFLOP)+" FLOP")
	}
	if m.ECCN != "" {
		parts = append(parts, "ECCN "+m.ECCN)
	}
	if m.BaseModel != "" {
		parts = append(parts, "fine-tune of "+m.BaseModel)
	}
	return m.ID + " (" + strings.Join(parts, ", ") + ")"
}

// flops formats a compute figure as 3e26 rather than 3e+26.
func flops(f float64) string {
	return strings.Replace(strconv.FormatFloat(f, 'g', -1, 64), "e+", "e", 1)
}

func (mx *Matrix) describeObject() string {
	if mx.Object.Path == "" {
		return "its weights"
	}
	return mx.Object.Path + " (" + mx.Object.Kind + ")"
}

func (mx *Matrix) describeRegime() string {
	if mx.Regime == "" {
		return "none in effect"
	}
	return fmt.Sprintf("%s (revision %.12s)", mx.Regime, mx.Revision)
}

func (mx *Matrix) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "# model %s, file: %s\n", mx.describeModel(), mx.describeObject())
	fmt.Fprintf(w, "# regime %s, time %s\n", mx.describeRegime(), mx.Time)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := []string{"COUNTRY"}
	for _, p := range Profiles {
		head = append(head, strings.ToUpper(p.Key))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range mx.Rows {
		row := []string{r.Country}
		for _, d := range r.Cells {
			row = append(row, d.Code)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range mx.codes() {
		verdict := "deny"
		if c.Allow {
			verdict = "allow"
		}
		fmt.Fprintf(w, "# %s: %s, %d cells\n", c.Code, verdict, c.Cells)
	}
	return nil
}

func (mx *Matrix) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"country"}
	for _, p := range Profiles {
		head = append(head, p.Key)
	}
	for _, p := range Profiles {
		head = append(head, p.Key+"_allow")
	}
	cw.Write(head)
	for _, r := range mx.Rows {
		row := []string{r.Country}
		for _, d := range r.Cells {
			row = append(row, d.Code)
		}
		for _, d := range r.Cells {
			row = append(row, strconv.FormatBool(d.Allow))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// matrixHTML is the HTML form: one self-contained page, no scripts, no
// external resources, so that it can be mailed or archived as is.
var matrixHTML = template.Must(template.New("matrix").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>weightgate matrix: {{.Model.ID}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1a1a1a; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; margin: 0.5em 0 1em; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #c8c8c8; padding: 0.2em 0.5em; text-align: left; }
thead th { position: sticky; top: 0; background: #f2f2f2; }
td.cc { font-weight: 600; font-family: ui-monospace, monospace; }
.allow { background: #c6efce; color: #0b5a1e; }
.licence { background: #ffe8a8; color: #6b4a00; }
.prohibited { background: #f4b6b6; color: #7a0c0c; }
.error { background: #d9d9d9; color: #3a3a3a; }
.legend td:first-child { width: 2em; }
</style>
</head>
<body>
<h1>Export decisions for {{.Model.ID}}</h1>
<dl class="meta">
<dt>Model</dt><dd>{{.ModelText}}</dd>
<dt>File</dt><dd>{{.ObjectText}}</dd>
<dt>Regime</dt><dd>{{.RegimeText}}</dd>
<dt>Decided as at</dt><dd>{{.Time}}</dd>
</dl>
<h2>Legend</h2>
<table class="legend">
<tbody>
{{- range .Categories}}
<tr><td class="{{.Key}}"></td><td>{{.Label}}</td></tr>
{{- end}}
</tbody>
</table>
<h2>Profiles</h2>
<ul>
{{- range .Profiles}}
<li><b>{{.Title}}</b>: {{.Detail}}</li>
{{- end}}
</ul>
<h2>Codes</h2>
<table class="codes">
<thead><tr><th>code</th><th>decision</th><th>cells</th></tr></thead>
<tbody>
{{- range .Codes}}
<tr><td class="{{.Category}}">{{.Code}}</td><td>{{if .Allow}}allow{{else}}deny{{end}}</td><td>{{.Cells}}</td></tr>
{{- end}}
</tbody>
</table>
<h2>Decisions</h2>
<table class="grid">
<thead><tr><th>country</th>{{range .Profiles}}<th>{{.Title}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr><td class="cc">{{.Country}}</td>{{range .Cells}}<td class="{{.Category}}">{{.Code}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</body>
</html>
`))

func (mx *Matrix) WriteHTML(w io.Writer) error {
	type cell struct{ Code, Category string }
	type row struct {
		Country string
		Cells   []cell
	}
	rows := make([]row, len(mx.Rows))
	for i, r := range mx.Rows {
		rows[i].Country = r.Country
		for _, d := range r.Cells {
			rows[i].Cells = append(rows[i].Cells, cell{d.Code, matrixCategory(d)})
		}
	}
	return matrixHTML.Execute(w, map[string]any{
		"Model":      mx.Model,
		"ModelText":  mx.describeModel(),
		"ObjectText": mx.describeObject(),
		"RegimeText": mx.describeRegime(),
		"Time":       mx.Time,
		"Categories": matrixCategories,
		"Profiles":   Profiles,
		"Codes":      mx.codes(),
		"Rows":       rows,
	})
}
