package gateway_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// TestMetrics scrapes /metrics after an allowed download, a denial and a
// storage error-free catalog call: the counters match, and no label carries
// a subject or an object.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	us, cn := h.Token(t, gatewaytest.Claims("US")), h.Token(t, gatewaytest.Claims("IN"))
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, us, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	h.TransferFor(t, resp.Header.Get("X-Request-Id"))
	h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, cn, nil)
	h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, cn, nil)
	h.Do(t, http.MethodGet, "/api/models", us, nil)

	// The metrics are on the operator listener only.
	resp, err := http.Get(h.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d, %v", resp.StatusCode, err)
	}
	text := string(scrape)
	for _, want := range []string{
		`weightgate_decisions_total{code="not_an_export",decision="allow"} 1`,
		`weightgate_decisions_total{code="license_required",decision="deny"} 2`,
		`weightgate_decisions_total{code="ok",decision="allow"} 1`,
		`weightgate_bytes_sent_total{model="frontier-lab/frontier-x",outcome="complete"} ` + strconv.FormatFloat(float64(len(body)), 'g', -1, 64),
		`weightgate_http_request_duration_seconds_count{api="resolve",code="403"} 2`,
		// Three downloads, and the catalog listing's question for each of
		// the six models that are not open: may this requester know of it?
		`weightgate_policy_evaluation_duration_seconds_count 9`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, leak := range []string{"user-US", "user-IN", gatewaytest.Shard1, "request_id"} {
		if strings.Contains(text, leak) {
			t.Errorf("/metrics mentions %q: subjects, objects and ids must not be labels", leak)
		}
	}
	// Probes and scrapes are not audited.
	for _, r := range h.Records(t) {
		if r.API == "metrics" || r.API == "readyz" || r.API == "healthz" {
			t.Errorf("operational request audited: %+v", r)
		}
	}
}

// TestEveryRequestRecordedOnce: API requests, refused or answered, get
// exactly one decision record each.
func TestEveryRequestRecordedOnce(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	us := h.Token(t, gatewaytest.Claims("US"))
	for _, tc := range []struct {
		path, token, api, decision, code string
		status                           int
	}{
		{"/api/models/frontier-lab/frontier-x", us, "model_info", "allow", "ok", 200},
		{"/api/models/frontier-lab/frontier-x", "", "model_info", "deny", "authentication_required", 401},
		{"/api/models/frontier-lab/frontier-x/tree/main", us, "tree", "allow", "ok", 200},
		{"/api/models/nobody/nothing/revision/main", us, "model_info", "deny", "repo_not_found", 404},
		{"/api/models", "", "catalog", "allow", "ok", 200},
		{"/no/such/endpoint/here", "", "other", "deny", "not_found", 404},
		{gatewaytest.Open + "README.md", "", "resolve", "allow", "open_weights", 200},
		{"/open-lab/tiny-open/raw/main/README.md", "", "raw", "allow", "open_weights", 200},
	} {
		resp, _ := h.Do(t, http.MethodGet, tc.path, tc.token, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
		if len(d) != 1 {
			t.Errorf("%s: %d decision records, want 1", tc.path, len(d))
			continue
		}
		if d[0].API != tc.api || d[0].Decision != tc.decision || d[0].Code != tc.code || d[0].Status != tc.status || d[0].Path != tc.path {
			t.Errorf("%s: record api=%q decision=%q code=%q status=%d path=%q; want %q %q %q %d",
				tc.path, d[0].API, d[0].Decision, d[0].Code, d[0].Status, d[0].Path, tc.api, tc.decision, tc.code, tc.status)
		}
	}
}
