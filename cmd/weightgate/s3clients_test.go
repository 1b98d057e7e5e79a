package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/testenv"
)

// needClient returns the path of a client binary. A missing client skips
// the test, or fails it under WEIGHTGATE_TEST_CLIENTS_REQUIRED=1, which
// scripts/test.sh sets after installing the clients.
func needClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Skip(t, testenv.Clients, "%s is not on PATH (scripts/test.sh installs it)", name)
	}
	return p
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// s3Creds are temporary S3 credentials from the gateway's STS endpoint.
type s3Creds struct{ AccessKeyId, SecretAccessKey, SessionToken string }

// client runs a client binary with a clean environment plus env, bounded in
// time, and returns its output and error.
func runClient(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	home := t.TempDir()
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		// Nothing from the machine's own AWS or rclone setup, and no CA
		// bundle (rclone 1.60 fails on AWS_CA_BUNDLE).
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"RCLONE_CONFIG=" + filepath.Join(home, "rclone.conf"),
	}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// TestS3Clients drives the S3 API of a running `weightgate serve` with the
// stock tools: credentials from `aws sts assume-role-with-web-identity`,
// then `aws s3 cp`, `aws s3api get-object --range`, `rclone copy`, `rclone
// cat --offset --count` and `s3cmd get`, each downloading an open model, a
// permitted closed shard (byte-exact) and being refused a denied one.
func TestS3Clients(t *testing.T) {
	aws, rclone, s3cmd := needClient(t, "aws"), needClient(t, "rclone"), needClient(t, "s3cmd")
	addr := freeAddr(t)
	cfg := appendConfig(t, writeConfig(t), "s3:\n  listen: "+addr+"\n")
	_, _, cancel, done := startServe(t, cfg)
	defer func() { cancel(); <-done }()
	endpoint := "http://" + addr

	assume := func(country string) s3Creds { return awsAssume(t, aws, endpoint, country) }
	// in is refused the weights but may know the model (Tier 2, India): S3
	// tools show the policy's reason.
	us, in := assume("US"), assume("IN")
	awsEnv := func(c s3Creds) []string {
		return []string{"AWS_ACCESS_KEY_ID=" + c.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey, "AWS_SESSION_TOKEN=" + c.SessionToken}
	}
	rcloneEnv := func(c s3Creds) []string {
		return []string{"RCLONE_CONFIG_WG_TYPE=s3", "RCLONE_CONFIG_WG_PROVIDER=Other", "RCLONE_CONFIG_WG_ENDPOINT=" + endpoint,
			"RCLONE_CONFIG_WG_REGION=us-east-1", "RCLONE_CONFIG_WG_ACCESS_KEY_ID=" + c.AccessKeyId,
			"RCLONE_CONFIG_WG_SECRET_ACCESS_KEY=" + c.SecretAccessKey, "RCLONE_CONFIG_WG_SESSION_TOKEN=" + c.SessionToken}
	}
	s3cmdArgs := func(c s3Creds, args ...string) []string {
		return append([]string{"--config=/dev/null", "--host=" + addr, "--host-bucket=" + addr, "--no-ssl",
			"--access_key=" + c.AccessKeyId, "--secret_key=" + c.SecretAccessKey, "--access_token=" + c.SessionToken,
			"--region=us-east-1"}, args...)
	}

	const open, shard = "open-lab/tiny-open/model.safetensors", "frontier-lab/frontier-x/model-00001-of-00002.safetensors"
	want := func(key string) []byte {
		parts := strings.SplitN(key, "/", 3)
		b, err := os.ReadFile(repoPath(filepath.Join("testdata/store", parts[0], parts[1], parts[2])))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	check := func(what, path string, wantBytes []byte) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, wantBytes) {
			t.Errorf("%s: %d bytes (%v), want %d byte-exact", what, len(got), err, len(wantBytes))
		}
	}

	t.Run("aws", func(t *testing.T) {
		for _, key := range []string{open, shard} {
			dst := filepath.Join(dir, "aws-"+filepath.Base(key))
			if _, stderr, err := runClient(t, awsEnv(us), aws, "--endpoint-url", endpoint, "s3", "cp", "s3://models/"+key, dst); err != nil {
				t.Fatalf("aws s3 cp %s: %v\n%s", key, err, stderr)
			}
			check("aws s3 cp "+key, dst, want(key))
		}
		dst := filepath.Join(dir, "aws-range")
		if _, stderr, err := runClient(t, awsEnv(us), aws, "--endpoint-url", endpoint, "s3api", "get-object",
			"--bucket", "models", "--key", shard, "--range", "bytes=100-1099", dst); err != nil {
			t.Fatalf("aws s3api get-object --range: %v\n%s", err, stderr)
		}
		check("aws s3api get-object --range", dst, want(shard)[100:1100])
		_, stderr, err := runClient(t, awsEnv(in), aws, "--endpoint-url", endpoint, "s3api", "get-object",
			"--bucket", "models", "--key", shard, filepath.Join(dir, "aws-denied"))
		if err == nil || !strings.Contains(stderr, "AccessDenied") || !strings.Contains(stderr, "license_required") {
			t.Errorf("aws s3api get-object of a denied shard: %v\n%s\nwant AccessDenied with the policy's reason", err, stderr)
		}
		if _, _, err := runClient(t, awsEnv(in), aws, "--endpoint-url", endpoint, "s3", "cp", "s3://models/"+shard, filepath.Join(dir, "aws-denied-cp")); err == nil {
			t.Errorf("aws s3 cp of a denied shard succeeded")
		}
	})

	t.Run("rclone", func(t *testing.T) {
		dst := filepath.Join(dir, "rclone")
		if _, stderr, err := runClient(t, rcloneEnv(us), rclone, "copy", "wg:models/open-lab/tiny-open", dst); err != nil {
			t.Fatalf("rclone copy: %v\n%s", err, stderr)
		}
		check("rclone copy", filepath.Join(dst, "model.safetensors"), want(open))
		if _, stderr, err := runClient(t, rcloneEnv(us), rclone, "copy", "wg:models/"+shard, dst); err != nil {
			t.Fatalf("rclone copy of the shard: %v\n%s", err, stderr)
		}
		check("rclone copy of the shard", filepath.Join(dst, filepath.Base(shard)), want(shard))
		out, stderr, err := runClient(t, rcloneEnv(us), rclone, "cat", "--offset", "10", "--count", "90", "wg:models/"+shard)
		if err != nil || out != string(want(shard)[10:100]) {
			t.Errorf("rclone cat --offset 10 --count 90: %d bytes, %v\n%s", len(out), err, stderr)
		}
		// The model's folder: its other files copy, its weights are
		// refused, and rclone says so and fails.
		denied := filepath.Join(dir, "rclone-denied")
		_, stderr, err = runClient(t, rcloneEnv(in), rclone, "copy", "wg:models/frontier-lab/frontier-x", denied)
		if err == nil || !strings.Contains(stderr, "AccessDenied") {
			t.Errorf("rclone copy of a model with denied weights: err %v; want a failure naming AccessDenied\n%s", err, stderr)
		}
		check("rclone copy of the model's config.json", filepath.Join(denied, "config.json"), want("frontier-lab/frontier-x/config.json"))
		if _, err := os.Stat(filepath.Join(denied, filepath.Base(shard))); !os.IsNotExist(err) {
			t.Errorf("rclone copy wrote the denied shard: %v", err)
		}
		// One denied file: rclone takes the refused HEAD for "not a file",
		// finds no folder of that name either, and copies nothing.
		out, _, _ = runClient(t, rcloneEnv(in), rclone, "cat", "wg:models/"+shard)
		if out != "" {
			t.Errorf("rclone cat of a denied shard printed %d bytes", len(out))
		}
	})

	t.Run("s3cmd", func(t *testing.T) {
		for _, key := range []string{open, shard} {
			dst := filepath.Join(dir, "s3cmd-"+filepath.Base(key))
			if _, stderr, err := runClient(t, nil, s3cmd, s3cmdArgs(us, "get", "s3://models/"+key, dst)...); err != nil {
				t.Fatalf("s3cmd get %s: %v\n%s", key, err, stderr)
			}
			check("s3cmd get "+key, dst, want(key))
		}
		if _, _, err := runClient(t, nil, s3cmd, s3cmdArgs(in, "get", "s3://models/"+shard, filepath.Join(dir, "s3cmd-denied"))...); err == nil {
			t.Errorf("s3cmd get of a denied shard succeeded")
		}
	})

	// An empty file: each tool asks a 0-byte object for no range, so S3's
	// 416 for a range on it never reaches them.
	t.Run("empty file", func(t *testing.T) {
		const key = "open-lab/tiny-open/__init__.py"
		for _, c := range []struct {
			name string
			env  []string
			bin  string
			args []string
		}{
			{"aws s3 cp", awsEnv(us), aws, []string{"--endpoint-url", endpoint, "s3", "cp", "s3://models/" + key}},
			{"rclone copyto", rcloneEnv(us), rclone, []string{"copyto", "wg:models/" + key}},
			{"s3cmd get", nil, s3cmd, s3cmdArgs(us, "get", "s3://models/"+key)},
		} {
			dst := filepath.Join(dir, "empty-"+strings.ReplaceAll(c.name, " ", "-"))
			if _, stderr, err := runClient(t, c.env, c.bin, append(c.args, dst)...); err != nil {
				t.Errorf("%s of an empty file: %v\n%s", c.name, err, stderr)
				continue
			}
			check(c.name+" of an empty file", dst, []byte{})
		}
	})
}

// TestDocsS3Tools runs the "S3 tools" block of docs/clients.md as a user
// would paste it, against a `serve` of its own (the only change: its S3
// address for 127.0.0.1:9100), and checks the sha256 of every file it
// downloaded.
func TestDocsS3Tools(t *testing.T) {
	for _, c := range []string{"bash", "aws", "rclone", "s3cmd", "sha256sum", "go"} {
		needClient(t, c)
	}
	doc, err := os.ReadFile(repoPath("docs/clients.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- s3-tools:begin -->\n```sh\n")
	script, _, ok2 := strings.Cut(rest, "```\n<!-- s3-tools:end -->")
	if !ok || !ok2 || !strings.Contains(script, "127.0.0.1:9100") {
		t.Fatal("docs/clients.md has no s3-tools block using 127.0.0.1:9100")
	}
	addr := freeAddr(t)
	cfg := appendConfig(t, writeConfig(t), "s3:\n  listen: "+addr+"\n")
	_, _, cancel, done := startServe(t, cfg)
	defer func() { cancel(); <-done }()
	script = strings.ReplaceAll(script, "127.0.0.1:9100", addr)

	// go run may build the binary from scratch: about a minute.
	ctx, cancelRun := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelRun()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = repoPath("")
	home := t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + t.TempDir(),
		"GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE"),
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "RCLONE_CONFIG=" + filepath.Join(home, "rclone.conf")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the S3 block of docs/clients.md failed: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	shard, err := os.ReadFile(repoPath("testdata/store/frontier-lab/frontier-x/model-00001-of-00002.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	model, _ := os.ReadFile(repoPath("testdata/store/open-lab/tiny-open/model.safetensors"))
	config, _ := os.ReadFile(repoPath("testdata/store/open-lab/tiny-open/config.json"))
	for _, want := range []struct {
		file string
		data []byte
	}{{"shard.safetensors", shard}, {"first100.bin", shard[:100]}, {"tiny-open/model.safetensors", model}, {"config.json", config}} {
		sum := sha256.Sum256(want.data)
		if line := hex.EncodeToString(sum[:]) + "  "; !strings.Contains(out.String(), line) || !strings.Contains(out.String(), want.file+"\n") {
			t.Errorf("output lacks %s for %s:\n%s", line, want.file, out.String())
		}
	}
	if !strings.Contains(out.String(), "model-00001-of-00002.safetensors") {
		t.Errorf("aws s3 ls printed no shard:\n%s", out.String())
	}
}

// goEnv is a value of `go env`, so that the script's go run shares the
// test's build cache.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestConfigS3 reports every bad s3 setting with its field, and starts
// nothing with a credentials key that is too short.
func TestConfigS3(t *testing.T) {
	dir := t.TempDir()
	store, _ := filepath.Abs(repoPath("testdata/store"))
	base := "storage: {backend: dir, dir: {path: " + store + "}}\n"
	for _, tt := range []struct{ name, yaml, field string }{
		{"same address as the Hub API", "listen: 127.0.0.1:8080\ns3: {listen: 127.0.0.1:8080}", "s3.listen"},
		{"bucket with capitals", "s3: {listen: 127.0.0.1:9100, bucket: Models}", "s3.bucket"},
		{"bucket too short", "s3: {listen: 127.0.0.1:9100, bucket: m}", "s3.bucket"},
		{"no region", "s3: {listen: 127.0.0.1:9100, region: \"\"}", "s3.region"},
		{"session too short", "s3: {listen: 127.0.0.1:9100, max_session: 1m}", "s3.max_session"},
		{"session too long", "s3: {listen: 127.0.0.1:9100, max_session: 200h}", "s3.max_session"},
		{"no clock skew", "s3: {listen: 127.0.0.1:9100, clock_skew: 0s}", "s3.clock_skew"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(base+tt.yaml+"\n"), dir)
			if err == nil || !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("error %v, want one naming %s", err, tt.field)
			}
		})
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := appendConfig(t, writeConfig(t), "s3:\n  listen: "+freeAddr(t)+"\n  credentials_key: "+short+"\n")
	if err := runErr(t, "serve", "--config", cfg); err == nil || !strings.Contains(err.Error(), "s3.credentials_key") {
		t.Errorf("serve with a 10-byte credentials key: %v, want a refusal naming s3.credentials_key", err)
	}
}

// awsAssume exchanges a development token of a requester in country for S3
// credentials with the aws CLI (assume-role-with-web-identity), as a user
// of the S3 API does.
func awsAssume(t *testing.T, aws, endpoint, country string) s3Creds {
	t.Helper()
	tok := devToken(t, identity.TokenClaims{Subject: "cli-" + country, Country: country})
	out, stderr, err := runClient(t, nil, aws, "sts", "assume-role-with-web-identity", "--endpoint-url", endpoint,
		"--role-arn", "arn:aws:iam::000000000000:role/weightgate", "--role-session-name", "cli",
		"--web-identity-token", tok, "--duration-seconds", "900", "--output", "json")
	if err != nil {
		t.Fatalf("aws sts assume-role-with-web-identity: %v\n%s", err, stderr)
	}
	var resp struct{ Credentials s3Creds }
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Credentials.SessionToken == "" {
		t.Fatalf("sts answer %q: %v", out, err)
	}
	return resp.Credentials
}
