package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestFmtNum(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1234.56, "1235"}, {123.4, "123"}, {12.345, "12.3"}, {1.2345, "1.23"}, {0.01234, "0.0123"},
		{0, "0"}, {math.NaN(), "n/a"}, {math.Inf(1), "n/a"}, {-15.25, "-15.2"},
	} {
		if got := fmtNum(tc.in); got != tc.want {
			t.Errorf("fmtNum(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFmtSummary(t *testing.T) {
	if got, want := fmtSummary(Summarize([]float64{980, 1010, 1002.4}), "MB/s"), "1002 (980–1010) MB/s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := fmtSummary(Summarize([]float64{64.5}), "MiB"), "64.5 MiB"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := fmtSummary(Summarize(nil), "MB/s"); got != "n/a" {
		t.Errorf("empty: %q", got)
	}
}

func TestTarget(t *testing.T) {
	atLeast := target{value: 0.85}
	atMost := target{value: 0.1, atMost: true}
	for _, tc := range []struct {
		t    target
		v    float64
		want string
	}{
		{atLeast, 0.85, "yes"}, {atLeast, 0.9, "yes"}, {atLeast, 0.84, "**no**"},
		{atMost, 0.1, "yes"}, {atMost, 0.05, "yes"}, {atMost, 0.2, "**no**"},
		{atMost, math.NaN(), "n/a"},
	} {
		if got := tc.t.met(tc.v); got != tc.want {
			t.Errorf("%v met(%v) = %q, want %q", tc.t, tc.v, got, tc.want)
		}
	}
	if atLeast.String() != "≥ 0.85" || atMost.String() != "≤ 0.1" {
		t.Errorf("String: %q, %q", atLeast, atMost)
	}
	if got := fmtRatio(0.0423); got != "0.042" {
		t.Errorf("fmtRatio(0.0423) = %q", got)
	}
	if got := fmtRatio(0.931); got != "0.93" {
		t.Errorf("fmtRatio(0.931) = %q", got)
	}
}

func TestMarkdown(t *testing.T) {
	r := &Report{
		Date:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Command: "bench/run --quick",
		Total:   150 * time.Second, Harness: 130 * time.Second,
		Mode: "quick", Runs: 3,
		Sizes:          []KV{{"shards", "16 × 64 MiB"}},
		Machine:        []KV{{"CPU", "AMD EPYC"}},
		Summary:        []SummaryRow{{Case: "one | big download", WG: "900 (850–950) MB/s", Baseline: "1000 (990–1010) MB/s", Ratio: "0.90", Target: "≥ 0.85", Met: "yes"}},
		Absolute:       []AbsoluteRow{{Figure: "TTFB added, p50", Value: "0.40 ms", Target: "≤ 1 ms", Met: "yes", Source: "Range GETs"}},
		Notes:          []string{"a note"},
		Raw:            []Table{{Title: "one download", Header: []string{"run", "weightgate"}, Rows: [][]string{{"1", "900"}}}},
		GoBenchCommand: "go test -bench X",
		GoBench: []GoBench{
			{Name: "BenchmarkDecide/aia-2", Iterations: 10, Metrics: []GoMetric{{812441, "ns/op"}, {1952, "allocs/op"}}},
			{Name: "BenchmarkDecide/open-2", Iterations: 20, Metrics: []GoMetric{{84047, "ns/op"}, {80125, "p50-ns"}}},
		},
		Configs: []ConfigBlock{{Title: "nginx.conf", Lang: "nginx", Body: "events {}\n"}},
	}
	md := r.Markdown()
	for _, want := range []string{
		"# weightgate benchmark results",
		"- command: `bench/run --quick`",
		"- total wall time: 2m30s (bench/run, builds included); harness 2m10s",
		"- mode: quick, 3 runs per case",
		"- shards: 16 × 64 MiB",
		"| case | weightgate median (min–max) | baseline median (min–max) | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n",
		`| one \| big download | 900 (850–950) MB/s | 1000 (990–1010) MB/s | 0.90 | ≥ 0.85 | yes |`,
		"| TTFB added, p50 | 0.40 ms | ≤ 1 ms | yes | Range GETs |",
		"| benchmark | iterations | ns/op | allocs/op | p50-ns |",
		"| BenchmarkDecide/aia-2 | 10 | 812441 | 1952 | – |",
		"| BenchmarkDecide/open-2 | 20 | 84047 | – | 80125 |",
		"### one download",
		"```nginx\nevents {}\n```",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n--- report ---\n%s", want, md)
		}
	}
}
