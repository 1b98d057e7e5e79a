package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// TestS3ListenerHealth: the S3 listener answers /healthz and /readyz (GET
// and HEAD) for load balancers, as the Hub listener does: past the
// per-address limit, without a signature and off the audit trail; the
// public /readyz names the policy revision. The same paths with a query are
// S3 requests again, signed or refused.
func TestS3ListenerHealth(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{},
		RateLimit: gateway.RateLimit{PerAddress: gateway.AddressLimit{PerSecond: 0.001, Burst: 1}}})
	for i := range 4 {
		for _, c := range []struct{ method, path string }{{"GET", "/healthz"}, {"HEAD", "/healthz"}, {"GET", "/readyz"}, {"HEAD", "/readyz"}} {
			req, _ := http.NewRequest(c.method, h.S3URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("round %d: %s %s on the S3 listener: %d %s", i, c.method, c.path, resp.StatusCode, body)
			}
			if c.method == "GET" && c.path == "/readyz" {
				var ready struct {
					Ready  bool              `json:"ready"`
					Policy map[string]string `json:"policy"`
				}
				if err := json.Unmarshal(body, &ready); err != nil || !ready.Ready || ready.Policy["revision"] == "" {
					t.Fatalf("/readyz on the S3 listener: %s (%v); want ready with the policy revision", body, err)
				}
			}
		}
	}
	if recs := h.Records(t); len(recs) != 0 {
		t.Fatalf("health checks left %d audit records; want none", len(recs))
	}
	// With a query it is an S3 request for a bucket named healthz: refused
	// unsigned, and recorded, like any other.
	resp, err := http.Get(h.S3URL + "/healthz?list-type=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("GET /healthz?list-type=2 on the S3 listener: 200; want an S3 refusal")
	}
	if recs := h.Records(t); len(recs) != 1 {
		t.Fatalf("the S3 request left %d audit records; want 1", len(recs))
	}
}
