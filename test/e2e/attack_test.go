package e2e

// The attack suite: every request here tries to obtain closed
// weights it may not have, and each must be refused (401/403/404, or a 4xx
// from the HTTP layer) with zero bytes of closed weights sent, a deny
// decision on the audit trail and no transfer record.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
	"github.com/weightgate/weightgate/policy/opa"
	"github.com/weightgate/weightgate/storage"
	dirstore "github.com/weightgate/weightgate/storage/dir"
)

// closedFiles are the closed-weight files of testdata/store that attacks aim
// at (frontier-x's shards and mid-x's weights; not the index, whose text
// names the shards as error messages do).
var closedFiles = []string{
	"frontier-lab/frontier-x/model-00001-of-00002.safetensors",
	"frontier-lab/frontier-x/model-00002-of-00002.safetensors",
	"frontier-lab/mid-x/model.safetensors",
}

// closedChunks holds every 16-byte chunk at a 16-aligned offset of the
// closed files: any 32-byte window of a closed file contains one whole, so a
// body with no such chunk contains no 32-byte window of closed weights.
var (
	closedChunksOnce sync.Once
	closedChunksMap  map[[16]byte]string
)

func closedChunks(tb testing.TB) map[[16]byte]string {
	dir := s3test.StoreDir(tb)
	closedChunksOnce.Do(func() {
		m := map[[16]byte]string{}
		for _, f := range closedFiles {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
			if err != nil {
				panic(err)
			}
			for i := 0; i+16 <= len(b); i += 16 {
				c := [16]byte(b[i : i+16])
				if c == ([16]byte{}) {
					continue // runs of zeros say nothing about where bytes came from
				}
				m[c] = f
			}
		}
		closedChunksMap = m
	})
	return closedChunksMap
}

// assertNoClosedBytes fails when b contains any 32-byte window of a closed
// file.
func assertNoClosedBytes(tb testing.TB, what string, b []byte) {
	tb.Helper()
	chunks := closedChunks(tb)
	for i := 0; i+16 <= len(b); i++ {
		if f, ok := chunks[[16]byte(b[i:i+16])]; ok {
			tb.Fatalf("%s: carries bytes of %s at offset %d (%d bytes in all)", what, f, i, len(b))
		}
	}
}

// TestAttackClosedBytesCheckWorks: the detector finds a slice of a closed
// shard anywhere in a body, so its silence elsewhere means something.
func TestAttackClosedBytesCheckWorks(t *testing.T) {
	t.Parallel()
	shard := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
	ft := &fakeTB{TB: t}
	for _, off := range []int{0, 1, 4097, 1 << 20} {
		body := append([]byte(`{"error":"x"}`), shard[off:off+32]...)
		ft.failed = false
		func() {
			defer func() { recover() }()
			assertNoClosedBytes(ft, "test", body)
		}()
		if !ft.failed {
			t.Errorf("a 32-byte window at offset %d went unnoticed", off)
		}
	}
}

// fakeTB records a Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}

// refusal is what an attack must get.
type refusal struct {
	status int
	code   string // the body's code; "" = do not check (HEAD, HTTP-layer refusals)
	// netHTTP declares that net/http itself may give this answer, before
	// the gateway's handler runs (a malformed request, headers too large):
	// such an answer has no request id and no record, and must then be
	// one of net/http's own. Any answer of the gateway carries a request
	// id, whatever the caller declares.
	netHTTP bool
	// hidden declares the policy hides the model from the requester: the
	// answer is a missing model's (404 repo_not_found), and code is the
	// policy's code, on the decision record only.
	hidden bool
}

// hiddenAs is the refusal of a requester the policy hides the model from,
// for the policy's code.
func hiddenAs(code string) refusal {
	return refusal{status: http.StatusNotFound, code: code, hidden: true}
}

// assertRefused checks an attack's answer: its status is one of want's, the
// body's code matches, no closed bytes were sent, and it carries a request
// id, for which the audit trail has exactly one decision, a deny of the
// answer's status, and no transfer record. An answer without a request id
// passes only when a refusal of its status is declared netHTTP and it is
// net/http's own.
func assertRefused(tb testing.TB, h *gatewaytest.Harness, resp *http.Response, body []byte, want ...refusal) {
	tb.Helper()
	assertNoClosedBytes(tb, "response body", body)
	i := slices.IndexFunc(want, func(r refusal) bool { return r.status == resp.StatusCode })
	if i < 0 {
		tb.Fatalf("status = %d, want one of %v; body %.300s", resp.StatusCode, want, body)
	}
	if resp.StatusCode < 400 {
		tb.Fatalf("status %d is not a refusal", resp.StatusCode)
	}
	if code := want[i].code; code != "" && !want[i].hidden {
		if got := gatewaytest.DecodeError(tb, body).Code; got != code {
			tb.Errorf("body code = %q, want %q; body %.300s", got, code, body)
		}
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		if !slices.ContainsFunc(want, func(r refusal) bool { return r.status == resp.StatusCode && r.netHTTP }) {
			tb.Fatalf("%d answer without X-Request-Id, and no net/http refusal of that status was declared; body %.300s", resp.StatusCode, body)
		}
		if !fromNetHTTP(resp, body) {
			tb.Fatalf("%d answer without X-Request-Id is not net/http's own; Content-Type %q, body %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		return
	}
	decisions, transfers := h.RecordsFor(tb, id)
	if len(decisions) != 1 || decisions[0].Decision != "deny" || decisions[0].Status != resp.StatusCode {
		tb.Errorf("decision records = %+v, want one deny with status %d", decisions, resp.StatusCode)
	}
	if len(transfers) != 0 {
		tb.Errorf("refused request has %d transfer records", len(transfers))
	}
	if w := want[i]; w.hidden && len(decisions) == 1 {
		if len(body) > 0 {
			if got := gatewaytest.DecodeError(tb, body).Code; got != gateway.CodeRepoNotFound {
				tb.Errorf("hidden model: body code = %q, want %q; body %.300s", got, gateway.CodeRepoNotFound, body)
			}
		}
		if d := decisions[0]; !d.Hidden || (w.code != "" && d.Code != w.code) {
			tb.Errorf("hidden model: record hidden %v code %q, want hidden with code %q", d.Hidden, d.Code, w.code)
		}
	}
}

// fromNetHTTP reports whether an answer is one net/http's server writes
// itself for a request it cannot hand to a handler: plain text naming the
// status ("400 Bad Request", "400 Bad Request: missing required Host
// header", "431 Request Header Fields Too Large"), or 501 "Unsupported
// transfer encoding".
func fromNetHTTP(resp *http.Response, body []byte) bool {
	if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		return false
	}
	if resp.StatusCode == http.StatusNotImplemented {
		return string(body) == "Unsupported transfer encoding"
	}
	return strings.HasPrefix(string(body), fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
}

// assertNoClosedTransfers: no transfer record on the whole trail is of a
// closed file (for attacks whose answers have no request id).
func assertNoClosedTransfers(tb testing.TB, h *gatewaytest.Harness) {
	tb.Helper()
	for _, r := range h.Records(tb) {
		if r.Type == audit.RecordTransfer && slices.Contains(closedFiles, r.Model+"/"+r.Object) {
			tb.Errorf("transfer record of closed weights: %+v", r)
		}
	}
}

// ---------------------------------------------------------------- tokens

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonOf(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// signRaw signs header.payload, both given as JSON bytes, with key (an
// ed25519 key for EdDSA, a []byte secret for HS256, nil for none).
func signRaw(tb testing.TB, header, payload []byte, key any) string {
	tb.Helper()
	in := b64(header) + "." + b64(payload)
	switch k := key.(type) {
	case nil:
		return in + "."
	case ed25519.PrivateKey:
		return in + "." + b64(ed25519.Sign(k, []byte(in)))
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	tb.Fatalf("signRaw: key type %T", key)
	return ""
}

// devClaims are claims the development issuer would sign for a US requester,
// who may have frontier-x's shards: a token that verified would be served.
func devClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "weightgate-dev", "aud": "weightgate", "sub": "mallory", "country": "US",
		"nationality": []string{"US"}, "parent_hq": "US",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func newEd25519(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// writePublicPEM writes k's public key as PEM in a temp dir.
func writePublicPEM(tb testing.TB, k crypto.Signer) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "attacker.pub.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func jwkOf(k ed25519.PrivateKey) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k.Public().(ed25519.PublicKey)), "kid": "attacker"}
}

// TestAttackTokens sends forged, stale and malformed tokens for a closed
// shard, each of which would be served if it verified (a US requester): each
// must be 401 invalid_token with zero bytes; tokens that verify but name no
// usable destination must be 403.
func TestAttackTokens(t *testing.T) {
	t.Parallel()
	root := s3test.RepoRoot(t)
	devKey, err := identity.LoadPrivateKeyPEM(filepath.Join(root, "testdata/keys/dev-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	dev := devKey.(ed25519.PrivateKey)
	devPubPEM := gatewaytest.ReadFile(t, filepath.Join(root, "testdata/keys/dev-ed25519.pub.pem"))
	attacker := newEd25519(t)
	attackerPEM := writePublicPEM(t, attacker)

	// Issuer B, trusted too, with its own key.
	bKey := newEd25519(t)
	issuerB := identity.IssuerConfig{Issuer: "https://idp-b.test", Audience: "weightgate-b", Algorithms: []string{"EdDSA"},
		PublicKeys: []string{writePublicPEM(t, bKey)}}

	// A key server for jku / x5u / kid-as-URL: the gateway must never call it.
	var fetched atomic.Int64
	keySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwkOf(attacker)}})
	}))
	t.Cleanup(keySrv.Close)

	now := time.Now()
	ok := devClaims(now)
	edHdr := func(kv ...any) []byte { return jsonOf(t, with(map[string]any{"alg": "EdDSA", "typ": "JWT"}, kv...)) }
	valid := signRaw(t, edHdr(), jsonOf(t, ok), dev)
	parts := strings.Split(valid, ".")
	invalid := refusal{status: 401, code: "invalid_token"}

	tests := []struct {
		name  string
		token func() string
		want  refusal
	}{
		{"alg none", func() string {
			return signRaw(t, jsonOf(t, map[string]any{"alg": "none", "typ": "JWT"}), jsonOf(t, ok), nil)
		}, invalid},
		{"alg None", func() string { return signRaw(t, jsonOf(t, map[string]any{"alg": "None"}), jsonOf(t, ok), nil) }, invalid},
		{"alg none with the real signature", func() string {
			return b64(jsonOf(t, map[string]any{"alg": "none"})) + "." + parts[1] + "." + parts[2]
		}, invalid},
		{"HS256 keyed with the public key PEM", func() string {
			return signRaw(t, jsonOf(t, map[string]any{"alg": "HS256", "typ": "JWT"}), jsonOf(t, ok), devPubPEM)
		}, invalid},
		{"HS256 keyed with the raw public key", func() string {
			return signRaw(t, jsonOf(t, map[string]any{"alg": "HS256"}), jsonOf(t, ok), []byte(dev.Public().(ed25519.PublicKey)))
		}, invalid},
		{"untrusted key", func() string { return signRaw(t, edHdr(), jsonOf(t, ok), attacker) }, invalid},
		{"unknown kid", func() string { return signRaw(t, edHdr("kid", "no-such-key"), jsonOf(t, ok), attacker) }, invalid},
		{"kid is a path to the attacker's key", func() string { return signRaw(t, edHdr("kid", attackerPEM), jsonOf(t, ok), attacker) }, invalid},
		{"kid traverses to the attacker's key", func() string {
			return signRaw(t, edHdr("kid", "../../../../../../../.."+attackerPEM), jsonOf(t, ok), attacker)
		}, invalid},
		{"kid is /dev/null", func() string { return signRaw(t, edHdr("kid", "/dev/null"), jsonOf(t, ok), attacker) }, invalid},
		{"kid is a URL", func() string { return signRaw(t, edHdr("kid", keySrv.URL+"/kid"), jsonOf(t, ok), attacker) }, invalid},
		{"embedded jwk", func() string { return signRaw(t, edHdr("jwk", jwkOf(attacker)), jsonOf(t, ok), attacker) }, invalid},
		{"jku", func() string {
			return signRaw(t, edHdr("jku", keySrv.URL+"/jwks", "kid", "attacker"), jsonOf(t, ok), attacker)
		}, invalid},
		{"x5u", func() string { return signRaw(t, edHdr("x5u", keySrv.URL+"/x5u"), jsonOf(t, ok), attacker) }, invalid},
		{"expired", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "iat", now.Add(-2*time.Hour).Unix(), "nbf", now.Add(-2*time.Hour).Unix(), "exp", now.Add(-time.Hour).Unix())), dev)
		}, invalid},
		{"nbf in the future", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "nbf", now.Add(time.Hour).Unix())), dev) }, invalid},
		{"missing exp", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "exp", nil)), dev) }, invalid},
		{"exp as a string", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "exp", fmt.Sprint(now.Add(time.Hour).Unix()))), dev)
		}, invalid},
		{"wrong iss", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "iss", "weightgate-evil")), dev) }, invalid},
		{"wrong aud", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "aud", "someone-else")), dev) }, invalid},
		{"no aud", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "aud", nil)), dev) }, invalid},
		{"issuer B's key with issuer A's claims", func() string { return signRaw(t, edHdr(), jsonOf(t, ok), bKey) }, invalid},
		{"issuer B's key and iss with issuer A's aud", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "iss", issuerB.Issuer)), bKey)
		}, invalid},
		{"issuer A's key with issuer B's iss and aud", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "iss", issuerB.Issuer, "aud", issuerB.Audience)), dev)
		}, invalid},
		{"64 KiB signed token", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "pad", strings.Repeat("A", 64<<10))), dev)
		}, invalid},
		{"64 KiB garbage", func() string { return strings.Repeat("A", 64<<10) }, invalid},
		{"padded base64", func() string {
			return base64.URLEncoding.EncodeToString(edHdr()) + "." + base64.URLEncoding.EncodeToString(jsonOf(t, ok)) + "." + parts[2]
		}, invalid},
		{"std base64 alphabet", func() string {
			// Claims re-encoded in the standard alphabet, with padding:
			// another spelling, so the signature no longer matches.
			return base64.StdEncoding.EncodeToString(edHdr()) + "." + base64.StdEncoding.EncodeToString(jsonOf(t, ok)) + "." + parts[2]
		}, invalid},
		{"padded signature", func() string { return valid + "==" }, invalid},
		{"signature in the standard alphabet", func() string {
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			return parts[0] + "." + parts[1] + "." + base64.StdEncoding.EncodeToString(sig)
		}, invalid},
		{"junk in the payload", func() string { return parts[0] + "." + parts[1] + "!." + parts[2] }, invalid},
		{"payload not JSON", func() string { return signRaw(t, edHdr(), []byte("not json"), dev) }, invalid},
		{"four parts", func() string { return valid + ".AAAA" }, invalid},
		{"two parts", func() string { return parts[0] + "." + parts[1] }, invalid},
		{"truncated signature", func() string { return valid[:len(valid)-4] }, invalid},
		{"whitespace inside", func() string { return parts[0] + ". " + parts[1] + "." + parts[2] }, invalid},
		{"hf_ then garbage", func() string { return "hf_" + "abc" }, invalid},
		{"hf_hf_ token", func() string { return "hf_hf_" + valid }, invalid},
		// Duplicate keys: the issuer may have checked the first value, a
		// lenient parser keeps the last. Either way the last must not win.
		{"duplicate country", func() string {
			p := jsonOf(t, with(ok, "country", "CN"))
			p = append(p[:len(p)-1], []byte(`,"country":"US"}`)...)
			return signRaw(t, edHdr(), p, dev)
		}, invalid},
		{"duplicate iss", func() string {
			p := jsonOf(t, with(ok, "iss", "weightgate-evil"))
			p = append(p[:len(p)-1], []byte(`,"iss":"weightgate-dev"}`)...)
			return signRaw(t, edHdr(), p, dev)
		}, invalid},
		{"duplicate alg", func() string {
			return signRaw(t, []byte(`{"alg":"none","alg":"EdDSA"}`), jsonOf(t, ok), dev)
		}, invalid},
		// Verified tokens whose country is not a usable destination.
		{"country a number", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", 840)), dev) }, hiddenAs("unknown_destination")},
		{"country a list", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", []string{"US"})), dev) }, hiddenAs("unknown_destination")},
		{"country an object", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", map[string]string{"code": "US"})), dev)
		}, hiddenAs("unknown_destination")},
		{"country true", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", true)), dev) }, hiddenAs("unknown_destination")},
		{"country lowercase", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", "cn")), dev) }, hiddenAs("country_of_concern")},
		{"country XX", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", "XX")), dev) }, hiddenAs("unknown_destination")},
		{"country with a trailing space", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", "CN ")), dev) }, hiddenAs("country_of_concern")},
		{"country alpha-3", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", "USA")), dev) }, hiddenAs("unknown_destination")},
		{"country with NUL", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", "US\x00")), dev) }, hiddenAs("unknown_destination")},
		{"country fullwidth", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "country", "ＵＳ")), dev) }, hiddenAs("unknown_destination")},
		{"entity_hq a number", func() string { return signRaw(t, edHdr(), jsonOf(t, with(ok, "entity_hq", 156)), dev) }, hiddenAs("unknown_destination")},
		{"entity_hq a list", func() string {
			return signRaw(t, edHdr(), jsonOf(t, with(ok, "entity_hq", []string{"CN"})), dev)
		}, hiddenAs("unknown_destination")},
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{Issuers: []identity.IssuerConfig{issuerB}})
		// The control: the untampered token is served.
		if resp, _ := h.Do(t, http.MethodHead, gatewaytest.Frontier+gatewaytest.Shard1, valid, nil); resp.StatusCode != 200 {
			t.Fatalf("control: the valid token gets %d, want 200", resp.StatusCode)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tok := tt.token()
				for _, prefix := range []string{"", "hf_"} {
					resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, prefix+tok, nil)
					assertRefused(t, h, resp, body, tt.want)
					if tt.want.status == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
						t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
					}
				}
			})
		}
		if n := fetched.Load(); n != 0 {
			t.Errorf("the gateway fetched attacker-named keys %d times (jku/x5u/kid URL)", n)
		}
	})
}

// TestAttackAuthorizationHeaders: several or odd Authorization headers are
// never read as anonymous nor as the good token.
func TestAttackAuthorizationHeaders(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	good := h.Token(t, gatewaytest.Claims("US"))
	bad := h.Token(t, gatewaytest.Claims("CN"))
	for _, tt := range []struct {
		name string
		vals []string
	}{
		{"good then bad", []string{"Bearer " + good, "Bearer " + bad}},
		{"bad then good", []string{"Bearer " + bad, "Bearer " + good}},
		{"good then empty", []string{"Bearer " + good, ""}},
		{"basic", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin"))}},
		{"empty bearer", []string{"Bearer "}},
		{"two tokens in one", []string{"Bearer " + bad + " " + good}},
		{"comma-joined", []string{"Bearer " + bad + ", Bearer " + good}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, "", http.Header{"Authorization": tt.vals})
			assertRefused(t, h, resp, body, refusal{status: 401}, hiddenAs("country_of_concern"))
		})
	}
}

// ---------------------------------------------------------------- raw HTTP

// rawRoundTrip writes req (bytes, as is) on a new connection to addr and
// reads up to n responses (with their bodies), all within 10 s, or within
// wait of the last one when wait is set; methods are those of the pipelined
// requests, when not all GET (a HEAD's answer has no body).
func rawRoundTrip(tb testing.TB, addr, req string, n int, opt ...rawOption) (resps []*http.Response, bodies [][]byte, rest []byte) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		tb.Fatalf("writing the request: %v", err)
	}
	var o rawOption
	if len(opt) > 0 {
		o = opt[0]
	}
	br := bufio.NewReader(c)
	for i := range n {
		if o.wait > 0 {
			c.SetReadDeadline(time.Now().Add(o.wait))
		}
		var r *http.Request
		if i < len(o.methods) {
			r = &http.Request{Method: o.methods[i]}
		}
		resp, err := http.ReadResponse(br, r)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resps, bodies = append(resps, resp), append(bodies, b)
	}
	// Whatever else came (the connection is closed, or times out).
	c.SetDeadline(time.Now().Add(cmp.Or(o.wait, 500*time.Millisecond)))
	rest, _ = io.ReadAll(br)
	return resps, bodies, rest
}

type rawOption struct {
	wait    time.Duration
	methods []string
}

func addr(h *gatewaytest.Harness) string { return strings.TrimPrefix(h.URL, "http://") }

// rawGet sends one request line as given (target unparsed by any client).
func rawGet(tb testing.TB, h *gatewaytest.Harness, method, target, token string, extra string) (*http.Response, []byte) {
	tb.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: " + addr(h) + "\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	req += extra + "Connection: close\r\n\r\n"
	resps, bodies, rest := rawRoundTrip(tb, addr(h), req, 1)
	assertNoClosedBytes(tb, "connection bytes", rest)
	if len(resps) != 1 {
		tb.Fatalf("%s %q: no response", method, target)
	}
	return resps[0], bodies[0]
}

var anyRefusal = []refusal{{status: 400}, {status: 401}, {status: 403}, {status: 404}}

// TestAttackPaths: paths that try to reach frontier-x's shard (or any closed
// file) from a model the requester may read, or to dodge the policy by
// spelling; sent byte for byte. A CN requester may have mini-x and open
// models, never frontier-x's weights; anonymous callers only open models.
func TestAttackPaths(t *testing.T) {
	t.Parallel()
	const m, o = "/frontier-lab/mini-x/resolve/main/", "/open-lab/tiny-open/resolve/main/"
	const fx = "frontier-x/model-00001-of-00002.safetensors"
	targets := []string{
		m + "../../frontier-x/resolve/main/model-00001-of-00002.safetensors",
		m + "../" + fx,
		m + "..%2F" + "frontier-x%2Fmodel-00001-of-00002.safetensors",
		m + "..%2f..%2f..%2f..%2ffrontier-lab%2f" + strings.ReplaceAll(fx, "/", "%2f"),
		m + "%2e%2e/" + fx,
		m + "%2E%2E%2F" + strings.ReplaceAll(fx, "/", "%2F"),
		m + ".%2e/" + fx,
		m + "%252e%252e%252f" + strings.ReplaceAll(fx, "/", "%252f"),
		m + "%25252e%25252e%25252f" + fx,
		m + "..\\" + strings.ReplaceAll(fx, "/", "\\"),
		m + "..%5c" + strings.ReplaceAll(fx, "/", "%5c"),
		m + "%c0%ae%c0%ae%c0%af" + fx,
		m + "%c0%ae%c0%ae/" + fx,
		m + "%e0%80%ae%e0%80%ae/" + fx,
		m + "model.safetensors%00/../../" + fx,
		m + "model.safetensors%00",
		m + "model.safetensors;/../../" + fx,
		o + "..%2F..%2F..%2Ffrontier-lab%2F" + fx,
		// Model ids that are not {org}/{name}.
		"/frontier-lab/mini-x%2F..%2Ffrontier-x/resolve/main/model-00001-of-00002.safetensors",
		"/frontier-lab/frontier-x%2F..%2Fmini-x/resolve/main/model-00001-of-00002.safetensors",
		"/open-lab/tiny-open%2F..%2F..%2Ffrontier-lab%2Ffrontier-x/resolve/main/model-00001-of-00002.safetensors",
		"/open-lab/%2e%2e/resolve/main/frontier-lab/" + fx,
		"/%2e%2e/frontier-lab/resolve/main/" + fx,
		"/frontier-lab/./frontier-x/resolve/main/model-00001-of-00002.safetensors",
		"//frontier-lab/frontier-x/resolve/main/model-00001-of-00002.safetensors",
		// Revisions that are paths.
		"/frontier-lab/mini-x/resolve/main%2F..%2F..%2Ffrontier-x/model-00001-of-00002.safetensors",
		"/frontier-lab/mini-x/resolve/..%2F..%2Ffrontier-x/model-00001-of-00002.safetensors",
		// Spellings of the closed shard itself.
		gatewaytest.Frontier + gatewaytest.Shard1 + ".",
		gatewaytest.Frontier + gatewaytest.Shard1 + "/",
		gatewaytest.Frontier + gatewaytest.Shard1 + "%20",
		gatewaytest.Frontier + gatewaytest.Shard1 + "%2e",
		gatewaytest.Frontier + gatewaytest.Shard1 + "::$DATA",
		gatewaytest.Frontier + "MODEL-00001-OF-00002.SAFETENSORS",
		gatewaytest.Frontier + "./" + gatewaytest.Shard1,
		gatewaytest.Frontier + "sub/../" + gatewaytest.Shard1,
		gatewaytest.Frontier + "%2e/" + gatewaytest.Shard1,
		"/Frontier-Lab/Frontier-X/resolve/main/" + gatewaytest.Shard1,
		"/frontier-lab/FRONTIER-X/resolve/main/" + gatewaytest.Shard1,
		"/FRONTIER-LAB/frontier-x/resolve/main/" + gatewaytest.Shard1,
		"/frontier-lab/frontier-x./resolve/main/" + gatewaytest.Shard1,
		"/frontier-lab/frontier-x%20/resolve/main/" + gatewaytest.Shard1,
		"/frontier-lab/frontier-x/raw/main/" + gatewaytest.Shard1,
		"/frontier-lab/frontier-x/RESOLVE/main/" + gatewaytest.Shard1,
		"/frontier-lab/frontier-x/resolve/main/" + gatewaytest.Shard1 + "?download=true&country=US",
		"/frontier-lab/frontier-x/resolve/main/" + gatewaytest.Shard1 + "#x",
		"/api/../frontier-lab/frontier-x/resolve/main/" + gatewaytest.Shard1,
		"/api/models/../../frontier-lab/frontier-x/resolve/main/" + gatewaytest.Shard1,
		"http://evil.example/frontier-lab/frontier-x/resolve/main/" + gatewaytest.Shard1,
		"*",
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		cn := h.Token(t, gatewaytest.Claims("CN"))
		// Controls: the CN requester reads mini-x, and would be caught
		// with frontier-x's bytes.
		if resp, body := rawGet(t, h, "GET", m+"model.safetensors", cn, ""); resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("control: CN gets mini-x with %d", resp.StatusCode)
		}
		for i, target := range targets {
			for _, who := range []struct{ name, token string }{{"cn", cn}, {"anonymous", ""}} {
				for _, method := range []string{"GET", "HEAD"} {
					t.Run(fmt.Sprintf("%02d/%s/%s", i, who.name, method), func(t *testing.T) {
						resp, body := rawGet(t, h, method, target, who.token, "")
						assertRefused(t, h, resp, body, anyRefusal...)
						if resp.Header.Get("X-Request-Id") != "" && method == "GET" && gatewaytest.DecodeError(t, body).Code == "" {
							t.Errorf("%q: refusal without a code: %s", target, body)
						}
					})
				}
			}
		}
		// Nul and control bytes, raw in the request line: refused by the
		// HTTP layer or the gateway.
		for _, target := range []string{m + "model.safetensors\x00/../../" + fx, gatewaytest.Frontier + gatewaytest.Shard1 + "\x00", m + "\x01../" + fx} {
			resps, bodies, rest := rawRoundTrip(t, addr(h), "GET "+target+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+cn+"\r\nConnection: close\r\n\r\n", 1)
			assertNoClosedBytes(t, "connection bytes", rest)
			for i := range resps {
				assertRefused(t, h, resps[i], bodies[i], append([]refusal{{status: 400, netHTTP: true}}, anyRefusal...)...)
			}
		}
		assertNoClosedTransfers(t, h)
	})
}

// ---------------------------------------------------------------- stores

func writeFile(tb testing.TB, root, rel string, b []byte) {
	tb.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// storesOf runs fn over dir as the dir backend and, seeded under a fresh
// prefix of the shared S3 server, as the s3 backend.
func storesOf(t *testing.T, dir string, fn func(t *testing.T, store storage.ObjectStore)) {
	t.Run("dir", func(t *testing.T) {
		st, err := dirstore.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	t.Run("s3", func(t *testing.T) {
		c := s3test.Env(t)
		// A prefix beside the shared store's, not below it (other tests
		// list that), removed at the end.
		c.Prefix = fmt.Sprintf("weightgate-attack-%d/", time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		t.Cleanup(func() { removePrefix(t, c) })
		if _, err := s3test.Seed(ctx, c, dir); err != nil {
			t.Fatal(err)
		}
		fn(t, gatewaytest.S3Store(t, c))
	})
}

// removePrefix deletes every object under c.Prefix.
func removePrefix(tb testing.TB, c s3test.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := c.Client(3)
	if err != nil {
		tb.Error(err)
		return
	}
	for o := range cl.ListObjects(ctx, c.Bucket, minio.ListObjectsOptions{Prefix: c.Prefix, Recursive: true}) {
		if o.Err != nil {
			tb.Error(o.Err)
			return
		}
		if err := cl.RemoveObject(ctx, c.Bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			tb.Error(err)
		}
	}
}

// TestAttackManifestImpersonation: files named like the manifest that are
// not it, and manifests where none is read, change no classification and
// are weights.
func TestAttackManifestImpersonation(t *testing.T) {
	t.Parallel()
	shard := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
	dir := gatewaytest.CopyStore(t)
	// A manifest in a subfolder, declaring open weights.
	writeFile(t, dir, "frontier-lab/frontier-x/sub/export.yaml", []byte("weights: open\n"))
	// Shards named like the manifest.
	writeFile(t, dir, "frontier-lab/frontier-x/weights/export.yaml", shard)
	writeFile(t, dir, "frontier-lab/frontier-x/EXPORT.YAML", shard)
	writeFile(t, dir, "frontier-lab/frontier-x/Export.yaml", shard)
	// An org-level manifest, and one at the root of the store.
	writeFile(t, dir, "frontier-lab/export.yaml", []byte("weights: open\n"))
	writeFile(t, dir, "export.yaml", []byte("weights: open\n"))
	storesOf(t, dir, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		cn, in := h.Token(t, gatewaytest.Claims("CN")), h.Token(t, gatewaytest.Claims("IN"))
		for _, tt := range []struct {
			name, token, path string
			want              refusal
		}{
			{"anonymous shard", "", gatewaytest.Frontier + gatewaytest.Shard1, refusal{status: 401, code: "authentication_required"}},
			{"cn shard", cn, gatewaytest.Frontier + gatewaytest.Shard1, hiddenAs("country_of_concern")},
			{"cn subfolder manifest", cn, gatewaytest.Frontier + "sub/export.yaml", hiddenAs("country_of_concern")},
			{"cn shard named export.yaml in a subfolder", cn, gatewaytest.Frontier + "weights/export.yaml", hiddenAs("country_of_concern")},
			{"in shard named export.yaml in a subfolder", in, gatewaytest.Frontier + "weights/export.yaml", refusal{status: 403, code: "license_required"}},
			{"cn upper-case EXPORT.YAML", cn, gatewaytest.Frontier + "EXPORT.YAML", hiddenAs("country_of_concern")},
			{"cn Export.yaml", cn, gatewaytest.Frontier + "Export.yaml", hiddenAs("country_of_concern")},
			{"anonymous EXPORT.YAML", "", gatewaytest.Frontier + "EXPORT.YAML", refusal{status: 401, code: "authentication_required"}},
			{"anonymous raw EXPORT.YAML", "", "/frontier-lab/frontier-x/raw/main/EXPORT.YAML", refusal{status: 401, code: "authentication_required"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, body := h.Do(t, method, tt.path, tt.token, nil)
					want := tt.want
					if method == http.MethodHead {
						want.code = ""
					}
					assertRefused(t, h, resp, body, want)
					if id := resp.Header.Get("X-Request-Id"); id != "" {
						d, _ := h.RecordsFor(t, id)
						if len(d) == 1 && d[0].Input != nil && (d[0].Input.Model.Weights != "closed" || d[0].Input.Model.ID != "frontier-lab/frontier-x") {
							t.Errorf("policy input model = %+v, want frontier-x, closed", d[0].Input.Model)
						}
					}
				}
			})
		}
		// The real manifest is still served as what it is (not weights),
		// to a requester who may know the model.
		if resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+"export.yaml", h.Token(t, gatewaytest.Claims("IN")), nil); resp.StatusCode != 200 || !bytes.Contains(body, []byte("closed")) {
			t.Errorf("the manifest: %d %s", resp.StatusCode, body)
		}
	})
}

// TestAttackModelPrefix: a model whose name is a prefix of another's
// (frontier-x / frontier-xl, frontier / frontier-x) shares neither files nor
// classification with it.
func TestAttackModelPrefix(t *testing.T) {
	t.Parallel()
	dir := gatewaytest.CopyStore(t)
	writeFile(t, dir, "frontier-lab/frontier-xl/export.yaml", []byte("weights: open\n"))
	writeFile(t, dir, "frontier-lab/frontier-xl/README.md", []byte("open\n"))
	writeFile(t, dir, "frontier-lab/frontier/export.yaml", []byte("weights: open\n"))
	writeFile(t, dir, "frontier-lab/frontier/README.md", []byte("open\n"))
	writeFile(t, dir, "frontier-lab/frontier-/export.yaml", []byte("weights: open\n"))
	storesOf(t, dir, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		cn := h.Token(t, gatewaytest.Claims("CN"))
		for _, tt := range []struct {
			name, token, path string
			want              []refusal
		}{
			{"anonymous frontier-x", "", gatewaytest.Frontier + gatewaytest.Shard1, []refusal{{status: 401, code: "authentication_required"}}},
			{"cn frontier-x", cn, gatewaytest.Frontier + gatewaytest.Shard1, []refusal{hiddenAs("country_of_concern")}},
			{"frontier-x's shard under frontier-xl", "", "/frontier-lab/frontier-xl/resolve/main/" + gatewaytest.Shard1, []refusal{{status: 404, code: "entry_not_found"}}},
			{"frontier-x's shard under frontier", "", "/frontier-lab/frontier/resolve/main/-x/" + gatewaytest.Shard1, []refusal{{status: 404, code: "entry_not_found"}}},
			{"frontier-x's shard under frontier-", "", "/frontier-lab/frontier-/resolve/main/x/" + gatewaytest.Shard1, []refusal{{status: 404, code: "entry_not_found"}}},
			{"cn frontier-x's shard under frontier-xl", cn, "/frontier-lab/frontier-xl/resolve/main/" + gatewaytest.Shard1, []refusal{{status: 404, code: "entry_not_found"}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := h.Do(t, http.MethodGet, tt.path, tt.token, nil)
				assertRefused(t, h, resp, body, tt.want...)
			})
		}
		// The open models' listings name none of frontier-x's files.
		for _, id := range []string{"frontier-lab/frontier-xl", "frontier-lab/frontier", "frontier-lab/frontier-"} {
			for _, p := range []string{"/api/models/" + id, "/api/models/" + id + "/tree/main?recursive=true"} {
				resp, body := h.Do(t, http.MethodGet, p, "", nil)
				if resp.StatusCode != 200 || bytes.Contains(body, []byte("model-0000")) {
					t.Errorf("%s: %d %s", p, resp.StatusCode, body)
				}
			}
		}
		assertNoClosedTransfers(t, h)
	})
}

// TestAttackSymlinks: in the dir backend, no key goes through a symbolic
// link, whether it points outside the root or at another model's file, nor
// does a manifest.
func TestAttackSymlinks(t *testing.T) {
	t.Parallel()
	shard := gatewaytest.StoreFile(t, gatewaytest.Frontier+gatewaytest.Shard1)
	dir := gatewaytest.CopyStore(t)
	outside := filepath.Join(t.TempDir(), "outside.safetensors")
	if err := os.WriteFile(outside, shard, 0o644); err != nil {
		t.Fatal(err)
	}
	link := func(target, rel string) {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			t.Fatal(err)
		}
	}
	link(outside, "frontier-lab/mini-x/outside.safetensors")
	link("../../../"+filepath.Base(filepath.Dir(outside))+"/outside.safetensors", "frontier-lab/mini-x/outside-rel.safetensors")
	link("../frontier-x/"+gatewaytest.Shard1, "frontier-lab/mini-x/inside.safetensors")
	link("../../frontier-lab/frontier-x", "open-lab/tiny-open/sub")
	link("../frontier-lab/frontier-x", "open-lab/alias")
	link(filepath.Dir(outside), "open-lab/tiny-open/outdir")
	// A copy of frontier-x whose manifest is a link to an open one.
	writeFile(t, dir, "frontier-lab/frontier-y/"+gatewaytest.Shard1, shard)
	link("../../open-lab/tiny-open/export.yaml", "frontier-lab/frontier-y/export.yaml")
	// A whole org linked from outside the root.
	orgOut := filepath.Join(t.TempDir(), "evil-lab")
	writeFile(t, orgOut, "open-x/export.yaml", []byte("weights: open\n"))
	writeFile(t, orgOut, "open-x/"+gatewaytest.Shard1, shard)
	link(orgOut, "evil-lab")

	st, err := dirstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := gatewaytest.Start(t, st, gatewaytest.Options{})
	cn := h.Token(t, gatewaytest.Claims("CN"))
	if resp, _ := h.Do(t, http.MethodGet, gatewaytest.Mini+"model.safetensors", cn, nil); resp.StatusCode != 200 {
		t.Fatalf("control: CN gets mini-x with %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name, token, path string
	}{
		{"cn link outside the root", cn, gatewaytest.Mini + "outside.safetensors"},
		{"cn relative link outside the root", cn, gatewaytest.Mini + "outside-rel.safetensors"},
		{"cn link to frontier-x's shard", cn, gatewaytest.Mini + "inside.safetensors"},
		{"anonymous dir link into frontier-x", "", gatewaytest.Open + "sub/" + gatewaytest.Shard1},
		{"cn dir link into frontier-x", cn, gatewaytest.Open + "sub/" + gatewaytest.Shard1},
		{"anonymous dir link outside the root", "", gatewaytest.Open + "outdir/outside.safetensors"},
		{"anonymous model linked to frontier-x", "", "/open-lab/alias/resolve/main/" + gatewaytest.Shard1},
		{"cn model linked to frontier-x", cn, "/open-lab/alias/resolve/main/" + gatewaytest.Shard1},
		{"anonymous manifest linked to an open one", "", "/frontier-lab/frontier-y/resolve/main/" + gatewaytest.Shard1},
		{"cn manifest linked to an open one", cn, "/frontier-lab/frontier-y/resolve/main/" + gatewaytest.Shard1},
		{"anonymous org linked from outside", "", "/evil-lab/open-x/resolve/main/" + gatewaytest.Shard1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := h.Do(t, method, tt.path, tt.token, nil)
				assertRefused(t, h, resp, body, refusal{status: 401}, refusal{status: 403}, refusal{status: 404})
			}
		})
	}
	assertNoClosedTransfers(t, h)
}

// ---------------------------------------------------------------- requests

// TestAttackRanges: no Range shape gets a refused requester any byte, and
// the shapes the gateway does not serve (several, overlapping, negative,
// huge) get an allowed requester none either.
func TestAttackRanges(t *testing.T) {
	t.Parallel()
	many := "bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", 2000), ",")
	ranges := []string{
		"bytes=0-0", "bytes=0-", "bytes=-1", "bytes=-100000000", "bytes=100-50",
		"bytes=0-99,100-199", "bytes=0-1000,500-1500", "bytes=0-0,0-0", many,
		"bytes=-0", "bytes=--1", "bytes=-1-5", "bytes=1-2-3",
		"bytes=99999999999999999999-", "bytes=0-99999999999999999999", "bytes=9223372036854775807-",
		"bytes=9223372036854775806-9223372036854775807", "bytes=1600752-", "bytes=1600751-1600751",
		"bytes= 0-0", "Bytes=0-0", "bytes=0x10-0x20", "bytes=+0-+9", "items=0-9",
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		cn, us := h.Token(t, gatewaytest.Claims("CN")), h.Token(t, gatewaytest.Claims("US"))
		for i, rg := range ranges {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				t.Run(fmt.Sprintf("%02d/%s", i, method), func(t *testing.T) {
					hdr := http.Header{"Range": {rg}, "If-Range": {`"x"`}}
					if i%2 == 1 {
						delete(hdr, "If-Range")
					}
					resp, body := h.Do(t, method, gatewaytest.Frontier+gatewaytest.Shard1, cn, hdr)
					want := hiddenAs("country_of_concern")
					if method == http.MethodHead {
						want.code = ""
					}
					assertRefused(t, h, resp, body, want)
					resp, body = h.Do(t, method, gatewaytest.Frontier+gatewaytest.Shard1, "", hdr)
					assertRefused(t, h, resp, body, refusal{status: 401})
				})
			}
		}
		// An allowed requester: multiple, overlapping and unsatisfiable
		// ranges are 416 with no content.
		for _, rg := range []string{many, "bytes=0-99,100-199", "bytes=0-1000,500-1500", "bytes=1600752-", "bytes=99999999999999999999-", "bytes=100-50", "bytes=-0"} {
			resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, us, http.Header{"Range": {rg}})
			if rg == "bytes=100-50" && resp.StatusCode == 200 {
				// RFC 9110: an invalid range may be ignored; the
				// requester may have the whole file.
				continue
			}
			if resp.StatusCode != 416 {
				t.Errorf("US %q: status %d, want 416", rg[:min(len(rg), 40)], resp.StatusCode)
			}
			assertNoClosedBytes(t, "416 body", body)
		}
		assertNoClosedTransfers(t, h)
	})
}

// TestAttackPipelining: requests pipelined on one connection are each
// authenticated on their own: a token on the first grants the next nothing.
func TestAttackPipelining(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us, cn := h.Token(t, gatewaytest.Claims("US")), h.Token(t, gatewaytest.Claims("CN"))
		req := func(path, token string, last bool) string {
			s := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
			if token != "" {
				s += "Authorization: Bearer " + token + "\r\n"
			}
			if last {
				s += "Connection: close\r\n"
			}
			return s + "\r\n"
		}
		// US reads config (allowed, small), then anonymous and CN ask for
		// the shard on the same connection, then a HEAD with a range.
		wire := req(gatewaytest.Frontier+"config.json", us, false) + req(gatewaytest.Frontier+gatewaytest.Shard1, "", false) +
			req(gatewaytest.Frontier+gatewaytest.Shard1, cn, false) + req(gatewaytest.Frontier+"model-00002-of-00002.safetensors", "", false) +
			"HEAD " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n" +
			req(gatewaytest.Frontier+gatewaytest.Shard1, "hf_", true)
		resps, bodies, rest := rawRoundTrip(t, addr(h), wire, 6, rawOption{methods: []string{"GET", "GET", "GET", "GET", "HEAD", "GET"}})
		assertNoClosedBytes(t, "connection bytes", rest)
		if len(resps) != 6 {
			t.Fatalf("%d responses, want 6", len(resps))
		}
		if resps[0].StatusCode != 200 {
			t.Errorf("first (US, config.json): %d", resps[0].StatusCode)
		}
		want := []refusal{{status: 401, code: "authentication_required"}, hiddenAs("country_of_concern"), {status: 401, code: "authentication_required"}, {status: 401}, {status: 401, code: "invalid_token"}}
		for i, w := range want {
			assertRefused(t, h, resps[i+1], bodies[i+1], w)
		}
		assertNoClosedTransfers(t, h)
	})
}

// TestAttackSmuggling: Transfer-Encoding / Content-Length shapes carrying a
// second request in the body. Whatever the gateway makes of them, no answer
// on the connection carries closed bytes, and the smuggled request, if read
// as one, is judged on its own (anonymous, so 401), not as the outer one's
// requester.
func TestAttackSmuggling(t *testing.T) {
	t.Parallel()
	inner := "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\n\r\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(inner), inner)
	shapes := []struct{ name, headers, body string }{
		{"TE and CL", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "0\r\n\r\n" + inner},
		{"CL and TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" + inner},
		{"two CLs", "Content-Length: 0\r\nContent-Length: " + fmt.Sprint(len(inner)) + "\r\n", inner},
		{"CL list", "Content-Length: 0, " + fmt.Sprint(len(inner)) + "\r\n", inner},
		{"TE chunked, identity", "Transfer-Encoding: chunked, identity\r\n", chunk},
		{"TE identity, chunked", "Transfer-Encoding: identity, chunked\r\n", chunk},
		{"TE xchunked", "Transfer-Encoding: xchunked\r\n", inner},
		{"TE with space before colon", "Transfer-Encoding : chunked\r\n", chunk},
		{"TE with tab", "Transfer-Encoding:\tchunked\r\n", chunk},
		{"two TEs", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", chunk},
		{"TE on GET smuggling in the chunk", "Transfer-Encoding: chunked\r\n", chunk},
		{"obs-fold TE", "X-Foo: a\r\n Transfer-Encoding: chunked\r\n", chunk},
		{"negative CL", "Content-Length: -1\r\n", inner},
		{"CL plus sign", "Content-Length: +0\r\n", inner},
		{"bare LF", "Transfer-Encoding: chunked\nContent-Length: 4\n", "0\r\n\r\n" + inner},
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{})
		us := h.Token(t, gatewaytest.Claims("US"))
		for _, method := range []string{"GET", "POST"} {
			for _, sh := range shapes {
				t.Run(method+"/"+sh.name, func(t *testing.T) {
					// The outer request carries a US token, for
					// frontier-x's config.json (allowed); the smuggled
					// one has no token, for the shard: it must not
					// inherit the outer one's requester.
					wire := method + " /frontier-lab/frontier-x/resolve/main/config.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + us + "\r\n" + sh.headers + "\r\n" + sh.body
					resps, bodies, rest := rawRoundTrip(t, addr(h), wire, 3, rawOption{wait: 300 * time.Millisecond})
					assertNoClosedBytes(t, "connection bytes", rest)
					var got []int
					for _, resp := range resps {
						got = append(got, resp.StatusCode)
					}
					t.Logf("statuses %v, %d more bytes", got, len(rest))
					for i, resp := range resps {
						assertNoClosedBytes(t, "a response", bodies[i])
						if i == 0 && resp.StatusCode == 200 {
							continue // the outer request, allowed
						}
						assertRefused(t, h, resp, bodies[i], refusal{status: 400, netHTTP: true}, refusal{status: 401}, refusal{status: 404}, refusal{status: 405}, refusal{status: 501, netHTTP: true})
					}
				})
			}
		}
		assertNoClosedTransfers(t, h)
	})
}

// TestAttackOversized: very long URLs and headers are refused by size,
// before or by the gateway, with no bytes.
func TestAttackOversized(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{})
	cn := h.Token(t, gatewaytest.Claims("CN"))
	long := strings.Repeat("a", 2<<20)
	for _, tt := range []struct{ name, wire string }{
		{"2 MiB path", "GET " + gatewaytest.Frontier + long + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"2 MiB query", "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + "?x=" + long + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"2 MiB header", "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\nX-Pad: " + long + "\r\nConnection: close\r\n\r\n"},
		{"100000 headers", "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 100000) + "Connection: close\r\n\r\n"},
		{"2 MiB token", "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + cn + long + "\r\nConnection: close\r\n\r\n"},
		{"2 KiB file path", "GET " + gatewaytest.Frontier + strings.Repeat("b", 2048) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + cn + "\r\nConnection: close\r\n\r\n"},
		{"50 KiB token", "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + cn + strings.Repeat("A", 50<<10) + "\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resps, bodies, rest := rawRoundTrip(t, addr(h), tt.wire, 1)
			assertNoClosedBytes(t, "connection bytes", rest)
			if len(resps) == 0 {
				return // the connection was closed: nothing was sent
			}
			assertRefused(t, h, resps[0], bodies[0], refusal{status: 400}, refusal{status: 401}, hiddenAs("country_of_concern"), refusal{status: 414}, refusal{status: 431, netHTTP: true})
		})
	}
	assertNoClosedTransfers(t, h)
}

// TestAttackSlowloris: the gateway's own server (not httptest's) drops a
// client that sends its headers too slowly (ReadHeaderTimeout), so a
// trickle of header bytes cannot hold a connection open. Takes ~10 s.
func TestAttackSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the server's header timeout")
	}
	t.Parallel()
	root := s3test.RepoRoot(t)
	ctx := t.Context()
	v, err := identity.New(ctx, identity.Config{Issuers: []identity.IssuerConfig{{
		Issuer: "weightgate-dev", Audience: "weightgate", Algorithms: []string{"EdDSA"},
		PublicKeys: []string{filepath.Join(root, "testdata/keys/dev-ed25519.pub.pem")},
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	eng, err := opa.New(ctx, opa.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := gatewaytest.DirStore(t)
	srv, err := gateway.NewServer(gateway.Options{Addr: "127.0.0.1:0", Store: store, Policy: eng, Auth: v,
		Audit: gatewaytest.OpenTrail(t, filepath.Join(t.TempDir(), "audit"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL(), "http://")

	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(20 * time.Second))
	// The reader only reads: what it got and when the server closed the
	// connection are judged here, on the test's goroutine.
	type closing struct {
		after time.Duration
		got   []byte
	}
	closed := make(chan closing, 1)
	go func() {
		buf := make([]byte, 4096)
		var got []byte
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				closed <- closing{time.Since(start), got}
				return
			}
		}
	}()
	check := func(cl closing) {
		t.Helper()
		assertNoClosedBytes(t, "slowloris connection", cl.got)
		if cl.after > 15*time.Second {
			t.Errorf("connection closed after %v, want about the 10 s header timeout", cl.after)
		}
	}
	// One header byte a second, never finishing the header block.
	wire := "GET " + gatewaytest.Frontier + gatewaytest.Shard1 + " HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 30)
	for i := 0; i < len(wire); i++ {
		if _, err := c.Write([]byte{wire[i]}); err != nil {
			break // closed by the server
		}
		select {
		case cl := <-closed:
			check(cl)
			return
		case <-time.After(func() time.Duration {
			if i < len("GET ") {
				return 0
			}
			return time.Second
		}()):
		}
	}
	select {
	case cl := <-closed:
		check(cl)
	case <-time.After(20 * time.Second):
		t.Fatal("a trickling client held its connection for 20 s")
	}
}

// ---------------------------------------------------------------- headers

// fixedDB places 127.0.0.0/8 in CN and 203.0.113.7 in US.
type fixedDB struct{}

func (fixedDB) Country(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "CN"
	case a == netip.MustParseAddr("203.0.113.7"):
		return "US"
	}
	return ""
}

// TestAttackClientHeaders: headers a client sends are never facts for the
// policy: forwarding headers from an untrusted peer, S3 metadata, and
// anything shaped like model, subject or decision metadata change nothing
// in the decision or its recorded input, and a client's X-Request-Id is not
// the record's.
func TestAttackClientHeaders(t *testing.T) {
	t.Parallel()
	const marker = "attacker-marker-7f3a"
	forged := http.Header{
		"X-Forwarded-For":                  {"203.0.113.7"},
		"Forwarded":                        {"for=203.0.113.7;proto=https"},
		"X-Real-Ip":                        {"203.0.113.7"},
		"True-Client-Ip":                   {"203.0.113.7"},
		"Cf-Connecting-Ip":                 {"203.0.113.7"},
		"X-Client-Ip":                      {"203.0.113.7"},
		"X-Forwarded-Host":                 {marker + ".example"},
		"X-Amz-Meta-Weights":               {"open"},
		"X-Amz-Meta-Sha256":                {strings.Repeat("a", 64)},
		"X-Amz-Meta-Training-Compute-Flop": {"1"},
		"X-Amz-Meta-Export":                {marker},
		"X-Weightgate-Weights":             {"open"},
		"X-Model-Weights":                  {"open"},
		"X-Model-Eccn":                     {"EAR99"},
		"X-Export-Classification":          {marker},
		"X-Training-Compute-Flop":          {"1"},
		"X-Country":                        {"US"},
		"X-Subject-Country":                {"US"},
		"Country":                          {"US"},
		"X-Entity-Hq":                      {"US"},
		"X-Veu":                            {"uveu"},
		"X-Security-Attested":              {"true"},
		"X-Policy-Allow":                   {"true"},
		"X-Decision":                       {"allow"},
		"X-Request-Id":                     {marker},
		"X-Object-Kind":                    {"other"},
		"Content-Type":                     {"text/plain"},
		"X-Screening":                      {"clear"},
	}
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		// The peer (loopback) is in CN; a forged header claims a US
		// address. No proxy is trusted.
		h := gatewaytest.Start(t, store, gatewaytest.Options{Locator: &gateway.Locator{Countries: fixedDB{}}})
		for _, tt := range []struct {
			name, token string
			want        refusal
		}{
			{"cn", h.Token(t, gatewaytest.Claims("CN")), hiddenAs("country_of_concern")},
			{"anonymous", "", refusal{status: 401, code: "authentication_required"}},
			{"no country", h.Token(t, gatewaytest.Claims("")), hiddenAs("unknown_destination")},
			// The address is in a country of concern: the model is hidden.
			{"tier2", h.Token(t, gatewaytest.Claims("IN")), hiddenAs("license_required")},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, body := h.Do(t, method, gatewaytest.Frontier+gatewaytest.Shard1, tt.token, forged)
					want := tt.want
					if method == http.MethodHead {
						want.code = ""
					}
					assertRefused(t, h, resp, body, want)
					id := resp.Header.Get("X-Request-Id")
					if id == marker || id == "" {
						t.Fatalf("X-Request-Id = %q: the client's, or none", id)
					}
					d, _ := h.RecordsFor(t, id)
					if len(d) != 1 || d[0].Input == nil {
						t.Fatalf("decision records = %+v", d)
					}
					in := d[0].Input
					if in.Request.ClientIP != "127.0.0.1" || in.Request.ClientIPVia != "peer" || in.Request.IPCountry != "CN" {
						t.Errorf("request = %+v, want the peer 127.0.0.1 (CN), not the forged address", in.Request)
					}
					if tt.token != "" && (in.Model.Weights != "closed" || in.Model.TrainingComputeFLOP != 3e26 || in.Object.Kind != "weights") {
						t.Errorf("model/object = %+v / %+v, want the store's", in.Model, in.Object)
					}
					if in.Subject.Entity.VEU != "" || in.Subject.Entity.SecurityAttested {
						t.Errorf("subject = %+v, want no entity status from headers", in.Subject)
					}
					rec := jsonOf(t, d[0])
					for _, s := range []string{marker, "203.0.113.7", "EAR99", "uveu"} {
						if bytes.Contains(rec, []byte(s)) {
							t.Errorf("the decision record carries %q from a client header: %s", s, rec)
						}
					}
				}
			})
		}
	})
}

// TestAttackS3API: the same attacks through the S3-compatible API: unsigned
// (anonymous) and forged-signature requests for closed keys, traversal in
// keys, and forged web-identity tokens at the STS endpoint. Each refusal is
// S3's, with its request id, on the record as a deny.
func TestAttackS3API(t *testing.T) {
	t.Parallel()
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
		addr := strings.TrimPrefix(h.S3URL, "http://")
		const closedKey = "frontier-lab/frontier-x/" + gatewaytest.Shard1
		anonymous := s3Refusal{403, "AccessDenied", "authentication_required"}
		for _, tt := range []struct {
			name, target, headers string
			want                  s3Refusal
		}{
			{"anonymous closed key", "/models/" + closedKey, "", anonymous},
			{"anonymous closed key, range", "/models/" + closedKey, "Range: bytes=0-99\r\n", anonymous},
			{"traversal from an open model", "/models/open-lab/tiny-open/../../" + closedKey, "", s3Refusal{400, "InvalidArgument", "invalid_path"}},
			{"encoded traversal", "/models/open-lab/tiny-open/..%2F..%2F" + strings.ReplaceAll(closedKey, "/", "%2F"), "", s3Refusal{400, "InvalidArgument", "invalid_path"}},
			{"double-encoded traversal", "/models/open-lab/tiny-open/%252e%252e%252f%252e%252e%252f" + closedKey, "", s3Refusal{404, "NoSuchKey", "entry_not_found"}},
			{"other bucket name", "/Models/" + closedKey, "", s3Refusal{404, "NoSuchBucket", ""}},
			{"org as the bucket", "/" + closedKey, "", s3Refusal{404, "NoSuchBucket", ""}},
			{"case variant", "/models/Frontier-Lab/Frontier-X/" + gatewaytest.Shard1, "", anonymous},
			{"manifest lookalike", "/models/frontier-lab/frontier-x/EXPORT.YAML", "", anonymous},
			{"security token alone", "/models/" + closedKey, "X-Amz-Security-Token: " + strings.Repeat("A", 200) + "\r\n", anonymous},
			{"bearer token on the S3 API", "/models/" + closedKey, "Authorization: Bearer " + h.Token(t, gatewaytest.Claims("CN")) + "\r\n", s3Refusal{400, "InvalidRequest", ""}},
			{"S3 metadata headers", "/models/" + closedKey, "X-Amz-Meta-Weights: open\r\nX-Amz-Meta-Sha256: " + strings.Repeat("a", 64) + "\r\n", anonymous},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, method := range []string{"GET", "HEAD"} {
					wire := method + " " + tt.target + " HTTP/1.1\r\nHost: " + addr + "\r\n" + tt.headers + "Connection: close\r\n\r\n"
					resps, bodies, rest := rawRoundTrip(t, addr, wire, 1, rawOption{methods: []string{method}})
					assertNoClosedBytes(t, "connection bytes", rest)
					if len(resps) != 1 {
						t.Fatalf("%s: no response", method)
					}
					assertNoClosedBytes(t, "body", bodies[0])
					if s := resps[0].StatusCode; s != 400 && s != 403 && s != 404 {
						t.Errorf("%s %s: status %d, want 400/403/404; body %.300s", method, tt.target, s, bodies[0])
					}
					assertS3Refused(t, h, method, resps[0], bodies[0], tt.want)
				}
			})
		}

		// Forged signatures, over credentials the gateway really issued
		// to a requester who may have the shard, a real session token and
		// a fresh date: only the signature is wrong, so nothing but its
		// check refuses them.
		us := stsCredentials(t, h, gatewaytest.Claims("US"))
		wrongSecret := withWrongSecret(us)
		for _, sign := range []s3Signer{signedBy(us), presignedBy(us, 3600)} {
			if resp, _ := s3Send(t, h, http.MethodHead, "/models/"+closedKey, nil, sign); resp.StatusCode != http.StatusOK {
				t.Fatalf("control: the US credentials, signed right, get %d", resp.StatusCode)
			}
		}
		for _, tt := range []struct {
			name string
			sign s3Signer
		}{
			{"forged signature", withWrongSignature(signedBy(us))},
			{"forged presigned URL", withWrongSignature(presignedBy(us, 3600))},
			{"signed with the wrong secret", signedBy(wrongSecret)},
			{"presigned with the wrong secret", presignedBy(wrongSecret, 3600)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, body := s3Send(t, h, method, "/models/"+closedKey, nil, tt.sign)
					assertS3Refused(t, h, method, resp, body, s3Refusal{403, "SignatureDoesNotMatch", ""})
				}
			})
		}
		// STS: forged web-identity tokens get no credentials.
		root := s3test.RepoRoot(t)
		pub := gatewaytest.ReadFile(t, filepath.Join(root, "testdata/keys/dev-ed25519.pub.pem"))
		claimsUS := jsonOf(t, devClaims(time.Now()))
		for name, tok := range map[string]string{
			"alg none":          signRaw(t, []byte(`{"alg":"none"}`), claimsUS, nil),
			"HS256 with pubkey": signRaw(t, []byte(`{"alg":"HS256"}`), claimsUS, pub),
			"attacker key":      signRaw(t, []byte(`{"alg":"EdDSA"}`), claimsUS, newEd25519(t)),
			"duplicate country": signRaw(t, []byte(`{"alg":"EdDSA"}`), append(jsonOf(t, with(devClaims(time.Now()), "country", "CN"))[:len(jsonOf(t, with(devClaims(time.Now()), "country", "CN")))-1], []byte(`,"country":"US"}`)...), loadDevKey(t)),
		} {
			form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {tok}, "DurationSeconds": {"900"}}
			resp, err := http.Post(h.S3URL+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || bytes.Contains(body, []byte("SecretAccessKey")) {
				t.Errorf("STS with %s: %d %.300s", name, resp.StatusCode, body)
			}
		}
		assertNoClosedTransfers(t, h)
	})
}

func loadDevKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	k, err := identity.LoadPrivateKeyPEM(filepath.Join(s3test.RepoRoot(tb), "testdata/keys/dev-ed25519.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}
