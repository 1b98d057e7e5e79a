package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/weightgate/weightgate/gateway/s3api"
	"github.com/weightgate/weightgate/identity"
)

// TestServeReloadIssuersOnSIGHUP: serve rereads its issuers on SIGHUP. S3
// credentials issued for a token of a key rotated out of the configuration
// are refused at once (403 InvalidAccessKeyId, no byte of the closed shard),
// and so is the token; a token of the new key gets credentials that
// download. A configuration whose issuer no longer loads is refused, logged,
// and the issuers in force stay.
func TestServeReloadIssuersOnSIGHUP(t *testing.T) {
	const iss = "https://idp.reload.test"
	dir := t.TempDir()
	newKey := func(name string) (ed25519.PrivateKey, string) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".pub.pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return k, p
	}
	oldKey, oldPEM := newKey("old")
	newK, newPEM := newKey("new")

	addr := freeAddr(t)
	cfg := writeConfig(t)
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The issuer trusts key under kid k1: a rotation keeps the kid.
	writeIssuer := func(pemPath string) {
		t.Helper()
		doc := strings.Replace(string(base), "auth:\n  issuers:\n", "auth:\n  issuers:\n    - issuer: "+iss+
			"\n      audience: weightgate\n      algorithms: [EdDSA]\n      public_keys: [k1="+pemPath+"]\n", 1)
		if err := os.WriteFile(cfg, []byte(doc+"s3:\n  listen: "+addr+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeIssuer(oldPEM)
	url, logs, cancel, done := startServe(t, cfg)
	defer func() { cancel(); <-done }()
	endpoint := "http://" + addr

	token := func(k ed25519.PrivateKey) string {
		tok, err := identity.Sign(k, "k1", identity.TokenClaims{Issuer: iss, Audience: "weightgate", Subject: "reloaded", Country: "US", Nationality: []string{"US"}, ParentHQ: "US"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	assume := func(tok string) (int, credentials.AssumeRoleWithWebIdentityResponse) {
		t.Helper()
		var out credentials.AssumeRoleWithWebIdentityResponse
		resp, err := http.PostForm(endpoint+"/", map[string][]string{"Action": {"AssumeRoleWithWebIdentity"},
			"Version": {"2011-06-15"}, "WebIdentityToken": {tok}, "DurationSeconds": {"900"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			if err := xml.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, out
	}
	const shard = "frontier-lab/frontier-x/model-00001-of-00002.safetensors"
	want, err := os.ReadFile(repoPath("testdata/store/" + shard))
	if err != nil {
		t.Fatal(err)
	}
	get := func(c credentials.AssumeRoleWithWebIdentityResponse) (int, string, []byte) {
		t.Helper()
		ctx, cancelReq := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancelReq()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/models/"+shard, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", s3api.UnsignedPayload)
		cr := c.Result.Credentials
		req = signer.SignV4(*req, cr.AccessKey, cr.SecretKey, cr.SessionToken, "us-east-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var e struct{ Code string }
		if resp.StatusCode != http.StatusOK {
			xml.Unmarshal(body, &e)
		}
		return resp.StatusCode, e.Code, body
	}

	status, old := assume(token(oldKey))
	if status != http.StatusOK {
		t.Fatalf("STS with the configured key: %d\n%s", status, logs.String())
	}
	if status, _, body := get(old); status != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("control: the credentials download %d, %d bytes; want 200 and the shard", status, len(body))
	}

	// Rotate: kid k1 is now the new key.
	writeIssuer(newPEM)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var fresh credentials.AssumeRoleWithWebIdentityResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, fresh = assume(token(newK)); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token of the new key is still refused (%d) 10 s after SIGHUP; log:\n%s", status, logs.String())
		}
	}
	status, code, body := get(old)
	if status != http.StatusForbidden || code != s3api.CodeInvalidAccessKeyID {
		t.Errorf("the old credentials after the rotation: %d %q, want 403 %s", status, code, s3api.CodeInvalidAccessKeyID)
	}
	if bytes.Contains(body, want[:1024]) {
		t.Errorf("the refusal carries bytes of the shard")
	}
	if status, _ := assume(token(oldKey)); status != http.StatusBadRequest {
		t.Errorf("STS with the rotated-out key: %d, want 400", status)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/frontier-lab/frontier-x/resolve/main/model-00001-of-00002.safetensors", nil)
	req.Header.Set("Authorization", "Bearer "+token(oldKey))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Hub download with the rotated-out key's token: %d, want 401", resp.StatusCode)
		}
	}
	if status, _, body := get(fresh); status != http.StatusOK || !bytes.Equal(body, want) {
		t.Errorf("the new key's credentials: %d, %d bytes; want 200 and the shard", status, len(body))
	}

	// A key file that is gone: refused, the new key stays trusted.
	writeIssuer(filepath.Join(dir, "missing.pub.pem"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "issuer reload refused"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged after SIGHUP with a missing key file; log:\n%s", logs.String())
		}
	}
	if status, _, _ := get(fresh); status != http.StatusOK {
		t.Errorf("after a refused reload, the new key's credentials: %d, want 200", status)
	}
	if status, _ := assume(token(newK)); status != http.StatusOK {
		t.Errorf("after a refused reload, STS with the new key: %d, want 200", status)
	}
}
