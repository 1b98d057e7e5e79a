package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/gateway"
)

// unitSettings reads a systemd unit's Key=Value lines (the last of a key
// wins, as systemd's do for these keys).
func unitSettings(t *testing.T, b []byte) map[string]string {
	t.Helper()
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q is not Key=Value", line)
		}
		kv[k] = v
	}
	return kv
}

// TestSystemdUnit checks the unit shipped in deploy/systemd against what
// serve does: it runs serve on a config under its configuration directory,
// reloads with SIGHUP, stops with SIGTERM leaving more than
// shutdown_timeout before SIGKILL; and systemd-analyze verify (with the
// built binary in ExecStart's place, as verify checks the executable)
// reports nothing.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(repoPath("deploy/systemd/weightgate.service"))
	if err != nil {
		t.Fatal(err)
	}
	kv := unitSettings(t, unit)
	const binary = "/usr/local/bin/weightgate"
	args := strings.Fields(kv["ExecStart"])
	if len(args) != 4 || args[0] != binary || args[1] != "serve" || args[2] != "--config" ||
		!strings.HasPrefix(args[3], "/etc/"+kv["ConfigurationDirectory"]+"/") {
		t.Errorf("ExecStart=%s: want %s serve --config /etc/%s/FILE", kv["ExecStart"], binary, kv["ConfigurationDirectory"])
	}
	if kv["ExecReload"] != "/bin/kill -HUP $MAINPID" || kv["KillSignal"] != "SIGTERM" {
		t.Errorf("ExecReload=%q KillSignal=%q: serve reloads on SIGHUP and drains on SIGTERM", kv["ExecReload"], kv["KillSignal"])
	}
	stop, err := time.ParseDuration(kv["TimeoutStopSec"])
	if err != nil || stop <= gateway.DefaultShutdownTimeout {
		t.Errorf("TimeoutStopSec=%s: want more than the default shutdown_timeout %s, so that SIGKILL never cuts transfer records",
			kv["TimeoutStopSec"], gateway.DefaultShutdownTimeout)
	}
	if kv["StateDirectory"] == "" || kv["ProtectSystem"] != "strict" || kv["NoNewPrivileges"] != "yes" {
		t.Errorf("want a StateDirectory for the audit trail under ProtectSystem=strict, and NoNewPrivileges")
	}

	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-analyze is needed under CI: %v", err)
		}
		t.Skip("no systemd-analyze on this machine: the unit's syntax is not verified")
	}
	bin := builtBinary(t)
	path := filepath.Join(t.TempDir(), "weightgate.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte(binary), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
