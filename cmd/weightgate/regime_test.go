package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/whatif"
)

// appendConfig adds YAML to a configuration written by writeConfig.
func appendConfig(t *testing.T, cfg, yaml string) string {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, yaml...), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// check covers every input the policy reads (an absent --parent-hq is the
// requester's location, as an absent parent_hq claim is): licences, VEU and attestation
// registries, nationality and permanent residence, the employee carve-out,
// trusted-claim statuses, fine-tunes, the frontier, and the request time.
func TestCheckPolicyInputs(t *testing.T) {
	registry, err := filepath.Abs(repoPath("testdata/registry"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := appendConfig(t, writeConfig(t), "policy:\n  registry: "+registry+"\n")
	floored := appendConfig(t, writeConfig(t), "policy:\n  registry: "+registry+"\n  open_frontier_from_catalog: true\n"+
		"catalog:\n  classification_keys: ["+filepath.Join(filepath.Dir(registry), "keys/classify-ed25519.pub.pem")+"]\n")
	const fx = "frontier-lab/frontier-x"
	tests := []struct {
		name string
		cfg  string
		args []string
		exit int
		code string
	}{
		{"licence", cfg, []string{"--model", fx, "--country", "IN", "--nationality", "IN", "--entity-id", "acme-india", "--entity-hq", "IN", "--parent-hq", "IN", "--time", "2026-06-01T00:00:00Z"}, 0, "licensed"},
		{"licence before it starts", cfg, []string{"--model", fx, "--country", "IN", "--entity-id", "acme-india", "--entity-hq", "IN", "--time", "2025-12-31T23:59:59Z"}, 1, "license_expired"},
		{"licence for another model", cfg, []string{"--model", "frontier-lab/mid-x", "--country", "IN", "--entity-id", "acme-india", "--entity-hq", "IN", "--time", "2026-06-01T00:00:00Z"}, 1, "license_required"},
		{"licence by ECCN, in force", cfg, []string{"--model", "frontier-lab/mid-x", "--country", "BR", "--nationality", "BR", "--entity-id", "brasil-ai", "--entity-hq", "BR", "--parent-hq", "BR", "--time", "2025-06-01T00:00:00Z"}, 0, "licensed"},
		{"UVEU from the registry", cfg, []string{"--model", fx, "--country", "SG", "--nationality", "SG", "--entity-id", "globalcloud", "--entity-hq", "US", "--parent-hq", "US"}, 0, "veu_authorised"},
		{"UVEU not listed for the country", cfg, []string{"--model", fx, "--country", "MY", "--entity-id", "globalcloud", "--entity-hq", "US", "--parent-hq", "US"}, 1, "license_required"},
		{"UVEU as a trusted claim", cfg, []string{"--model", fx, "--country", "MY", "--nationality", "MY", "--entity-hq", "US", "--parent-hq", "US", "--veu", "uveu"}, 0, "veu_authorised"},
		{"NVEU", cfg, []string{"--model", fx, "--country", "AE", "--entity-id", "gulf-dc", "--entity-hq", "AE"}, 1, "license_required"},
		{"attested in the registry", cfg, []string{"--model", fx, "--country", "IN", "--nationality", "IN", "--entity-id", "northwind", "--entity-hq", "GB", "--parent-hq", "GB"}, 0, "license_exception_aia_secured"},
		{"attestation before it was made", cfg, []string{"--model", fx, "--country", "IN", "--entity-id", "northwind", "--entity-hq", "GB", "--parent-hq", "GB", "--time", "2026-01-15T00:00:00Z"}, 1, "license_required"},
		{"attested as a trusted claim names no site: not enough", cfg, []string{"--model", fx, "--country", "IN", "--nationality", "IN", "--entity-hq", "GB", "--parent-hq", "GB", "--attested"}, 1, "license_required"},
		{"deemed export", cfg, []string{"--model", fx, "--country", "US", "--nationality", "CN"}, 1, "country_of_concern"},
		{"deemed export by residence", cfg, []string{"--model", fx, "--country", "US", "--nationality", "GB", "--permanent-residence", "IR"}, 1, "embargoed_destination"},
		{"green card holder", cfg, []string{"--model", fx, "--country", "US", "--nationality", "CN", "--permanent-residence", "US", "--parent-hq", "US"}, 0, "not_an_export"},
		{"employee of a Tier-1 entity", cfg, []string{"--model", fx, "--country", "US", "--nationality", "IN", "--entity-id", "acme-us", "--entity-hq", "US", "--parent-hq", "US", "--employee"}, 0, "license_exception_aia"},
		{"not an employee", cfg, []string{"--model", fx, "--country", "US", "--nationality", "CN", "--entity-id", "acme-us", "--entity-hq", "US", "--parent-hq", "US"}, 1, "country_of_concern"},
		{"restricted party", cfg, []string{"--model", fx, "--country", "US", "--entity-id", "blocked-corp", "--entity-hq", "US", "--parent-hq", "US"}, 1, "restricted_party"},
		{"fine-tune under the bar", cfg, []string{"--model", "tune-lab/chat-ft", "--country", "IN"}, 0, "published_base_fine_tune"},
		{"fine-tune over the bar", cfg, []string{"--model", "tune-lab/deep-ft", "--country", "IN"}, 1, "license_required"},
		{"above 1e26, no frontier", cfg, []string{"--model", "frontier-lab/mid-x", "--country", "IN"}, 1, "license_required"},
		{"below the frontier", floored, []string{"--model", "frontier-lab/mid-x", "--country", "IN"}, 0, "below_open_frontier"},
		{"above the frontier", floored, []string{"--model", fx, "--country", "IN"}, 1, "license_required"},
		{"before the regime", cfg, []string{"--model", fx, "--country", "US", "--time", "2024-12-31T00:00:00Z"}, 2, "policy_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDecides(t, tt.cfg, tt.args, tt.exit, tt.code)
		})
	}
	if _, _, code := runMain(t, "check", "--config", cfg, "--model", fx, "--country", "US", "--time", "tomorrow"); code != 2 {
		t.Errorf("--time tomorrow: exit %d, want 2", code)
	}
	if _, _, code := runMain(t, "check", "--config", cfg, "--model", fx, "--country", "US", "--permanent-residence", "Mars"); code != 2 {
		t.Errorf("--permanent-residence Mars: exit %d, want 2", code)
	}
}

// The gateway switches regime at the configured effective time, with no
// reload: a request from China for a controlled model is refused under
// ai-diffusion-2025 and served under embargo-only, and each answer and
// record names its regime.
func TestServeSwitchesRegimeAtEffectiveTime(t *testing.T) {
	switchAt := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	cfg := appendConfig(t, writeConfig(t), "policy:\n  regimes:\n    - bundle: ai-diffusion-2025\n    - bundle: embargo-only\n      effective: \""+switchAt.Format(time.RFC3339)+"\"\n")
	url, _, cancel, _ := startServe(t, cfg)
	defer cancel()

	key, err := identity.LoadPrivateKeyPEM(repoPath("testdata/keys/dev-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.Sign(key, "", identity.TokenClaims{Issuer: "weightgate-dev", Audience: "weightgate", Subject: "li", Country: "IN", Nationality: []string{"IN"}, ParentHQ: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		status, body := download(t, url, shard1Path, tok, nil)
		return status, string(body)
	}

	status, body := get()
	if time.Now().Before(switchAt) && (status != 403 || !strings.Contains(body, `"regime":"ai-diffusion-2025`) || !strings.Contains(body, "license_required")) {
		t.Errorf("before %s: %d %s; want 403 license_required under ai-diffusion-2025", switchAt, status, body)
	}
	time.Sleep(time.Until(switchAt) + 50*time.Millisecond)
	if status, body = get(); status != 200 {
		t.Errorf("after %s: %d %s; want 200 under embargo-only", switchAt, status, body)
	}

	// Both decisions are on the record, each under its regime.
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	var trail []byte
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if trail, _ = os.ReadFile(filepath.Join(filepath.Dir(cfg), "audit", "audit-000001.jsonl")); strings.Contains(string(trail), `"not_enforced"`) {
			break
		}
	}
	for _, want := range []string{`"bundle":"ai-diffusion-2025"`, `"bundle":"embargo-only"`, `"code":"not_enforced"`} {
		if !strings.Contains(string(trail), want) {
			t.Errorf("audit trail lacks %s", want)
		}
	}
}

// checkDecides runs `check --config cfg args...` and fails the test unless
// it exits with exit and decides code; it returns the decision's result.
func checkDecides(t *testing.T, cfg string, args []string, exit int, code string) whatif.Result {
	t.Helper()
	out, stderr, got := runMain(t, append([]string{"check", "--config", cfg}, args...)...)
	var res whatif.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("exit %d, output %q %s: %v", got, out, stderr, err)
	}
	if got != exit || res.Decision.Code != code {
		t.Errorf("exit %d, decision %+v; want exit %d, code %s", got, res.Decision, exit, code)
	}
	return res
}
