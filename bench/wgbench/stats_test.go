package main

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in               []float64
		median, min, max float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{10, 10, 200, 11, 9}, 10, 9, 200},
	} {
		s := Summarize(tc.in)
		if s.N != len(tc.in) || s.Median != tc.median || s.Min != tc.min || s.Max != tc.max {
			t.Errorf("Summarize(%v) = %+v, want median %v, min %v, max %v", tc.in, s, tc.median, tc.min, tc.max)
		}
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) || !math.IsNaN(s.Min) {
		t.Errorf("Summarize(nil) = %+v, want NaNs", s)
	}
}

func TestSummarizeDoesNotReorder(t *testing.T) {
	in := []float64{3, 1, 2}
	Summarize(in)
	Median(in)
	Percentile(in, 50)
	SummarizeLatencies(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("input reordered: %v", in)
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100..1, unsorted
	}
	for _, tc := range []struct{ p, want float64 }{
		{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.5, 1}, {99.5, 100},
	} {
		if got := Percentile(xs, tc.p); got != tc.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	// Nearest rank: always an observed value.
	if got := Percentile([]float64{1, 2, 3, 4}, 50); got != 2 {
		t.Errorf("Percentile([1 2 3 4], 50) = %v, want 2", got)
	}
	if got := Percentile([]float64{7}, 99); got != 7 {
		t.Errorf("Percentile([7], 99) = %v, want 7", got)
	}
	for _, p := range []float64{0, -1, 101} {
		if got := Percentile([]float64{1}, p); !math.IsNaN(got) {
			t.Errorf("Percentile(_, %v) = %v, want NaN", p, got)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile(nil) = %v, want NaN", got)
	}
}

func TestSummarizeLatencies(t *testing.T) {
	var xs []float64
	for i := 1; i <= 1000; i++ {
		xs = append(xs, float64(i))
	}
	l := SummarizeLatencies(xs)
	if l.N != 1000 || l.P50 != 500 || l.P99 != 990 || l.Mean != 500.5 {
		t.Errorf("SummarizeLatencies(1..1000) = %+v", l)
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(3, 4); got != 0.75 {
		t.Errorf("Ratio(3, 4) = %v", got)
	}
	for _, tc := range [][2]float64{{1, 0}, {math.NaN(), 1}, {1, math.NaN()}} {
		if got := Ratio(tc[0], tc[1]); !math.IsNaN(got) {
			t.Errorf("Ratio(%v, %v) = %v, want NaN", tc[0], tc[1], got)
		}
	}
}
