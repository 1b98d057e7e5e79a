package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/licence"
)

// check reads the licence counts the gateway keeps (policy.licence_counts):
// a capped licence whose releases are used up is license_exhausted; and the
// per-site attestations decide AIA outside Tier 1, naming the attestation.
func TestCheckLicencesAndAttestations(t *testing.T) {
	registry, err := filepath.Abs(repoPath("testdata/registry"))
	if err != nil {
		t.Fatal(err)
	}
	counts := func(n int) string {
		f := filepath.Join(t.TempDir(), "licence-releases.json")
		b, _ := json.Marshal(map[string]any{"version": 1, "releases": map[string]int{"D7654321": n}})
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	cfg := func(countsFile string) string {
		return appendConfig(t, writeConfig(t), "policy:\n  registry: "+registry+"\n  licence_counts: "+countsFile+"\n")
	}
	const fx = "frontier-lab/frontier-x"
	brasil := []string{"--model", "frontier-lab/mid-x", "--country", "BR", "--entity-id", "brasil-ai", "--entity-hq", "BR", "--parent-hq", "BR", "--nationality", "BR", "--time", "2025-06-01T00:00:00Z"}
	northwind := func(country string) []string {
		return []string{"--model", fx, "--country", country, "--entity-id", "northwind", "--entity-hq", "GB", "--parent-hq", "GB", "--nationality", "GB", "--time", "2026-06-01T00:00:00Z"}
	}
	tests := []struct {
		name  string
		cfg   string
		args  []string
		exit  int
		code  string
		basis string // a part of the basis
	}{
		{"capped licence, one release made", cfg(counts(1)), brasil, 0, "licensed", "conditions: For evaluation only"},
		{"capped licence, none made (no counts file yet)", cfg(filepath.Join(t.TempDir(), "none.json")), brasil, 0, "licensed", "at most 2 releases"},
		{"capped licence exhausted", cfg(counts(2)), brasil, 1, "license_exhausted", "BIS licence D7654321 is exhausted"},
		{"attestation for the site's country", cfg(counts(0)), northwind("IN"), 0, "license_exception_aia_secured", "relied on attestation ATT-NW-IN-1 for site Bengaluru DC-1 (IN), expires 2027-01-31"},
		{"no attestation for this site", cfg(counts(0)), northwind("MY"), 1, "license_required", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checkDecides(t, tt.cfg, tt.args, tt.exit, tt.code)
			if !strings.Contains(res.Decision.Basis, tt.basis) {
				t.Errorf("basis %q lacks %q", res.Decision.Basis, tt.basis)
			}
		})
	}
}

// check lists the licences and attestations expiring within
// policy.expiry_warning of its --time.
func TestCheckExpiryWarning(t *testing.T) {
	registry, err := filepath.Abs(repoPath("testdata/registry"))
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--model", "frontier-lab/frontier-x", "--country", "US", "--nationality", "US"}
	for _, tt := range []struct {
		name, window, at string
		want             []licence.Expiry
	}{
		{"licence within 30 days", "", "2026-12-10T00:00:00Z", []licence.Expiry{{Kind: "licence", ID: "D1234567", Expires: "2026-12-31", DaysLeft: 21}}},
		{"attestation within 30 days", "", "2027-01-10T00:00:00Z", []licence.Expiry{{Kind: "attestation", ID: "ATT-NW-IN-1", Expires: "2027-01-31", DaysLeft: 21}}},
		{"both within 60 days", "1440h", "2026-12-10T00:00:00Z", []licence.Expiry{
			{Kind: "licence", ID: "D1234567", Expires: "2026-12-31", DaysLeft: 21},
			{Kind: "attestation", ID: "ATT-NW-IN-1", Expires: "2027-01-31", DaysLeft: 52}}},
		{"nothing soon", "", "2026-06-01T00:00:00Z", []licence.Expiry{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "policy:\n  registry: " + registry + "\n"
			if tt.window != "" {
				yaml += "  expiry_warning: " + tt.window + "\n"
			}
			out, stderr, code := runMain(t, append([]string{"check", "--config", appendConfig(t, writeConfig(t), yaml), "--time", tt.at}, base...)...)
			var res struct {
				Expiring []licence.Expiry `json:"expiring"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("exit %d, output %q %s: %v", code, out, stderr, err)
			}
			if !reflect.DeepEqual(res.Expiring, tt.want) {
				t.Errorf("expiring %+v, want %+v", res.Expiring, tt.want)
			}
		})
	}
}
