package opa_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/weightgate/weightgate/policy/opa"
)

// TestEngine_DestinationGroups checks that each built-in bundle groups
// destinations from its own data, on the date asked about: Cambodia left
// Country Group D:5 on 3 Feb 2026 in ai-diffusion-2025's data.
func TestEngine_DestinationGroups(t *testing.T) {
	t.Parallel()
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name   string
		bundle string
		at     time.Time
		want   map[string]string
	}{
		{"ai-diffusion before Cambodia left D:5", "ai-diffusion-2025", day("2025-06-01"), map[string]string{
			"US": "tier1", "DE": "tier1", "PR": "tier1", "IN": "tier2", "BR": "tier2",
			"CN": "country_of_concern", "HK": "country_of_concern", "MO": "country_of_concern", "KH": "country_of_concern",
			"IR": "embargoed", "KP": "embargoed", "UA-43": "embargoed", "UA": "tier2",
		}},
		{"ai-diffusion after", "ai-diffusion-2025", day("2026-03-01"), map[string]string{"KH": "tier2", "CN": "country_of_concern"}},
		{"embargo-only", "embargo-only", day("2026-03-01"), map[string]string{
			"IR": "embargoed", "CU": "embargoed", "UA-43": "embargoed", "RU": "russia_belarus", "BY": "russia_belarus",
			"CN": "other", "US": "other",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eng, err := opa.New(context.Background(), opa.Options{Bundle: tt.bundle})
			if err != nil {
				t.Fatal(err)
			}
			var countries []string
			for c := range tt.want {
				countries = append(countries, c)
			}
			got, err := eng.DestinationGroups(context.Background(), tt.at, countries)
			if err != nil {
				t.Fatal(err)
			}
			for c, want := range tt.want {
				if got[c] != want {
					t.Errorf("%s: got %q, want %q", c, got[c], want)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d countries, want %d: %v", len(got), len(tt.want), got)
			}
		})
	}
}

// TestEngine_DestinationGroups_None checks that a bundle without the
// function says so rather than grouping anything.
func TestEngine_DestinationGroups_None(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"p.rego": {Data: []byte("package weightgate\n\ndecision := {\"allow\": false, \"code\": \"no\", \"reason\": \"no\", \"basis\": \"\"}\n")}}
	eng, err := opa.New(context.Background(), opa.Options{BundleFS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.DestinationGroups(context.Background(), time.Now(), []string{"US"}); !errors.Is(err, opa.ErrNoGroups) {
		t.Fatalf("got %v, want ErrNoGroups", err)
	}
}
