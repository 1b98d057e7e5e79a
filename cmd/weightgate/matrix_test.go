package main

import (
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/gateway/identity"
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
// files. When the policy changes a decision on purpose, regenerate them with
//
//	go test ./cmd/weightgate -run Golden -update
//
// and review the diff.
func TestMatrixGolden(t *testing.T) {
	cfg := writeConfig(t)
	for _, format := range []struct{ flag, ext string }{{"csv", "csv"}, {"html", "html"}, {"table", "txt"}} {
		t.Run(format.flag, func(t *testing.T) {
			out, stderr, code := runMain(t, "matrix", "--config", cfg, "--model", "frontier-lab/frontier-x",
				"--time", goldenTime, "--format", format.flag)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := revisionRE.ReplaceAllString(out, "revision REVISION")
			golden := repoPath(filepath.Join("testdata", "golden", "matrix-frontier-x."+format.ext))
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
				t.Errorf("matrix --format %s differs from %s (%s); if the policy changed on purpose, regenerate with: go test ./cmd/weightgate -run Golden -update",
					format.flag, golden, firstDiff(got, string(want)))
			}
		})
	}
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
		{"US", "no_entity", "license_exception_aia", "true"},
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
