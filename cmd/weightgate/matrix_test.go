package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/identity"
)

// update rewrites the golden files: go test ./cmd/weightgate -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/golden files with the current output")

// goldenTime is the --time of every golden matrix: the output is a function
// of the model, the policy and this time only.
const goldenTime = "2026-06-01T00:00:00Z"

// revisionRE matches the policy revision the matrix prints. It is a hash of
// every Rego and data file, comments included, so the golden files hold a
// placeholder: they change when a decision changes, not when a comment does.
var revisionRE = regexp.MustCompile(`revision [0-9a-f]{12}`)

// TestMatrixGolden compares matrix's output for frontier-x with the golden
// files. On a mismatch it lists, row by row, the decisions that changed (from
// the CSV), so that the failure says what the policy now does differently.
// A change of decisions must be explained in the commit that makes it; when
// it is intended, regenerate the files with
//
//	go test ./cmd/weightgate -run Golden -update
//
// and review the diff.
func TestMatrixGolden(t *testing.T) {
	cfg := writeConfig(t)
	render := func(t *testing.T, format string) string {
		t.Helper()
		out, stderr, code := runMain(t, "matrix", "--config", cfg, "--model", "frontier-lab/frontier-x",
			"--time", goldenTime, "--format", format)
		if code != 0 {
			t.Fatalf("matrix --format %s: exit %d: %s", format, code, stderr)
		}
		return revisionRE.ReplaceAllString(out, "revision REVISION")
	}
	goldenPath := func(ext string) string {
		return repoPath(filepath.Join("testdata", "golden", "matrix-frontier-x."+ext))
	}

	// The decisions as the golden CSV has them and as they are now, so that
	// a mismatch in any format says which changed.
	var changes []string
	var changesErr error
	if !*update {
		want, err := os.ReadFile(goldenPath("csv"))
		if err != nil {
			changesErr = err
		} else {
			changes, changesErr = decisionChanges(render(t, "csv"), string(want))
		}
	}

	for _, format := range []struct{ flag, ext string }{{"csv", "csv"}, {"html", "html"}, {"table", "txt"}} {
		t.Run(format.flag, func(t *testing.T) {
			got := render(t, format.flag)
			golden := goldenPath(format.ext)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with: go test ./cmd/weightgate -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("matrix --format %s differs from %s (%s).\n%s", format.flag, golden,
					firstDiff(got, string(want)), explainChanges(changes, changesErr))
			}
		})
	}
}

// explainChanges is the part of a golden mismatch's message that lists the
// changed decisions and says what to do about them.
func explainChanges(changes []string, err error) string {
	const regenerate = "go test ./cmd/weightgate -run Golden -update, then review git diff testdata/golden"
	switch {
	case err != nil:
		return "The decisions could not be compared: " + err.Error() + ".\n" +
			"If the policy changed on purpose, say which decisions changed and why in the commit message, then regenerate with: " + regenerate
	case len(changes) == 0:
		return "No decision changed (the CSV's rows are equal): the difference is in how the matrix is written. " +
			"If that is on purpose, regenerate with: " + regenerate
	}
	const maxLines = 60
	lines := changes
	if len(lines) > maxLines {
		lines = append(lines[:maxLines:maxLines], fmt.Sprintf("... and %d more rows", len(changes)-maxLines))
	}
	return fmt.Sprintf("%d rows changed decisions (golden -> now):\n\t%s\n", len(changes), strings.Join(lines, "\n\t")) +
		"A change of decisions must be explained in the commit message: which rows, and the rule or data change that makes each right. " +
		"Do not regenerate the golden files blindly; only when every change above is intended, run: " + regenerate
}

// decisionChanges compares two matrix CSVs by decision and returns one line
// per country whose row differs, in country order, such as
//
//	VE: deny/country_of_concern -> deny/license_required (every profile)
//	CA: uveu allow/veu_authorised -> allow/license_exception_aia
//
// A decision is written allow/code or deny/code; a country present in only
// one of them is reported as added or removed.
func decisionChanges(got, want string) ([]string, error) {
	g, err := parseMatrixCSV(got)
	if err != nil {
		return nil, fmt.Errorf("new output: %w", err)
	}
	w, err := parseMatrixCSV(want)
	if err != nil {
		return nil, fmt.Errorf("golden CSV: %w", err)
	}
	if !slices.Equal(g.profiles, w.profiles) {
		return nil, fmt.Errorf("the profiles changed: %v -> %v", w.profiles, g.profiles)
	}
	countries := slices.Sorted(maps.Keys(w.rows))
	for c := range g.rows {
		if _, ok := w.rows[c]; !ok {
			countries = append(countries, c)
		}
	}
	slices.Sort(countries)
	var lines []string
	for _, c := range countries {
		gr, inGot := g.rows[c]
		wr, inWant := w.rows[c]
		switch {
		case !inGot:
			lines = append(lines, fmt.Sprintf("%s: row removed (was %s)", c, strings.Join(wr, ", ")))
			continue
		case !inWant:
			lines = append(lines, fmt.Sprintf("%s: row added (%s)", c, strings.Join(gr, ", ")))
			continue
		}
		var diffs []string
		for i, p := range g.profiles {
			if gr[i] != wr[i] {
				diffs = append(diffs, fmt.Sprintf("%s %s -> %s", p, wr[i], gr[i]))
			}
		}
		switch {
		case len(diffs) == 0:
		case len(diffs) == len(g.profiles) && allSame(gr) && allSame(wr):
			lines = append(lines, fmt.Sprintf("%s: %s -> %s (every profile)", c, wr[0], gr[0]))
		default:
			lines = append(lines, fmt.Sprintf("%s: %s", c, strings.Join(diffs, "; ")))
		}
	}
	return lines, nil
}

func allSame(s []string) bool {
	for _, x := range s {
		if x != s[0] {
			return false
		}
	}
	return true
}

// matrixDecisions is a matrix CSV by decision: its profiles (the columns
// other than country and the _allow ones), and for each country one
// allow/code or deny/code per profile.
type matrixDecisions struct {
	profiles []string
	rows     map[string][]string
}

func parseMatrixCSV(text string) (matrixDecisions, error) {
	records, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		return matrixDecisions{}, err
	}
	if len(records) == 0 || len(records[0]) == 0 || records[0][0] != "country" {
		return matrixDecisions{}, errors.New("no header starting with country")
	}
	head := records[0]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	m := matrixDecisions{rows: map[string][]string{}}
	for _, h := range head[1:] {
		if strings.HasSuffix(h, "_allow") {
			continue
		}
		if _, ok := col[h+"_allow"]; !ok {
			return matrixDecisions{}, fmt.Errorf("column %s has no %s_allow", h, h)
		}
		m.profiles = append(m.profiles, h)
	}
	for _, r := range records[1:] {
		var ds []string
		for _, p := range m.profiles {
			verdict := "deny"
			if r[col[p+"_allow"]] == "true" {
				verdict = "allow"
			}
			ds = append(ds, verdict+"/"+r[col[p]])
		}
		if _, dup := m.rows[r[0]]; dup {
			return matrixDecisions{}, fmt.Errorf("country %s twice", r[0])
		}
		m.rows[r[0]] = ds
	}
	return m, nil
}

func TestDecisionChanges(t *testing.T) {
	t.Parallel()
	const head = "country,no_entity,uveu,no_entity_allow,uveu_allow\n"
	golden := head +
		"CN,country_of_concern,country_of_concern,false,false\n" +
		"IN,license_required,veu_authorised,false,true\n" +
		"VE,country_of_concern,country_of_concern,false,false\n"
	tests := []struct {
		name        string
		now, golden string
		want        []string
	}{
		{"same", golden, golden, nil},
		{"a country's decisions change", head +
			"CN,country_of_concern,country_of_concern,false,false\n" +
			"IN,license_required,veu_authorised,false,true\n" +
			"VE,license_required,veu_authorised,false,true\n", golden,
			[]string{"VE: no_entity deny/country_of_concern -> deny/license_required; uveu deny/country_of_concern -> allow/veu_authorised"}},
		{"every profile the same change", head +
			"CN,license_required,license_required,false,false\n" +
			"IN,license_required,veu_authorised,false,true\n" +
			"VE,country_of_concern,country_of_concern,false,false\n", golden,
			[]string{"CN: deny/country_of_concern -> deny/license_required (every profile)"}},
		{"every profile to one decision from different ones", head +
			"CN,country_of_concern,country_of_concern,false,false\n" +
			"IN,country_of_concern,country_of_concern,false,false\n" +
			"VE,country_of_concern,country_of_concern,false,false\n", golden,
			[]string{"IN: no_entity deny/license_required -> deny/country_of_concern; uveu allow/veu_authorised -> deny/country_of_concern"}},
		{"only the allow column", head +
			"CN,country_of_concern,country_of_concern,false,false\n" +
			"IN,license_required,veu_authorised,false,false\n" +
			"VE,country_of_concern,country_of_concern,false,false\n", golden,
			[]string{"IN: uveu allow/veu_authorised -> deny/veu_authorised"}},
		{"a country removed and one added", head +
			"CN,country_of_concern,country_of_concern,false,false\n" +
			"IN,license_required,veu_authorised,false,true\n" +
			"VN,country_of_concern,country_of_concern,false,false\n", golden,
			[]string{"VE: row removed (was deny/country_of_concern, deny/country_of_concern)", "VN: row added (deny/country_of_concern, deny/country_of_concern)"}},
		{"rows in another order", head +
			"VE,country_of_concern,country_of_concern,false,false\n" +
			"CN,country_of_concern,country_of_concern,false,false\n" +
			"IN,license_required,veu_authorised,false,true\n", golden,
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decisionChanges(tt.now, tt.golden)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("decisionChanges = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("other profiles", func(t *testing.T) {
		t.Parallel()
		if _, err := decisionChanges("country,no_entity,no_entity_allow\nCN,x,false\n", golden); err == nil {
			t.Error("decisionChanges with other profiles: no error")
		}
	})
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ": got " + quoteShort(gl) + ", want " + quoteShort(wl)
		}
	}
	return "no line differs"
}

func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return "`" + s + "`"
}

// matrixCSV runs matrix --format csv and returns its cells by country, then
// by column name.
func matrixCSV(t *testing.T, cfg string, args ...string) map[string]map[string]string {
	t.Helper()
	out, stderr, code := runMain(t, append([]string{"matrix", "--config", cfg, "--time", goldenTime, "--format", "csv"}, args...)...)
	if code != 0 {
		t.Fatalf("matrix %q: exit %d: %s", args, code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHead := "country,no_entity,tier1_hq_entity,local_entity,uveu,no_entity_allow,tier1_hq_entity_allow,local_entity_allow,uveu_allow"
	if got := strings.Join(rows[0], ","); got != wantHead {
		t.Fatalf("header %q, want %q", got, wantHead)
	}
	if got, want := len(rows)-1, len(identity.Countries()); got != want {
		t.Fatalf("%d rows, want one per country, %d", got, want)
	}
	cells := map[string]map[string]string{}
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		cells[r[0]] = m
	}
	return cells
}

// TestMatrixCells checks decisions that do not depend on the finer points of
// the bundle: open weights go everywhere, embargoes and countries of concern
// stop everyone, and Tier 1 gets closed weights under License Exception AIA.
func TestMatrixCells(t *testing.T) {
	cfg := writeConfig(t)
	profiles := []string{"no_entity", "tier1_hq_entity", "local_entity", "uveu"}

	open := matrixCSV(t, cfg, "--model", "open-lab/tiny-open")
	for country, row := range open {
		for _, p := range profiles {
			if row[p] != "open_weights" || row[p+"_allow"] != "true" {
				t.Errorf("tiny-open %s %s = %s allow %s, want open_weights allowed", country, p, row[p], row[p+"_allow"])
			}
		}
	}

	frontier := matrixCSV(t, cfg, "--model", "frontier-lab/frontier-x")
	tests := []struct {
		country, profile, code, allow string
	}{
		{"US", "no_entity", "not_an_export", "true"},
		{"GB", "no_entity", "license_exception_aia", "true"},
		{"PR", "no_entity", "not_an_export", "true"},
		{"KH", "no_entity", "license_required", "false"},
		{"IR", "no_entity", "embargoed_destination", "false"},
		{"IR", "tier1_hq_entity", "embargoed_destination", "false"},
		{"IR", "local_entity", "embargoed_destination", "false"},
		{"IR", "uveu", "embargoed_destination", "false"},
		{"KP", "uveu", "embargoed_destination", "false"},
		{"CN", "no_entity", "country_of_concern", "false"},
		{"CN", "tier1_hq_entity", "country_of_concern", "false"},
		{"CN", "local_entity", "country_of_concern", "false"},
		{"CN", "uveu", "country_of_concern", "false"},
	}
	for _, tt := range tests {
		t.Run(tt.country+"/"+tt.profile, func(t *testing.T) {
			row := frontier[tt.country]
			if got, allow := row[tt.profile], row[tt.profile+"_allow"]; got != tt.code || allow != tt.allow {
				t.Errorf("frontier-x %s %s = %s allow %s, want %s allow %s", tt.country, tt.profile, got, allow, tt.code, tt.allow)
			}
		})
	}
}

func TestMatrixFormats(t *testing.T) {
	cfg := writeConfig(t)
	out, stderr, code := runMain(t, "matrix", "--config", cfg, "--model", "frontier-lab/frontier-x", "--time", goldenTime, "--format", "html")
	if code != 0 {
		t.Fatalf("html: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"<!DOCTYPE html>", "frontier-lab/frontier-x", "ai-diffusion-2025", goldenTime,
		`<td class="prohibited">embargoed_destination</td>`, `<td class="allow">license_exception_aia</td>`, `class="legend"`} {
		if !strings.Contains(out, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if strings.Contains(out, "<script") || strings.Contains(out, "http://") || strings.Contains(out, "https://") {
		t.Error("html is not self-contained")
	}

	// A file that is not weights: decided as such.
	cells := matrixCSV(t, cfg, "--model", "frontier-lab/frontier-x", "--file", "config.json")
	if got := cells["US"]["no_entity"]; got != "not_weights" {
		t.Errorf("config.json for US = %s, want not_weights", got)
	}

	// Without --time it decides now, and still exits 0 though cells deny.
	if _, stderr, code := runMain(t, "matrix", "--config", cfg, "--model", "frontier-lab/frontier-x"); code != 0 {
		t.Errorf("matrix without --time: exit %d: %s", code, stderr)
	}
}

func TestMatrixErrors(t *testing.T) {
	cfg := writeConfig(t)
	for name, args := range map[string][]string{
		"missing config":   {"matrix", "--model", "frontier-lab/frontier-x"},
		"missing model":    {"matrix", "--config", cfg},
		"unknown model":    {"matrix", "--config", cfg, "--model", "nobody/nothing"},
		"bad format":       {"matrix", "--config", cfg, "--model", "frontier-lab/frontier-x", "--format", "xml"},
		"bad time":         {"matrix", "--config", cfg, "--model", "frontier-lab/frontier-x", "--time", "tomorrow"},
		"no such file":     {"matrix", "--config", cfg, "--model", "frontier-lab/frontier-x", "--file", "nope.bin"},
		"stray argument":   {"matrix", "--config", cfg, "--model", "frontier-lab/frontier-x", "extra"},
		"before any rules": {"matrix", "--config", cfg, "--model", "frontier-lab/frontier-x", "--time", "2000-01-01T00:00:00Z"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, code := runMain(t, args...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}
