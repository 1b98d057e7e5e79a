package gateway_test

import (
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

type apiModel struct {
	LastModified string `json:"lastModified"`
	ID           string `json:"id"`
	SHA          string `json:"sha"`
	Private      bool   `json:"private"`
	Gated        any    `json:"gated"`
	Siblings     []struct {
		RFilename string `json:"rfilename"`
		Size      int64  `json:"size"`
	} `json:"siblings"`
	Export struct {
		Classified          bool     `json:"classified"`
		Status              string   `json:"status"`
		Weights             string   `json:"weights"`
		TrainingComputeFLOP *float64 `json:"training_compute_flop"`
		ECCN                string   `json:"eccn"`
		Revision            string   `json:"revision"`
	} `json:"weightgate"`
}

func TestModelAPI(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))

		t.Run("model info", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, "/api/models/frontier-lab/frontier-x", us, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			m := gatewaytest.DecodeJSON[apiModel](t, body)
			var names []string
			for _, s := range m.Siblings {
				names = append(names, s.RFilename)
			}
			want := []string{"README.md", "config.json", "export.yaml", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"}
			if !slices.Equal(names, want) {
				t.Errorf("siblings = %v, want %v", names, want)
			}
			if m.ID != "frontier-lab/frontier-x" || !gatewaytest.Hex40.MatchString(m.SHA) || m.Export.Revision != m.SHA || resp.Header.Get("X-Repo-Commit") != m.SHA {
				t.Errorf("id/sha = %q/%q (export %q, header %q)", m.ID, m.SHA, m.Export.Revision, resp.Header.Get("X-Repo-Commit"))
			}
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(m.LastModified) {
				t.Errorf("lastModified = %q, want the Hub's format 2006-01-02T15:04:05.000Z", m.LastModified)
			}
			if m.Export.Weights != "closed" || m.Export.TrainingComputeFLOP == nil || *m.Export.TrainingComputeFLOP != 3e26 || m.Export.ECCN != "4E091" || m.Gated != "manual" {
				t.Errorf("export = %+v, gated %v", m.Export, m.Gated)
			}
			// The commit id reported here is the one downloads accept.
			head, _ := h.Do(t, http.MethodHead, "/frontier-lab/frontier-x/resolve/"+m.SHA+"/config.json", us, nil)
			if head.StatusCode != 200 || head.Header.Get("X-Repo-Commit") != m.SHA {
				t.Errorf("resolve at sha: %d, commit %q", head.StatusCode, head.Header.Get("X-Repo-Commit"))
			}
		})
		t.Run("revision", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/revision/main", "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			m := gatewaytest.DecodeJSON[apiModel](t, body)
			resp, _ = h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/revision/"+m.SHA, "", nil)
			if resp.StatusCode != 200 {
				t.Errorf("by sha: %d", resp.StatusCode)
			}
			resp, body = h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/revision/v2", "", nil)
			if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "RevisionNotFound" || gatewaytest.DecodeError(t, body).Code != "revision_not_found" {
				t.Errorf("bad revision: %d %q %s", resp.StatusCode, resp.Header.Get("X-Error-Code"), body)
			}
		})
		t.Run("unclassified", func(t *testing.T) {
			_, body := h.Do(t, http.MethodGet, "/api/models/unknown-lab/unlabeled", us, nil)
			m := gatewaytest.DecodeJSON[apiModel](t, body)
			if m.Export.Classified || m.Export.Status != "unclassified" {
				t.Errorf("export = %+v, want unclassified", m.Export)
			}
		})
		t.Run("tree", func(t *testing.T) {
			type entry struct {
				Type string `json:"type"`
				Path string `json:"path"`
				Size int64  `json:"size"`
				OID  string `json:"oid"`
			}
			resp, body := h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/tree/main?recursive=true", "", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			entries := gatewaytest.DecodeJSON[[]entry](t, body)
			got := map[string]int64{}
			for _, e := range entries {
				if e.Type != "file" || e.OID == "" {
					t.Errorf("entry %+v", e)
				}
				got[e.Path] = e.Size
			}
			if want := int64(len(gatewaytest.StoreFile(t, gatewaytest.Open+"model.safetensors"))); got["model.safetensors"] != want {
				t.Errorf("model.safetensors size = %d, want %d", got["model.safetensors"], want)
			}
			resp, _ = h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/tree/main/nope", "", nil)
			if resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" {
				t.Errorf("missing dir: %d %q", resp.StatusCode, resp.Header.Get("X-Error-Code"))
			}
		})
		t.Run("catalog", func(t *testing.T) {
			ids := func(tok string) []string {
				resp, body := h.Do(t, http.MethodGet, "/api/models", tok, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var out []string
				for _, m := range gatewaytest.DecodeJSON[[]apiModel](t, body) {
					out = append(out, m.ID)
				}
				return out
			}
			if got, want := ids(""), []string{"open-lab/big-open", "open-lab/tiny-open"}; !slices.Equal(got, want) {
				t.Errorf("anonymous catalog = %v, want %v", got, want)
			}
			if got, want := ids(us), []string{"frontier-lab/frontier-x", "frontier-lab/mid-x", "frontier-lab/mini-x", "open-lab/big-open", "open-lab/tiny-open", "tune-lab/chat-ft", "tune-lab/deep-ft", "unknown-lab/unlabeled"}; !slices.Equal(got, want) {
				t.Errorf("authenticated catalog = %v, want %v", got, want)
			}
			resp, body := h.Do(t, http.MethodGet, "/api/models?author=frontier-lab&limit=1", us, nil)
			if got := gatewaytest.DecodeJSON[[]apiModel](t, body); resp.StatusCode != 200 || len(got) != 1 || got[0].ID != "frontier-lab/frontier-x" {
				t.Errorf("author+limit = %d %s", resp.StatusCode, body)
			}
			resp, body = h.Do(t, http.MethodGet, "/api/models?limit=-1", us, nil)
			if resp.StatusCode != 400 || gatewaytest.DecodeError(t, body).Code != "invalid_limit" {
				t.Errorf("bad limit = %d %s", resp.StatusCode, body)
			}
		})
		t.Run("paths-info", func(t *testing.T) {
			type info struct {
				Type       string `json:"type"`
				Path       string `json:"path"`
				Size       int64  `json:"size"`
				OID        string `json:"oid"`
				LastCommit *struct {
					ID string `json:"id"`
				} `json:"lastCommit"`
			}
			post := func(tok, ctype, body string) (*http.Response, []byte) {
				return h.DoBody(t, http.MethodPost, "/api/models/frontier-lab/frontier-x/paths-info/main", tok, ctype, body)
			}
			resp, body := post(us, "application/json", `{"paths":["config.json","nope.bin","model-00001-of-00002.safetensors"],"expand":true}`)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := gatewaytest.DecodeJSON[[]info](t, body)
			if len(got) != 2 || got[0].Path != "config.json" || got[1].Type != "file" || got[1].Size != int64(len(gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1))) {
				t.Fatalf("paths-info = %+v", got)
			}
			if got[0].LastCommit == nil || got[0].LastCommit.ID != resp.Header.Get("X-Repo-Commit") {
				t.Errorf("lastCommit = %+v, want the model's commit", got[0].LastCommit)
			}
			// huggingface_hub (Python) posts a form.
			resp, body = post(us, "application/x-www-form-urlencoded", "paths=README.md&paths=config.json")
			if got := gatewaytest.DecodeJSON[[]info](t, body); resp.StatusCode != 200 || len(got) != 2 || got[0].LastCommit != nil {
				t.Errorf("form: %d %s", resp.StatusCode, body)
			}
			if resp, _ := post("", "application/json", `{"paths":["config.json"]}`); resp.StatusCode != 401 {
				t.Errorf("anonymous paths-info on a closed model: %d, want 401", resp.StatusCode)
			}
			if resp, body := post(us, "application/json", `{"paths":`); resp.StatusCode != 400 || gatewaytest.DecodeError(t, body).Code != "invalid_request" {
				t.Errorf("malformed body: %d %s", resp.StatusCode, body)
			}
		})
		t.Run("raw", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, "/open-lab/tiny-open/raw/main/config.json", "", nil)
			if resp.StatusCode != 200 || string(body) != string(gatewaytest.StoreFile(t, gatewaytest.Open+"config.json")) {
				t.Errorf("raw open: %d", resp.StatusCode)
			}
			// A raw download's record names its file; a tree listing's,
			// which serves no file, names none, whatever its path.
			if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].API != "raw" || d[0].Model != "open-lab/tiny-open" || d[0].Object != "config.json" {
				t.Errorf("raw record %+v, want api raw, model open-lab/tiny-open, object config.json", d)
			}
			resp, _ = h.Do(t, http.MethodGet, "/api/models/open-lab/tiny-open/tree/main/sub", "", nil)
			if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Model != "open-lab/tiny-open" || d[0].Object != "" {
				t.Errorf("tree record %+v, want model open-lab/tiny-open and no object", d)
			}
			resp, _ = h.Do(t, http.MethodHead, "/frontier-lab/frontier-x/raw/main/"+gatewaytest.Shard1, h.Token(t, gatewaytest.Claims("IN")), nil)
			if resp.StatusCode != 403 {
				t.Errorf("raw is policy-gated like resolve: %d, want 403", resp.StatusCode)
			}
		})
		t.Run("unclean path", func(t *testing.T) {
			for _, p := range []string{"/open-lab//tiny-open/resolve/main/config.json", "/open-lab/tiny-open/resolve/main/./config.json", "/x/../api/models"} {
				req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
				req.URL.Opaque = p // sent as is, not cleaned by the client
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 400 {
					t.Errorf("%s: %d, want 400", p, resp.StatusCode)
					continue
				}
				if d, _ := h.RecordsFor(t, resp.Header.Get("X-Request-Id")); len(d) != 1 || d[0].Code != "invalid_path" {
					t.Errorf("%s: records %+v, want one invalid_path decision", p, d)
				}
			}
		})
		t.Run("unknown endpoint", func(t *testing.T) {
			for _, p := range []string{"/nope", "/api/nope", "/a/b/c"} {
				resp, body := h.Do(t, http.MethodGet, p, "", nil)
				if resp.StatusCode != 404 || gatewaytest.DecodeError(t, body).Code != "not_found" {
					t.Errorf("%s: %d %s", p, resp.StatusCode, body)
				}
			}
		})
	})
}

// TestBadTokens: a token that fails verification is 401 invalid_token on
// every endpoint, never anonymous, and a download still gets its one
// decision record.
func TestBadTokens(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	expired := h.Token(t, identity.TokenClaims{Subject: "x", Country: "US", IssuedAt: time.Now().Add(-3 * time.Hour), TTL: time.Hour})
	good := h.Token(t, gatewaytest.Claims("US"))
	tampered := good[:len(good)-4] + "AAAA"
	if tampered == good {
		tampered = good[:len(good)-4] + "BBBB"
	}
	for name, auth := range map[string]string{
		"garbage":     "Bearer not-a-jwt",
		"expired":     "Bearer " + expired,
		"tampered":    "Bearer " + tampered,
		"basic":       "Basic dXNlcjpwYXNz",
		"empty token": "Bearer ",
		"alg none":    "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4IiwiaXNzIjoid2VpZ2h0Z2F0ZS1kZXYiLCJhdWQiOiJ3ZWlnaHRnYXRlIiwiZXhwIjo0MTAyNDQ0ODAwLCJjb3VudHJ5IjoiVVMifQ.",
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{gatewaytest.Open + "model.safetensors", "/api/models", "/api/models/open-lab/tiny-open"} {
				resp, body := h.Do(t, http.MethodGet, path, "", http.Header{"Authorization": {auth}})
				if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
					t.Fatalf("%s: status = %d, want %d", path, got, want)
				}
				if got, want := gatewaytest.DecodeError(t, body).Code, "invalid_token"; got != want {
					t.Errorf("%s: code = %q, want %q", path, got, want)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate", path)
				}
			}
			// A second, empty header must not make the first one vanish.
			for _, hdrs := range [][]string{{"", auth}, {auth, ""}, {"Bearer " + good, auth}} {
				resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", "", http.Header{"Authorization": hdrs})
				if resp.StatusCode != 401 || gatewaytest.DecodeError(t, body).Code != "invalid_token" {
					t.Errorf("headers %q: status %d, want 401 invalid_token", hdrs, resp.StatusCode)
				}
			}
			resp, _ := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", "", http.Header{"Authorization": {auth}})
			d, tr := h.RecordsFor(t, resp.Header.Get("X-Request-Id"))
			if len(d) != 1 || d[0].Code != "invalid_token" || d[0].Model != "open-lab/tiny-open" || len(tr) != 0 {
				t.Errorf("audit = %+v / %d transfers, want one invalid_token decision", d, len(tr))
			}
		})
	}
}
