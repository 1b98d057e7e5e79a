package e2e

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// TestDecisionTable drives every row of the default policy's decision table
// (docs/policies.md, "Default decisions") over HTTP, checking status, codes, headers,
// byte-exact content, and exactly one decision record per request.
func TestDecisionTable(t *testing.T) {
	t.Parallel()
	anon := (*identity.TokenClaims)(nil)
	who := func(country string, hq ...string) *identity.TokenClaims {
		c := gatewaytest.Claims(country, hq...)
		return &c
	}
	tests := []struct {
		name    string
		claims  *identity.TokenClaims
		path    string
		status  int
		code    string // body code
		hubCode string // X-Error-Code
		policy  string // the policy's code in the audit record ("" = same as code)
	}{
		// Row 1: open weights, anyone.
		{"open model anonymous", anon, gatewaytest.Open + "model.safetensors", 200, "", "", "open_weights"},
		{"open model from country of concern", who("CN"), gatewaytest.Open + "model.safetensors", 200, "", "", "open_weights"},
		{"open model embargoed", who("KP"), gatewaytest.Open + "config.json", 200, "", "", "open_weights"},
		// Row 2: anonymous, anything not open (same answer as a missing model).
		{"anonymous closed weights", anon, gatewaytest.Frontier + gatewaytest.Shard1, 401, "authentication_required", "RepoNotFound", ""},
		{"anonymous closed other file", anon, gatewaytest.Frontier + "config.json", 401, "authentication_required", "RepoNotFound", ""},
		{"anonymous unclassified", anon, gatewaytest.Unlabeled + "model.safetensors", 401, "authentication_required", "RepoNotFound", ""},
		{"anonymous missing model", anon, "/nobody/nothing/resolve/main/x.bin", 401, "authentication_required", "RepoNotFound", ""},
		// Row 3: unclassified.
		{"unclassified weights", who("US"), gatewaytest.Unlabeled + "model.safetensors", 403, "unclassified_model", "GatedRepo", ""},
		{"unclassified other file", who("US"), gatewaytest.Unlabeled + "config.json", 403, "unclassified_model", "GatedRepo", ""},
		// Row 4: closed model, not weights: to those who may know the model.
		{"closed config to tier2", who("IN"), gatewaytest.Frontier + "config.json", 200, "", "", "not_weights"},
		{"closed config below threshold to country of concern", who("CN"), gatewaytest.Mini + "config.json", 200, "", "", "not_weights"},
		// A requester the model is hidden from gets a missing model's
		// answer for every file, weights or not; the record keeps the
		// policy's code.
		{"closed config to country of concern", who("CN"), gatewaytest.Frontier + "config.json", 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		{"closed config embargoed", who("KP"), gatewaytest.Frontier + "config.json", 404, "repo_not_found", "RepoNotFound", "embargoed_destination"},
		{"closed README no country", who(""), gatewaytest.Frontier + "README.md", 404, "repo_not_found", "RepoNotFound", "unknown_destination"},
		// Row 5: unknown destination (hidden: it may be an embargoed one).
		{"no country", who(""), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "unknown_destination"},
		{"malformed country", who("usa"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "unknown_destination"},
		{"unassigned country", who("XX"), gatewaytest.Mini + "model.safetensors", 404, "repo_not_found", "RepoNotFound", "unknown_destination"},
		// Row 6: embargoed (hidden).
		{"embargoed country", who("IR"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "embargoed_destination"},
		{"embargoed hq", who("DE", "CU"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "embargoed_destination"},
		{"embargoed below threshold", who("SY"), gatewaytest.Mini + "model.safetensors", 404, "repo_not_found", "RepoNotFound", "embargoed_destination"},
		// Row 7: country of concern (hidden).
		{"country of concern", who("CN"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		{"hong kong as china", who("HK"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		{"macau", who("MO"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		{"tier1 location concern parent", who("US", "US", "CN"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		{"lower-case code normalised", who("ru"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		// Row 8: Tier 1 location and HQ.
		{"us requester no entity", who("US"), gatewaytest.Frontier + gatewaytest.Shard1, 200, "", "", "not_an_export"},
		{"tier1 all the way", who("GB", "US", "JP"), gatewaytest.Frontier + "model-00002-of-00002.safetensors", 200, "", "", "license_exception_aia"},
		// Row 9: otherwise, licence required (visible, and told why).
		{"tier2 requester", who("IN"), gatewaytest.Frontier + gatewaytest.Shard1, 403, "license_required", "GatedRepo", ""},
		{"tier1 location tier2 hq", who("US", "IN"), gatewaytest.Frontier + gatewaytest.Shard1, 403, "license_required", "GatedRepo", ""},
		// A malformed HQ is unknown, never "same as the location".
		{"alpha-3 hq", who("US", "CHN"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "unknown_destination"},
		{"named parent hq", who("US", "US", "China"), gatewaytest.Frontier + gatewaytest.Shard1, 404, "repo_not_found", "RepoNotFound", "unknown_destination"},
		{"unknown extension counts as weights", who("IN"), gatewaytest.Frontier + "model.safetensors.index.json", 403, "license_required", "GatedRepo", ""},
		// Row 10: below threshold.
		{"below threshold tier2", who("IN"), gatewaytest.Mini + "model.safetensors", 200, "", "", "not_controlled"},
		{"below threshold concern", who("CN"), gatewaytest.Mini + "model.safetensors", 200, "", "", "not_controlled"},
		// Around the policy.
		{"missing model authenticated", who("US"), "/nobody/nothing/resolve/main/x.bin", 404, "repo_not_found", "RepoNotFound", ""},
		{"missing file allowed requester", who("US"), gatewaytest.Frontier + "nope.safetensors", 404, "entry_not_found", "EntryNotFound", "not_an_export"},
		{"missing file refused requester learns nothing", who("IN"), gatewaytest.Frontier + "nope.safetensors", 403, "license_required", "GatedRepo", ""},
		{"missing file hidden requester learns nothing", who("CN"), gatewaytest.Frontier + "nope.safetensors", 404, "repo_not_found", "RepoNotFound", "country_of_concern"},
		{"bad revision", who("US"), "/frontier-lab/frontier-x/resolve/v9/" + gatewaytest.Shard1, 404, "revision_not_found", "RevisionNotFound", "not_an_export"},
		{"traversal", who("US"), gatewaytest.Frontier + "a%2F..%2F..%2Fmini-x%2Fmodel.safetensors", 400, "invalid_path", "invalid_path", ""},
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tok := ""
				if tt.claims != nil {
					tok = h.Token(t, *tt.claims)
				}
				resp, body := h.Do(t, http.MethodGet, tt.path, tok, nil)
				if got, want := resp.StatusCode, tt.status; got != want {
					t.Fatalf("status = %d, want %d; body %s", got, want, body)
				}
				id := resp.Header.Get("X-Request-Id")
				decisions, transfers := h.RecordsFor(t, id)
				if got, want := len(decisions), 1; got != want {
					t.Fatalf("decision records = %d, want %d", got, want)
				}
				d := decisions[0]
				// The record's code is the answer's; the policy's own
				// output, when it was asked, is kept in full beside it.
				// A model hidden from the requester: the answer is a
				// missing model's, the record has the policy's code.
				hidden := tt.code == "repo_not_found" && tt.policy != ""
				wantCode := tt.code
				if tt.status == 200 || hidden {
					wantCode = tt.policy
				}
				if got, want := d.Hidden, hidden || (tt.claims == nil && tt.status == 401 && d.Policy != nil); got != want {
					t.Errorf("audit hidden = %v, want %v", got, want)
				}
				policyCode := ""
				if d.Policy != nil {
					policyCode = d.Policy.Code
				}
				if d.Code != wantCode || (tt.policy != "" && policyCode != tt.policy) {
					t.Errorf("audit code = %q (policy %q), want %q (policy %q)", d.Code, policyCode, wantCode, tt.policy)
				}
				if d.Input == nil || d.Input.Subject.Anonymous != (tt.claims == nil) || d.Input.Object.Path == "" {
					t.Errorf("audit input = %+v, want the request's policy input", d.Input)
				}
				if got, want := d.Status, tt.status; got != want {
					t.Errorf("audit status = %d, want %d", got, want)
				}
				if tt.status != 200 {
					e := gatewaytest.DecodeError(t, body)
					if got, want := e.Code, tt.code; got != want {
						t.Errorf("body code = %q, want %q", got, want)
					}
					if e.Error == "" || e.RequestID != id {
						t.Errorf("body = %+v, want a message and request_id %q", e, id)
					}
					if got, want := resp.Header.Get("X-Error-Code"), tt.hubCode; got != want {
						t.Errorf("X-Error-Code = %q, want %q", got, want)
					}
					if resp.Header.Get("X-Error-Message") == "" {
						t.Error("X-Error-Message is empty")
					}
					if got, want := d.Decision, "deny"; got != want {
						t.Errorf("audit decision = %q, want %q", got, want)
					}
					if len(transfers) != 0 {
						t.Errorf("refused request has %d transfer records", len(transfers))
					}
					return
				}
				want := gatewaytest.StoreFile(t, tt.path)
				if got := sha256.Sum256(body); got != sha256.Sum256(want) {
					t.Fatalf("body: %d bytes with sha256 %x, want %d bytes %x", len(body), got, len(want), sha256.Sum256(want))
				}
				if got, want := d.Decision, "allow"; got != want {
					t.Errorf("audit decision = %q, want %q", got, want)
				}
				if d.Policy == nil || d.Policy.Bundle == "" || len(d.Policy.Revision) != 64 || !d.Policy.Allow || d.Policy.Basis == "" {
					t.Errorf("audit policy = %+v, want the allow with its basis, bundle name and 64-hex revision", d.Policy)
				}
				if d.Input.Model.ID == "" || !d.Input.Model.Classified || d.Input.Object.Size != int64(len(want)) {
					t.Errorf("audit input = %+v, want the model's metadata and the object's size", d.Input)
				}
				if tr := h.TransferFor(t, id); tr.Outcome != audit.OutcomeComplete || tr.Bytes != int64(len(want)) {
					t.Errorf("transfer = %s/%d bytes, want complete/%d", tr.Outcome, tr.Bytes, len(want))
				}
				if got := resp.Header.Get("X-Repo-Commit"); !gatewaytest.Hex40.MatchString(got) {
					t.Errorf("X-Repo-Commit = %q, want 40 hex", got)
				}
				if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(want)); got != want {
					t.Errorf("Content-Length = %q, want %q", got, want)
				}
			})
		}
	})
}

// TestAnonymousCannotTellNonOpenFromMissing: a closed model and a model that
// does not exist give anonymous callers the same status, codes and headers.
func TestAnonymousCannotTellNonOpenFromMissing(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	for _, path := range []string{"/api/models/%s", "/api/models/%s/revision/main", "/api/models/%s/tree/main", "/%s/resolve/main/config.json", "/%s/resolve/v1/model.safetensors"} {
		closed, cbody := h.Do(t, http.MethodGet, fmt.Sprintf(path, "frontier-lab/frontier-x"), "", nil)
		missing, mbody := h.Do(t, http.MethodGet, fmt.Sprintf(path, "frontier-lab/no-such-x"), "", nil)
		ce, me := gatewaytest.DecodeError(t, cbody), gatewaytest.DecodeError(t, mbody)
		if closed.StatusCode != 401 || missing.StatusCode != 401 {
			t.Errorf("%s: statuses %d/%d, want 401/401", path, closed.StatusCode, missing.StatusCode)
		}
		for _, hd := range []string{"X-Error-Code", "Content-Type", "WWW-Authenticate"} {
			if c, m := closed.Header.Get(hd), missing.Header.Get(hd); c != m {
				t.Errorf("%s: %s differs: %q vs %q", path, hd, c, m)
			}
		}
		if ce.Code != me.Code || ce.Code != "authentication_required" {
			t.Errorf("%s: codes %q/%q, want authentication_required", path, ce.Code, me.Code)
		}
	}
}
