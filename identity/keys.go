package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// DevKeyFingerprint is the hex SHA-256 of the PKIX DER encoding of the
// development public key committed as testdata/keys/dev-ed25519.pub.pem.
// Its private half is in the repository, so anyone can mint tokens it
// verifies: a server that trusts it must say so loudly (see IsDevKey).
const DevKeyFingerprint = "94a7d3ddcdb7f94779b9e58bd67e9959f4ff7733877d8ba3897d1e4b8711c554"

// Fingerprint returns the hex SHA-256 of pub's PKIX DER encoding (the same
// value as `openssl pkey -pubin -outform DER | sha256sum`).
func Fingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// IsDevKey reports whether pub is the committed development public key.
// It also accepts the matching private key.
func IsDevKey(key any) bool {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	fp, err := Fingerprint(key)
	return err == nil && fp == DevKeyFingerprint
}

// LoadPublicKeyPEM reads the first PEM block of the file at path: a PKIX
// "PUBLIC KEY" or a PKCS#1 "RSA PUBLIC KEY". It returns *rsa.PublicKey (at
// least 2048 bits), *ecdsa.PublicKey (P-256) or ed25519.PublicKey; anything
// else is an error.
func LoadPublicKeyPEM(path string) (crypto.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block is %q, want PUBLIC KEY (is this a private key?)", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := algorithmForPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// LoadPrivateKeyPEM reads the first PEM block of the file at path: PKCS#8
// "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY".
// Encrypted keys are not supported. It returns *rsa.PrivateKey,
// *ecdsa.PrivateKey or ed25519.PrivateKey, restricted to the key types Sign
// accepts.
func LoadPrivateKeyPEM(path string) (crypto.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block is %q, want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("%s: unsupported private key type %T", path, key)
	}
	if _, err := algorithmForPublicKey(key.(crypto.Signer).Public()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// readPEM returns the first PEM block in the file at path.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoPEM)
	}
	return block, nil
}

var errNoPEM = errors.New("no PEM block found")
