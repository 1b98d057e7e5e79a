package main

import (
	"strings"
	"testing"
)

func TestPromValues(t *testing.T) {
	const text = `# HELP weightgate_policy_evaluation_duration_seconds Time to evaluate the policy for one request.
# TYPE weightgate_policy_evaluation_duration_seconds histogram
weightgate_policy_evaluation_duration_seconds_bucket{le="0.0001"} 0
weightgate_policy_evaluation_duration_seconds_sum 1.5
weightgate_policy_evaluation_duration_seconds_count 3
weightgate_http_request_duration_seconds_count{api="resolve",code="200"} 10
weightgate_http_request_duration_seconds_count{api="resolve",code="206"} 5 1700000000000
weightgate_http_request_duration_seconds_sum{api="resolve",code="200"} 2e-1
weightgate_http_request_duration_seconds_count{api="metrics",code="200"} 7
go_goroutines 12
`
	m, err := promValues(strings.NewReader(text), `api="metrics"`)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"weightgate_policy_evaluation_duration_seconds_sum":   1.5,
		"weightgate_policy_evaluation_duration_seconds_count": 3,
		"weightgate_http_request_duration_seconds_count":      15,
		"weightgate_http_request_duration_seconds_sum":        0.2,
		"go_goroutines": 12,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	if _, err := promValues(strings.NewReader("x{a=\"b\"} fast\n")); err == nil {
		t.Error("a non-numeric value was accepted")
	}
}

func TestInternals(t *testing.T) {
	var in internals
	in.add(map[string]float64{"weightgate_policy_evaluation_duration_seconds_sum": 1, "weightgate_policy_evaluation_duration_seconds_count": 10},
		map[string]float64{"weightgate_policy_evaluation_duration_seconds_sum": 3, "weightgate_policy_evaluation_duration_seconds_count": 1010,
			"weightgate_http_request_duration_seconds_count": 1000})
	row := in.row("HEAD")
	if len(row) != len(internalsHeader) {
		t.Fatalf("row has %d cells, header %d", len(row), len(internalsHeader))
	}
	// 2 s over 1000 evaluations: 2 ms each.
	if row[1] != "1000" || row[3] != "2.00" || row[2] != "0" || row[5] != "–" {
		t.Errorf("row = %v", row)
	}
}
