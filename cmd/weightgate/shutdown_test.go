package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSIGTERM runs the built binary and sends it SIGTERM while a
// download is in flight: it stops accepting connections at once, lets the
// download finish (every byte), writes its transfer record, and exits 0.
func TestServeSIGTERM(t *testing.T) {
	bin := builtBinary(t)
	dir := t.TempDir()
	const size = 64 << 20
	store := filepath.Join(dir, "store")
	model := filepath.Join(store, "big-lab", "huge")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "export.yaml"), []byte("weights: open\ntraining_compute_flop: 1.0e20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(model, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	audit := filepath.Join(dir, "audit")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("dev: true\nlisten: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nshutdown_timeout: 20s\nlog: {level: info}\nstorage:\n  backend: dir\n  dir: {path: "+store+"}\naudit: {dir: "+audit+"}\nmetrics: {enabled: false}\nrate_limit: {per_second: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	var logs strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		re := regexp.MustCompile(`msg="weightgate listening" url=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not report its address in 20s")
	}

	resp, err := http.Get(url + "/big-lab/huge/resolve/main/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once the listener is closed.
	addr := strings.TrimPrefix(url, "http://")
	refused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("still accepting connections 5s after SIGTERM")
	}
	// The download in flight goes on to its last byte.
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || 1<<20+n != size {
		t.Fatalf("in-flight download after SIGTERM: %d more bytes, %v; want all %d", n, err, size-1<<20)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
	<-logDone
	// The transfer record is on the trail.
	files, _ := filepath.Glob(filepath.Join(audit, "audit-*.jsonl"))
	var trail []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		trail = append(trail, b...)
	}
	complete := false
	for _, line := range strings.Split(string(trail), "\n") {
		if strings.Contains(line, `"outcome":"complete"`) && strings.Contains(line, `"bytes":67108864`) {
			complete = true
		}
	}
	if !complete {
		t.Errorf("no complete transfer record of %d bytes in the trail:\n%s", size, trail)
	}
}
