package main

import (
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestOverrideListen(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	file := func() Config {
		c := DefaultConfig()
		c.Listen, c.S3.Listen, c.Admin.Listen = "127.0.0.1:8080", "127.0.0.1:9100", "127.0.0.1:9090"
		c.Storage.Dir.Path = repoPath("testdata/store")
		return c
	}
	for _, tc := range []struct {
		name              string
		env, flags        listenOverrides
		listen, s3, admin string
		err               string // substrings of the error, "" for none
	}{
		{name: "none", listen: "127.0.0.1:8080", s3: "127.0.0.1:9100", admin: "127.0.0.1:9090"},
		{name: "env over file", env: listenOverrides{listen: str("127.0.0.1:1"), admin: str("127.0.0.1:2")},
			listen: "127.0.0.1:1", s3: "127.0.0.1:9100", admin: "127.0.0.1:2"},
		{name: "flag over env", env: listenOverrides{listen: str("127.0.0.1:1"), s3: str("127.0.0.1:3")},
			flags:  listenOverrides{listen: str("127.0.0.1:4")},
			listen: "127.0.0.1:4", s3: "127.0.0.1:3", admin: "127.0.0.1:9090"},
		{name: "empty turns a listener off", env: listenOverrides{s3: str("")}, flags: listenOverrides{admin: str("")},
			listen: "127.0.0.1:8080"},
		{name: "flag on, env off", env: listenOverrides{admin: str("")}, flags: listenOverrides{admin: str("127.0.0.1:5")},
			listen: "127.0.0.1:8080", s3: "127.0.0.1:9100", admin: "127.0.0.1:5"},
		{name: "hub cannot be off", flags: listenOverrides{listen: str("")}, err: "with --listen"},
		{name: "not host:port", env: listenOverrides{listen: str("8080")},
			err: "with $WEIGHTGATE_LISTEN"},
		{name: "clash after override", flags: listenOverrides{s3: str("127.0.0.1:8080")}, err: "s3.listen"},
		{name: "bad admin", env: listenOverrides{admin: str("nowhere")}, err: "admin.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := file()
			err := c.overrideListen(tc.env, tc.flags)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.listen || c.S3.Listen != tc.s3 || c.Admin.Listen != tc.admin {
				t.Errorf("listen %q, s3 %q, admin %q; want %q, %q, %q", c.Listen, c.S3.Listen, c.Admin.Listen, tc.listen, tc.s3, tc.admin)
			}
		})
	}
}

func TestEnvListenOverrides(t *testing.T) {
	t.Parallel()
	env := map[string]string{envListen: "127.0.0.1:1", envS3Listen: "", "WEIGHTGATE_OTHER": "x"}
	o := envListenOverrides(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if o.listen == nil || *o.listen != "127.0.0.1:1" || o.s3 == nil || *o.s3 != "" || o.admin != nil {
		t.Fatalf("overrides %+v; want listen set, s3 set empty, admin unset", o)
	}
}

// TestServeListenOverrides runs serve on a configuration whose addresses
// are all taken, moved by the environment and the flags without editing the
// file: the flag wins over the environment, an empty value turns a listener
// off, and a bad override stops serve naming where it came from.
func TestServeListenOverrides(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	cfg := writeConfig(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nlog: {level: warn}",
		"listen: "+taken+"\nadmin: {listen: "+taken+"1}\nlog: {level: info}\ns3: {listen: \"\", bucket: models, region: us-east-1}", 1)
	if text == string(b) {
		t.Fatal("writeConfig's listen lines changed; update this test")
	}
	// The admin address in the file is not even one serve could use; the
	// overrides replace it before anything listens.
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envListen, "127.0.0.1:0")
	t.Setenv(envS3Listen, "127.0.0.1:0")
	t.Setenv(envAdminListen, taken)
	url, admin, logs, cancel, done := startServeArgs(t, "serve", "--config", cfg, "--admin-listen", "")
	defer cancel()
	if url == "http://"+taken || admin != "" {
		t.Fatalf("hub %s, admin %q: want the Hub on a free port and no admin listener", url, admin)
	}
	var s3url string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="S3 API listening"`) {
			_, s3url, _ = strings.Cut(line, "url=")
			s3url, _, _ = strings.Cut(s3url, " ")
		}
	}
	if s3url == "" {
		t.Fatalf("no S3 API listening although %s is set:\n%s", envS3Listen, logs.String())
	}
	for _, u := range []string{url, s3url} {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s/healthz: %d", u, resp.StatusCode)
		}
	}
	stopServe(t, cancel, done)

	t.Setenv(envAdminListen, "")
	_, stderr, code := runMain(t, "serve", "--config", cfg, "--listen", "no-port")
	if code != 2 || !strings.Contains(stderr, "with $WEIGHTGATE_LISTEN, $WEIGHTGATE_S3_LISTEN, $WEIGHTGATE_ADMIN_LISTEN, --listen") ||
		!strings.Contains(stderr, `(got "no-port")`) {
		t.Errorf("serve --listen no-port: exit %d\n%s", code, stderr)
	}
}
