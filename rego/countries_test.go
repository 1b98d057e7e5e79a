package rego_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/rego"
)

// The country lists the built-in bundles rely on, written out by hand from
// the team's reference notes on the rule (shared/reference/ai-diffusion-rule.md, §2 and
// "Country lists as ISO 3166-1 alpha-2"), independently of the bundles' data
// files. A change to a bundle's list must be made here too, with its source.
var (
	// Tier 1: the 18 destinations of paragraph (a) of Supplement No. 5 to
	// 15 CFR part 740, added by the AI Diffusion rule (90 FR 4544, FR doc.
	// 2025-00636, published 2025-01-15, effective 2025-01-13). Taiwan is one
	// of the 18.
	tier1Supp5a = []string{
		"AU", "BE", "CA", "DK", "FI", "FR", "DE", "IE", "IT",
		"JP", "NL", "NZ", "NO", "KR", "ES", "SE", "TW", "GB",
	}
	// Tier 1 with the United States, the rule's home destination.
	tier1WithUS = slices.Concat([]string{"US"}, tier1Supp5a)

	// Country Group D:5 (Supplement No. 1 to 15 CFR part 740) as it stood
	// when the rule was published on 2025-01-15: the 22 of the eCFR of
	// 2026-07-23 plus Cambodia (in D:5 from 2021-12-09 until BIS removed it
	// on 2026-02-03). Nicaragua was added on 2024-03-15, 89 FR 18780.
	d5Jan2025 = []string{
		"AF", "BY", "MM", "KH", "CF", "CN", "CD", "CU", "ER", "HT", "IR", "IQ",
		"KP", "LB", "LY", "NI", "RU", "SO", "SS", "SD", "SY", "VE", "ZW",
	}
	// Country Group D:5 in the eCFR of 2026-07-23, after Cambodia's removal.
	d5Jul2026 = []string{
		"AF", "BY", "MM", "CF", "CN", "CD", "CU", "ER", "HT", "IR", "IQ",
		"KP", "LB", "LY", "NI", "RU", "SO", "SS", "SD", "SY", "VE", "ZW",
	}
	// Macau: the rule says "Macau or a destination specified in Country
	// Group D:5" (90 FR 4544); Macau is in D:1, D:3 and D:4, not D:5.
	macau = []string{"MO"}
	// Hong Kong: treated as China for EAR purposes.
	hongKong = []string{"HK"}

	// Comprehensive embargoes, 15 CFR part 746 (Country Groups E:1 and E:2,
	// Supplement No. 1 to part 740), as the bundles hold them for January
	// 2025. The reference notes name this regime (E:1/E:2 embargoes,
	// OFAC sanctions) but do not enumerate it.
	embargoed = []string{"CU", "IR", "KP", "SY"}

	// Regions embargoed apart from their country, by ISO 3166-2 code
	// (Debian iso-codes 4.15.0): Crimea (UA-43) and Sevastopol (UA-40),
	// 15 CFR 746.6 (80 FR 4776, 2015-01-29); the so-called DNR and LNR, in
	// the Donetsk (UA-14) and Luhansk (UA-09) oblasts, 15 CFR 746.6 as
	// amended in February 2022 (E.O. 14065).
	embargoedRegions = []string{"UA-43", "UA-40", "UA-14", "UA-09"}

	// Russia and Belarus: licence required for every item on the Commerce
	// Control List, 15 CFR 746.8(a)(1).
	russiaBelarus = []string{"RU", "BY"}

	// The United States for the EAR (15 CFR 772.1): the States and its
	// territories, by their ISO 3166-1 codes.
	unitedStates = []string{"US", "PR", "GU", "VI", "AS", "MP", "UM"}

	// Territories of Tier 1 countries with ISO codes of their own (ISO
	// 3166-1 remarks); whether they share their parent's Tier 1 status is
	// unconfirmed, so the bundle holds them apart.
	territories = []string{
		"GI", "KY", "BM", "VG", "AI", "MS", "TC", "FK", "SH", "PN", "IO", "GS", "GG", "JE", "IM",
		"GL", "FO", "GF", "GP", "MQ", "RE", "YT", "PM", "BL", "MF", "WF", "PF", "NC", "TF",
		"AW", "CW", "SX", "BQ", "CX", "CC", "NF", "HM", "CK", "NU", "TK", "SJ", "BV", "AX",
	}
)

// countryList is one list of a bundle's data and what it must hold.
type countryList struct {
	label    string   // the list and its source, short, for messages
	file     string   // the data file, in rego.FS
	path     []string // where the list is in that file; an object's keys count as its members
	citation string   // the rule it comes from
	members  []string // hand-written
}

const (
	aiDiffusionData = "bundles/ai-diffusion-2025/ai_diffusion.json"
	embargoData     = "bundles/embargo-only/embargo.json"
)

var countryLists = []countryList{
	{
		label: "Tier 1 (15 CFR 740 Supp. 5 (a), 90 FR 4544, 2025-01-15)",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "tier1_supp5a"},
		citation: "paragraph (a) of Supplement No. 5 to 15 CFR part 740, AI Diffusion rule, 90 FR 4544-4584 (FR doc. 2025-00636), published 2025-01-15",
		members:  tier1Supp5a,
	},
	{
		label: "Tier 1 with the US (15 CFR 740 Supp. 5 (a), 90 FR 4544, 2025-01-15)",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "tier1_including_us"},
		citation: "the United States and paragraph (a) of Supplement No. 5 to 15 CFR part 740 (License Exception AIA, 15 CFR 740.27), 90 FR 4544, published 2025-01-15",
		members:  tier1WithUS,
	},
	{
		label: "D:5 (15 CFR 740 Supp. 1, from 2024-03-15)",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "d5_versions", "0", "members"},
		citation: "Country Group D:5, Supplement No. 1 to 15 CFR part 740, as of 2025-01-15 (90 FR 4544): the eCFR list of 2026-07-23 plus Cambodia, removed 2026-02-03; Nicaragua added 2024-03-15, 89 FR 18780",
		members:  d5Jan2025,
	},
	{
		label: "D:5 (15 CFR 740 Supp. 1, from 2026-02-03)",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "d5_versions", "1", "members"},
		citation: "Country Group D:5, Supplement No. 1 to 15 CFR part 740, after Cambodia's removal effective 2026-02-03 (RIN 0694-AK41); eCFR title 15 of 2026-07-23",
		members:  d5Jul2026,
	},
	{
		label: "Macau (90 FR 4544, 2025-01-15)",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "concern_extra_not_in_d5"},
		citation: "\"Macau or a destination specified in Country Group D:5\", AI Diffusion rule, 90 FR 4544, published 2025-01-15; Macau is in D:1, D:3 and D:4",
		members:  macau,
	},
	{
		label: "Hong Kong treated as China (EAR)",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "treated_as_china"},
		citation: "Hong Kong is treated as China for EAR purposes (China is in Country Group D:5)",
		members:  hongKong,
	},
	{
		label: "comprehensive embargoes (15 CFR 746, E:1/E:2), ai-diffusion-2025",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "comprehensively_embargoed"},
		citation: "15 CFR part 746; Country Groups E:1 and E:2, Supplement No. 1 to part 740; as of January 2025",
		members:  embargoed,
	},
	{
		label: "comprehensive embargoes (15 CFR 746, E:1/E:2), embargo-only",
		file:  embargoData, path: []string{"weightgate", "embargo", "comprehensively_embargoed"},
		citation: "15 CFR part 746; Country Groups E:1 and E:2, Supplement No. 1 to part 740; as of January 2025",
		members:  embargoed,
	},
	{
		label: "names of the comprehensive embargoes, embargo-only",
		file:  embargoData, path: []string{"weightgate", "embargo", "country_names"},
		citation: "one name for each comprehensively embargoed destination, embargoed region and of Russia and Belarus",
		members:  slices.Concat(embargoed, embargoedRegions, russiaBelarus),
	},
	{
		label: "embargoed regions (15 CFR 746.6), ai-diffusion-2025",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "embargoed_regions"},
		citation: "15 CFR 746.6: Crimea (80 FR 4776) and the so-called DNR and LNR (February 2022)",
		members:  embargoedRegions,
	},
	{
		label: "embargoed regions (15 CFR 746.6), embargo-only",
		file:  embargoData, path: []string{"weightgate", "embargo", "embargoed_regions"},
		citation: "15 CFR 746.6: Crimea (80 FR 4776) and the so-called DNR and LNR (February 2022)",
		members:  embargoedRegions,
	},
	{
		label: "Russia and Belarus (15 CFR 746.8), embargo-only",
		file:  embargoData, path: []string{"weightgate", "embargo", "russia_belarus"},
		citation: "15 CFR 746.8(a)(1): licence required for all items on the CCL",
		members:  russiaBelarus,
	},
	{
		label: "the United States and its territories (15 CFR 772.1), ai-diffusion-2025",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "united_states"},
		citation: "15 CFR 772.1, definition of United States",
		members:  unitedStates,
	},
	{
		label: "the United States and its territories (15 CFR 772.1), embargo-only",
		file:  embargoData, path: []string{"weightgate", "embargo", "united_states"},
		citation: "15 CFR 772.1, definition of United States",
		members:  unitedStates,
	},
	{
		label: "territories of Tier 1 countries, ai-diffusion-2025",
		file:  aiDiffusionData, path: []string{"weightgate", "ai_diffusion", "territory_parent"},
		citation: "ISO 3166-1 territories of Supplement No. 5 (a) countries; Tier 1 by their parent UNCONFIRMED",
		members:  territories,
	},
	{
		label: "Tier 1 with the US (15 CFR 740 Supp. 5 (a), 90 FR 4544, 2025-01-15), embargo-only",
		file:  embargoData, path: []string{"weightgate", "embargo", "tier1_including_us"},
		citation: "the United States and paragraph (a) of Supplement No. 5 to 15 CFR part 740, for the deemed-export carve-out for employees of Tier-1-headquartered entities",
		members:  tier1WithUS,
	},
}

// readData returns the JSON data file name of rego.FS, decoded with
// encoding/json (not through the policy engine).
func readData(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := fs.ReadFile(rego.FS, name)
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return doc
}

// lookup returns the value at path in doc.
func lookup(doc map[string]any, path []string) (any, error) {
	var v any = doc
	for i, k := range path {
		if arr, ok := v.([]any); ok {
			// A dated list's versions: path names the index.
			n, err := strconv.Atoi(k)
			if err != nil || n < 0 || n >= len(arr) {
				return nil, fmt.Errorf("no %s", strings.Join(path[:i+1], "."))
			}
			v = arr[n]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", strings.Join(path[:i], "."))
		}
		if v, ok = obj[k]; !ok {
			return nil, fmt.Errorf("no %s", strings.Join(path[:i+1], "."))
		}
	}
	return v, nil
}

// codesOf returns the members of a list: an array's strings, or an object's
// keys.
func codesOf(v any) ([]string, error) {
	switch v := v.(type) {
	case []any:
		var codes []string
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("element %d is %T %v, not a string", i, x, x)
			}
			codes = append(codes, s)
		}
		return codes, nil
	case map[string]any:
		var codes []string
		for k := range v {
			codes = append(codes, k)
		}
		slices.Sort(codes)
		return codes, nil
	}
	return nil, fmt.Errorf("%T, not a list", v)
}

// compareMembers describes how got differs from want as a set, or returns
// "": each member missing from got, each unexpected one, each duplicated.
func compareMembers(got, want []string) string {
	var missing, extra, dup []string
	for _, c := range want {
		if !slices.Contains(got, c) {
			missing = append(missing, c)
		}
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c] && !slices.Contains(dup, c) {
			dup = append(dup, c)
		}
		seen[c] = true
		if !slices.Contains(want, c) && !slices.Contains(extra, c) {
			extra = append(extra, c)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "unexpected "+strings.Join(extra, ", "))
	}
	if len(dup) > 0 {
		parts = append(parts, "duplicated "+strings.Join(dup, ", "))
	}
	return strings.Join(parts, "; ")
}

func TestCompareMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		got, want []string
		diff      string
	}{
		{"equal", []string{"CN", "VE"}, []string{"VE", "CN"}, ""},
		{"swapped", []string{"CN", "VN"}, []string{"CN", "VE"}, "missing VE; unexpected VN"},
		{"missing", []string{"CN"}, []string{"CN", "VE", "KH"}, "missing VE, KH"},
		{"duplicated", []string{"CN", "VE", "CN"}, []string{"CN", "VE"}, "duplicated CN"},
		{"empty", nil, []string{"MO"}, "missing MO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, want := compareMembers(tt.got, tt.want), tt.diff; got != want {
				t.Errorf("compareMembers(%q, %q) = %q, want %q", tt.got, tt.want, got, want)
			}
		})
	}
}

// TestCountryLists compares each country list in the built-in bundles' data
// with its hand-written table, member by member, and checks that every list
// in the data has a table and that the default bundle uses D:5 as the rule
// was issued.
func TestCountryLists(t *testing.T) {
	t.Parallel()
	docs := map[string]map[string]any{}
	for _, l := range countryLists {
		if docs[l.file] == nil {
			docs[l.file] = readData(t, l.file)
		}
		t.Run(l.label, func(t *testing.T) {
			v, err := lookup(docs[l.file], l.path)
			if err != nil {
				t.Fatalf("%s: %s (%s): %v", l.label, l.file, l.citation, err)
			}
			got, err := codesOf(v)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", l.label, l.file, strings.Join(l.path, "."), err)
			}
			if diff := compareMembers(got, l.members); diff != "" {
				t.Errorf("%s: %s; data %s in %s, source: %s", l.label, diff, strings.Join(l.path, "."), l.file, l.citation)
			}
		})
	}

	// Every version of D:5 has a table: a version added to the data must get
	// one here, with its source.
	t.Run("d5_versions", func(t *testing.T) {
		v, err := lookup(docs[aiDiffusionData], []string{"weightgate", "ai_diffusion", "d5_versions"})
		if err != nil {
			t.Fatal(err)
		}
		var froms []string
		for _, x := range v.([]any) {
			froms = append(froms, fmt.Sprint(x.(map[string]any)["from"]))
		}
		if got, want := froms, []string{"2024-03-15", "2026-02-03"}; !slices.Equal(got, want) {
			t.Errorf("d5_versions from %v, want %v (Nicaragua added, 89 FR 18780; Cambodia removed, RIN 0694-AK41)", got, want)
		}
	})

	// A list added to the data must get a table here, with its source.
	t.Run("every list has a table", func(t *testing.T) {
		for file, doc := range docs {
			var prefix []string
			switch file {
			case aiDiffusionData:
				prefix = []string{"weightgate", "ai_diffusion"}
			case embargoData:
				prefix = []string{"weightgate", "embargo"}
			}
			v, err := lookup(doc, prefix)
			if err != nil {
				t.Fatal(err)
			}
			for key, x := range v.(map[string]any) {
				if _, ok := x.([]any); !ok && key != "country_names" && key != "territory_parent" {
					continue
				}
				path := slices.Concat(prefix, []string{key})
				if !slices.ContainsFunc(countryLists, func(l countryList) bool {
					return l.file == file && len(l.path) >= len(path) && slices.Equal(l.path[:len(path)], path)
				}) {
					t.Errorf("%s: %s has no hand-written table in countryLists", file, strings.Join(path, "."))
				}
			}
		}
	})
}

// closedWeights is a request by sub for a weights file of a closed-weight
// model trained with 3e26 operations and classified ECCN 4E091.
func closedWeights(sub policy.Subject) policy.Input {
	return policy.Input{
		Subject: sub,
		Model: policy.Model{
			ID: "frontier-lab/frontier-x", Classified: true, Weights: "closed",
			TrainingComputeFLOP: 3e26, ECCN: "4E091", Revision: "0123abc",
		},
		Object:  policy.Object{Path: "model-00001-of-00004.safetensors", Kind: policy.KindWeights, Size: 1 << 30},
		Request: policy.Request{Method: "GET", API: "resolve", RemoteAddr: "192.0.2.1:4711", Time: "2026-06-01T00:00:00Z"},
	}
}

// TestCountryDecisions decides, through the policy engine, one download of
// controlled closed weights per member of each hand-written list, and per
// remaining country: the bundles' behaviour, not only their data, is checked
// country by country.
func TestCountryDecisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	newEngine := func(bundle string) *opa.Engine {
		e, err := opa.New(ctx, opa.Options{Bundle: bundle})
		if err != nil {
			t.Fatalf("New(%s): %v", bundle, err)
		}
		return e
	}
	def, emb := newEngine(rego.DefaultBundle), newEngine("embargo-only")

	// located(c): a requester in c, a national of c, acting for no entity
	// (so headquartered in c too).
	located := func(c string) policy.Subject {
		return policy.Subject{ID: "requester", Country: c, Nationality: []string{c}, Entity: policy.Entity{HQ: c, ParentHQ: c}}
	}
	// iranianEmployee(c): an Iranian national in c, a permanent regular
	// employee of an entity that, with its parent, is headquartered in c.
	// The deemed export to Iran is carved out only when c is Tier 1.
	iranianEmployee := func(c string) policy.Subject {
		return policy.Subject{ID: "employee", Country: c, Nationality: []string{"IR"}, Employee: true,
			Entity: policy.Entity{Name: "Lab", ID: "lab", HQ: c, ParentHQ: c}}
	}
	// indianEmployee(c): the same, an Indian national: the carve-out lifts
	// the deemed export to India.
	indianEmployee := func(c string) policy.Subject {
		s := iranianEmployee(c)
		s.Nationality = []string{"IN"}
		return s
	}
	// tier1Code: a U.S. person in the United States is not exporting.
	tier1Code := func(c string) string {
		if c == "US" {
			return "not_an_export"
		}
		return "license_exception_aia"
	}
	// concernCode: a comprehensive embargo outranks a country of concern.
	concernCode := func(c string) string {
		if slices.Contains(embargoed, c) {
			return "embargoed_destination"
		}
		return "country_of_concern"
	}
	always := func(code string) func(string) string { return func(string) string { return code } }

	listed := slices.Concat(tier1WithUS, d5Jan2025, d5Jul2026, macau, hongKong, embargoed, unitedStates)
	var tier2 []string
	for _, c := range identity.Countries() {
		if !slices.Contains(listed, c) {
			tier2 = append(tier2, c)
		}
	}

	tests := []struct {
		name    string
		engine  *opa.Engine
		members []string
		subject func(c string) policy.Subject
		code    func(c string) string
		allow   bool
	}{
		{"ai-diffusion-2025/Tier 1 with the US: License Exception AIA", def, tier1WithUS, located, tier1Code, true},
		{"ai-diffusion-2025/D:5 from 2026-02-03: country of concern", def, d5Jul2026, located, concernCode, false},
		{"ai-diffusion-2025/Cambodia, out of D:5 from 2026-02-03: Tier 2", def, []string{"KH"}, located, always("license_required"), false},
		{"ai-diffusion-2025/Macau: country of concern", def, macau, located, always("country_of_concern"), false},
		{"ai-diffusion-2025/Hong Kong: country of concern", def, hongKong, located, always("country_of_concern"), false},
		{"ai-diffusion-2025/comprehensive embargoes", def, embargoed, located, always("embargoed_destination"), false},
		{"ai-diffusion-2025/embargoed regions", def, embargoedRegions, located, always("embargoed_destination"), false},
		{"ai-diffusion-2025/U.S. territories: not an export", def, unitedStates, located, always("not_an_export"), true},
		{"ai-diffusion-2025/every other country: Tier 2, license required", def, tier2, located, always("license_required"), false},
		{"ai-diffusion-2025/Tier 1 employee carve-out", def, tier1WithUS, indianEmployee, always("license_exception_aia"), true},
		{"ai-diffusion-2025/the carve-out never lifts an embargo", def, tier1WithUS, iranianEmployee, always("embargoed_destination"), false},
		{"embargo-only/comprehensive embargoes", emb, embargoed, located, always("embargoed_destination"), false},
		{"embargo-only/embargoed regions", emb, embargoedRegions, located, always("embargoed_destination"), false},
		{"embargo-only/Russia and Belarus: license required", emb, russiaBelarus, located, always("license_required"), false},
		{"embargo-only/Tier 1 employee carve-out", emb, tier1WithUS, indianEmployee, always("not_enforced"), true},
		{"embargo-only/the carve-out never lifts an embargo", emb, tier1WithUS, iranianEmployee, always("embargoed_destination"), false},
		{"embargo-only/every other country: not enforced", emb, slices.Concat(tier2, tier1Supp5a, d5Jan2025, macau, hongKong), located,
			func(c string) string {
				if slices.Contains(embargoed, c) {
					return "embargoed_destination"
				}
				if slices.Contains(russiaBelarus, c) {
					return "license_required"
				}
				return "not_enforced"
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.members) == 0 {
				t.Fatal("no members")
			}
			for _, c := range tt.members {
				sub := tt.subject(c)
				d, err := tt.engine.Decide(ctx, closedWeights(sub))
				if err != nil {
					t.Errorf("%s: Decide: %v", c, err)
					continue
				}
				wantCode := tt.code(c)
				// An embargoed member is denied whatever its list grants.
				wantAllow := tt.allow && !slices.Contains(embargoed, c) && !(tt.engine == emb && slices.Contains(russiaBelarus, c))
				if d.Code != wantCode || d.Allow != wantAllow {
					t.Errorf("%s: %s (allow %v), want %s (allow %v): %s", c, d.Code, d.Allow, wantCode, wantAllow, d.Reason)
				}
			}
		})
	}
}
