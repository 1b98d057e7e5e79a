package gateway_test

import (
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/policy"
)

// TestScreen screens subjects against the shipped sample lists
// (testdata/screening) through gateway.Screen. Every case but the first
// carries all four screened fields, the requester's name and id and its
// entity's name and id, and only one of them is listed: each field must
// reach the screener on its own, and the date must be the request's, in UTC.
func TestScreen(t *testing.T) {
	t.Parallel()
	lists := gatewaytest.ScreeningLists(t, "")

	const (
		sdn      = "Specially Designated Nationals (SDN) - Treasury Department"
		dpl      = "Denied Persons List (DPL) - Bureau of Industry and Security"
		volkov   = "2b5e4c1a3d9f6e7ac8a2d3f4e5b6c7d8" // an SDN individual, passport 721234567
		arctic   = "3c6f5d2b4e0a7f8bd9b3e4a5f6c7d8e9" // an SDN entity, registration number 7700000001
		meridian = "6f9c8a5e7b3d0c1eac6b7d8c9f0a1b2c" // a DPL entity whose denial ended on 2020-01-01
	)
	// unlisted is a requester none of whose four screened fields is listed.
	unlisted := func() policy.Subject {
		return policy.Subject{
			ID: "alice-7", Name: "Alice Example", Country: "US",
			Entity: policy.Entity{Name: "Northwind Analytics GmbH", ID: "NWA-2231", HQ: "US", ParentHQ: "US"},
		}
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// 22:00 on 1 January 2020 in UTC-5 is already 2 January in UTC: the day
	// after the Meridian denial's end_date.
	lateEvening := time.Date(2020, 1, 1, 22, 0, 0, 0, time.FixedZone("UTC-5", -5*60*60))

	tests := []struct {
		name string
		scr  gateway.Screener
		edit func(s *policy.Subject)
		now  time.Time
		want policy.Screening
	}{
		{"nothing listed", lists, func(s *policy.Subject) {}, now,
			policy.Screening{Status: policy.ScreeningClear}},
		{"entity name", lists, func(s *policy.Subject) { s.Entity.Name = "Arctic Compute Trading LLC" }, now,
			policy.Screening{Status: policy.ScreeningHit, List: sdn, Entry: arctic, Name: "Arctic Compute Trading LLC", Field: "entity.name", Score: 1}},
		{"entity id", lists, func(s *policy.Subject) { s.Entity.ID = "7700000001" }, now,
			policy.Screening{Status: policy.ScreeningHit, List: sdn, Entry: arctic, Name: "7700000001", Field: "entity.id", Score: 1}},
		{"subject name", lists, func(s *policy.Subject) { s.Name = "Dmitry Volkov" }, now,
			policy.Screening{Status: policy.ScreeningHit, List: sdn, Entry: volkov, Name: "Dmitry Volkov", Field: "subject.name", Score: 1}},
		{"subject id", lists, func(s *policy.Subject) { s.ID = "721234567" }, now,
			policy.Screening{Status: policy.ScreeningHit, List: sdn, Entry: volkov, Name: "721234567", Field: "subject.id", Score: 1}},
		{"entry past its end date", lists, func(s *policy.Subject) { s.Entity.Name = "Meridian Export Services Inc." }, now,
			policy.Screening{Status: policy.ScreeningClear}},
		{"entry in force on the request date", lists, func(s *policy.Subject) { s.Entity.Name = "Meridian Export Services Inc." },
			time.Date(2015, 5, 1, 0, 0, 0, 0, time.UTC),
			policy.Screening{Status: policy.ScreeningHit, List: dpl, Entry: meridian, Name: "Meridian Export Services Inc.", Field: "entity.name", Score: 1}},
		{"request date taken in UTC", lists, func(s *policy.Subject) { s.Entity.Name = "Meridian Export Services Inc." }, lateEvening,
			policy.Screening{Status: policy.ScreeningClear}},
		{"anonymous", lists, func(s *policy.Subject) { *s = policy.Subject{Anonymous: true} }, now,
			policy.Screening{Status: policy.ScreeningOff}},
		{"no screener", nil, func(s *policy.Subject) { s.ID = "721234567" }, now,
			policy.Screening{Status: policy.ScreeningOff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sub := unlisted()
			tt.edit(&sub)
			if got, want := gateway.Screen(tt.scr, sub, tt.now), tt.want; got != want {
				t.Errorf("Screen(%+v, %s) = %+v, want %+v", sub, tt.now.Format(time.RFC3339), got, want)
			}
		})
	}
}
