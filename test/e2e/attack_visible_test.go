package e2e

// Need to know: a requester the policy hides a closed model from (a country
// of concern, an embargoed destination, a restricted party) must not learn
// that it exists. Every endpoint that names, sizes, hashes or serves a model
// answers such a requester exactly as for a model that does not exist, while
// the audit trail keeps the real reason.

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// The closed model under test, and a model that does not exist whose id has
// the same length, so that lengths (Content-Length, listing sizes) compare
// too once the ids are swapped.
const (
	hiddenID  = "frontier-lab/frontier-x"
	missingID = "frontier-lab/frontier-q"
)

// exchange is one request and its answer, with the request id taken out.
type exchange struct {
	id     string
	status int
	header http.Header
	body   []byte
}

// normalised returns the answer with its request id replaced by a
// placeholder and, when from is not "", the model id from written as to:
// what must then be byte-identical between a hidden and a missing model.
func (x exchange) normalised(from, to string) exchange {
	swap := func(s string) string {
		if x.id != "" {
			s = strings.ReplaceAll(s, x.id, "REQUEST-ID")
		}
		if from != "" {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	out := exchange{status: x.status, header: http.Header{}, body: []byte(swap(string(x.body)))}
	for k, vs := range x.header {
		if k == "Date" {
			continue
		}
		for _, v := range vs {
			out.header.Add(k, swap(v))
		}
	}
	return out
}

// sameAnswer fails unless hidden and missing are the same answer, byte for
// byte, but for the request id and the model's name.
func sameAnswer(t *testing.T, what string, hidden, missing exchange) {
	t.Helper()
	h, m := hidden.normalised("", ""), missing.normalised(strings.TrimPrefix(missingID, "frontier-lab/"), strings.TrimPrefix(hiddenID, "frontier-lab/"))
	if h.status != m.status {
		t.Errorf("%s: status %d for the hidden model, %d for a missing one", what, h.status, m.status)
	}
	keys := func(hd http.Header) []string {
		var ks []string
		for k := range hd {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if !slices.Equal(keys(h.header), keys(m.header)) {
		t.Errorf("%s: headers %v for the hidden model, %v for a missing one", what, keys(h.header), keys(m.header))
	}
	for k := range h.header {
		if !slices.Equal(h.header[k], m.header[k]) {
			t.Errorf("%s: %s is %q for the hidden model, %q for a missing one", what, k, h.header[k], m.header[k])
		}
	}
	if !bytes.Equal(h.body, m.body) {
		t.Errorf("%s: body\n%s\nfor the hidden model,\n%s\nfor a missing one", what, h.body, m.body)
	}
}

func hubExchange(t *testing.T, h *gatewaytest.Harness, method, path, token, jsonBody string) exchange {
	t.Helper()
	var resp *http.Response
	var body []byte
	if jsonBody != "" {
		resp, body = h.DoBody(t, method, path, token, "application/json", jsonBody)
	} else {
		resp, body = h.Do(t, method, path, token, http.Header{"Range": nil})
	}
	return exchange{id: resp.Header.Get("X-Request-Id"), status: resp.StatusCode, header: resp.Header, body: body}
}

func s3Exchange(t *testing.T, h *gatewaytest.Harness, method, target string, sign s3Signer) exchange {
	t.Helper()
	resp, body := s3Send(t, h, method, target, nil, sign)
	return exchange{id: resp.Header.Get("X-Request-Id"), status: resp.StatusCode, header: resp.Header, body: body}
}

// hubRequest is a Hub API request about a model: path has %s for its id.
type hubRequest struct {
	method, path, body string
}

// hubRequests are every Hub API request that names, describes or serves a
// model.
var hubRequests = []hubRequest{
	{http.MethodGet, "/api/models/%s", ""},
	{http.MethodHead, "/api/models/%s", ""},
	{http.MethodGet, "/api/models/%s?blobs=true", ""},
	{http.MethodGet, "/api/models/%s/revision/main", ""},
	{http.MethodGet, "/api/models/%s/revision/main?blobs=true", ""},
	{http.MethodGet, "/api/models/%s/revision/v9", ""},
	{http.MethodGet, "/api/models/%s/tree/main", ""},
	{http.MethodGet, "/api/models/%s/tree/main?recursive=true&expand=true", ""},
	{http.MethodGet, "/api/models/%s/tree/main/sub", ""},
	{http.MethodPost, "/api/models/%s/paths-info/main", `{"paths": ["config.json", "` + gatewaytest.Shard1 + `", "nope"], "expand": true}`},
	{http.MethodHead, "/%s/resolve/main/" + gatewaytest.Shard1, ""},
	{http.MethodGet, "/%s/resolve/main/" + gatewaytest.Shard1, ""},
	{http.MethodHead, "/%s/resolve/main/config.json", ""},
	{http.MethodGet, "/%s/resolve/main/config.json", ""},
	{http.MethodGet, "/%s/resolve/main/README.md", ""},
	{http.MethodGet, "/%s/resolve/main/nope.safetensors", ""},
	{http.MethodGet, "/%s/resolve/v9/" + gatewaytest.Shard1, ""},
	{http.MethodGet, "/%s/raw/main/config.json", ""},
}

// visibilityRequesters are the requesters the default bundle hides
// frontier-x from, with the policy's code the trail must keep.
func visibilityRequesters() []struct {
	name   string
	claims identity.TokenClaims
	code   string
} {
	return []struct {
		name   string
		claims identity.TokenClaims
		code   string
	}{
		{"country of concern", gatewaytest.Claims("CN"), "country_of_concern"},
		{"embargoed destination", gatewaytest.Claims("KP"), "embargoed_destination"},
		{"restricted party", identity.TokenClaims{Subject: "buyer", Country: "US", Entity: "Shenzhen Quantum Dynamics", EntityHQ: "US", ParentHQ: "US"}, "restricted_party"},
	}
}

// TestHiddenModelIsMissing: for a CN, a KP and a restricted-party
// requester, every Hub API and S3 API request about frontier-x gets the
// answer a model that does not exist gets, byte for byte but for the
// request id; listings (the catalog, S3 ListObjects and ListObjectsV2) do
// not name it; and each such request's decision record has hidden set, the
// policy's code and reason, and no transfer.
func TestHiddenModelIsMissing(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{Screener: gatewaytest.ScreeningLists(t, ""), S3: &gateway.S3Options{}})
		for _, rq := range visibilityRequesters() {
			t.Run(rq.name, func(t *testing.T) {
				token := h.Token(t, rq.claims)
				hiddenRecord := func(what string, x exchange) {
					t.Helper()
					decisions, transfers := h.RecordsFor(t, x.id)
					if len(decisions) != 1 || len(transfers) != 0 {
						t.Errorf("%s: %d decision and %d transfer records, want 1 and 0", what, len(decisions), len(transfers))
						return
					}
					d := decisions[0]
					if !d.Hidden || d.Decision != "deny" || d.Code != rq.code || d.Status != x.status || d.Reason == "" {
						t.Errorf("%s: record hidden %v, %s %s %d %q; want hidden, deny %s %d with the policy's reason", what, d.Hidden, d.Decision, d.Code, d.Status, d.Reason, rq.code, x.status)
					}
					if d.Policy == nil || d.Policy.Code != rq.code || d.Policy.Visible || d.Input == nil || d.Input.Model.ID != hiddenID {
						t.Errorf("%s: record policy %+v, input %+v; want the policy's %s, not visible, and the model's input", what, d.Policy, d.Input, rq.code)
					}
					if strings.Contains(string(x.body), rq.code) || strings.Contains(x.header.Get("X-Error-Message"), rq.code) {
						t.Errorf("%s: the answer names the policy's code %s", what, rq.code)
					}
				}

				for _, r := range hubRequests {
					what := r.method + " " + r.path
					hidden := hubExchange(t, h, r.method, strings.Replace(r.path, "%s", hiddenID, 1), token, r.body)
					missing := hubExchange(t, h, r.method, strings.Replace(r.path, "%s", missingID, 1), token, r.body)
					sameAnswer(t, what, hidden, missing)
					if hidden.status != http.StatusNotFound {
						t.Errorf("%s: %d, want 404", what, hidden.status)
					}
					assertNoClosedBytes(t, what, hidden.body)
					hiddenRecord(what, hidden)
				}

				// The catalog does not list it, nor its compute.
				for _, p := range []string{"/api/models", "/api/models?author=frontier-lab", "/api/models?search=frontier-x"} {
					x := hubExchange(t, h, http.MethodGet, p, token, "")
					if x.status != 200 || bytes.Contains(x.body, []byte("frontier-x")) {
						t.Errorf("GET %s: %d %s; want 200 without frontier-x", p, x.status, x.body)
					}
				}

				// S3: listings leave its keys out; HEAD and GET answer
				// as for a key of a missing model.
				sign := signedBy(stsCredentials(t, h, rq.claims))
				for _, q := range []string{"", "?list-type=2", "?prefix=frontier-lab/", "?list-type=2&prefix=frontier-lab/&delimiter=/", "?list-type=2&prefix=frontier-lab/frontier-x/"} {
					x := s3Exchange(t, h, http.MethodGet, "/models"+q, sign)
					// The answer echoes the request's prefix; no key or
					// common prefix may name the model.
					if x.status != 200 || bytes.Contains(x.body, []byte("<Key>"+hiddenID)) || bytes.Contains(x.body, []byte("<CommonPrefixes><Prefix>"+hiddenID)) || !bytes.Contains(x.body, []byte("<ListBucketResult")) {
						t.Errorf("S3 list %q: %d %s; want 200 without frontier-x's keys", q, x.status, x.body)
					}
				}
				hiddenList := s3Exchange(t, h, http.MethodGet, "/models?list-type=2&prefix="+hiddenID+"/", sign)
				missingList := s3Exchange(t, h, http.MethodGet, "/models?list-type=2&prefix="+missingID+"/", sign)
				sameAnswer(t, "S3 ListObjectsV2 of the model's prefix", hiddenList, missingList)
				for _, file := range []string{gatewaytest.Shard1, "config.json"} {
					for _, method := range []string{http.MethodHead, http.MethodGet} {
						what := "S3 " + method + " " + file
						hidden := s3Exchange(t, h, method, "/models/"+hiddenID+"/"+file, sign)
						missing := s3Exchange(t, h, method, "/models/"+missingID+"/"+file, sign)
						sameAnswer(t, what, hidden, missing)
						if hidden.status != http.StatusNotFound {
							t.Errorf("%s: %d, want 404", what, hidden.status)
						}
						assertNoClosedBytes(t, what, hidden.body)
						hiddenRecord(what, hidden)
					}
				}
			})
		}
	})
}

// TestVisibleModelExplainsRefusal: a Tier 2 requester (India: a licence
// could authorise the export) still sees frontier-x everywhere and is told
// why its weights are refused; its other files are served.
func TestVisibleModelExplainsRefusal(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{}})
		claims := gatewaytest.Claims("IN")
		token := h.Token(t, claims)
		for p, want := range map[string]string{
			"/api/models/" + hiddenID:                 "training_compute_flop",
			"/api/models/" + hiddenID + "?blobs=true": gatewaytest.Shard1,
			"/api/models/" + hiddenID + "/tree/main":  gatewaytest.Shard1,
			"/api/models":                             hiddenID,
		} {
			x := hubExchange(t, h, http.MethodGet, p, token, "")
			if x.status != 200 || !bytes.Contains(x.body, []byte(want)) {
				t.Errorf("GET %s: %d %.200s; want 200 with %s", p, x.status, x.body, want)
			}
		}
		x := hubExchange(t, h, http.MethodGet, "/"+hiddenID+"/resolve/main/"+gatewaytest.Shard1, token, "")
		e := gatewaytest.DecodeError(t, x.body)
		if x.status != 403 || e.Code != "license_required" || x.header.Get("X-Error-Code") != "GatedRepo" || e.Error == "" {
			t.Errorf("weights: %d %s %q; want 403 license_required GatedRepo with the reason", x.status, e.Code, x.header.Get("X-Error-Code"))
		}
		if d, _ := h.RecordsFor(t, x.id); len(d) != 1 || d[0].Hidden || d[0].Code != "license_required" || d[0].Policy == nil || !d[0].Policy.Visible {
			t.Errorf("weights record %+v; want license_required, visible, not hidden", d)
		}
		if x := hubExchange(t, h, http.MethodGet, "/"+hiddenID+"/resolve/main/config.json", token, ""); x.status != 200 {
			t.Errorf("config.json: %d, want 200", x.status)
		}

		sign := signedBy(stsCredentials(t, h, claims))
		if x := s3Exchange(t, h, http.MethodGet, "/models?list-type=2&prefix="+hiddenID+"/", sign); x.status != 200 || !bytes.Contains(x.body, []byte(hiddenID+"/"+gatewaytest.Shard1)) {
			t.Errorf("S3 list: %d %.300s; want the model's keys", x.status, x.body)
		}
		x = s3Exchange(t, h, http.MethodGet, "/models/"+hiddenID+"/"+gatewaytest.Shard1, sign)
		if x.status != 403 || !bytes.Contains(x.body, []byte("AccessDenied")) || !bytes.Contains(x.body, []byte("license_required")) {
			t.Errorf("S3 GET weights: %d %s; want 403 AccessDenied naming license_required", x.status, x.body)
		}
		assertNoClosedBytes(t, "S3 GET weights", x.body)
	})
}
