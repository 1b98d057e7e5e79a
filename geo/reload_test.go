package geo_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/weightgate/weightgate/geo"
	"github.com/weightgate/weightgate/internal/geotest"
)

// TestReloadableDB: Reload swaps in the file as it is now; a file that no
// longer opens leaves the database in use answering as before.
func TestReloadableDB(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "country.mmdb")
	addr := netip.MustParseAddr("192.0.2.1")
	if err := geotest.WriteCountryDB(path, map[string]string{"192.0.2.0/24": "DE"}); err != nil {
		t.Fatal(err)
	}
	db, err := geo.OpenReloadable(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if got, want := db.Path(), path; got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	if got, want := db.Country(addr), "DE"; got != want {
		t.Fatalf("Country = %q, want %q", got, want)
	}

	if err := geotest.WriteCountryDB(path, map[string]string{"192.0.2.0/24": "FR"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := db.Country(addr), "FR"; got != want {
		t.Errorf("Country after Reload = %q, want %q", got, want)
	}

	if err := os.WriteFile(path, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err == nil {
		t.Error("Reload of a broken file: nil error")
	}
	if got, want := db.Country(addr), "FR"; got != want {
		t.Errorf("Country after a refused Reload = %q, want %q (the database in use)", got, want)
	}

	if _, err := geo.OpenReloadable(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("OpenReloadable of a missing file: nil error")
	}
}
