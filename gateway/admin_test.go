package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
)

// TestServerAdminListener: Open serves the admin listener at AdminAddr with
// the health endpoints and nothing of the Hub API, Close stops it, and a
// busy admin address fails Open with the Hub listener released.
func TestServerAdminListener(t *testing.T) {
	t.Parallel()
	eng, err := opa.New(context.Background(), opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := gateway.Options{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Store: gatewaytest.DirStore(t), Policy: eng,
		Audit: gatewaytest.OpenTrail(t, filepath.Join(t.TempDir(), "audit"))}
	srv, err := gateway.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	admin := srv.AdminURL()
	if admin == "" || admin == srv.URL() {
		t.Fatalf("admin URL %q, hub URL %q", admin, srv.URL())
	}
	// No MetricsHandler: no /metrics even here.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 404, "/api/models": 404,
		"/open-lab/tiny-open/resolve/main/config.json": 404} {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("admin %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(admin + "/healthz"); err == nil {
		t.Error("the admin listener still answers after Close")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	hub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hubAddr := hub.Addr().String()
	hub.Close()
	opts.Addr, opts.AdminAddr = hubAddr, busy.Addr().String()
	srv, err = gateway.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("Open with a busy admin address: %v", err)
	}
	ln, err := net.Listen("tcp", hubAddr)
	if err != nil {
		t.Errorf("the Hub address is still held after the failed Open: %v", err)
	} else {
		ln.Close()
	}
}

// stateConsole is a console whose index is still catching up.
type stateConsole struct{ http.Handler }

func (stateConsole) ReadyState() (string, any) {
	return "catching_up", map[string]any{"read": 42}
}

// TestReadyzConsoleState: the admin /readyz reports a console still
// catching up, and stays ready (downloads do not need the console); the
// public /readyz says nothing of it.
func TestReadyzConsoleState(t *testing.T) {
	t.Parallel()
	eng, err := opa.New(context.Background(), opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.NewServer(gateway.Options{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Store: gatewaytest.DirStore(t),
		Policy: eng, Audit: gatewaytest.OpenTrail(t, filepath.Join(t.TempDir(), "audit")),
		Console: stateConsole{http.NotFoundHandler()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, tt := range []struct {
		name, url string
		want      string // the console check; "" for none
	}{
		{"admin", srv.AdminURL(), "catching_up"},
		{"public", srv.URL(), ""},
	} {
		resp, err := http.Get(tt.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Ready   bool              `json:"ready"`
			Checks  map[string]string `json:"checks"`
			Console map[string]int    `json:"console"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if resp.StatusCode != 200 || !body.Ready {
			t.Errorf("%s: %d ready=%v, want 200 and ready", tt.name, resp.StatusCode, body.Ready)
		}
		if got := body.Checks["console"]; got != tt.want {
			t.Errorf("%s: console check %q, want %q", tt.name, got, tt.want)
		}
		if tt.want != "" && body.Console["read"] != 42 {
			t.Errorf("%s: console detail %v", tt.name, body.Console)
		}
	}
}

// gatedManifests holds every export.yaml read until open is closed.
type gatedManifests struct {
	storage.ObjectStore
	open chan struct{}
}

func (s gatedManifests) Open(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	if strings.HasSuffix(key, "/"+catalog.ManifestName) {
		select {
		case <-s.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.ObjectStore.Open(ctx, key, etag, offset, length)
}

// TestReadyzCatalogWarming: the admin /readyz reports the catalog's
// warming while it reads, then "ok", and stays ready throughout; the
// public /readyz says nothing of it.
func TestReadyzCatalogWarming(t *testing.T) {
	t.Parallel()
	eng, err := opa.New(context.Background(), opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := gatedManifests{gatewaytest.DirStore(t), make(chan struct{})}
	cat := catalog.NewCatalog(store, catalog.DefaultCacheSize, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat.StartWarming(ctx)
	defer cat.StopWarming()
	srv, err := gateway.NewServer(gateway.Options{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Store: store, Catalog: cat,
		Policy: eng, Audit: gatewaytest.OpenTrail(t, filepath.Join(t.TempDir(), "audit"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	type readyz struct {
		Ready   bool              `json:"ready"`
		Checks  map[string]string `json:"checks"`
		Catalog string            `json:"catalog"`
	}
	get := func(url string) readyz {
		t.Helper()
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body readyz
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !body.Ready {
			t.Fatalf("%s/readyz: %d ready=%v, want 200 and ready", url, resp.StatusCode, body.Ready)
		}
		return body
	}
	if b := get(srv.AdminURL()); b.Checks["catalog"] != "warming" || !strings.HasPrefix(b.Catalog, "warming: ") {
		t.Errorf("admin, while warming: check %q, detail %q", b.Checks["catalog"], b.Catalog)
	}
	if b := get(srv.URL()); b.Checks["catalog"] != "" || b.Catalog != "" {
		t.Errorf("public: catalog check %q, detail %q, want none", b.Checks["catalog"], b.Catalog)
	}
	close(store.open)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := get(srv.AdminURL())
		if b.Checks["catalog"] == "ok" {
			if !strings.Contains(b.Catalog, "models classified in") {
				t.Errorf("admin, warmed: detail %q", b.Catalog)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warming never reported ok; last %q %q", b.Checks["catalog"], b.Catalog)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
