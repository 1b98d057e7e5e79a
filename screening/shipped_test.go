package screening

import (
	"math"
	"path/filepath"
	"testing"
)

// TestShippedLists parses the sample lists in testdata/screening and pins
// how the gateway's test queries screen against them.
func TestShippedLists(t *testing.T) {
	dir := filepath.Join("..", "testdata", "screening")
	csl, err := ParseFile(filepath.Join(dir, "consolidated.csv"), "csl")
	if err != nil {
		t.Fatal(err)
	}
	local, err := ParseFile(filepath.Join(dir, "local.json"), "local")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(csl), 12; got != want {
		t.Errorf("consolidated.csv: %d entries, want %d", got, want)
	}
	if got, want := len(local), 2; got != want {
		t.Errorf("local.json: %d entries, want %d", got, want)
	}
	ix := mustIndex(t, append(csl, local...), Options{})

	const (
		el       = "Entity List (EL) - Bureau of Industry and Security"
		sdn      = "Specially Designated Nationals (SDN) - Treasury Department"
		dpl      = "Denied Persons List (DPL) - Bureau of Industry and Security"
		meu      = "Military End User (MEU) List - Bureau of Industry and Security"
		localSrc = "Local denied-party list (Acme Export Compliance)"
		sqd      = "0f3c2a9e1b7d4c58a6e0b1d2c3f4a5b6"
	)
	tests := []struct {
		name   string
		q      Query
		status string
		list   string
		entry  string
		match  string
		score  float64 // 0: not checked
	}{
		{"primary name without suffix", Query{EntityName: "Shenzhen Quantum Dynamics"}, StatusHit, el, sqd, "Shenzhen Quantum Dynamics Co., Ltd.", 1},
		// dynamix/dynamic is one edit in 7 runes (sim 6/7) and the other
		// tokens are exact: (16 + 14 + 12)/44 ≈ 0.955, above the 0.92 hit
		// threshold.
		{"one misspelt word", Query{EntityName: "Quantum Dynamix Shenzhen"}, StatusHit, el, sqd, "Shenzhen Quantum Dynamics Co., Ltd.", 42.0 / 44},
		// Two misspelt words: (14 + 12 + 13.125)/43 ≈ 0.91.
		{"two misspelt words", Query{EntityName: "Quantum Dynamix Shenzen"}, StatusReview, el, sqd, "Shenzhen Quantum Dynamics Co., Ltd.", 39.125 / 43},
		{"alt name", Query{EntityName: "SQD Technology Co"}, StatusHit, el, sqd, "SQD Technologies", 1},
		{"entity id", Query{EntityID: "7700000001"}, StatusHit, sdn, "3c6f5d2b4e0a7f8bd9b3e4a5f6c7d8e9", "7700000001", 1},
		{"diacritics", Query{EntityName: "NORDWIND PRAZISIONSTECHNIK"}, StatusHit, el, "1a4d3b0f2c8e5d69b7f1c2e3d4a5b6c7", "Nordwind Präzisionstechnik GmbH", 1},
		{"individual alt name", Query{SubjectName: "Dmitry Volkov"}, StatusHit, sdn, "2b5e4c1a3d9f6e7ac8a2d3f4e5b6c7d8", "Dmitry Volkov", 1},
		{"individual inverted name", Query{SubjectName: "Dmitri Ivanovich Volkov"}, StatusHit, sdn, "2b5e4c1a3d9f6e7ac8a2d3f4e5b6c7d8", "Volkov, Dmitri Ivanovich", 1},
		{"MEU", Query{EntityName: "Helios Microsystems Ltd"}, StatusHit, meu, "4d7a6e3c5f1b8a9cea4f5b6a7d8e9f0a", "Helios Microsystems Limited", 1},
		{"local list", Query{EntityName: "Blue Lantern Analytics"}, StatusHit, localSrc, "local-0001", "Blue Lantern Analytics Pte. Ltd.", 1},
		{"vessel by name", Query{EntityName: "Kestrel Star"}, StatusClear, "", "", "", 0},
		{"vessel by IMO", Query{EntityID: "9387421"}, StatusHit, sdn, "5e8b7f4d6a2c9b0dfb5a6c7b8e9f0a1b", "9387421", 1},
		{"expired denial", Query{EntityName: "Meridian Export Services", Date: "2026-05-01"}, StatusClear, "", "", "", 0},
		{"denial in force then", Query{EntityName: "Meridian Export Services", Date: "2015-05-01"}, StatusHit, dpl, "6f9c8a5e7b3d0c1eac6b7d8c9f0a1b2c", "Meridian Export Services Inc.", 1},
		{"unlisted", Query{EntityName: "Northwind Analytics GmbH"}, StatusClear, "", "", "", 0},
		{"unlisted sharing a common word", Query{EntityName: "Harbor Trading"}, StatusClear, "", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Screen(tt.q)
			if got.Status != tt.status || got.List != tt.list || got.Entry != tt.entry || got.Name != tt.match {
				t.Errorf("got %+v\nwant Status %q List %q Entry %q Name %q", got, tt.status, tt.list, tt.entry, tt.match)
			}
			if tt.score != 0 && math.Abs(got.Score-tt.score) > 1e-12 {
				t.Errorf("Score = %v, want %v", got.Score, tt.score)
			}
		})
	}
}
