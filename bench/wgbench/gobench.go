package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// GoBench is one result line of `go test -bench`: the sub-benchmark's name
// (GOMAXPROCS suffix included, as printed), its iteration count, and every
// "value unit" pair the line reports, in order. Units are kept as printed so
// that metrics a benchmark adds with b.ReportMetric (p50-ns, p99-ns, ...)
// come through without this parser knowing them.
type GoBench struct {
	Name       string
	Iterations int64
	Metrics    []GoMetric
}

// GoMetric is one "value unit" pair.
type GoMetric struct {
	Value float64
	Unit  string
}

// Metric returns the value reported in unit, and whether there was one.
func (b GoBench) Metric(unit string) (float64, bool) {
	for _, m := range b.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// ParseGoBench reads `go test -bench` output and returns its result lines.
// Everything else (goos:, pkg:, PASS, ok, log output) is skipped; a line
// that starts like a result but is malformed is an error, so that a format
// change is noticed instead of silently dropping figures.
func ParseGoBench(r io.Reader) ([]GoBench, error) {
	var out []GoBench
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		// A result line is "BenchmarkX[-N] <iterations> <value> <unit> ...";
		// a benchmark's own log lines, or "BenchmarkX" printed alone before
		// a failing sub-benchmark, do not have an iteration count.
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := GoBench{Name: f[0], Iterations: n}
		rest := f[2:]
		if len(rest)%2 != 0 {
			return nil, fmt.Errorf("go bench output line %d: odd number of value/unit fields: %q", line, sc.Text())
		}
		for i := 0; i < len(rest); i += 2 {
			v, err := strconv.ParseFloat(rest[i], 64)
			if err != nil {
				return nil, fmt.Errorf("go bench output line %d: value %q: %w", line, rest[i], err)
			}
			b.Metrics = append(b.Metrics, GoMetric{Value: v, Unit: rest[i+1]})
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading go bench output: %w", err)
	}
	return out, nil
}

// metricUnits lists the units reported across results, in first-seen order,
// so that one table can hold benchmarks that report different metrics.
func metricUnits(bs []GoBench) []string {
	var units []string
	seen := map[string]bool{}
	for _, b := range bs {
		for _, m := range b.Metrics {
			if !seen[m.Unit] {
				seen[m.Unit] = true
				units = append(units, m.Unit)
			}
		}
	}
	return units
}
