package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/storage"
)

// TestAttackForgedClassification: a storage writer cannot turn closed
// weights open by editing export.yaml. With classification keys configured,
// frontier-x's export.yaml flipped to open with its signature dropped, or
// kept, or another model's valid signed manifest copied over it, or a
// manifest signed by a key the gateway does not trust, each leaves the
// model unclassified: unclassified_model for every requester and never a
// byte of the closed shards. A validly signed open model still downloads.
// On both backends: the S3 half on a private server seeded with the
// tampered store (the shared bucket is read by other tests).
func TestAttackForgedClassification(t *testing.T) {
	t.Parallel()
	dir := gatewaytest.CopyStore(t)
	manifest := func(model string) string { return filepath.Join(dir, filepath.FromSlash(model), "export.yaml") }
	read := func(model string) string { return string(gatewaytest.ReadFile(t, manifest(model))) }
	signedClosed, signedOpen := read("frontier-lab/frontier-x"), read("open-lab/tiny-open")
	if !strings.Contains(signedClosed, "signature:") {
		t.Fatal("testdata/store's frontier-x export.yaml is not signed; regenerate it with scripts/genstore")
	}
	// Each forged model carries frontier-x's closed shards.
	shard1 := gatewaytest.ReadFile(t, filepath.Join(dir, "frontier-lab/frontier-x", gatewaytest.Shard1))
	_, rogue, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rogueSigned, err := catalog.SignManifest([]byte("weights: open\ntraining_compute_flop: 3.0e26\n"), rogue, "forge-lab/rogue-key", "Mallory", time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC), catalog.BasisSelfAssessment)
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{
		// In place: the writer edits frontier-x itself.
		"frontier-lab/frontier-x": "weights: open\ntraining_compute_flop: 3.0e26\n",
		"forge-lab/flip-kept":     strings.Replace(strings.Replace(signedClosed, "weights: closed", "weights: open", 1), "eccn: 4E091\n", "", 1),
		"forge-lab/copied":        signedOpen,
		"forge-lab/rogue-key":     string(rogueSigned),
	}
	for model, text := range forged {
		if err := os.MkdirAll(filepath.Dir(manifest(model)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(manifest(model), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(manifest(model)), gatewaytest.Shard1), shard1, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	run := func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{ClassificationKeys: gatewaytest.TestClassificationKeys(t)})
		for model := range forged {
			for _, country := range []string{"US", "GB", "IN"} {
				t.Run(model+"/"+country, func(t *testing.T) {
					resp, body := h.Do(t, http.MethodGet, "/"+model+"/resolve/main/"+gatewaytest.Shard1, h.Token(t, gatewaytest.Claims(country, country, country)), nil)
					assertRefused(t, h, resp, body, refusal{status: http.StatusForbidden, code: "unclassified_model"})
				})
			}
			t.Run(model+"/anonymous", func(t *testing.T) {
				resp, body := h.Do(t, http.MethodGet, "/"+model+"/resolve/main/"+gatewaytest.Shard1, "", nil)
				assertRefused(t, h, resp, body, refusal{status: http.StatusUnauthorized, code: "authentication_required"})
			})
		}
		t.Run("signed open model downloads", func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, gatewaytest.Open+"model.safetensors", "", nil)
			if want := gatewaytest.StoreFile(t, gatewaytest.Open+"model.safetensors"); resp.StatusCode != 200 || string(body) != string(want) {
				t.Errorf("tiny-open: %d, %d bytes; want 200 and its %d bytes", resp.StatusCode, len(body), len(want))
			}
		})
		assertNoClosedTransfers(t, h)
	}
	t.Run("dir", func(t *testing.T) { run(t, gatewaytest.OpenDirStore(t, dir)) })
	t.Run("s3", func(t *testing.T) {
		s3test.Env(t) // skips, or fails when the S3 server is required, as every S3 half does
		c, _ := s3test.Start(t, dir, "models/")
		run(t, gatewaytest.S3Store(t, c))
	})
}
