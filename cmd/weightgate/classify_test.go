package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassifySignVerify: classify sign then verify round-trips; every
// tampering (flipped weights with the signature kept, the signature
// dropped, another key, a copy to another model) makes verify exit 1, and
// bad input exits 2.
func TestClassifySignVerify(t *testing.T) {
	priv, pub := repoPath("testdata/keys/classify-ed25519.pem"), repoPath("testdata/keys/classify-ed25519.pub.pem")
	otherPub := repoPath("testdata/keys/dev-ed25519.pub.pem") // an Ed25519 key that signed nothing here
	dir := filepath.Join(t.TempDir(), "lab", "m")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "export.yaml")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "# our classification\nweights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n")
	if out, stderr, code := runMain(t, "classify", "sign", "--key", priv, "--model", "lab/m", "--by", "Compliance Office", "--basis", "ccats:G123456", "--at", "2025-01-15T09:30:00Z", file); code != 0 {
		t.Fatalf("sign: exit %d: %s%s", code, out, stderr)
	}
	signed := string(gatewaytestRead(t, file))
	if !strings.Contains(signed, "# our classification") || !strings.Contains(signed, "basis: ccats:G123456") {
		t.Errorf("signed file lost its comment or record:\n%s", signed)
	}
	if out, stderr, code := runMain(t, "classify", "verify", "--keys", otherPub+","+pub, file); code != 0 || !strings.Contains(out, "verified") || !strings.Contains(out, "model lab/m") {
		t.Fatalf("verify: exit %d: %s%s", code, out, stderr)
	}
	other := filepath.Join(t.TempDir(), "lab", "other", "export.yaml")
	tests := []struct {
		name, content, path string
		args                []string
		code                int
		want                string
	}{
		{"flipped to open, signature kept", strings.Replace(strings.Replace(signed, "weights: closed", "weights: open", 1), "eccn: 4E091\n", "", 1), file, nil, 1, "does not match its fields"},
		{"signature dropped", "weights: open\ntraining_compute_flop: 3.0e26\n", file, nil, 1, "not signed"},
		{"another key", signed, file, []string{"--keys", otherPub}, 1, "not a configured classification key"},
		{"copied to another model", signed, other, nil, 1, "signed for another model"},
		{"--model overrides the path", signed, other, []string{"--keys", pub, "--model", "lab/m"}, 0, "verified"},
		{"malformed", "weights: maybe\n", file, nil, 2, "weights must be open or closed"},
		{"a private key as --keys", signed, file, []string{"--keys", priv}, 2, "want PUBLIC KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.path, tt.content)
			args := tt.args
			if args == nil {
				args = []string{"--keys", pub}
			}
			out, stderr, code := runMain(t, append(append([]string{"classify", "verify"}, args...), tt.path)...)
			if code != tt.code || !strings.Contains(out+stderr, tt.want) {
				t.Errorf("exit %d, want %d; output %q, want %q", code, tt.code, out+stderr, tt.want)
			}
		})
	}
	for _, args := range [][]string{
		{"classify", "sign", "--key", priv, file},                                         // no --model
		{"classify", "sign", "--key", priv, "--model", "lab/m", "--basis", "ccats", file}, // bad basis
		{"classify", "sign", "--key", pub, "--model", "lab/m", file},                      // a public key
		{"classify", "nope"},
	} {
		if _, _, code := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
