package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weightgate/weightgate/internal/testenv"
	"github.com/weightgate/weightgate/internal/tlstest"
)

// bigTLSSize is the size of the file downloaded across certificate
// rotations: large enough that it is still in flight, far past what the
// sockets buffer, when the new certificate is in force.
const bigTLSSize = 64 << 20

// tlsGateway is a serve command over TLS, with the S3 API and the admin
// listener, on a store holding testdata/store and big-lab/huge.
type tlsGateway struct {
	URL, S3URL, AdminURL string
	CA                   *tlstest.CA // issued the server certificate
	Cert                 *tlstest.Cert
	CertDir              string // cert.pem and key.pem
	Config               string // the config file
	Big                  []byte // big-lab/huge/model.safetensors
	logs                 *syncBuffer
	stop                 func()
	done                 chan error
}

// startTLSGateway writes a config with a tls section (tlsExtra adds keys
// to it; extra adds top-level keys) and starts serve with it.
func startTLSGateway(t *testing.T, tlsExtra, extra string) *tlsGateway {
	t.Helper()
	g := &tlsGateway{CA: tlstest.NewCA(t, "weightgate test server CA"), CertDir: t.TempDir()}
	g.Cert = g.CA.Server(t)
	certFile, keyFile := g.Cert.Write(t, g.CertDir)

	store := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(store, os.DirFS(repoPath("testdata/store"))); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(store, "big-lab", "huge")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "export.yaml"), []byte("weights: open\ntraining_compute_flop: 1.0e20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Big = make([]byte, bigTLSSize)
	_, _ = rand.NewChaCha8([32]byte{'t', 'l', 's'}).Read(g.Big)
	if err := os.WriteFile(filepath.Join(big, "model.safetensors"), g.Big, 0o644); err != nil {
		t.Fatal(err)
	}

	g.Config = writeConfig(t)
	b, err := os.ReadFile(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(repoPath(""))
	doc := strings.Replace(string(b), filepath.Join(root, "testdata/store"), store, 1)
	// Info, for the listeners' log lines and the access log.
	doc = strings.Replace(doc, "log: {level: warn}", "log: {level: info}", 1)
	doc += "s3: {listen: 127.0.0.1:0}\ntls:\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n" + tlsExtra + extra
	if err := os.WriteFile(g.Config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	g.URL, g.AdminURL, g.logs, g.stop, g.done = startServeAdmin(t, g.Config)
	t.Cleanup(g.Stop)
	m := regexp.MustCompile(`msg="S3 API listening" url=(\S+)`).FindStringSubmatch(g.logs.String())
	if m == nil {
		t.Fatalf("serve logged no S3 URL:\n%s", g.logs.String())
	}
	g.S3URL = m[1]
	return g
}

// Stop stops serve (once) and waits for it.
func (g *tlsGateway) Stop() {
	if g.stop == nil {
		return
	}
	g.stop()
	g.stop = nil
	select {
	case <-g.done:
	case <-time.After(40 * time.Second):
	}
}

// client trusts the gateway's CA; h2 asks for HTTP/2, cert is presented
// when given. Each client has its own connections.
func (g *tlsGateway) client(t *testing.T, h2 bool, cert *tlstest.Cert, edit func(*tls.Config)) *http.Client {
	t.Helper()
	conf := &tls.Config{RootCAs: g.CA.Pool()}
	if cert != nil {
		conf.Certificates = []tls.Certificate{cert.TLS(t)}
	}
	if edit != nil {
		edit(conf)
	}
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: h2, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// get downloads url and returns the response and its body.
func get(t *testing.T, c *http.Client, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, b
}

// TestServeTLS: with a tls section, every listener serves TLS and says
// https: an open-model download on the Hub API and on the S3 API, byte for
// byte, and /metrics on the admin listener with the certificate's expiry.
// A plain HTTP request to a TLS port gets net/http's 400 and reaches no
// handler.
func TestServeTLS(t *testing.T) {
	g := startTLSGateway(t, "", "")
	for name, u := range map[string]string{"hub": g.URL, "s3": g.S3URL, "admin": g.AdminURL} {
		if !strings.HasPrefix(u, "https://127.0.0.1:") {
			t.Errorf("%s URL %q, want https://127.0.0.1:PORT", name, u)
		}
	}
	for _, line := range []string{`msg="weightgate listening" url=https://`, `msg="S3 API listening" url=https://`, `msg="admin listening" url=https://`} {
		if !strings.Contains(g.logs.String(), line) {
			t.Errorf("log lacks %s:\n%s", line, g.logs.String())
		}
	}
	want, err := os.ReadFile(repoPath("testdata/store/open-lab/tiny-open/model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c := g.client(t, false, nil, nil)
	for name, u := range map[string]string{
		"hub": g.URL + "/open-lab/tiny-open/resolve/main/model.safetensors",
		"s3":  g.S3URL + "/models/open-lab/tiny-open/model.safetensors",
	} {
		resp, body := get(t, c, u)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.TLS == nil {
			t.Errorf("%s download over https: %d, %d bytes, TLS %v; want 200 and the file's %d bytes", name, resp.StatusCode, len(body), resp.TLS != nil, len(want))
		}
	}
	resp, body := get(t, c, g.URL+"/big-lab/huge/resolve/main/model.safetensors")
	if resp.StatusCode != 200 || !bytes.Equal(body, g.Big) {
		t.Errorf("64 MiB over https: %d, %d bytes; want 200 and the file", resp.StatusCode, len(body))
	}

	resp, body = get(t, c, g.AdminURL+"/metrics")
	gauge := "weightgate_tls_certificate_not_after_seconds " + strconv.FormatFloat(float64(g.Cert.Leaf.NotAfter.Unix()), 'g', -1, 64)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(gauge)) {
		t.Errorf("admin /metrics over https: %d; want 200 with %q in:\n%s", resp.StatusCode, gauge, grepLines(body, "weightgate_tls"))
	}

	// Plain HTTP: net/http's own 400, before any handler. The same path
	// over https reaches the access log, so its absence means something.
	const probe = "/open-lab/tiny-open/resolve/main/probe"
	resp, body = get(t, c, g.URL+probe+"-https.json")
	if resp.StatusCode != 404 {
		t.Errorf("unknown file over https: %d, want 404", resp.StatusCode)
	}
	for _, u := range []string{g.URL, g.S3URL, g.AdminURL} {
		plain := "http://" + strings.TrimPrefix(u, "https://") + probe + "-plain.json"
		pr, err := http.Get(plain)
		if err != nil {
			t.Fatalf("plain HTTP to %s: %v", plain, err)
		}
		pb, _ := io.ReadAll(pr.Body)
		pr.Body.Close()
		if pr.StatusCode != 400 || !strings.Contains(string(pb), "HTTP request to an HTTPS server") {
			t.Errorf("plain HTTP to a TLS port: %d %q; want net/http's 400", pr.StatusCode, pb)
		}
	}
	g.Stop()
	logs := g.logs.String()
	if !strings.Contains(logs, probe+"-https.json") {
		t.Fatalf("the https probe is not in the access log; the plain one's absence proves nothing:\n%s", logs)
	}
	if strings.Contains(logs, probe+"-plain.json") {
		t.Errorf("a plain HTTP request to a TLS port reached a handler:\n%s", grepLines([]byte(logs), "probe"))
	}
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}

// servedSerial opens a new connection to url and returns the serial of the
// certificate it is served.
func (g *tlsGateway) servedSerial(t *testing.T, url string) *big.Int {
	t.Helper()
	// Any answer will do (the S3 API has no /healthz): the handshake is
	// the point.
	resp, _ := get(t, g.client(t, false, nil, nil), url+"/healthz")
	return resp.TLS.PeerCertificates[0].SerialNumber
}

// TestServeTLSRotation: a certificate replaced on disk is put in force for
// new connections, on every listener, by the file watch and by SIGHUP,
// while a download started under the old one goes on to its last byte; a
// pair that does not match is refused and the one in force keeps serving.
func TestServeTLSRotation(t *testing.T) {
	for _, by := range []string{"file change", "SIGHUP"} {
		t.Run(by, func(t *testing.T) {
			interval := "  reload_interval: 50ms\n"
			if by == "SIGHUP" {
				interval = "  reload_interval: 0s\n"
			}
			g := startTLSGateway(t, interval, "")
			reload := func() {
				if by == "SIGHUP" {
					if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
						t.Fatal(err)
					}
				}
			}
			// waitSerial waits for url to serve want on a new connection.
			waitSerial := func(url string, want *big.Int) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					got := g.servedSerial(t, url)
					if got.Cmp(want) == 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s still serves %x 10s after the %s, want %x", url, got, by, want)
					}
				}
			}
			old := g.Cert.Leaf.SerialNumber
			if got := g.servedSerial(t, g.URL); got.Cmp(old) != 0 {
				t.Fatalf("served %x, want %x", got, old)
			}
			c := g.client(t, false, nil, nil)
			inFlight, err := c.Get(g.URL + "/big-lab/huge/resolve/main/model.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			defer inFlight.Body.Close()
			head := make([]byte, 1<<20)
			if _, err := io.ReadFull(inFlight.Body, head); err != nil {
				t.Fatal(err)
			}

			next := g.CA.Server(t)
			next.Write(t, g.CertDir)
			reload()
			for _, u := range []string{g.URL, g.S3URL, g.AdminURL} {
				waitSerial(u, next.Leaf.SerialNumber)
			}
			// The download started under the old certificate ends whole,
			// on the connection that still has it.
			rest, err := io.ReadAll(inFlight.Body)
			if err != nil || !bytes.Equal(append(head, rest...), g.Big) {
				t.Errorf("download across the rotation: %d bytes, %v; want the file's %d", len(head)+len(rest), err, len(g.Big))
			}
			if got := inFlight.TLS.PeerCertificates[0].SerialNumber; got.Cmp(old) != 0 {
				t.Errorf("the in-flight connection's certificate is %x, want the old %x", got, old)
			}

			// A certificate without its key: refused, logged, and the one
			// in force keeps serving.
			bad := g.CA.Server(t)
			tlstest.WriteFile(t, filepath.Join(g.CertDir, "cert.pem"), bad.CertPEM)
			reload()
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(g.logs.String(), "TLS reload refused"); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no refusal logged 10s after a mismatched pair; log:\n%s", g.logs.String())
				}
			}
			if got := g.servedSerial(t, g.URL); got.Cmp(next.Leaf.SerialNumber) != 0 {
				t.Errorf("after a refused pair: served %x, want %x", got, next.Leaf.SerialNumber)
			}
			resp, body := get(t, g.client(t, false, nil, nil), g.URL+"/open-lab/tiny-open/resolve/main/config.json")
			if resp.StatusCode != 200 || len(body) == 0 {
				t.Errorf("download after a refused pair: %d, %d bytes", resp.StatusCode, len(body))
			}
		})
	}
}

// TestServeTLSBadPair: a pair that does not load stops serve at start,
// naming the file.
func TestServeTLSBadPair(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).Write(t, dir)
	tlstest.WriteFile(t, keyFile, ca.Server(t).KeyPEM)
	cfg := writeConfig(t)
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, "tls: {cert_file: "+certFile+", key_file: "+keyFile+"}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runMain(t, "serve", "--config", cfg)
	if code != 2 || !strings.Contains(stderr, "tls.cert_file "+certFile) || !strings.Contains(stderr, "does not match") {
		t.Errorf("serve with a mismatched pair: exit %d, stderr:\n%s\nwant exit 2 and an error naming %s", code, stderr, certFile)
	}
}

// TestServeMutualTLS: with tls.client_ca, a client without a certificate,
// or with one of another CA, is refused at the handshake on every
// listener; one with a certificate of that CA is served.
func TestServeMutualTLS(t *testing.T) {
	clients := tlstest.NewCA(t, "weightgate test client CA")
	ca := filepath.Join(t.TempDir(), "clients.pem")
	tlstest.WriteFile(t, ca, clients.PEM)
	g := startTLSGateway(t, "  client_ca: "+ca+"\n", "")
	stranger := tlstest.NewCA(t, "another CA").Client(t, "mallory")
	good := clients.Client(t, "alice")
	want, _ := os.ReadFile(repoPath("testdata/store/open-lab/tiny-open/config.json"))
	for _, u := range []string{
		g.URL + "/open-lab/tiny-open/resolve/main/config.json",
		g.S3URL + "/models/open-lab/tiny-open/config.json",
		g.AdminURL + "/metrics",
	} {
		for _, tt := range []struct {
			name string
			cert *tlstest.Cert
		}{{"no client certificate", nil}, {"a certificate of another CA", stranger}} {
			resp, err := g.client(t, false, tt.cert, nil).Get(u)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s, %s: %d, want a refused handshake", u, tt.name, resp.StatusCode)
			} else if !strings.Contains(err.Error(), "tls: ") {
				t.Errorf("%s, %s: %v, want a TLS alert", u, tt.name, err)
			}
		}
		resp, body := get(t, g.client(t, false, good, nil), u)
		if resp.StatusCode != 200 || (!strings.HasSuffix(u, "/metrics") && !bytes.Equal(body, want)) {
			t.Errorf("%s with a client certificate of the CA: %d, %d bytes", u, resp.StatusCode, len(body))
		}
	}
}

// TestServeTLSMinVersion: TLS 1.1 never; a TLS 1.2-only client by default,
// not with min_version 1.3.
func TestServeTLSMinVersion(t *testing.T) {
	for _, minV := range []string{"", "1.3"} {
		extra := ""
		if minV != "" {
			extra = "  min_version: \"" + minV + "\"\n"
		}
		g := startTLSGateway(t, extra, "")
		for _, tt := range []struct {
			name     string
			min, max uint16
			ok       bool
		}{
			{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, false},
			{"TLS 1.2 only", tls.VersionTLS12, tls.VersionTLS12, minV == ""},
			{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		} {
			c := g.client(t, false, nil, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tt.min, tt.max })
			resp, err := c.Get(g.URL + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			if got := err == nil && resp.StatusCode == 200; got != tt.ok {
				t.Errorf("min_version %q, client %s: %v; want served %v", minV, tt.name, err, tt.ok)
			}
		}
		g.Stop()
	}
}

// TestServeHTTP2: over TLS the Hub API speaks HTTP/2: a whole download and
// a range, byte for byte, to Go's client and to curl; and a client that
// stops reading is cut off by the write idle timeout on h2 as on
// HTTP/1.1, its stream reset while the connection serves on.
func TestServeHTTP2(t *testing.T) {
	g := startTLSGateway(t, "", "write_idle_timeout: 1s\n")
	c := g.client(t, true, nil, nil)
	url := g.URL + "/big-lab/huge/resolve/main/model.safetensors"
	resp, body := get(t, c, url)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !bytes.Equal(body, g.Big) {
		t.Errorf("download: HTTP/%d %d, %d bytes; want HTTP/2 200 and the file's %d", resp.ProtoMajor, resp.StatusCode, len(body), len(g.Big))
	}
	resp, body = get(t, c, url, "Range", "bytes=1000000-1999999")
	if resp.ProtoMajor != 2 || resp.StatusCode != 206 || !bytes.Equal(body, g.Big[1000000:2000000]) {
		t.Errorf("range: HTTP/%d %d, %d bytes; want HTTP/2 206 and bytes 1000000-1999999", resp.ProtoMajor, resp.StatusCode, len(body))
	}

	// Stalled: read the headers, then nothing.
	stalled, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(g.logs.String(), `msg="transfer aborted"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a stalled h2 client was not cut off 20s after a 1s write idle timeout; log:\n%s", g.logs.String())
		}
	}
	if n, err := io.Copy(io.Discard, stalled.Body); err == nil {
		t.Errorf("the stalled stream ended cleanly after %d bytes; want a reset", n)
	}
	// The connection itself serves on.
	resp, body = get(t, c, g.URL+"/open-lab/tiny-open/resolve/main/config.json")
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || len(body) == 0 {
		t.Errorf("after the reset: HTTP/%d %d", resp.ProtoMajor, resp.StatusCode)
	}

	// curl, a client that is not Go's.
	curl, err := exec.LookPath("curl")
	if err != nil {
		testenv.Skip(t, testenv.Clients, "curl is not on PATH")
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, g.CA.PEM)
	for _, tt := range []struct {
		name, rng string
		want      []byte
		code      string
	}{{"whole", "", g.Big, "200"}, {"range", "123-45678", g.Big[123:45679], "206"}} {
		out := filepath.Join(dir, tt.name)
		args := []string{"--http2", "--cacert", caFile, "-sS", "--max-time", "60", "-o", out, "-w", "%{http_version} %{http_code}"}
		if tt.rng != "" {
			args = append(args, "-r", tt.rng)
		}
		got, err := exec.Command(curl, append(args, url)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", tt.name, err, got)
		}
		b, _ := os.ReadFile(out)
		if string(got) != "2 "+tt.code || !bytes.Equal(b, tt.want) {
			t.Errorf("curl --http2 %s: %q, %d bytes (sha256 %x); want \"2 %s\" and %d bytes (%x)", tt.name, got, len(b),
				sha256.Sum256(b), tt.code, len(tt.want), sha256.Sum256(tt.want))
		}
	}
}
