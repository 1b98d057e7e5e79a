package licence

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestExpiring(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("licences.json", `[
		{"id": "SOON", "not_after": "2026-06-10"},
		{"id": "EDGE", "not_after": "2026-07-01"},
		{"id": "LATER", "not_after": "2026-07-02"},
		{"id": "TODAY", "not_after": "2026-06-01"},
		{"id": "GONE", "not_after": "2026-05-31"},
		{"id": "", "not_after": "2026-06-05"},
		{"id": "BAD", "not_after": "June"},
		"not an object",
		{"id": "OLD-SCHEMA", "valid_until": "2026-06-05"}
	]`)
	write("attestations.json", `[{"id": "A1", "not_after": "2026-06-10"}]`)
	at := time.Date(2026, 6, 1, 15, 0, 0, 0, time.UTC)
	got, err := Expiring(dir, at, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []Expiry{
		{Kind: "licence", ID: "TODAY", Expires: "2026-06-01", DaysLeft: 0},
		{Kind: "attestation", ID: "A1", Expires: "2026-06-10", DaysLeft: 9},
		{Kind: "licence", ID: "SOON", Expires: "2026-06-10", DaysLeft: 9},
		{Kind: "licence", ID: "EDGE", Expires: "2026-07-01", DaysLeft: 30},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Expiring = %+v\nwant %+v", got, want)
	}

	// No registry, or no files in it: nothing.
	if es, err := Expiring("", at, time.Hour); err != nil || es != nil {
		t.Fatalf("no registry: %v, %v", es, err)
	}
	if es, err := Expiring(t.TempDir(), at, time.Hour); err != nil || es != nil {
		t.Fatalf("empty registry: %v, %v", es, err)
	}

	// A registry file that does not parse is an error, not silence.
	write("licences.json", `{"id": "X"}`)
	if _, err := Expiring(dir, at, time.Hour); err == nil {
		t.Fatal("a licences.json that is not a list was accepted")
	}
}
