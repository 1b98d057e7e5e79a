package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/whatif"
)

// writeRulesConfig is writeConfig with a policy section: the bundle and the
// shipped registries.
func writeRulesConfig(t *testing.T, bundle string) string {
	t.Helper()
	path := writeConfig(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(repoPath(""))
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "policy: {bundle: "+bundle+", registry: "+filepath.Join(root, "testdata/registry")+"}\n"...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckExportRules asks check, as a compliance officer would, the
// questions on which the bundles used to answer wrongly. before is what
// check printed before the rules were corrected (kept for the record, and
// so that a regression to it is recognisable); code is the answer now.
func TestCheckExportRules(t *testing.T) {
	t.Parallel()
	cfgs := map[string]string{
		"ai-diffusion-2025": writeRulesConfig(t, "ai-diffusion-2025"),
		"embargo-only":      writeRulesConfig(t, "embargo-only"),
	}
	const model = "frontier-lab/frontier-x"
	lab := []string{"--entity", "Frontier Lab", "--entity-id", "frontier-lab", "--entity-hq", "US", "--parent-hq", "US"}
	tests := []struct {
		name, bundle string
		args         []string
		before       string // the code check printed before; "usage" for exit 2
		exit         int
		code         string
		notInReason  string
	}{
		// 1. The employee carve-out never lifts an embargo; for D:5 it is the
		// operator's choice, excluded by default.
		{"1 Iranian employee of a US lab, in the US", "ai-diffusion-2025",
			append([]string{"--country", "US", "--nationality", "IR", "--employee"}, lab...), "license_exception_aia", 1, "embargoed_destination", ""},
		{"1 Iranian employee, embargo-only", "embargo-only",
			append([]string{"--country", "US", "--nationality", "IR", "--employee"}, lab...), "not_enforced", 1, "embargoed_destination", ""},
		{"1 Crimean employee (UA-43)", "ai-diffusion-2025",
			append([]string{"--country", "US", "--nationality", "UA-43", "--employee"}, lab...), "usage", 1, "embargoed_destination", ""},
		{"1 Chinese employee: D:5 excluded by default", "ai-diffusion-2025",
			append([]string{"--country", "US", "--nationality", "CN", "--employee"}, lab...), "license_exception_aia", 1, "country_of_concern", ""},
		{"1 Indian employee: carved out", "ai-diffusion-2025",
			append([]string{"--country", "US", "--nationality", "IN", "--employee"}, lab...), "license_exception_aia", 0, "license_exception_aia", ""},

		// 2. Missing nationality or parent_hq fails closed for controlled
		// weights.
		{"2 no nationality", "ai-diffusion-2025",
			[]string{"--country", "US", "--entity-hq", "US", "--parent-hq", "US"}, "license_exception_aia", 1, "unknown_destination", ""},
		{"2 no parent_hq", "ai-diffusion-2025",
			[]string{"--country", "US", "--nationality", "US", "--entity-hq", "US"}, "license_exception_aia", 1, "unknown_destination", ""},
		{"2 the us_person claim stands for a nationality", "ai-diffusion-2025",
			[]string{"--country", "US", "--us-person", "--entity-hq", "US", "--parent-hq", "US"}, "usage", 0, "not_an_export", ""},
		{"2 no nationality, uncontrolled weights", "ai-diffusion-2025",
			[]string{"--model", "frontier-lab/mini-x", "--country", "US"}, "not_controlled", 0, "not_controlled", ""},

		// 3. The other files of a closed model, to embargoed destinations
		// and restricted parties.
		{"3 config.json to a North Korean employee", "ai-diffusion-2025",
			append([]string{"--file", "config.json", "--country", "US", "--nationality", "KP", "--employee"}, lab...), "not_weights", 1, "embargoed_destination", ""},
		{"3 config.json to a listed entity", "ai-diffusion-2025",
			[]string{"--file", "config.json", "--country", "GB", "--nationality", "GB", "--entity-id", "blocked-corp", "--entity-hq", "GB", "--parent-hq", "GB"}, "restricted_party", 1, "restricted_party", ""},
		{"3 config.json to Cuba", "ai-diffusion-2025",
			[]string{"--file", "config.json", "--country", "CU"}, "embargoed_destination", 1, "embargoed_destination", ""},
		{"3 config.json to Crimea, embargo-only", "embargo-only",
			[]string{"--file", "config.json", "--country", "UA-43"}, "usage", 1, "embargoed_destination", ""},

		// 4. embargo-only: Russia and Belarus need a licence for any ECCN.
		{"4 Russia, embargo-only", "embargo-only",
			[]string{"--country", "RU", "--nationality", "RU", "--entity-hq", "RU", "--parent-hq", "RU"}, "not_enforced", 1, "license_required", ""},
		{"4 Belarus, embargo-only", "embargo-only",
			[]string{"--country", "BY"}, "not_enforced", 1, "license_required", ""},

		// 5. Regions by ISO 3166-2 code.
		{"5 Crimea", "ai-diffusion-2025", []string{"--country", "UA-43"}, "usage", 1, "embargoed_destination", ""},
		{"5 Sevastopol", "ai-diffusion-2025", []string{"--country", "ua-40"}, "usage", 1, "embargoed_destination", ""},
		{"5 Donetsk", "ai-diffusion-2025", []string{"--country", "UA-14"}, "usage", 1, "embargoed_destination", ""},
		{"5 Luhansk by the client address", "ai-diffusion-2025",
			[]string{"--model", "frontier-lab/mini-x", "--country", "UA", "--ip-country", "UA-09"}, "usage", 1, "ip_country_of_concern", ""},
		{"5 Kyiv", "ai-diffusion-2025", []string{"--country", "UA-30", "--nationality", "UA", "--parent-hq", "UA"}, "usage", 1, "license_required", ""},

		// 6. U.S. territories are the United States.
		{"6 Puerto Rico", "ai-diffusion-2025",
			[]string{"--country", "PR", "--nationality", "US", "--entity-hq", "US", "--parent-hq", "US"}, "license_required", 0, "not_an_export", ""},
		{"6 Guam, a foreign national", "ai-diffusion-2025",
			[]string{"--country", "GU", "--nationality", "GB", "--entity-hq", "US", "--parent-hq", "US"}, "license_required", 0, "license_exception_aia", ""},
		{"6 entity headquartered in the Virgin Islands", "ai-diffusion-2025",
			[]string{"--country", "GB", "--nationality", "GB", "--entity-hq", "VI", "--parent-hq", "VI"}, "license_required", 0, "license_exception_aia", ""},

		// 7. D:5 by the decision's date: Cambodia left it on 3 Feb 2026.
		{"7 Cambodia after 2026-02-03", "ai-diffusion-2025",
			[]string{"--country", "KH", "--nationality", "KH", "--parent-hq", "KH", "--time", "2026-06-01T00:00:00Z"}, "country_of_concern", 1, "license_required", ""},
		{"7 Cambodia before", "ai-diffusion-2025",
			[]string{"--country", "KH", "--nationality", "KH", "--parent-hq", "KH", "--time", "2026-02-02T12:00:00Z"}, "country_of_concern", 1, "country_of_concern", ""},

		// 8. Wording and codes.
		{"8 a U.S. person in the US", "ai-diffusion-2025",
			[]string{"--country", "US", "--nationality", "US", "--entity-hq", "US", "--parent-hq", "US"}, "license_exception_aia", 0, "not_an_export", ""},
		{"8 China: license required, presumption of denial", "ai-diffusion-2025",
			[]string{"--country", "CN"}, "country_of_concern", 1, "country_of_concern", "prohibited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"check", "--config", cfgs[tt.bundle]}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--model") {
				args = append(args, "--model", model)
			}
			out, stderr, code := runMain(t, args...)
			if code != tt.exit {
				t.Fatalf("exit = %d, want %d (before: %s); %s %s", code, tt.exit, tt.before, out, stderr)
			}
			var res whatif.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if got := res.Decision.Code; got != tt.code {
				t.Errorf("code = %s, want %s (before: %s): %s", got, tt.code, tt.before, res.Decision.Reason)
			}
			if tt.notInReason != "" && strings.Contains(res.Decision.Reason, tt.notInReason) {
				t.Errorf("reason %q contains %q", res.Decision.Reason, tt.notInReason)
			}
			if tt.code == "country_of_concern" && !strings.Contains(res.Decision.Reason, "presumption of denial") {
				t.Errorf("reason %q does not say presumption of denial", res.Decision.Reason)
			}
		})
	}
}
