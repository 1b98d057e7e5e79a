package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
)

// licenceDay is the gateway's clock in these tests: inside the licences'
// validity, whatever the day the tests run.
var licenceDay = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// cappedRegistry writes a registry directory with one licence for
// frontier-x to the entity andes-ml in CL, capped at max releases, expiring
// on notAfter, and one attestation expiring on attNotAfter.
func cappedRegistry(tb testing.TB, max int, notAfter, attNotAfter string) string {
	tb.Helper()
	dir := tb.TempDir()
	lic := []map[string]any{{
		"id":           "D-CAP-1",
		"licensee":     map[string]any{"entity_id": "frontier-lab", "name": "Frontier Lab Inc."},
		"consignee":    map[string]any{"entity_id": "andes-ml", "name": "Andes ML SpA"},
		"end_user":     map[string]any{"entity_id": "andes-ml", "name": "Andes ML SpA"},
		"destinations": []string{"CL"},
		"models":       []string{"frontier-lab/frontier-x"},
		"not_before":   "2000-01-01",
		"not_after":    notAfter,
		"conditions":   "Two copies at most.",
		"max_releases": max,
	}}
	att := []map[string]any{{
		"id": "ATT-NW-IN-1", "entity_id": "northwind", "site": map[string]any{"name": "Bengaluru DC-1", "country": "IN"},
		"standard": "Supplement No. 10 to part 748", "attested_on": "2026-02-01", "not_after": attNotAfter,
	}}
	for name, v := range map[string]any{"licences.json": lic, "attestations.json": att} {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// licensedGateway starts a gateway over store deciding with the registry in
// dir, counting releases with counter (nil: no count kept).
func licensedGateway(tb testing.TB, store storage.ObjectStore, dir string, counter gatewaytestCounter, o gatewaytest.Options) *gatewaytest.Harness {
	tb.Helper()
	eng, err := opa.New(context.Background(), opa.Options{Registry: dir})
	if err != nil {
		tb.Fatal(err)
	}
	o.Policy = eng
	if o.Now == nil {
		o.Now = func() time.Time { return licenceDay }
	}
	if counter != nil {
		o.Releases = counter
	}
	return gatewaytest.Start(tb, store, o)
}

// gatewaytestCounter is the gateway's ReleaseCounter, named here so that a
// nil *licence.Counter is not passed as a non-nil interface.
type gatewaytestCounter interface {
	Counts() map[string]int
	Reserve([]policy.Release) error
}

func andesClaims() identity.TokenClaims {
	c := gatewaytest.Claims("CL", "CL", "CL")
	c.EntityID, c.Entity, c.Nationality = "andes-ml", "Andes ML SpA", []string{"CL"}
	return c
}

func openCounter(tb testing.TB, path string) *licence.Counter {
	tb.Helper()
	c, err := licence.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestLicenceCapAcrossRestart: a licence capped at two releases allows two
// GETs of its weights (a range counts as one; HEAD and other files count
// for nothing), then refuses with license_exhausted, and still does after
// the gateway restarts with the counts it left on disk.
func TestLicenceCapAcrossRestart(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		t.Parallel()
		dir := cappedRegistry(t, 2, "2027-06-30", "2027-01-31")
		counts := filepath.Join(t.TempDir(), "licence-releases.json")
		h := licensedGateway(t, store, dir, openCounter(t, counts), gatewaytest.Options{})
		tok := h.Token(t, andesClaims())
		shard := gatewaytest.Frontier + gatewaytest.Shard1
		want := gatewaytest.StoreFile(t, shard)

		// Sends nothing of the weights: not a release.
		if resp, _ := h.Do(t, http.MethodHead, shard, tok, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD: status %d, want 200", resp.StatusCode)
		}
		if resp, _ := h.Do(t, http.MethodGet, gatewaytest.Frontier+"config.json", tok, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("config.json: status %d, want 200", resp.StatusCode)
		}

		// Release 1: a range.
		resp, body := h.Do(t, http.MethodGet, shard, tok, http.Header{"Range": {"bytes=0-15"}})
		if resp.StatusCode != http.StatusPartialContent || string(body) != string(want[:16]) {
			t.Fatalf("range: status %d, %d bytes, want 206 and the first 16", resp.StatusCode, len(body))
		}
		// Release 2: the whole file.
		resp, body = h.Do(t, http.MethodGet, shard, tok, nil)
		if resp.StatusCode != http.StatusOK || string(body) != string(want) {
			t.Fatalf("GET 2: status %d, %d bytes, want 200 and the file", resp.StatusCode, len(body))
		}
		// Nothing left.
		resp, body = h.Do(t, http.MethodGet, shard, tok, nil)
		assertRefused(t, h, resp, body, refusal{status: http.StatusForbidden, code: policy.CodeLicenceExhausted})
		if e := gatewaytest.DecodeError(t, body); !strings.Contains(e.Error, "D-CAP-1") {
			t.Errorf("refusal %q does not name the licence", e.Error)
		}
		// Other files of the model are not releases.
		if resp, _ := h.Do(t, http.MethodGet, gatewaytest.Frontier+"config.json", tok, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("config.json after the cap: status %d, want 200", resp.StatusCode)
		}

		// The decision records say which releases were counted.
		var allowed int
		for _, r := range h.Records(t) {
			if r.Type == audit.RecordDecision && r.Policy != nil && r.Policy.Code == "licensed" && len(r.Policy.Releases) == 1 && r.Method == http.MethodGet {
				allowed++
			}
		}
		if allowed != 2 {
			t.Errorf("%d allowed GET records name a release, want 2", allowed)
		}

		// Restart: a new gateway over the counts on disk.
		h2 := licensedGateway(t, store, dir, openCounter(t, counts), gatewaytest.Options{})
		resp, body = h2.Do(t, http.MethodGet, shard, h2.Token(t, andesClaims()), nil)
		assertRefused(t, h2, resp, body, refusal{status: http.StatusForbidden, code: policy.CodeLicenceExhausted})
		if got := openCounter(t, counts).Counts()["D-CAP-1"]; got != 2 {
			t.Errorf("counts file: %d releases of D-CAP-1, want 2", got)
		}
	})
}

// TestLicenceCapLastReleaseRace: many GETs at once for a licence with one
// release left: exactly one gets the weights, every other is refused with
// license_exhausted and no byte of them.
func TestLicenceCapLastReleaseRace(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		t.Parallel()
		dir := cappedRegistry(t, 1, "2027-06-30", "2027-01-31")
		h := licensedGateway(t, store, dir, openCounter(t, filepath.Join(t.TempDir(), "counts.json")), gatewaytest.Options{})
		tok := h.Token(t, andesClaims())
		shard := gatewaytest.Frontier + gatewaytest.Shard1
		const n = 8
		var wg sync.WaitGroup
		statuses := make([]int, n)
		bodies := make([][]byte, n)
		resps := make([]*http.Response, n)
		for i := range n {
			wg.Go(func() {
				resp, body := h.Do(t, http.MethodGet, shard, tok, nil)
				resps[i], statuses[i], bodies[i] = resp, resp.StatusCode, body
			})
		}
		wg.Wait()
		ok := 0
		for i, s := range statuses {
			if s == http.StatusOK {
				ok++
				continue
			}
			assertRefused(t, h, resps[i], bodies[i], refusal{status: http.StatusForbidden, code: policy.CodeLicenceExhausted})
		}
		if ok != 1 {
			t.Fatalf("%d of %d simultaneous GETs were served, want exactly 1: %v", ok, n, statuses)
		}
	})
}

// TestLicenceCapWithoutCounter: a release under a capped licence that the
// gateway cannot count is refused, with no byte of the weights.
func TestLicenceCapWithoutCounter(t *testing.T) {
	t.Parallel()
	dir := cappedRegistry(t, 5, "2027-06-30", "2027-01-31")
	h := licensedGateway(t, gatewaytest.DirStore(t), dir, nil, gatewaytest.Options{})
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, h.Token(t, andesClaims()), nil)
	assertRefused(t, h, resp, body, refusal{status: http.StatusServiceUnavailable, code: "licence_count_unavailable"})
}

// TestLicenceExpiryWarning: a licence and an attestation expiring within the
// warning window are listed on the admin listener's /readyz (which stays
// ready) and counted by weightgate_registry_expiring; the public /readyz
// says nothing of them.
func TestLicenceExpiryWarning(t *testing.T) {
	t.Parallel()
	// licenceDay is 2026-06-01: the licence expires in 10 days, the
	// attestation in 29, both inside 30 days.
	dir := cappedRegistry(t, 5, "2026-06-11", "2026-06-30")
	watch := &licence.Watch{Dir: dir, Window: 30 * 24 * time.Hour, Now: func() time.Time { return licenceDay }}
	h := licensedGateway(t, gatewaytest.DirStore(t), dir, nil, gatewaytest.Options{Expiry: watch})

	resp, body := getURL(t, h.AdminURL+"/readyz")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin /readyz: status %d, want 200 (an expiring licence is not unready): %s", resp.StatusCode, body)
	}
	var ready struct {
		Checks   map[string]string `json:"checks"`
		Expiring []licence.Expiry  `json:"expiring"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatal(err)
	}
	want := []licence.Expiry{
		{Kind: "licence", ID: "D-CAP-1", Expires: "2026-06-11", DaysLeft: 10},
		{Kind: "attestation", ID: "ATT-NW-IN-1", Expires: "2026-06-30", DaysLeft: 29},
	}
	if len(ready.Expiring) != 2 || ready.Expiring[0] != want[0] || ready.Expiring[1] != want[1] || ready.Checks["expiry"] != "expiring" {
		t.Errorf("admin /readyz: checks %v, expiring %+v; want expiry expiring and %+v", ready.Checks, ready.Expiring, want)
	}

	resp, body = h.Do(t, http.MethodGet, "/readyz", "", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "D-CAP-1") || strings.Contains(string(body), "expir") {
		t.Errorf("public /readyz: status %d, body %s: must say nothing of licences", resp.StatusCode, body)
	}

	_, metrics := getURL(t, h.AdminURL+"/metrics")
	for _, line := range []string{`weightgate_registry_expiring{kind="licence"} 1`, `weightgate_registry_expiring{kind="attestation"} 1`} {
		if !strings.Contains(string(metrics), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	// Outside the window, nothing is reported.
	far := &licence.Watch{Dir: dir, Window: 24 * time.Hour, Now: func() time.Time { return licenceDay }}
	if es, err := far.Expiring(); err != nil || len(es) != 0 {
		t.Errorf("1-day window: %+v, %v; want none", es, err)
	}
}

func getURL(tb testing.TB, url string) (*http.Response, []byte) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// TestLicenceCapS3API: the S3 API's GetObject counts a release as the Hub
// API's GET does (StatObject does not), and refuses once the cap is
// reached; the two APIs share one count.
func TestLicenceCapS3API(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		t.Parallel()
		// The real clock: STS issues credentials by it. The licence is in
		// force whatever the day.
		dir := cappedRegistry(t, 2, "2999-12-31", "2999-12-31")
		h := licensedGateway(t, store, dir, openCounter(t, filepath.Join(t.TempDir(), "counts.json")),
			gatewaytest.Options{S3: &gateway.S3Options{}, Now: time.Now})
		claims := andesClaims()
		c := s3Client(t, h, &claims)
		ctx := context.Background()
		key := "frontier-lab/frontier-x/" + gatewaytest.Shard1
		want := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)

		if _, err := c.StatObject(ctx, "models", key, minio.StatObjectOptions{}); err != nil {
			t.Fatalf("StatObject: %v", err)
		}
		if got, err := s3Get(ctx, c, key, minio.GetObjectOptions{}); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("S3 GetObject 1: %d bytes, %v", len(got), err)
		}
		// Release 2 on the Hub API.
		if resp, _ := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, h.Token(t, claims), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("Hub GET 2: status %d", resp.StatusCode)
		}
		got, err := s3Get(ctx, c, key, minio.GetObjectOptions{})
		if e := minio.ToErrorResponse(err); err == nil || e.StatusCode != http.StatusForbidden {
			t.Fatalf("S3 GetObject 3: %d bytes, %v; want 403", len(got), err)
		}
		assertNoClosedBytes(t, "S3 GetObject 3", got)
	})
}
