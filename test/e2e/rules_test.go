package e2e

import (
	"testing"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// TestExportRules sends, over HTTP on both backends, the requests on which
// the default bundle used to release closed files: an embargoed national
// under the employee carve-out, the other files of a closed model to such a
// requester, regions named by ISO 3166-2 code, and tokens without a
// nationality or a parent headquarters. Each is refused with no byte of the
// closed model and one deny on the trail; those the model is hidden from
// see a missing model.
func TestExportRules(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		t.Parallel()
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		employee := func(nationality string) identity.TokenClaims {
			return identity.TokenClaims{Subject: "employee", Country: "US", Nationality: []string{nationality}, Employee: true,
				Entity: "Frontier Lab", EntityID: "frontier-lab", EntityHQ: "US", ParentHQ: "US"}
		}
		noNationality := gatewaytest.Claims("US", "US", "US")
		noNationality.Nationality = nil
		noParent := gatewaytest.Claims("US", "US")
		noParent.ParentHQ = ""
		tests := []struct {
			name   string
			claims identity.TokenClaims
			path   string
			want   refusal
		}{
			{"Iranian employee of a US lab", employee("IR"), gatewaytest.Frontier + gatewaytest.Shard1, hiddenAs("embargoed_destination")},
			{"North Korean employee, config.json", employee("KP"), gatewaytest.Frontier + "config.json", hiddenAs("embargoed_destination")},
			{"Crimean employee", employee("UA-43"), gatewaytest.Frontier + gatewaytest.Shard1, hiddenAs("embargoed_destination")},
			{"Chinese employee (D:5 not carved out by default)", employee("CN"), gatewaytest.Frontier + gatewaytest.Shard1, hiddenAs("country_of_concern")},
			{"in Crimea", gatewaytest.Claims("UA-43"), gatewaytest.Frontier + gatewaytest.Shard1, hiddenAs("embargoed_destination")},
			{"in Sevastopol, config.json", gatewaytest.Claims("UA-40"), gatewaytest.Frontier + "config.json", hiddenAs("embargoed_destination")},
			{"no nationality", noNationality, gatewaytest.Frontier + gatewaytest.Shard1, refusal{status: 403, code: "unknown_destination"}},
			{"no parent_hq", noParent, gatewaytest.Frontier + gatewaytest.Shard1, refusal{status: 403, code: "unknown_destination"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := h.Do(t, "GET", tt.path, h.Token(t, tt.claims), nil)
				assertRefused(t, h, resp, body, tt.want)
			})
		}

		// Released as before: a U.S. person in Puerto Rico (not an export),
		// an Indian employee (carved out).
		for _, c := range []identity.TokenClaims{gatewaytest.Claims("PR", "US", "US"), employee("IN")} {
			resp, body := h.Do(t, "GET", gatewaytest.Frontier+gatewaytest.Shard1, h.Token(t, c), nil)
			if resp.StatusCode != 200 || len(body) == 0 {
				t.Errorf("%s in %s: status %d, want 200", c.Subject, c.Country, resp.StatusCode)
			}
		}
	})
}
