package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/geotest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/screening"
	"github.com/weightgate/weightgate/storage"
)

// engineWith is the default bundle with the given operator settings.
func engineWith(tb testing.TB, settings map[string]string) *opa.Engine {
	tb.Helper()
	eng, err := opa.New(context.Background(), opa.Options{Settings: settings})
	if err != nil {
		tb.Fatal(err)
	}
	return eng
}

// outcome is what one download came to: the status, the policy's code, the
// error body, and the request's decision record.
type outcome struct {
	status int
	code   string
	body   []byte
	rec    audit.Record
}

// fetch downloads path with a token for claims (and extra headers) and
// returns the outcome, checking the invariants every answer keeps: one
// decision record; an allow streams the file's exact bytes; a denial is a
// 403 whose body carries the policy's code and reason, or, for a model the
// policy hides from the requester, a missing model's 404; no transfer.
func fetch(t *testing.T, h *gatewaytest.Harness, path string, claims identity.TokenClaims, header http.Header) outcome {
	t.Helper()
	resp, body := h.Do(t, "GET", path, h.Token(t, claims), header)
	id := resp.Header.Get("X-Request-Id")
	decisions, transfers := h.RecordsFor(t, id)
	if len(decisions) != 1 || decisions[0].Policy == nil || decisions[0].Input == nil {
		t.Fatalf("want one decision record with its policy and input, got %+v", decisions)
	}
	o := outcome{status: resp.StatusCode, code: decisions[0].Policy.Code, body: body, rec: decisions[0]}
	if decisions[0].Policy.Allow {
		tr := h.TransferFor(t, id)
		if resp.StatusCode != 200 || !bytes.Equal(body, gatewaytest.StoreFile(t, path)) || tr.Bytes != int64(len(body)) {
			t.Errorf("allowed: status %d, %d bytes, transfer %+v; want 200 with the whole file", resp.StatusCode, len(body), tr)
		}
		return o
	}
	var eb struct{ Error, Code, Basis string }
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("denial body %q: %v", body, err)
	}
	if decisions[0].Hidden {
		// The policy hides the model: a missing model's answer, with the
		// policy's code on the record only.
		if resp.StatusCode != 404 || eb.Code != "repo_not_found" || strings.Contains(string(body), o.code) || decisions[0].Code != o.code || len(transfers) != 0 {
			t.Errorf("hidden: status %d, body %s, record code %q, %d transfers; want 404 repo_not_found, the policy's code on the record only, no transfer", resp.StatusCode, body, decisions[0].Code, len(transfers))
		}
		return o
	}
	if resp.StatusCode != 403 || eb.Code != o.code || eb.Error != decisions[0].Policy.Reason || len(transfers) != 0 {
		t.Errorf("denied: status %d, body %s, %d transfers; want 403 with the policy's code and reason, no transfer", resp.StatusCode, body, len(transfers))
	}
	return o
}

// TestScreening screens tokens against the sample lists through the HTTP
// path: names in every normalisation the matcher promises, an alternate
// name, an entity's id and the requester's own (the token subject), the
// operator's local list, a near miss and a clear name, with the result on
// the decision record.
func TestScreening(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		lists := gatewaytest.ScreeningLists(t, "")
		h := gatewaytest.Start(t, store, gatewaytest.Options{Screener: lists})
		openWeightsScreened := gatewaytest.Start(t, store, gatewaytest.Options{Screener: lists,
			Policy: engineWith(t, map[string]string{"screening_open_weights": "deny"})})

		entity := func(name, id string) identity.TokenClaims {
			return identity.TokenClaims{Subject: "buyer", Country: "US", Nationality: []string{"US"}, Entity: name, EntityID: id, EntityHQ: "US", ParentHQ: "US"}
		}
		const el = "Entity List (EL) - Bureau of Industry and Security"
		tests := []struct {
			name       string
			h          *gatewaytest.Harness
			claims     identity.TokenClaims
			path       string
			code       string
			status     string // screening status on the record
			list       string // the list the basis names; "" when clear
			field      string
			listedName string // a substring of the listed name that matched
		}{
			{"exact name without its legal form", h, entity("Shenzhen Quantum Dynamics", ""), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", el, "entity.name", "Shenzhen Quantum Dynamics"},
			{"upper case and punctuation", h, entity("SHENZHEN QUANTUM-DYNAMICS CO LTD", ""), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", el, "entity.name", "Shenzhen Quantum Dynamics"},
			{"diacritics dropped", h, entity("Nordwind Prazisionstechnik", ""), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", el, "entity.name", "Nordwind"},
			{"word order", h, entity("Dynamics Quantum Shenzhen Ltd.", ""), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", el, "entity.name", "Quantum Dynamics"},
			{"alternate name", h, entity("SQD Technology Co", ""), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", el, "entity.name", "SQD"},
			{"entity id", h, entity("Arctic Trading", "7700000001"), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", "Specially Designated Nationals (SDN) - Treasury Department", "entity.id", "7700000001"},
			{"subject id, an individual's passport number", h, identity.TokenClaims{Subject: "721234567", Name: "Alice Example", Country: "US", Entity: "Northwind Analytics GmbH", EntityID: "NWA-2231", EntityHQ: "US", ParentHQ: "US"}, gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", "Specially Designated Nationals (SDN) - Treasury Department", "subject.id", "721234567"},
			{"subject name, an individual's alternate name", h, identity.TokenClaims{Subject: "dv", Name: "Dmitry Volkov", Country: "US"}, gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", "Specially Designated Nationals (SDN) - Treasury Department", "subject.name", "Volkov"},
			{"operator's local list", h, entity("Blue Lantern Analytics", ""), gatewaytest.Frontier + gatewaytest.Shard1, "restricted_party", "hit", "Local denied-party list (Acme Export Compliance)", "entity.name", "Blue Lantern"},
			{"near miss", h, entity("Shenzen Quantum Dynamix", ""), gatewaytest.Frontier + gatewaytest.Shard1, "screening_review", "review", el, "entity.name", "Quantum Dynamics"},
			{"clear", h, entity("Northwind Analytics GmbH", ""), gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "clear", "", "", ""},
			{"hit, not a weights file either", h, entity("Shenzhen Quantum Dynamics", ""), gatewaytest.Frontier + "config.json", "restricted_party", "hit", el, "entity.name", "Shenzhen"},
			{"hit, open weights", h, entity("Shenzhen Quantum Dynamics", ""), gatewaytest.Open + "model.safetensors", "open_weights", "hit", el, "entity.name", "Shenzhen"},
			{"hit, open weights screened by configuration", openWeightsScreened, entity("Shenzhen Quantum Dynamics", ""), gatewaytest.Open + "model.safetensors", "restricted_party", "hit", el, "entity.name", "Shenzhen"},
			{"near miss, open weights screened by configuration", openWeightsScreened, entity("Shenzen Quantum Dynamix", ""), gatewaytest.Open + "model.safetensors", "screening_review", "review", el, "entity.name", "Quantum"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := fetch(t, tt.h, tt.path, tt.claims, nil)
				if got, want := o.rec.Subject, tt.claims.Subject; got != want {
					t.Errorf("record subject = %q, want %q", got, want)
				}
				sc := o.rec.Input.Subject.Screening
				if o.code != tt.code || o.rec.Screening != tt.status || sc.Status != tt.status {
					t.Fatalf("code %s, screening %q (input %+v); want %s, %s", o.code, o.rec.Screening, sc, tt.code, tt.status)
				}
				if tt.list == "" {
					if sc != (policy.Screening{Status: policy.ScreeningClear}) {
						t.Errorf("clear screening = %+v, want no match details", sc)
					}
					return
				}
				if sc.List != tt.list || sc.Field != tt.field || !strings.Contains(strings.ToLower(sc.Name), strings.ToLower(tt.listedName)) || sc.Entry == "" {
					t.Errorf("screening = %+v; want list %q, field %s, a listed name containing %q and an entry id", sc, tt.list, tt.field, tt.listedName)
				}
				switch {
				case tt.status == "hit" && (sc.Score <= 0 || sc.Score > 1):
					t.Errorf("hit score %v, want in (0, 1]", sc.Score)
				case tt.status == "review" && (sc.Score < screening.DefaultReviewThreshold || sc.Score >= screening.DefaultHitThreshold):
					t.Errorf("near-miss score %v, want in [%v, %v)", sc.Score, screening.DefaultReviewThreshold, screening.DefaultHitThreshold)
				}
				if !o.rec.Policy.Allow && !strings.Contains(o.rec.Policy.Basis, tt.list) {
					t.Errorf("basis %q does not name the list %q", o.rec.Policy.Basis, tt.list)
				}
			})
		}
	})
}

// TestScreeningReload replaces the lists under a running gateway: a list
// that no longer parses is refused, the previous one stays in force and
// /readyz says the lists are stale; a good list takes over, and requests in
// flight during the reloads all get a proper answer.
func TestScreeningReload(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		dir := t.TempDir()
		src := filepath.Join(s3test.RepoRoot(t), "testdata", "screening")
		for _, f := range []string{"consolidated.csv", "local.json"} {
			if err := os.WriteFile(filepath.Join(dir, f), gatewaytest.ReadFile(t, filepath.Join(src, f)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		lists := gatewaytest.ScreeningLists(t, dir)
		h := gatewaytest.Start(t, store, gatewaytest.Options{Screener: lists})
		helios := identity.TokenClaims{Subject: "h", Country: "US", Entity: "Helios Microsystems", EntityHQ: "US", ParentHQ: "US"}
		newcomer := identity.TokenClaims{Subject: "n", Country: "US", Entity: "Northwind Analytics GmbH", EntityHQ: "US", ParentHQ: "US"}

		readyz := func() (int, map[string]any) {
			resp, body := h.Do(t, "GET", "/readyz", "", nil)
			var b map[string]any
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatalf("/readyz body %q: %v", body, err)
			}
			return resp.StatusCode, b
		}
		if st, b := readyz(); st != 200 || b["checks"].(map[string]any)["screening"] != "ok" {
			t.Fatalf("/readyz = %d %v before any reload, want 200 with screening ok", st, b)
		}
		if o := fetch(t, h, gatewaytest.Frontier+gatewaytest.Shard1, helios, nil); o.code != "restricted_party" {
			t.Fatalf("Helios: %s, want restricted_party", o.code)
		}

		// Requests keep flowing while the lists are replaced, broken and
		// fixed: each gets a decision, none a server error.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []string
		for range 2 {
			wg.Go(func() {
				for i := 0; i < 200; i++ {
					select {
					case <-stop:
						return
					default:
					}
					resp, body := h.Do(t, "GET", gatewaytest.Frontier+gatewaytest.Shard1, h.Token(t, helios), nil)
					// A listed party: the model is hidden from it.
					if resp.StatusCode != 404 || gatewaytest.DecodeError(t, body).Code != "repo_not_found" {
						mu.Lock()
						bad = append(bad, resp.Status+" "+string(body))
						mu.Unlock()
					}
				}
			})
		}

		csvPath := filepath.Join(dir, "consolidated.csv")
		good := gatewaytest.ReadFile(t, csvPath)
		if err := os.WriteFile(csvPath, []byte("_id,source,entity_number\n1,\"unterminated\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := lists.Reload()
		if err == nil || !strings.Contains(err.Error(), "consolidated.csv") {
			t.Fatalf("Reload of a broken list: %v, want an error naming the file", err)
		}
		st, b := readyz()
		if st != 200 || b["checks"].(map[string]any)["screening"] != "stale" {
			t.Errorf("/readyz after a failed reload = %d %v, want 200 with screening stale", st, b)
		}
		if e, _ := b["screening"].(map[string]any)["error"].(string); !strings.Contains(e, "consolidated.csv") {
			t.Errorf("/readyz screening = %v, want the error naming the file", b["screening"])
		}
		// The previous lists are still in force.
		if o := fetch(t, h, gatewaytest.Frontier+gatewaytest.Shard1, helios, nil); o.code != "restricted_party" {
			t.Errorf("Helios after a failed reload: %s, want restricted_party (the previous list)", o.code)
		}

		// A good list with a new party takes over and clears the error.
		added := "\nnew-1,Entity List (EL) - Bureau of Industry and Security,,,,Northwind Analytics GmbH,,\"Hafenstrasse 1, Hamburg, , 20457, DE\",,,,,,,,,,,,,,,,,,,,,\n"
		if err := os.WriteFile(csvPath, append(bytes.TrimRight(good, "\n"), added...), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := lists.Reload(); err != nil {
			t.Fatalf("Reload of a good list: %v", err)
		}
		if st, b := readyz(); st != 200 || b["checks"].(map[string]any)["screening"] != "ok" {
			t.Errorf("/readyz after a good reload = %d %v, want screening ok", st, b)
		}
		if o := fetch(t, h, gatewaytest.Frontier+gatewaytest.Shard1, newcomer, nil); o.code != "restricted_party" || o.rec.Input.Subject.Screening.Entry != "new-1" {
			t.Errorf("newly listed party: %s %+v, want restricted_party on entry new-1", o.code, o.rec.Input.Subject.Screening)
		}
		close(stop)
		wg.Wait()
		if len(bad) > 0 {
			t.Errorf("%d requests during the reloads got another answer, e.g. %s", len(bad), bad[0])
		}
	})
}

// TestLocation cross-checks the token's country with the client address's
// through the HTTP path: the proxy headers of a trusted proxy, spoofed ones
// from a client, a trusted network, and unknown addresses.
func TestLocation(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		mmdb := filepath.Join(t.TempDir(), "countries.mmdb")
		if err := geotest.WriteCountryDB(mmdb, map[string]string{
			"203.0.113.0/24": "DE", "198.51.100.0/24": "CN", "192.0.2.0/24": "FR",
			"2001:db8::/32": "US", "100.64.0.0/10": "US",
		}); err != nil {
			t.Fatal(err)
		}
		db, err := geo.Open(mmdb)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		prefixes := func(s ...string) []netip.Prefix {
			p, err := geo.ParsePrefixes(s)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		// The test client is the proxy: it connects from 127.0.0.1.
		loc := &gateway.Locator{Countries: db, TrustedProxies: prefixes("127.0.0.1"), TrustedNetworks: prefixes("192.0.2.128/25", "198.51.100.128/25")}
		behindProxy := gatewaytest.Start(t, store, gatewaytest.Options{Locator: loc})
		strict := gatewaytest.Start(t, store, gatewaytest.Options{Locator: loc, Policy: engineWith(t, map[string]string{"location_unknown": "deny"})})
		direct := gatewaytest.Start(t, store, gatewaytest.Options{Locator: &gateway.Locator{Countries: db}})

		in := func(country string) identity.TokenClaims {
			// A U.S. national travelling: abroad a release to them is an
			// export, under AIA; at home it is not an export.
			return identity.TokenClaims{Subject: "traveller", Country: country, Nationality: []string{"US"}, Entity: "Acme", EntityID: "acme", EntityHQ: "US", ParentHQ: "US"}
		}
		xff := func(v ...string) http.Header { return http.Header{"X-Forwarded-For": v} }
		tests := []struct {
			name      string
			h         *gatewaytest.Harness
			claims    identity.TokenClaims
			header    http.Header
			path      string
			code      string
			clientIP  string
			via       string
			ipCountry string
			trusted   bool
		}{
			{"address agrees with the token", behindProxy, in("DE"), xff("203.0.113.5"), gatewaytest.Frontier + gatewaytest.Shard1, "license_exception_aia", "203.0.113.5", "x-forwarded-for", "DE", false},
			{"address in a country of concern", behindProxy, in("US"), xff("198.51.100.7"), gatewaytest.Frontier + gatewaytest.Shard1, "ip_country_of_concern", "198.51.100.7", "x-forwarded-for", "CN", false},
			{"address in another country", behindProxy, in("US"), xff("203.0.113.5"), gatewaytest.Frontier + gatewaytest.Shard1, "location_mismatch", "203.0.113.5", "x-forwarded-for", "DE", false},
			{"mismatch, but open weights", behindProxy, in("US"), xff("203.0.113.5"), gatewaytest.Open + "model.safetensors", "open_weights", "203.0.113.5", "x-forwarded-for", "DE", false},
			{"trusted network", behindProxy, in("US"), xff("192.0.2.200"), gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "192.0.2.200", "x-forwarded-for", "FR", true},
			{"country of concern in a trusted network", behindProxy, in("US"), xff("198.51.100.200"), gatewaytest.Frontier + gatewaytest.Shard1, "ip_country_of_concern", "198.51.100.200", "x-forwarded-for", "CN", true},
			// The client wrote a US address itself; the proxy appended
			// the one it saw. The rightmost untrusted hop wins.
			{"spoofed X-Forwarded-For behind the proxy", behindProxy, in("US"), xff("2001:db8::1, 198.51.100.7"), gatewaytest.Frontier + gatewaytest.Shard1, "ip_country_of_concern", "198.51.100.7", "x-forwarded-for", "CN", false},
			{"Forwarded header", behindProxy, in("US"), http.Header{"Forwarded": {`for="[2001:db8::1]:4711";proto=https`}}, gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "2001:db8::1", "forwarded", "US", false},
			{"proxy sent no header: loopback is unknown", behindProxy, in("US"), nil, gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "127.0.0.1", "peer", "", false},
			{"unknown denied by configuration", strict, in("US"), nil, gatewaytest.Frontier + gatewaytest.Shard1, "location_unknown", "127.0.0.1", "peer", "", false},
			{"unknown denied, known allowed", strict, in("DE"), xff("203.0.113.5"), gatewaytest.Frontier + gatewaytest.Shard1, "license_exception_aia", "203.0.113.5", "x-forwarded-for", "DE", false},
			// Without a trusted proxy, the headers are the client's word:
			// ignored, so a Chinese address cannot pass as German, and a
			// client cannot frame another address either.
			{"untrusted peer's X-Forwarded-For is ignored", direct, in("US"), xff("198.51.100.7"), gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "127.0.0.1", "peer", "", false},
			{"untrusted peer's Forwarded is ignored", direct, in("US"), http.Header{"Forwarded": {"for=203.0.113.5"}}, gatewaytest.Frontier + gatewaytest.Shard1, "not_an_export", "127.0.0.1", "peer", "", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := fetch(t, tt.h, tt.path, tt.claims, tt.header)
				req := o.rec.Input.Request
				if o.code != tt.code {
					t.Errorf("code %s (%s), want %s", o.code, o.rec.Policy.Reason, tt.code)
				}
				if req.ClientIP != tt.clientIP || req.ClientIPVia != tt.via || req.IPCountry != tt.ipCountry || req.IPTrustedNetwork != tt.trusted {
					t.Errorf("request = %+v; want client %s via %s in %q, trusted network %v", req, tt.clientIP, tt.via, tt.ipCountry, tt.trusted)
				}
				if o.rec.ClientIP != tt.clientIP || o.rec.IPCountry != tt.ipCountry {
					t.Errorf("record client_ip %q ip_country %q, want %q %q", o.rec.ClientIP, o.rec.IPCountry, tt.clientIP, tt.ipCountry)
				}
				if o.code == "location_mismatch" && !strings.Contains(o.rec.Policy.Reason, tt.clientIP) {
					t.Errorf("reason %q does not name the address", o.rec.Policy.Reason)
				}
			})
		}
	})
}
