package licence

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/weightgate/weightgate/policy"
)

func mustOpen(tb testing.TB, path string) *Counter {
	tb.Helper()
	c, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Counts survive a reopen: the cap holds across restarts.
func TestCounterDurableAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "counts.json")
	c := mustOpen(t, path)
	rs := []policy.Release{{Licence: "L1", MaxReleases: 2}}
	for i := range 2 {
		if err := c.Reserve(rs); err != nil {
			t.Fatalf("reserve %d: %v", i+1, err)
		}
	}
	if err := c.Reserve(rs); !errors.Is(err, ErrExhausted) {
		t.Fatalf("third reserve: %v, want ErrExhausted", err)
	}
	r := mustOpen(t, path)
	if got := r.Counts()["L1"]; got != 2 {
		t.Fatalf("after reopen: %d releases, want 2", got)
	}
	if err := r.Reserve(rs); !errors.Is(err, ErrExhausted) {
		t.Fatalf("reserve after reopen: %v, want ErrExhausted", err)
	}
	// A raised cap (a licence amended) gives more.
	if err := r.Reserve([]policy.Release{{Licence: "L1", MaxReleases: 3}}); err != nil {
		t.Fatal(err)
	}
}

// All or none: one exhausted licence counts nothing against the others.
func TestCounterAllOrNone(t *testing.T) {
	t.Parallel()
	c := mustOpen(t, filepath.Join(t.TempDir(), "counts.json"))
	if err := c.Reserve([]policy.Release{{Licence: "B", MaxReleases: 1}}); err != nil {
		t.Fatal(err)
	}
	err := c.Reserve([]policy.Release{{Licence: "A", MaxReleases: 5}, {Licence: "B", MaxReleases: 1}})
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "licence B") {
		t.Fatalf("reserve: %v, want ErrExhausted naming B", err)
	}
	if got := c.Counts()["A"]; got != 0 {
		t.Fatalf("A counted %d after a failed reservation, want 0", got)
	}
}

// Of many simultaneous reservations of the last release, exactly one wins.
func TestCounterLastReleaseRace(t *testing.T) {
	t.Parallel()
	c := mustOpen(t, filepath.Join(t.TempDir(), "counts.json"))
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.Reserve([]policy.Release{{Licence: "L", MaxReleases: 1}}) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrExhausted):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d reservations of the last release succeeded, want 1", ok)
	}
}

// A write that fails counts nothing and is an error (nothing may be sent).
func TestCounterWriteFailureCountsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := mustOpen(t, filepath.Join(dir, "counts.json"))
	// The directory goes away under the counter: no write can succeed there,
	// whoever runs the test (root included).
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := c.Reserve([]policy.Release{{Licence: "L", MaxReleases: 3}})
	if err == nil || errors.Is(err, ErrExhausted) {
		t.Fatalf("reserve with the counts directory gone: %v, want a write error", err)
	}
	if got := c.Counts()["L"]; got != 0 {
		t.Fatalf("counted %d after a failed write, want 0", got)
	}
}

// A counts file that cannot be trusted is refused at start, rather than
// read as zero (which would hand out every release again).
func TestOpenRefusesBadFiles(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, content string }{
		{"not json", "{"},
		{"wrong version", `{"version": 2, "releases": {}}`},
		{"no version", `{"releases": {"L": 1}}`},
		{"negative", `{"version": 1, "releases": {"L": -1}}`},
		{"not a number", `{"version": 1, "releases": {"L": "1"}}`},
		{"empty", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "counts.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path); err == nil {
				t.Fatalf("Open accepted %q", tt.content)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "counts.json")); err == nil {
		t.Fatal("Open accepted a file in a missing directory")
	}
}

// BenchmarkReserve is the cost of one release's durable count (write,
// fsync, rename, directory fsync): what a capped licence adds to a GET.
func BenchmarkReserve(b *testing.B) {
	c := mustOpen(b, filepath.Join(b.TempDir(), "counts.json"))
	rs := []policy.Release{{Licence: "L", MaxReleases: 1 << 30}}
	for b.Loop() {
		if err := c.Reserve(rs); err != nil {
			b.Fatal(err)
		}
	}
}
