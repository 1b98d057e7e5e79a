package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/whatif"
)

// writeTrustingConfig writes writeConfig's configuration with
// auth.trusted_claims set to trusted, returning its path.
func writeTrustingConfig(t *testing.T, trusted string) string {
	t.Helper()
	b, err := os.ReadFile(writeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "auth:\n", "auth:\n  trusted_claims: "+trusted+"\n", 1)
	if cfg == string(b) {
		t.Fatal("writeConfig has no auth block")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTokenClaims mints tokens with every subject flag and verifies them
// through check: permanent residence and employment are always mapped, the
// entity statuses only where auth.trusted_claims lists them.
func TestTokenClaims(t *testing.T) {
	out, stderr, code := runMain(t, "token", "--key", repoPath("testdata/keys/dev-ed25519.pem"),
		"--sub", "erin", "--country", "gb", "--nationality", "FR", "--permanent-residence", "ca,GB",
		"--employee", "--entity-id", "E-1", "--veu", "uveu", "--security-attested")
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, stderr)
	}
	tok := strings.TrimSpace(out)

	tests := []struct {
		name     string
		cfg      string
		veu      string
		attested bool
	}{
		{"nothing trusted", writeConfig(t), "", false},
		{"veu trusted", writeTrustingConfig(t, "[veu]"), "uveu", false},
		{"security_attested trusted", writeTrustingConfig(t, "[security_attested]"), "", true},
		{"both trusted", writeTrustingConfig(t, "[veu, security_attested]"), "uveu", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runMain(t, "check", "--config", tt.cfg, "--model", "frontier-lab/frontier-x", "--token", tok)
			// The decision itself belongs to the policy; only a usage or
			// configuration error (exit 2) fails here.
			if code == 2 {
				t.Fatalf("check: exit %d: %s %s", code, out, stderr)
			}
			var res whatif.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			s := res.Input.Subject
			if got, want := s.PermanentResidence, []string{"CA", "GB"}; !reflect.DeepEqual(got, want) {
				t.Errorf("PermanentResidence = %q, want %q", got, want)
			}
			if !s.Employee {
				t.Errorf("Employee = false, want true")
			}
			if got, want := s.Entity.VEU, tt.veu; got != want {
				t.Errorf("Entity.VEU = %q, want %q", got, want)
			}
			if got, want := s.Entity.SecurityAttested, tt.attested; got != want {
				t.Errorf("Entity.SecurityAttested = %v, want %v", got, want)
			}
		})
	}

	if _, _, code := runMain(t, "check", "--config", writeTrustingConfig(t, "[employee]"), "--model", "frontier-lab/frontier-x", "--anonymous"); code != 2 {
		t.Errorf("check with trusted_claims [employee]: exit %d, want 2", code)
	}
}

func TestTokenHelp(t *testing.T) {
	out, stderr, code := runMain(t, "token", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"-permanent-residence", "-employee", "-veu", "-security-attested", "-roles", "trusted_claims"} {
		if !strings.Contains(out+stderr, flag) {
			t.Errorf("token --help does not mention %s:\n%s", flag, out+stderr)
		}
	}
}

// TestTokenHF: --hf prints hf_ followed by the same kind of JWT, the form
// Hugging Face clients accept, and check (which verifies as the gateway
// does) takes it as it is.
func TestTokenHF(t *testing.T) {
	out, stderr, code := runMain(t, "token", "--hf", "--key", repoPath("testdata/keys/dev-ed25519.pem"), "--sub", "hana", "--country", "JP", "--nationality", "JP", "--parent-hq", "JP")
	if code != 0 {
		t.Fatalf("token --hf: exit %d: %s", code, stderr)
	}
	tok := strings.TrimSpace(out)
	jwt, ok := strings.CutPrefix(tok, "hf_")
	if !ok || strings.Count(jwt, ".") != 2 || strings.HasPrefix(jwt, "hf_") {
		t.Fatalf("output %q is not hf_<JWT>", out)
	}
	out, stderr, code = runMain(t, "check", "--config", writeConfig(t), "--model", "frontier-lab/frontier-x", "--token", tok)
	if code != 0 {
		t.Fatalf("check with the hf_ token: exit %d: %s %s", code, out, stderr)
	}
	var res whatif.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if s := res.Input.Subject; s.ID != "hana" || s.Country != "JP" {
		t.Errorf("subject = %+v", s)
	}
}
