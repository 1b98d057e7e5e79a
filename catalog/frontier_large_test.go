package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// TestFrontier_LargeCatalog: the open-weight frontier computed from a
// catalog of more than 10,000 models (once the most the catalog would
// list) is the largest signed open model's, wherever it sorts. Most models
// are a single config.json (unclassified: never read), so the test is
// cheap; the two that count sit at the start and the very end.
func TestFrontier_LargeCatalog(t *testing.T) {
	t.Parallel()
	const n = 10_050
	dir := t.TempDir()
	write := func(key, content string) {
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		write(fmt.Sprintf("org%d/model%d/config.json", i/100, i%100), "{}")
	}
	priv := mustKey(t)
	write("a/small/export.yaml", mustSign(t, priv, "a/small", "weights: open\ntraining_compute_flop: 1e24\n"))
	write("zz/frontier/export.yaml", mustSign(t, priv, "zz/frontier", "weights: open\ntraining_compute_flop: 5e26\n"))
	write("zz/frontier/model.safetensors", "x")
	st, err := dirstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := NewCatalog(st, 64, time.Minute, nil)
	c.SetClassificationKeys(keysOf(priv))
	c.SetFrontier(Frontier{FromCatalog: true})
	got, err := c.Frontier(context.Background())
	want := policy.Frontier{FLOP: 5e26, Source: policy.FrontierCatalog, Model: "zz/frontier"}
	if err != nil || got != want {
		t.Fatalf("Frontier over %d models = %+v, %v; want %+v", n+2, got, err, want)
	}
	// Models, which holds what it returns, stops at MaxModelsListed and says
	// there are more, returning the first ones in id order.
	ms, err := c.Models(context.Background())
	if !errors.Is(err, ErrTooManyModels) || len(ms) != MaxModelsListed || ms[0].ID != "a/small" || ms[1].ID != "org0/model0" {
		first := ""
		if len(ms) > 0 {
			first = ms[0].ID
		}
		t.Fatalf("Models over %d models: %d models from %q, %v; want the first %d and ErrTooManyModels", n+2, len(ms), first, err, MaxModelsListed)
	}
}
