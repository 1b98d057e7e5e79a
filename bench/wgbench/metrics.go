package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// promValues parses Prometheus' text exposition format into one value per
// metric name, summed over label sets: the benchmark wants totals (all
// status codes of http_request_duration_seconds_count, for one), and so
// needs no client library. Series with any of the exclude label pairs
// (api="metrics": the benchmark's own scrapes) are left out.
func promValues(r io.Reader, exclude ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("metrics: malformed line %q", line)
			}
			name, rest = line[:i], line[j+1:]
			if labels := line[i : j+1]; slices.ContainsFunc(exclude, func(e string) bool { return strings.Contains(labels, e) }) {
				continue
			}
		} else if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) < 1 { // value, then an optional timestamp
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// scrapeMetrics reads a gateway's /metrics.
func scrapeMetrics(ctx context.Context, hc *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s: status %s", url, resp.Status)
	}
	return promValues(resp.Body, `api="metrics"`)
}

// internals accumulates what a gateway's own metrics say about the runs of
// one case: where its time went.
type internals struct {
	m map[string]float64 // summed deltas
}

func (in *internals) add(before, after map[string]float64) {
	if in.m == nil {
		in.m = map[string]float64{}
	}
	for k, v := range after {
		in.m[k] += v - before[k]
	}
}

// row summarises the accumulated deltas for the report.
func (in *internals) row(label string) []string {
	m := in.m
	mean := func(base string, scale float64) string {
		n := m[base+"_count"]
		if n == 0 {
			return "–"
		}
		return fmtNum(m[base+"_sum"] / n * scale)
	}
	return []string{
		label,
		fmtNum(m["weightgate_http_request_duration_seconds_count"]),
		mean("weightgate_http_request_duration_seconds", 1000),
		mean("weightgate_policy_evaluation_duration_seconds", 1000),
		fmtNum(m["weightgate_audit_batch_records_count"]),
		mean("weightgate_audit_batch_records", 1),
		mean("weightgate_audit_write_duration_seconds", 1000),
		mean("weightgate_audit_fsync_duration_seconds", 1000),
	}
}

var internalsHeader = []string{"case (weightgate side, measured runs)", "requests", "mean request (ms)", "mean policy evaluation (ms)",
	"audit batches (fsyncs)", "mean records per batch", "mean batch write (ms)", "mean fsync (ms)"}
