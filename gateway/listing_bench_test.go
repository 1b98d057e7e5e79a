package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/storagetest"
)

// BenchmarkListingPage measures one listing page through the whole gateway
// (dir backend, warm caches) at several catalog sizes: an anonymous S3
// ListObjectsV2 of 1,000 keys, and a US requester's /api/models page of
// 100, which asks the policy about every closed model on it. A page's cost
// should not grow with the catalog.
func BenchmarkListingPage(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 30_000} {
		dir := b.TempDir()
		storagetest.WriteModels(b, dir, n, func(i int) bool { return i%4 == 3 })
		h := gatewaytest.Start(b, gatewaytest.OpenDirStore(b, dir), gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
		tok := h.Token(b, gatewaytest.Claims("US"))
		mid := storagetest.ModelID(n / 2)
		org := fmt.Sprintf("org%d", n/200)
		for _, c := range []struct{ name, url, token string }{
			{"s3-anonymous-1000-keys", h.S3URL + "/models?list-type=2&max-keys=1000&start-after=" + mid + "/", ""},
			{"api-models-anonymous-100", h.URL + "/api/models?limit=100&author=" + org, ""},
			{"api-models-US-100", h.URL + "/api/models?limit=100&author=" + org, tok},
		} {
			b.Run(fmt.Sprintf("%s/models=%d", c.name, n), func(b *testing.B) {
				get := func() {
					req, _ := http.NewRequest(http.MethodGet, c.url, nil)
					if c.token != "" {
						req.Header.Set("Authorization", "Bearer "+c.token)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("%s: %d", c.url, resp.StatusCode)
					}
				}
				get() // warm the classifications
				for b.Loop() {
					get()
				}
			})
		}
	}
}
