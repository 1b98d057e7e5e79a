package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/identity"
)

// TestServeConsole runs the real serve command with the console on and off.
// On: a download's request id is on the console's decisions page over the
// admin listener for an auditor (the index follows the trail by itself),
// its record's page replays it under console.proposed_policy,
// a non-auditor is refused 403, the admin /readyz reports the index while
// the gateway stays ready, and the index is a file beside audit.dir. Off:
// /console/ is the admin listener's 404.
func TestServeConsole(t *testing.T) {
	key, err := identity.LoadPrivateKeyPEM(repoPath("testdata/keys/dev-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	token := func(sub string, roles ...string) string {
		tok, err := identity.Sign(key, "", identity.TokenClaims{Issuer: "weightgate-dev", Audience: "weightgate", Subject: sub,
			Country: "US", Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	get := func(url, tok string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	auditor := token("ann-auditor", "weightgate-auditor")

	for _, tt := range []struct {
		name    string
		console string // appended to the configuration
	}{
		{"enabled", "console: {enabled: true, proposed_policy: embargo-only}\n"},
		{"disabled", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t)
			f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tt.console)
			f.Close()
			url, admin, logs, cancel, done := startServeAdmin(t, cfg)
			defer cancel()

			resp, _ := get(url+"/open-lab/tiny-open/resolve/main/model.safetensors", token("dl-user"))
			reqID := resp.Header.Get("X-Request-Id")
			if resp.StatusCode != 200 || reqID == "" {
				t.Fatalf("download: %d, request id %q", resp.StatusCode, reqID)
			}

			if tt.console == "" {
				if resp, body := get(admin+"/console/", auditor); resp.StatusCode != 404 {
					t.Errorf("console off: /console/ %d %s, want 404", resp.StatusCode, body)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "audit.index.db")); !os.IsNotExist(err) {
					t.Errorf("console off: an index file exists (%v)", err)
				}
				return
			}

			// The index follows the trail every second; a bound against a
			// hang, not a speed check.
			page := admin + "/console/decisions?subject=dl-user"
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, body := get(page, auditor)
				if resp.StatusCode != 200 {
					t.Fatalf("decisions page: %d %s", resp.StatusCode, body)
				}
				if strings.Contains(body, `data-request-id="`+reqID+`"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the download's request id %s is not on the decisions page:\n%s\nlogs:\n%s", reqID, body, logs.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Its record's page replays it under console.proposed_policy.
			_, listing := get(page, auditor)
			m := regexp.MustCompile(`data-request-id="` + reqID + `"><td>[^<]*</td><td><a href="([^"]+)"`).FindStringSubmatch(listing)
			if m == nil {
				t.Fatalf("no link to the download's record:\n%s", listing)
			}
			record := m[1]
			if resp, body := get(admin+record, auditor); resp.StatusCode != 200 || !strings.Contains(body, "What would embargo-only decide?") ||
				!strings.Contains(body, `<td id="replay-code">open_weights</td>`) {
				t.Errorf("%s: %d, want the replay under embargo-only (open_weights):\n%s", record, resp.StatusCode, body)
			}
			if resp, body := get(admin+"/console/", token("bob-operator", "weightgate-operator")); resp.StatusCode != 403 || !strings.Contains(body, "not_auditor") {
				t.Errorf("non-auditor: %d %s, want 403 not_auditor", resp.StatusCode, body)
			}
			if resp, _ := get(admin+"/console/", ""); resp.StatusCode != 401 {
				t.Errorf("no token: %d, want 401", resp.StatusCode)
			}

			// The index has read the trail once: the admin /readyz says so,
			// and the gateway is ready either way.
			resp, body := get(admin+"/readyz", "")
			var rz struct {
				Ready   bool              `json:"ready"`
				Checks  map[string]string `json:"checks"`
				Console struct {
					CaughtUp bool `json:"caught_up"`
				} `json:"console"`
			}
			if err := json.Unmarshal([]byte(body), &rz); err != nil || resp.StatusCode != 200 || !rz.Ready {
				t.Errorf("admin /readyz: %d %s (%v)", resp.StatusCode, body, err)
			}
			if rz.Checks["console"] != "ok" || !rz.Console.CaughtUp {
				t.Errorf("admin /readyz: console %q caught up %v, want ok", rz.Checks["console"], rz.Console.CaughtUp)
			}

			stopServe(t, cancel, done)
			// Beside audit.dir, never inside it.
			if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "audit.index.db")); err != nil {
				t.Errorf("the index is not beside audit.dir: %v", err)
			}
			entries, _ := os.ReadDir(filepath.Join(filepath.Dir(cfg), "audit"))
			for _, e := range entries {
				if strings.Contains(e.Name(), ".db") {
					t.Errorf("audit.dir holds %s", e.Name())
				}
			}
		})
	}
}
