package licence

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expiry is a licence or attestation of the registry that expires soon.
type Expiry struct {
	Kind string `json:"kind"` // "licence" or "attestation"
	ID   string `json:"id"`
	// Expires is its not_after date (YYYY-MM-DD, the last day it is valid);
	// DaysLeft the whole days from the date asked about to that date.
	Expires  string `json:"expires"`
	DaysLeft int    `json:"days_left"`
}

// Registry files read here, and the kind each holds.
var expiringFiles = []struct{ file, kind string }{
	{"licences.json", "licence"},
	{"attestations.json", "attestation"},
}

// Expiring returns the licences and attestations of the registry directory
// dir that are valid on at's date (UTC) and whose not_after falls within
// window of it, soonest first. A registry file that is missing holds none;
// one that cannot be read or parsed is an error. Entries without an id or a
// well-formed not_after are skipped: the policy grants nothing on them.
func Expiring(dir string, at time.Time, window time.Duration) ([]Expiry, error) {
	if dir == "" {
		return nil, nil
	}
	day := at.UTC().Truncate(24 * time.Hour)
	last := at.UTC().Add(window)
	var out []Expiry
	for _, f := range expiringFiles {
		bs, err := os.ReadFile(filepath.Join(dir, f.file))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("licence expiry: %w", err)
		}
		var entries []any
		if err := json.Unmarshal(bs, &entries); err != nil {
			return nil, fmt.Errorf("licence expiry: %s: %w", f.file, err)
		}
		for _, x := range entries {
			e, _ := x.(map[string]any)
			id, _ := e["id"].(string)
			na, _ := e["not_after"].(string)
			end, err := time.Parse(time.DateOnly, na)
			if id == "" || err != nil || end.Before(day) || end.After(last) {
				continue
			}
			out = append(out, Expiry{Kind: f.kind, ID: id, Expires: na, DaysLeft: int(end.Sub(day) / (24 * time.Hour))})
		}
	}
	slices.SortFunc(out, func(a, b Expiry) int {
		return cmp.Or(cmp.Compare(a.Expires, b.Expires), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// A Watch reports the registry's licences and attestations that expire
// within Window of Now: on /readyz (the gateway's ExpiryWatch), in `weightgate
// check`, and as the gauge weightgate_registry_expiring{kind} (it is a
// prometheus.Collector, read at each scrape).
type Watch struct {
	Dir    string        // the policy registry directory
	Window time.Duration // policy.expiry_warning
	Now    func() time.Time
}

// Expiring is Expiring(w.Dir, w.Now(), w.Window).
func (w *Watch) Expiring() ([]Expiry, error) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	return Expiring(w.Dir, now(), w.Window)
}

var expiringDesc = prometheus.NewDesc("weightgate_registry_expiring",
	"Licences and attestations of the policy registry that expire within policy.expiry_warning, by kind (licence|attestation); -1 when the registry cannot be read.",
	[]string{"kind"}, nil)

// Describe implements prometheus.Collector.
func (w *Watch) Describe(ch chan<- *prometheus.Desc) { ch <- expiringDesc }

// Collect implements prometheus.Collector.
func (w *Watch) Collect(ch chan<- prometheus.Metric) {
	es, err := w.Expiring()
	for _, f := range expiringFiles {
		n := 0.0
		if err != nil {
			n = -1
		}
		for _, e := range es {
			if e.Kind == f.kind {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(expiringDesc, prometheus.GaugeValue, n, f.kind)
	}
}
