package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/catalog"
)

// TestShippedDevData keeps shippedDevData equal to the development and test
// artefacts under testdata/: a key, registry file or list added there is
// refused in production only once it is listed.
func TestShippedDevData(t *testing.T) {
	want := map[string]string{}
	for _, dir := range []string{"testdata/keys", "testdata/registry", "testdata/screening"} {
		entries, err := os.ReadDir(repoPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasSuffix(e.Name(), ".md") {
				continue
			}
			name := dir + "/" + e.Name()
			b, err := os.ReadFile(repoPath(name))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range contentDigests(b) {
				want[d] = name
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(want)) {
		if got, ok := shippedDevData[d]; !ok || got != want[d] {
			t.Errorf("shippedDevData lacks\n\t%q: %q,", d, want[d])
		}
	}
	for d, name := range shippedDevData {
		if _, ok := want[d]; !ok {
			t.Errorf("shippedDevData lists %s (%s), which is no file's digest", d, name)
		}
	}
}

// copyFile copies src to dir/name and returns the copy's path.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// prodConfig writes a configuration without dev: true whose every trusted
// file is the operator's own, then yaml; it returns the path.
// signedStoreCopy copies the store at src to a temporary directory, signs
// each export.yaml there with a new compliance key, and writes its public
// half to pubPath.
func signedStoreCopy(t *testing.T, src, pubPath string) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(dst, "*", "*", "export.yaml"))
	for _, p := range manifests {
		id := filepath.Base(filepath.Dir(filepath.Dir(p))) + "/" + filepath.Base(filepath.Dir(p))
		b, err := catalog.SignManifest(gatewaytestRead(t, p), priv, id, "Our Compliance", time.Now(), catalog.BasisSelfAssessment)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func gatewaytestRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func prodConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	store, err := filepath.Abs(repoPath("testdata/store"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "idp.pub.pem")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	// The operator's own compliance key signs a copy of the sample store:
	// the shipped test key would be refused.
	store = signedStoreCopy(t, store, filepath.Join(dir, "compliance.pub.pem"))
	cfg := "listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nlog: {level: warn}\n" +
		"storage: {backend: dir, dir: {path: " + store + "}}\naudit: {dir: audit}\n" +
		"catalog: {classification_keys: [" + filepath.Join(dir, "compliance.pub.pem") + "]}\n" + yaml
	if !strings.Contains(yaml, "auth:") {
		cfg += "auth: {issuers: [{issuer: idp, audience: weightgate, algorithms: [EdDSA], public_keys: [" + key + "]}]}\n"
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveErr runs serve on cfg and returns its error; a serve that starts is
// stopped at once and returns nil.
func serveErr(t *testing.T, cfg string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := &Main{Stdout: io.Discard, Stderr: io.Discard, Ready: func(string) { cancel() }}
	return m.Run(ctx, []string{"serve", "--config", cfg})
}

// TestServeRefusesDevData: without dev: true, serve refuses every setting
// that trusts a shipped development or test file, where it is or copied
// elsewhere, and names the setting and the file; check still runs.
func TestServeRefusesDevData(t *testing.T) {
	root, err := filepath.Abs(repoPath(""))
	if err != nil {
		t.Fatal(err)
	}
	td := func(p string) string { return filepath.Join(root, "testdata", p) }
	elsewhere := t.TempDir()
	// A copy of the development key re-encoded with CRLF line ends and a
	// header: still the same key.
	devPEM, err := os.ReadFile(td("keys/dev-ed25519.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(devPEM)
	blk.Headers = map[string]string{"Comment": "our production key"}
	reencoded := filepath.Join(elsewhere, "reencoded.pem")
	if err := os.WriteFile(reencoded, []byte(strings.ReplaceAll(string(pem.EncodeToMemory(blk)), "\n", "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	copiedRegistry := filepath.Join(elsewhere, "registry")
	copyFile(t, td("registry/licences.json"), copiedRegistry, "licences.json")
	// A country database in a testdata directory: no shipped one exists,
	// the path says what it is.
	mmdb := copyFile(t, td("screening/local.json"), filepath.Join(elsewhere, "testdata"), "country.mmdb")
	issuer := func(key string) string {
		alg := "EdDSA"
		if strings.HasSuffix(key, "ec.pem") {
			alg = "ES256"
		}
		return "auth: {issuers: [{issuer: dev, audience: weightgate, algorithms: [" + alg + "], public_keys: [" + key + "]}]}\n"
	}

	for _, tt := range []struct {
		name, yaml, field, file string
	}{
		{"development key", issuer(td("keys/dev-ed25519.pub.pem")), "auth.issuers[0].public_keys[0]", td("keys/dev-ed25519.pub.pem")},
		{"development key with a kid", issuer("k1=" + td("keys/dev-ed25519.pub.pem")), "auth.issuers[0].public_keys[0]", td("keys/dev-ed25519.pub.pem")},
		{"test key copied", issuer(copyFile(t, td("keys/test-ec-p256.pub.pem"), elsewhere, "ec.pem")), "auth.issuers[0].public_keys[0]", filepath.Join(elsewhere, "ec.pem")},
		{"development key re-encoded", issuer(reencoded), "auth.issuers[0].public_keys[0]", reencoded},
		{"sample registry", "policy: {registry: " + td("registry") + "}\n", "policy.registry", td("registry")},
		{"sample registry copied", "policy: {registry: " + copiedRegistry + "}\n", "policy.registry", filepath.Join(copiedRegistry, "licences.json")},
		{"sample screening list", "screening: {lists: [{name: csl, path: " + td("screening/consolidated.csv") + "}]}\n", "screening.lists[0].path", td("screening/consolidated.csv")},
		{"sample screening list copied", "screening: {lists: [{name: csl, path: " + copyFile(t, td("screening/local.json"), elsewhere, "ours.json") + "}]}\n", "screening.lists[0].path", filepath.Join(elsewhere, "ours.json")},
		{"country database under testdata", "location: {database: " + mmdb + "}\n", "location.database", mmdb},
		{"test private key as the S3 credentials key", "s3: {listen: 127.0.0.1:0, credentials_key: " + td("keys/test-rsa2048.pem") + "}\n", "s3.credentials_key", td("keys/test-rsa2048.pem")},
		{"development private key as the checkpoint key", "audit: {dir: audit, checkpoint: {key: " + copyFile(t, td("keys/dev-ed25519.pem"), elsewhere, "ckpt.pem") + "}}\n", "audit.checkpoint.key", filepath.Join(elsewhere, "ckpt.pem")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := prodConfig(t, tt.yaml)
			if strings.Contains(tt.yaml, "audit:") {
				// The test's audit section replaces the default one.
				b, _ := os.ReadFile(cfg)
				if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "audit: {dir: audit}\n", "", 1)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := serveErr(t, cfg)
			if err == nil {
				t.Fatal("serve started")
			}
			msg := err.Error()
			if !strings.Contains(msg, "refusing to serve") || !strings.Contains(msg, tt.field+": ") || !strings.Contains(msg, tt.file) {
				t.Errorf("error %q, want a refusal naming %s and %s", msg, tt.field, tt.file)
			}
			if got, want := exitCode(err), 2; got != want {
				t.Errorf("exit code %d, want %d", got, want)
			}
		})
	}

	// Every offending setting of the example, named at once.
	example, err := os.ReadFile(repoPath("config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	noDev := strings.Replace(string(example), "\ndev: true\n", "\n", 1)
	if noDev == string(example) {
		t.Fatal("config.example.yaml does not say dev: true")
	}
	for _, r := range []struct{ from, to string }{
		{"127.0.0.1:8080", "127.0.0.1:0"}, {"127.0.0.1:9100", "127.0.0.1:0"}, {"127.0.0.1:9090", "127.0.0.1:0"},
		{"dir: var/audit", "dir: audit"},
	} {
		noDev = strings.Replace(noDev, r.from, r.to, 1)
	}
	// Its relative paths name the repository's testdata.
	noDev = strings.ReplaceAll(noDev, " testdata/", " "+root+"/testdata/")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(noDev), 0o600); err != nil {
		t.Fatal(err)
	}
	err = serveErr(t, cfg)
	if err == nil {
		t.Fatal("serve started with the example config less dev: true")
	}
	for _, field := range []string{"auth.issuers[0].public_keys[0]", "catalog.classification_keys[0]", "policy.registry", "screening.lists[0].path", "screening.lists[1].path"} {
		if !strings.Contains(err.Error(), field+": ") {
			t.Errorf("the example without dev: true: error %q does not name %s", err, field)
		}
	}
	// check serves nothing: it keeps working on the sample data.
	if _, stderr, code := runMain(t, "check", "--config", cfg, "--model", "open-lab/tiny-open", "--country", "US"); code != 0 {
		t.Errorf("check on the example without dev: true: exit %d: %s", code, stderr)
	}
}

// TestServeDevData: dev: true serves the shipped data, warning per setting;
// a configuration of the operator's own files serves without dev.
func TestServeDevData(t *testing.T) {
	t.Run("dev true", func(t *testing.T) {
		url, logs, cancel, done := startServe(t, writeConfig(t))
		defer func() { cancel(); <-done }()
		if resp, err := http.Get(url + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v", err)
		}
		if !strings.Contains(logs.String(), "dev: true: trusting development or test data") ||
			!strings.Contains(logs.String(), "auth.issuers[0].public_keys[0]") {
			t.Errorf("no warning naming the development key:\n%s", logs.String())
		}
	})
	t.Run("own files", func(t *testing.T) {
		dir := t.TempDir()
		list := filepath.Join(dir, "list.csv")
		if err := os.WriteFile(list, []byte("_id,source,name\n1,OUR LIST,Nobody In Particular\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		reg := filepath.Join(dir, "registry")
		if err := os.MkdirAll(reg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(reg, "licences.json"), []byte("[]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		url, logs, cancel, done := startServe(t, prodConfig(t, "screening: {lists: [{name: ours, path: "+list+"}]}\npolicy: {registry: "+reg+"}\n"))
		defer func() { cancel(); <-done }()
		resp, err := http.Get(url + "/open-lab/tiny-open/resolve/main/config.json")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("download: %d", resp.StatusCode)
		}
		if strings.Contains(logs.String(), "dev: true") {
			t.Errorf("a warning about development data:\n%s", logs.String())
		}
	})
}

// TestConfigAdmin: admin.listen must be an address other than the public
// listeners'; port 0 never clashes.
func TestConfigAdmin(t *testing.T) {
	dir := t.TempDir()
	store, _ := filepath.Abs(repoPath("testdata/store"))
	base := "storage: {backend: dir, dir: {path: " + store + "}}\n"
	for _, tt := range []struct{ name, yaml, problem string }{
		{"same as listen", "listen: 127.0.0.1:8080\nadmin: {listen: 127.0.0.1:8080}", "admin.listen: must differ from listen"},
		{"same as s3.listen", "s3: {listen: 127.0.0.1:9100}\nadmin: {listen: 127.0.0.1:9100}", "admin.listen: must differ from s3.listen"},
		{"not host:port", "admin: {listen: \"off\"}", "admin.listen: must be host:port"},
		{"no port", "admin: {listen: 127.0.0.1}", "admin.listen: must be host:port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(base+tt.yaml+"\n"), dir)
			if err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("error %v, want %q", err, tt.problem)
			}
		})
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"default", "", DefaultAdminListen},
		{"off", "admin: {listen: \"\"}", ""},
		{"free ports everywhere", "listen: 127.0.0.1:0\ns3: {listen: 127.0.0.1:0}\nadmin: {listen: 127.0.0.1:0}", "127.0.0.1:0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(base+tt.yaml+"\n"), dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Admin.Listen; got != tt.want {
				t.Errorf("admin.listen = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLoopbackAddr decides when serve warns about the admin listener.
func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "[::1]:9090": true, "localhost:9090": true, "127.0.0.2:1": true,
		":9090": false, "0.0.0.0:9090": false, "[::]:9090": false, "10.0.0.1:9090": false, "admin.example:9090": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestServeAdminListener: serve's /metrics is on the admin listener only;
// the Hub listener answers it as any unknown path; an admin listener off
// leaves no metrics anywhere.
func TestServeAdminListener(t *testing.T) {
	url, admin, _, cancel, done := startServeAdmin(t, writeConfig(t))
	defer func() { cancel(); <-done }()
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(admin + "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("admin /metrics: %d", code)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := get(admin + p); code != 200 {
			t.Errorf("admin %s: %d", p, code)
		}
		if code, _ := get(url + p); code != 200 {
			t.Errorf("public %s: %d", p, code)
		}
	}
	if code, body := get(url + "/metrics"); code != 404 || strings.Contains(body, "weightgate_") {
		t.Errorf("public /metrics: %d %q, want the 404 of an unknown path", code, body)
	}
	if code, _ := get(admin + "/open-lab/tiny-open/resolve/main/config.json"); code != 404 {
		t.Errorf("admin serves a download: %d", code)
	}

	cfg := appendConfig(t, writeConfig(t), "")
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "admin: {listen: 127.0.0.1:0}", `admin: {listen: ""}`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	url2, admin2, _, cancel2, done2 := startServeAdmin(t, cfg)
	defer func() { cancel2(); <-done2 }()
	if admin2 != "" {
		t.Errorf("admin listener %s with admin.listen off", admin2)
	}
	if code, _ := get(url2 + "/metrics"); code != 404 {
		t.Errorf("public /metrics with admin off: %d", code)
	}
}
