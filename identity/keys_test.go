package identity

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writePEM writes one PEM block to a file in dir and returns its path.
func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestTestdataKeyPairs(t *testing.T) {
	tests := []struct {
		priv, pub string
		wantType  any
	}{
		{"dev-ed25519.pem", "dev-ed25519.pub.pem", ed25519.PrivateKey{}},  // PKCS#8
		{"test-rsa2048.pem", "test-rsa2048.pub.pem", &rsa.PrivateKey{}},   // PKCS#1
		{"test-ec-p256.pem", "test-ec-p256.pub.pem", &ecdsa.PrivateKey{}}, // SEC 1
	}
	for _, tt := range tests {
		t.Run(tt.priv, func(t *testing.T) {
			priv, err := LoadPrivateKeyPEM(keyPath(tt.priv))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := reflect.TypeOf(priv), reflect.TypeOf(tt.wantType); got != want {
				t.Errorf("type = %v, want %v", got, want)
			}
			pub, err := LoadPublicKeyPEM(keyPath(tt.pub))
			if err != nil {
				t.Fatal(err)
			}
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(priv.(crypto.Signer).Public()) {
				t.Errorf("%s is not the public half of %s", tt.pub, tt.priv)
			}
		})
	}
}

func TestDevKey(t *testing.T) {
	pub, err := LoadPublicKeyPEM(keyPath("dev-ed25519.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Fingerprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fp, DevKeyFingerprint; got != want {
		t.Errorf("fingerprint of testdata/keys/dev-ed25519.pub.pem = %s, want DevKeyFingerprint %s", got, want)
	}
	tests := []struct {
		name string
		key  any
		want bool
	}{
		{"dev public", pub, true},
		{"dev private", MustLoadPrivateKey(t, "dev-ed25519.pem"), true},
		{"other ed25519", otherEd25519().Public(), false},
		{"rsa", MustLoadPrivateKey(t, "test-rsa2048.pem").Public(), false},
		{"nil", nil, false},
		{"bytes", []byte("secret"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsDevKey(tt.key); got != tt.want {
				t.Errorf("IsDevKey = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadKeysFormats(t *testing.T) {
	dir := t.TempDir()
	rsaKey := MustLoadPrivateKey(t, "test-rsa2048.pem").(*rsa.PrivateKey)
	ecKey := MustLoadPrivateKey(t, "test-ec-p256.pem").(*ecdsa.PrivateKey)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// X25519 is a key-agreement key: x509 parses its PKIX form, but it
	// cannot verify a signature.
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	pkix := func(k any) []byte {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ecSEC1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}

	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	privTests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"RSA PKCS#8", writePEM(t, dir, "rsa8.pem", "PRIVATE KEY", pkcs8(rsaKey)), false},
		{"RSA PKCS#1", writePEM(t, dir, "rsa1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), false},
		{"EC PKCS#8", writePEM(t, dir, "ec8.pem", "PRIVATE KEY", pkcs8(ecKey)), false},
		{"EC SEC 1", writePEM(t, dir, "ec1.pem", "EC PRIVATE KEY", ecSEC1), false},
		{"Ed25519 PKCS#8", keyPath("dev-ed25519.pem"), false},
		{"EC P-384", writePEM(t, dir, "p384.pem", "PRIVATE KEY", pkcs8(p384)), true},
		{"RSA 1024", writePEM(t, dir, "rsa1024.pem", "PRIVATE KEY", pkcs8(rsa1024)), true},
		{"public key", keyPath("dev-ed25519.pub.pem"), true},
		{"wrong block type", writePEM(t, dir, "cert.pem", "CERTIFICATE", []byte{1, 2, 3}), true},
		{"corrupt DER", writePEM(t, dir, "bad.pem", "PRIVATE KEY", []byte{1, 2, 3}), true},
		{"no PEM", garbage, true},
		{"missing", filepath.Join(dir, "missing.pem"), true},
	}
	for _, tt := range privTests {
		t.Run("private/"+tt.name, func(t *testing.T) {
			_, err := LoadPrivateKeyPEM(tt.path)
			if got := err != nil; got != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
		})
	}

	pubTests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"RSA PKIX", writePEM(t, dir, "rsa.pub.pem", "PUBLIC KEY", pkix(&rsaKey.PublicKey)), false},
		{"RSA PKCS#1", writePEM(t, dir, "rsa1.pub.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), false},
		{"EC PKIX", writePEM(t, dir, "ec.pub.pem", "PUBLIC KEY", pkix(&ecKey.PublicKey)), false},
		{"EC P-384", writePEM(t, dir, "p384.pub.pem", "PUBLIC KEY", pkix(&p384.PublicKey)), true},
		{"RSA 1024", writePEM(t, dir, "rsa1024.pub.pem", "PUBLIC KEY", pkix(&rsa1024.PublicKey)), true},
		{"X25519 PKIX", writePEM(t, dir, "x25519.pub.pem", "PUBLIC KEY", pkix(x25519.PublicKey())), true},
		{"private key", keyPath("test-ec-p256.pem"), true},
		{"missing", filepath.Join(dir, "missing.pem"), true},
	}
	for _, tt := range pubTests {
		t.Run("public/"+tt.name, func(t *testing.T) {
			_, err := LoadPublicKeyPEM(tt.path)
			if got := err != nil; got != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}
