package console

import (
	"context"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/weightgate/weightgate/audit/index"
)

var regionNamer = display.English.Regions()

// countryName is the English name of an ISO 3166-1 alpha-2 code (Unicode
// CLDR's, through x/text), or of the country of a 3166-2 subdivision with
// the code; the code itself when it names nothing.
func countryName(code string) string {
	if code == "" {
		return "no country"
	}
	cc, sub, _ := strings.Cut(code, "-")
	r, err := language.ParseRegion(cc)
	if err != nil || !r.IsCountry() {
		return code
	}
	name := regionNamer.Name(r)
	if name == "" {
		return code
	}
	if sub != "" {
		return name + " (region " + code + ")"
	}
	return name
}

// groupLabels are how the built-in bundles' destination groups are shown,
// most restricted first; a group a bundle names otherwise is shown by its
// own name after these.
var groupLabels = []struct{ Key, Label string }{
	{"embargoed", "Embargoed"},
	{"country_of_concern", "Countries of concern"},
	{"russia_belarus", "Russia and Belarus"},
	{"tier2", "Tier 2"},
	{"tier1", "Tier 1"},
	{"other", "Other destinations"},
}

const ungrouped = "ungrouped"

func groupLabel(key string) string {
	for _, g := range groupLabels {
		if g.Key == key {
			return g.Label
		}
	}
	if key == ungrouped {
		return "Not grouped (no country, or the policy names no group)"
	}
	return strings.ReplaceAll(key, "_", " ")
}

func groupRank(key string) int {
	for i, g := range groupLabels {
		if g.Key == key {
			return i
		}
	}
	if key == ungrouped {
		return len(groupLabels) + 1
	}
	return len(groupLabels)
}

// country is one destination with its name and group.
type country struct {
	Code, Name, Group string
	N                 int64
}

// destGroup is one group of destinations, with its total.
type destGroup struct {
	Key, Label string
	N          int64
	Countries  []country
}

// groupCountries puts counts by country into the groups the policy in
// effect at t gives them. When the policy cannot say (a bundle without
// destination_group), every country is ungrouped and err says why.
func (c *Console) groupCountries(ctx context.Context, t time.Time, counts []index.Count) ([]destGroup, error) {
	codes := make([]string, 0, len(counts))
	for _, n := range counts {
		if n.Key != "" {
			codes = append(codes, n.Key)
		}
	}
	groups, err := c.opts.Policy.DestinationGroups(ctx, t, codes)
	byKey := map[string]*destGroup{}
	for _, n := range counts {
		g := groups[n.Key]
		if g == "" {
			g = ungrouped
		}
		dg := byKey[g]
		if dg == nil {
			dg = &destGroup{Key: g, Label: groupLabel(g)}
			byKey[g] = dg
		}
		dg.N += n.N
		dg.Countries = append(dg.Countries, country{Code: n.Key, Name: countryName(n.Key), Group: g, N: n.N})
	}
	out := make([]destGroup, 0, len(byKey))
	for _, g := range byKey {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b destGroup) int {
		if d := groupRank(a.Key) - groupRank(b.Key); d != 0 {
			return d
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, err
}
