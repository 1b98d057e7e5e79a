package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/whatif"
)

// TestWhatIfAsksAsTheGatewayDecides: for downloads the gateway decided, a
// what-if (check, matrix) about the same requester, file, client placement
// and time builds the very input the gateway recorded, and gets the same
// decision: the two cannot drift apart.
func TestWhatIfAsksAsTheGatewayDecides(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	eng, err := opa.New(ctx, opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{Policy: eng})
	asker := whatif.Asker{
		Catalog: catalog.NewCatalog(h.Store, 100, time.Minute, nil),
		Policy:  eng,
		Screen:  func(sub policy.Subject, at time.Time) policy.Screening { return gateway.Screen(nil, sub, at) },
	}
	gb := gatewaytest.Claims("GB", "US", "US")
	gb.Entity, gb.EntityID = "Acme", "acme"
	for _, tt := range []struct {
		name, model, file string
		who               identity.TokenClaims
	}{
		{"closed shard, Tier 1", "frontier-lab/frontier-x", "model-00001-of-00002.safetensors", gatewaytest.Claims("US")},
		{"closed shard, country of concern", "frontier-lab/frontier-x", "model-00002-of-00002.safetensors", gatewaytest.Claims("CN")},
		{"closed shard, entity", "frontier-lab/frontier-x", "model-00001-of-00002.safetensors", gb},
		{"closed README", "frontier-lab/frontier-x", "README.md", gatewaytest.Claims("IN")},
		{"fine-tune", "tune-lab/chat-ft", "model.safetensors", gatewaytest.Claims("IN")},
		{"open model", "open-lab/tiny-open", "model.safetensors", gatewaytest.Claims("CN")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := h.Do(t, http.MethodGet, "/"+tt.model+"/resolve/main/"+tt.file, h.Token(t, tt.who), nil)
			decisions, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(decisions) != 1 || decisions[0].Input == nil || decisions[0].Policy == nil {
				t.Fatalf("decision records %+v: want one, with the policy's input and output", decisions)
			}
			rec := decisions[0]
			at, err := time.Parse(time.RFC3339, rec.Input.Request.Time)
			if err != nil {
				t.Fatal(err)
			}
			m, err := asker.Catalog.Model(ctx, tt.model)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := m.File(tt.file)
			in, err := asker.Input(ctx, rec.Input.Subject, m, tt.file, f.Size, rec.Input.Request, at)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := jsonText(t, in), jsonText(t, *rec.Input); got != want {
				t.Errorf("what-if input\n%s\nthe gateway's\n%s", got, want)
			}
			d, err := eng.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := jsonText(t, d), jsonText(t, *rec.Policy); got != want {
				t.Errorf("what-if decision %s, the gateway's %s", got, want)
			}
		})
	}
}

func jsonText(tb testing.TB, v any) string {
	tb.Helper()
	bs, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(bs)
}
