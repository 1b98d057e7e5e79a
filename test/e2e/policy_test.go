package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
)

// TestPolicyDepth drives the default bundle's licences, registries, deemed
// exports, fine-tunes and open-weight frontier end to end: a token, the
// testdata registries, the store's models, a real download or a refusal that
// names the rule and the regime, and the decision record with the input the
// policy saw.
func TestPolicyDepth(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		eng, err := opa.New(context.Background(), opa.Options{
			Registry: filepath.Join(s3test.RepoRoot(t), "testdata", "registry"),
		})
		if err != nil {
			t.Fatal(err)
		}
		plain := gatewaytest.Start(t, store, gatewaytest.Options{Policy: eng})
		floored := gatewaytest.Start(t, store, gatewaytest.Options{Policy: eng, Frontier: catalog.Frontier{FromCatalog: true}, ClassificationKeys: gatewaytest.TestClassificationKeys(t)})

		entity := func(country, id, hq string) identity.TokenClaims {
			return identity.TokenClaims{Subject: "user-" + id, Country: country, Nationality: []string{country}, Entity: id, EntityID: id, EntityHQ: hq, ParentHQ: hq}
		}
		person := func(country string, nationality ...string) identity.TokenClaims {
			// A person acting for themselves: their parent headquarters is
			// their own country, which the policy needs stated.
			if len(nationality) == 0 {
				nationality = []string{country}
			}
			return identity.TokenClaims{Subject: "person", Country: country, Nationality: nationality, ParentHQ: country}
		}
		const ftChat, ftDeep, midX = "/tune-lab/chat-ft/resolve/main/model.safetensors", "/tune-lab/deep-ft/resolve/main/model.safetensors", "/frontier-lab/mid-x/resolve/main/model.safetensors"
		tests := []struct {
			name   string
			h      *gatewaytest.Harness
			claims identity.TokenClaims
			path   string
			code   string // the policy's decision code
			basis  string // a substring of its basis
		}{
			{"valid licence", plain, entity("IN", "acme-india", "IN"), gatewaytest.Frontier + gatewaytest.Shard1, "licensed", "BIS licence D1234567"},
			{"licence for another destination", plain, entity("PK", "acme-india", "IN"), gatewaytest.Frontier + gatewaytest.Shard1, "license_required", "4E091"},
			{"expired licence", plain, entity("BR", "brasil-ai", "BR"), gatewaytest.Frontier + gatewaytest.Shard1, "license_expired", "D7654321"},
			{"UVEU at a listed site country", plain, entity("IN", "globalcloud", "US"), gatewaytest.Frontier + gatewaytest.Shard1, "veu_authorised", "748.15"},
			{"NVEU does not receive weights", plain, entity("AE", "gulf-dc", "AE"), gatewaytest.Frontier + gatewaytest.Shard1, "license_required", "4E091"},
			{"attested Tier-1 entity in Tier 2", plain, entity("IN", "northwind", "GB"), gatewaytest.Frontier + gatewaytest.Shard1, "license_exception_aia_secured", "740.27"},
			{"unattested Tier-1 entity in Tier 2", plain, entity("IN", "southwind", "GB"), gatewaytest.Frontier + gatewaytest.Shard1, "license_required", "4E091"},
			{"restricted party", plain, entity("US", "blocked-corp", "US"), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "Entity List"},
			{"deemed export to a Chinese national in the US", plain, person("US", "CN"), gatewaytest.Frontier + gatewaytest.Shard1, "country_of_concern", "D:5"},
			{"US and Chinese dual national in the US", plain, person("US", "US", "CN"), gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "not an export"},
			{"fine-tune under the bar", plain, person("IN"), ftChat, "published_base_fine_tune", "2.5"},
			{"fine-tune over the bar", plain, person("IN"), ftDeep, "license_required", "fine"},
			{"1.5e26 without a frontier", plain, person("IN"), midX, "license_required", "1e+26"},
			{"1.5e26 under the catalog's frontier", floored, person("IN"), midX, "below_open_frontier", "open-lab/big-open"},
			{"3e26 over the catalog's frontier", floored, person("IN"), gatewaytest.Frontier + gatewaytest.Shard1, "license_required", "open-lab/big-open"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := tt.h.Do(t, "GET", tt.path, tt.h.Token(t, tt.claims), nil)
				id := resp.Header.Get("X-Request-Id")
				decisions, transfers := tt.h.RecordsFor(t, id)
				if len(decisions) != 1 || decisions[0].Policy == nil || decisions[0].Input == nil {
					t.Fatalf("want one decision record with its policy and input, got %+v", decisions)
				}
				d := decisions[0].Policy
				if d.Code != tt.code || !strings.Contains(d.Basis, tt.basis) || d.Bundle != "ai-diffusion-2025" || d.Version == "" {
					t.Errorf("decision = %+v; want code %s, basis containing %q, regime ai-diffusion-2025 with a version", d, tt.code, tt.basis)
				}
				if d.Allow {
					// The transfer record follows the body's last byte.
					tr := tt.h.TransferFor(t, id)
					if resp.StatusCode != 200 || !bytes.Equal(body, gatewaytest.StoreFile(t, tt.path)) || tr.Bytes != int64(len(body)) {
						t.Errorf("allowed: status %d, %d bytes, transfer %+v; want 200 with the file's bytes, all recorded", resp.StatusCode, len(body), tr)
					}
					return
				}
				var eb struct{ Error, Code, Basis, Regime string }
				if err := json.Unmarshal(body, &eb); err != nil {
					t.Fatalf("denial body %q: %v", body, err)
				}
				if !d.Visible {
					// Hidden from the requester: a missing model's answer,
					// the decision on the record only.
					if resp.StatusCode != 404 || eb.Code != "repo_not_found" || !decisions[0].Hidden || len(transfers) != 0 {
						t.Errorf("hidden: status %d body %s, record hidden %v, %d transfers; want a missing model's 404, a hidden record, no transfer", resp.StatusCode, body, decisions[0].Hidden, len(transfers))
					}
					return
				}
				if resp.StatusCode != 403 || eb.Code != tt.code || eb.Error != d.Reason || eb.Basis != d.Basis || eb.Regime != "ai-diffusion-2025 "+d.Version || len(transfers) != 0 {
					t.Errorf("denied: status %d body %s, %d transfers; want 403 naming code, reason, basis and regime, no transfer", resp.StatusCode, body, len(transfers))
				}
			})
		}

		t.Run("input carries the base model and the frontier", func(t *testing.T) {
			resp, _ := floored.Do(t, "GET", ftDeep, floored.Token(t, person("IN")), nil)
			decisions, _ := floored.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(decisions) != 1 || decisions[0].Input == nil {
				t.Fatalf("decisions = %+v", decisions)
			}
			in := decisions[0].Input
			want := policy.BaseModel{ID: "open-lab/big-open", Found: true, Classified: true, Weights: "open", TrainingComputeFLOP: 2e26}
			if in.Model.Base == nil || *in.Model.Base != want || in.Model.FineTuneComputeFLOP != 6e25 || in.Model.BaseModel != "open-lab/big-open" {
				t.Errorf("model = %+v base %+v; want fine-tune of %+v", in.Model, in.Model.Base, want)
			}
			if f := in.Frontier; f != (policy.Frontier{FLOP: 2e26, Source: policy.FrontierCatalog, Model: "open-lab/big-open"}) {
				t.Errorf("frontier = %+v", f)
			}
		})
	})
}
