package e2e

// Operator endpoints and need to know: nothing an unauthenticated caller of
// the public listeners can read names a closed model, its files or their
// hashes, even after allowed users have downloaded them; the metrics that do
// are on the admin listener only.

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// closedSecrets are what an anonymous caller must never read: the names of
// the closed models of testdata/store (and of the unlabelled one, which is
// treated as closed), the file names only closed models have, and the
// sha256 of frontier-x's shards.
func closedSecrets(tb testing.TB) []string {
	tb.Helper()
	s := []string{"frontier-x", "mini-x", "mid-x", "deep-ft", "chat-ft", "unlabeled",
		"model-00001-of-00002", "model-00002-of-00002", "model.safetensors.index.json"}
	for _, f := range []string{gatewaytest.Shard1, "model-00002-of-00002.safetensors"} {
		s = append(s, gatewaytest.SHA256Hex(gatewaytest.StoreFile(tb, gatewaytest.Frontier+f)))
	}
	return s
}

// anonGet sends an unauthenticated request to base+target and returns the
// status, the headers and the body.
func anonGet(tb testing.TB, method, base, target string) (int, http.Header, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	return resp.StatusCode, resp.Header, b
}

// exposed is everything of an answer a caller reads: headers and body.
func exposed(h http.Header, body []byte) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		b.WriteString(k + ": " + strings.Join(h[k], ", ") + "\n")
	}
	b.Write(body)
	return b.String()
}

// volatile masks what differs between two answers to the same request:
// request ids, dates and the S3 API's request ids.
var volatile = regexp.MustCompile(`[0-9a-f]{32}|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|<RequestId>[^<]*</RequestId>|<HostId>[^<]*</HostId>`)

// TestAttackAnonymousCrawl: after allowed users download closed files, an
// anonymous caller crawls every public endpoint that needs no token, on the
// Hub and the S3 listener, on both backends. No answer names a closed model
// or its files; an answer to a request that names a closed model is the
// answer for a model that does not exist, the name aside. The metrics, which
// name the downloaded model, are on the admin listener alone, and /metrics
// on the public listeners is an unknown path like any other.
func TestAttackAnonymousCrawl(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
		us := h.Token(t, gatewaytest.Claims("US"))
		for _, p := range []string{gatewaytest.Frontier + gatewaytest.Shard1, gatewaytest.Mini + "model.safetensors"} {
			resp, _ := h.Do(t, http.MethodGet, p, us, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("allowed download %s: %d", p, resp.StatusCode)
			}
			h.TransferFor(t, resp.Header.Get("X-Request-Id"))
		}
		// An allowed user's listings fill the caches an anonymous one may
		// then be served from.
		h.Do(t, http.MethodGet, "/api/models?author=frontier-lab", us, nil)
		h.Do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x/tree/main", us, nil)

		// The detector works: the admin listener's metrics name the model.
		if code, hdr, body := anonGet(t, http.MethodGet, h.AdminURL, "/metrics"); code != http.StatusOK ||
			!strings.Contains(exposed(hdr, body), "frontier-lab/frontier-x") {
			t.Fatalf("admin /metrics: %d, without the downloaded model: the crawl would prove nothing", code)
		}

		secrets := closedSecrets(t)
		leak := func(what, text string) {
			t.Helper()
			for _, s := range secrets {
				if strings.Contains(text, s) {
					i := strings.Index(text, s)
					t.Errorf("%s: an anonymous caller reads %q: …%s…", what, s, text[max(0, i-80):min(len(text), i+80)])
				}
			}
		}

		// Requests that name no closed model.
		for _, l := range []struct{ name, base string }{{"hub", h.URL}, {"s3", h.S3URL}} {
			for _, target := range []string{
				"/", "/metrics", "/healthz", "/readyz", "/favicon.ico", "/robots.txt", "/debug/pprof/", "/debug/vars",
				"/frontier-lab", "/frontier-lab/", "/api", "/api/models", "/api/models?full=true&limit=1000",
				"/api/models?author=frontier-lab", "/api/models?search=x", "/api/models?search=frontier",
				"/api/models?sort=downloads&direction=-1&limit=1000", "/api/whoami-v2", "/api/telemetry/x",
				"/api/models/open-lab/tiny-open", "/api/models/open-lab/tiny-open/tree/main",
				"/open-lab/tiny-open/resolve/main/config.json", "/unknown-lab/nothing/resolve/main/x",
				// S3: ListBuckets, listings of the whole bucket, v1 and v2,
				// with and without a delimiter, and the bucket's metadata.
				"/models", "/models/", "/models?list-type=2", "/models?list-type=2&prefix=frontier-lab/",
				"/models?prefix=frontier-lab/&delimiter=/", "/models?delimiter=/", "/models?list-type=2&max-keys=1000&fetch-owner=true",
				"/models?list-type=2&start-after=frontier-lab/", "/models?versions", "/models?uploads", "/models?location",
				"/models?acl", "/models?policy", "/models/frontier-lab/",
			} {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					code, hdr, body := anonGet(t, method, l.base, target)
					// 501 NotImplemented is S3's answer to an operation it
					// does not offer.
					if code >= 500 && code != http.StatusNotImplemented {
						t.Errorf("%s %s %s: %d", l.name, method, target, code)
					}
					leak(l.name+" "+method+" "+target, exposed(hdr, body))
				}
			}
		}

		// /metrics on the public listeners is an unknown path: the same
		// answer as any other.
		code, hdr, body := anonGet(t, http.MethodGet, h.URL, "/metrics")
		code2, hdr2, body2 := anonGet(t, http.MethodGet, h.URL, "/metricz")
		if code != http.StatusNotFound || code2 != code ||
			volatile.ReplaceAllString(string(body), "#") != volatile.ReplaceAllString(string(body2), "#") ||
			hdr.Get("Content-Type") != hdr2.Get("Content-Type") {
			t.Errorf("hub /metrics: %d %q; /metricz: %d %q: want the same 404", code, body, code2, body2)
		}

		// Requests that name a closed model: the answer for a model that
		// does not exist, with a name of the same length.
		for _, l := range []struct{ name, base string }{{"hub", h.URL}, {"s3", h.S3URL}} {
			for _, tt := range []struct{ closed, absent string }{
				{"frontier-lab/frontier-x", "frontier-lab/frontier-q"},
				{"frontier-lab/mini-x", "frontier-lab/mini-q"},
			} {
				var targets []string
				if l.name == "hub" {
					targets = []string{
						"/api/models/" + tt.closed, "/api/models/" + tt.closed + "/tree/main",
						"/api/models/" + tt.closed + "/revision/main", "/api/models/" + tt.closed + "/tree/main/sub",
						"/" + tt.closed + "/resolve/main/" + gatewaytest.Shard1, "/" + tt.closed + "/resolve/main/config.json",
						"/" + tt.closed + "/raw/main/model.safetensors", "/" + tt.closed + "/resolve/main/export.yaml",
					}
				} else {
					targets = []string{
						"/models/" + tt.closed + "/" + gatewaytest.Shard1, "/models/" + tt.closed + "/config.json",
						"/models?list-type=2&prefix=" + tt.closed + "/", "/models?prefix=" + tt.closed + "&delimiter=/",
					}
				}
				for _, target := range targets {
					for _, method := range []string{http.MethodGet, http.MethodHead} {
						code, hdr, body := anonGet(t, method, l.base, target)
						absentTarget := strings.ReplaceAll(target, tt.closed, tt.absent)
						code2, hdr2, body2 := anonGet(t, method, l.base, absentTarget)
						got := volatile.ReplaceAllString(strings.ReplaceAll(exposed(hdr, body), tt.closed, "MODEL"), "#")
						want := volatile.ReplaceAllString(strings.ReplaceAll(exposed(hdr2, body2), tt.absent, "MODEL"), "#")
						if code != code2 || got != want {
							t.Errorf("%s %s %s: %d\n%s\nwhere a model that does not exist gets %d\n%s", l.name, method, target, code, got, code2, want)
						}
						// An empty listing (200) is what an absent prefix gets;
						// anything else must be a refusal.
						if code < 400 && !strings.HasPrefix(target, "/models?") {
							t.Errorf("%s %s %s: %d for an anonymous caller", l.name, method, target, code)
						}
					}
				}
			}
		}
	})
}

// TestAttackAdminListenerOnly: the admin listener serves /metrics, /healthz
// and /readyz and nothing else, whatever the caller sends: no download,
// listing or STS exchange, token or not.
func TestAttackAdminListenerOnly(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
	us := h.Token(t, gatewaytest.Claims("US"))
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _, _ := anonGet(t, http.MethodGet, h.AdminURL, p); code != http.StatusOK {
			t.Errorf("admin %s: %d", p, code)
		}
	}
	before := len(h.Records(t))
	for _, target := range []string{
		gatewaytest.Frontier + gatewaytest.Shard1, gatewaytest.Open + "model.safetensors", "/api/models",
		"/api/models/frontier-lab/frontier-x/tree/main", "/models?list-type=2", "/models/frontier-lab/frontier-x/" + gatewaytest.Shard1,
		"/?Action=AssumeRoleWithWebIdentity&WebIdentityToken=" + us, "/metrics/", "/healthz/x",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.AdminURL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+us)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("admin %s: %d, want 404", target, resp.StatusCode)
		}
		assertNoClosedBytes(t, "admin "+target, body)
		if got := gatewaytest.DecodeError(t, body).Code; got != "not_found" {
			t.Errorf("admin %s: code %q, want not_found", target, got)
		}
	}
	if after := len(h.Records(t)); after != before {
		t.Errorf("the admin listener wrote %d audit records; it serves no model data", after-before)
	}
}
