package main

import (
	"slices"
	"strings"
	"testing"
)

const goBenchOutput = `goos: linux
goarch: amd64
pkg: github.com/weightgate/weightgate/policy
cpu: AMD EPYC
BenchmarkDecide/aia-2         	    2119	    812441 ns/op	   81359 B/op	    1952 allocs/op
BenchmarkDecide/open-2        	   15631	     84047 ns/op	   22249 B/op	     495 allocs/op	     80125 p50-ns	    190000 p99-ns
    engine_test.go:99: some log line
BenchmarkDecide/concern-2     	    2264	    613653.5 ns/op	   70065 B/op	    1716 allocs/op
BenchmarkDecide
PASS
ok  	github.com/weightgate/weightgate/policy	4.481s
`

func TestParseGoBench(t *testing.T) {
	bs, err := ParseGoBench(strings.NewReader(goBenchOutput))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if want := []string{"BenchmarkDecide/aia-2", "BenchmarkDecide/open-2", "BenchmarkDecide/concern-2"}; !slices.Equal(names, want) {
		t.Fatalf("names = %v, want %v", names, want)
	}
	if bs[0].Iterations != 2119 {
		t.Errorf("iterations = %d", bs[0].Iterations)
	}
	if v, ok := bs[1].Metric("p99-ns"); !ok || v != 190000 {
		t.Errorf("open p99-ns = %v, %v", v, ok)
	}
	if v, ok := bs[2].Metric("ns/op"); !ok || v != 613653.5 {
		t.Errorf("concern ns/op = %v, %v", v, ok)
	}
	if _, ok := bs[0].Metric("p50-ns"); ok {
		t.Error("aia has no p50-ns")
	}
	if got, want := metricUnits(bs), []string{"ns/op", "B/op", "allocs/op", "p50-ns", "p99-ns"}; !slices.Equal(got, want) {
		t.Errorf("units = %v, want %v", got, want)
	}
}

func TestParseGoBenchMalformed(t *testing.T) {
	for _, in := range []string{
		"BenchmarkX-2 100 5 ns/op 7\n",
		"BenchmarkX-2 100 fast ns/op\n",
	} {
		if _, err := ParseGoBench(strings.NewReader(in)); err == nil {
			t.Errorf("ParseGoBench(%q) succeeded", in)
		}
	}
}
