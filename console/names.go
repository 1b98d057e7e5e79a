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

// grouped is one destination group and the items whose country is in it.
type grouped[T any] struct {
	Key, Label string
	Items      []T
}

// destinationGroups puts items into the destination groups the policy in
// effect at t gives their countries (countryOf), the groups in the order
// they are shown (groupRank, then key), the items in their own order. When
// the policy cannot say (a bundle without destination_group), every item is
// ungrouped and err says why.
func destinationGroups[T any](ctx context.Context, p Policy, t time.Time, items []T, countryOf func(T) string) ([]grouped[T], error) {
	codes := make([]string, 0, len(items))
	for _, it := range items {
		if c := countryOf(it); c != "" {
			codes = append(codes, c)
		}
	}
	groups, err := p.DestinationGroups(ctx, t, codes)
	var out []grouped[T]
	at := map[string]int{}
	for _, it := range items {
		g := groups[countryOf(it)]
		if g == "" {
			g = ungrouped
		}
		i, ok := at[g]
		if !ok {
			i, at[g] = len(out), len(out)
			out = append(out, grouped[T]{Key: g, Label: groupLabel(g)})
		}
		out[i].Items = append(out[i].Items, it)
	}
	slices.SortFunc(out, func(a, b grouped[T]) int {
		if d := groupRank(a.Key) - groupRank(b.Key); d != 0 {
			return d
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, err
}

// groupCountries puts counts by country into the groups the policy in
// effect at t gives them, with each group's total.
func (c *Console) groupCountries(ctx context.Context, t time.Time, counts []index.Count) ([]destGroup, error) {
	gs, err := destinationGroups(ctx, c.opts.Policy, t, counts, func(n index.Count) string { return n.Key })
	out := make([]destGroup, 0, len(gs))
	for _, g := range gs {
		dg := destGroup{Key: g.Key, Label: g.Label}
		for _, n := range g.Items {
			dg.N += n.N
			dg.Countries = append(dg.Countries, country{Code: n.Key, Name: countryName(n.Key), Group: g.Key, N: n.N})
		}
		out = append(out, dg)
	}
	return out, err
}
