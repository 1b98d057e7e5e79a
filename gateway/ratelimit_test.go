package gateway_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
)

// TestRateLimit: through HTTP, a requester gets its burst and then 429
// rate_limited with Retry-After, on the record; other requesters, and the
// operational endpoints, are not affected; anonymous requests are limited
// per client address.
func TestRateLimit(t *testing.T) {
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{RateLimit: gateway.RateLimit{PerSecond: 0.5, Burst: 3}})
	us, gb := h.Token(t, gatewaytest.Claims("US")), h.Token(t, gatewaytest.Claims("GB"))
	for _, tc := range []struct {
		name, path, token string
	}{
		{"subject", gatewaytest.Frontier + gatewaytest.Shard1, us},
		{"anonymous", gatewaytest.Open + "model.safetensors", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				if resp, _ := h.Do(t, http.MethodHead, tc.path, tc.token, nil); resp.StatusCode != 200 {
					t.Fatalf("request %d of the burst: %d", i+1, resp.StatusCode)
				}
			}
			resp, body := h.Do(t, http.MethodGet, tc.path, tc.token, nil)
			if resp.StatusCode != http.StatusTooManyRequests || gatewaytest.DecodeError(t, body).Code != gateway.CodeRateLimited {
				t.Fatalf("over the burst: %d %s", resp.StatusCode, body)
			}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
				t.Errorf("Retry-After %q, want 1 or 2 seconds", resp.Header.Get("Retry-After"))
			}
			d, tr := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(d) != 1 || d[0].Decision != "deny" || d[0].Code != gateway.CodeRateLimited || d[0].Status != 429 || len(tr) != 0 {
				t.Errorf("audit: %+v, %d transfers; want one rate_limited denial", d, len(tr))
			}
		})
	}
	if resp, _ := h.Do(t, http.MethodHead, gatewaytest.Frontier+gatewaytest.Shard1, gb, nil); resp.StatusCode != 200 {
		t.Errorf("another subject: %d, want 200", resp.StatusCode)
	}
	for range 10 {
		if resp, _ := h.Do(t, http.MethodGet, "/healthz", "", nil); resp.StatusCode != 200 {
			t.Fatalf("/healthz limited: %d", resp.StatusCode)
		}
	}
}

// TestRateLimitS3: the S3 API shares the limit; over it the answer is S3's
// own throttling error, 503 SlowDown with Retry-After, on the record as
// rate_limited.
func TestRateLimitS3(t *testing.T) {
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true},
		RateLimit: gateway.RateLimit{PerSecond: 0.5, Burst: 2}})
	url := h.S3URL + "/models/open-lab/tiny-open/model.safetensors"
	head := func() *http.Response {
		t.Helper()
		resp, err := http.Head(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 2 {
		if resp := head(); resp.StatusCode != 200 {
			t.Fatalf("request %d of the burst: %d", i+1, resp.StatusCode)
		}
	}
	resp := head()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Error-Code") != "SlowDown" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the burst: %d, X-Error-Code %q, Retry-After %q; want 503 SlowDown with Retry-After",
			resp.StatusCode, resp.Header.Get("X-Error-Code"), resp.Header.Get("Retry-After"))
	}
	d, _ := h.RecordsFor(t, resp.Header.Get("x-amz-request-id"))
	if len(d) != 1 || d[0].Code != gateway.CodeRateLimited || d[0].Decision != "deny" {
		t.Errorf("audit: %+v; want one rate_limited denial", d)
	}
}
