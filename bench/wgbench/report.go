package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Report is everything bench/RESULTS.md says.
type Report struct {
	Date    time.Time
	Command string
	// Total is bench/run's wall time (builds included) when known;
	// Harness is the orchestrator's alone.
	Total, Harness time.Duration
	Mode           string // quick | full
	Runs           int
	Sizes          []KV
	Machine        []KV
	Summary        []SummaryRow
	Absolute       []AbsoluteRow
	Notes          []string
	Internals      Table
	Raw            []Table
	GoBenchCommand string
	GoBench        []GoBench
	Configs        []ConfigBlock
}

// KV is one "name: value" line.
type KV struct{ K, V string }

// SummaryRow is one line of the summary table: a comparison's medians and
// spreads, their ratio and the target it is held to.
type SummaryRow struct {
	Case     string
	WG       string
	Baseline string
	Ratio    string
	Target   string
	Met      string
}

// AbsoluteRow is one absolute figure with its target.
type AbsoluteRow struct {
	Figure string
	Value  string
	Target string
	Met    string
	Source string
}

// Table is a table of raw figures.
type Table struct {
	Title  string
	Note   string
	Header []string
	Rows   [][]string
}

// ConfigBlock is a configuration file as it was used.
type ConfigBlock struct {
	Title string
	Lang  string
	Body  string
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# weightgate benchmark results\n\n")
	p("Side-by-side figures from `bench/run` (see docs/performance.md). ")
	p("Every process ran on this one machine on 127.0.0.1, the load generator included, so the sides share its cores. ")
	p("MB/s are 10^6 bytes per second of verified response bodies. Each case ran a discarded warm-up of each side, then %d runs alternating the sides (A B A B ...); figures are the median of the runs with the spread (min–max) in brackets.\n\n", r.Runs)
	p("- date: %s\n", r.Date.UTC().Format(time.RFC3339))
	p("- command: `%s`\n", r.Command)
	if r.Total > 0 {
		p("- total wall time: %s (bench/run, builds included); harness %s\n", roundDur(r.Total), roundDur(r.Harness))
	} else {
		p("- total wall time: %s (harness)\n", roundDur(r.Harness))
	}
	p("- mode: %s, %d runs per case\n", r.Mode, r.Runs)
	for _, kv := range r.Sizes {
		p("- %s: %s\n", kv.K, kv.V)
	}
	p("\n## Machine\n\n")
	for _, kv := range r.Machine {
		p("- %s: %s\n", kv.K, kv.V)
	}
	p("\n## Summary\n\n")
	rows := make([][]string, len(r.Summary))
	for i, s := range r.Summary {
		rows[i] = []string{s.Case, s.WG, s.Baseline, s.Ratio, s.Target, s.Met}
	}
	writeTable(&b, []string{"case", "weightgate median (min–max)", "baseline median (min–max)", "ratio", "target", "met"}, rows)
	if len(r.Absolute) > 0 {
		p("\n## Absolute figures\n\n")
		rows = make([][]string, len(r.Absolute))
		for i, a := range r.Absolute {
			rows[i] = []string{a.Figure, a.Value, a.Target, a.Met, a.Source}
		}
		writeTable(&b, []string{"figure", "value", "target", "met", "source"}, rows)
	}
	if len(r.Internals.Rows) > 0 {
		p("\n## Inside the gateway\n\n")
		if r.Internals.Note != "" {
			p("%s\n\n", r.Internals.Note)
		}
		writeTable(&b, r.Internals.Header, r.Internals.Rows)
	}
	if len(r.Notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	if len(r.GoBench) > 0 {
		p("\n## Go benchmark\n\n`%s`\n\n", r.GoBenchCommand)
		units := metricUnits(r.GoBench)
		header := append([]string{"benchmark", "iterations"}, units...)
		rows = nil
		for _, g := range r.GoBench {
			row := []string{g.Name, fmt.Sprint(g.Iterations)}
			for _, u := range units {
				if v, ok := g.Metric(u); ok {
					row = append(row, fmtNum(v))
				} else {
					row = append(row, "–")
				}
			}
			rows = append(rows, row)
		}
		writeTable(&b, header, rows)
	}
	if len(r.Raw) > 0 {
		p("\n## Every run\n")
		for _, t := range r.Raw {
			p("\n### %s\n\n", t.Title)
			if t.Note != "" {
				p("%s\n\n", t.Note)
			}
			writeTable(&b, t.Header, t.Rows)
		}
	}
	if len(r.Configs) > 0 {
		p("\n## Configurations used\n")
		for _, c := range r.Configs {
			p("\n### %s\n\n```%s\n%s\n```\n", c.Title, c.Lang, strings.TrimRight(c.Body, "\n"))
		}
	}
	return b.String()
}

// writeTable writes a Markdown table; a "|" inside a cell is escaped.
func writeTable(b *strings.Builder, header []string, rows [][]string) {
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + cell(c) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

// fmtNum prints a figure with about three significant digits: enough to
// compare runs whose spread is a few percent, without false precision.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// fmtSummary prints "median (min–max) unit".
func fmtSummary(s Summary, unit string) string {
	if s.N == 0 {
		return "n/a"
	}
	if s.N == 1 {
		return fmt.Sprintf("%s %s", fmtNum(s.Median), unit)
	}
	return fmt.Sprintf("%s (%s–%s) %s", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max), unit)
}

// fmtRatio prints a ratio with two decimals (three below 0.1, where the
// policy target lives).
func fmtRatio(r float64) string {
	switch {
	case math.IsNaN(r):
		return "n/a"
	case math.Abs(r) < 0.1:
		return fmt.Sprintf("%.3f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// target is a bound a figure is held to.
type target struct {
	value  float64
	atMost bool // true: the figure must be <= value; false: >= value
}

func (t target) String() string {
	if t.atMost {
		return "≤ " + fmtNum(t.value)
	}
	return "≥ " + fmtNum(t.value)
}

// met says whether v meets the target: "yes", "**no**" (bold, to be seen
// in a long table), or "n/a" when there is no figure.
func (t target) met(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case t.atMost && v <= t.value, !t.atMost && v >= t.value:
		return "yes"
	}
	return "**no**"
}

func roundDur(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
