package main

import (
	"math"
	"slices"
)

// Summary is what the report shows of a series of per-run figures: the
// median, which one slow run cannot move, and the spread, which shows how
// far to trust it.
type Summary struct {
	N                int
	Median, Min, Max float64
}

// Summarize returns the median and spread of xs. An empty series gives
// NaNs, which the report prints as "n/a" rather than as a zero that would
// read as a measurement.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{N: len(s), Median: median(s), Min: s[0], Max: s[len(s)-1]}
}

// Median of xs (the mean of the two middle values for an even count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return median(s)
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Percentile returns the p-th percentile (0 < p <= 100) of xs by the
// nearest-rank method: a value that was actually observed, so that a p99
// of latencies is one request's latency and not an interpolation between
// two.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 || p <= 0 || p > 100 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

func percentileSorted(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// Latencies summarises one run of sequential calls.
type Latencies struct {
	N        int
	P50, P99 float64 // in the unit the samples were given in
	Mean     float64
}

// SummarizeLatencies returns the p50, p99 and mean of samples.
func SummarizeLatencies(samples []float64) Latencies {
	if len(samples) == 0 {
		return Latencies{P50: math.NaN(), P99: math.NaN(), Mean: math.NaN()}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return Latencies{N: len(s), P50: percentileSorted(s, 50), P99: percentileSorted(s, 99), Mean: sum / float64(len(s))}
}

// Ratio is a/b, NaN when either is missing or b is zero.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}
