package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long a child gets to exit after SIGTERM before its
// whole process group is killed.
const stopTimeout = 10 * time.Second

// proc is a child process the benchmark started. Each runs in its own
// process group, so that stopping it also stops what it started (nginx's
// workers), and so that a Ctrl-C at the terminal reaches only the
// orchestrator, which then stops the children in order.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// procs tracks every child so that all of them are stopped on every exit
// path. It also keeps their process-group ids in a file, which bench/run
// reads to kill whatever is left if the orchestrator itself is killed.
type procs struct {
	mu       sync.Mutex
	list     []*proc
	pgidFile string
}

// start runs bin with args, its output appended to logPath, in its own
// process group. env adds to the orchestrator's environment.
func (ps *procs) start(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== %s wgbench: %s %s\n", time.Now().UTC().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Setpgid: own group (see proc). Pdeathsig: the kernel kills the child
	// if the orchestrator dies without cleaning up (SIGKILL, a crash).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.writePgids()
	ps.mu.Unlock()
	slog.Info("started", "proc", name, "pid", cmd.Process.Pid, "log", logPath)
	return p, nil
}

// writePgids records the groups of the children still running. Called with
// ps.mu held.
func (ps *procs) writePgids() {
	if ps.pgidFile == "" {
		return
	}
	var b strings.Builder
	for _, p := range ps.list {
		if !p.exited() {
			fmt.Fprintf(&b, "%d %s\n", p.cmd.Process.Pid, p.name)
		}
	}
	if err := os.WriteFile(ps.pgidFile, []byte(b.String()), 0o644); err != nil {
		slog.Warn("cannot record child process groups", "file", ps.pgidFile, "err", err)
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if the process has
// not exited within stopTimeout. It is idempotent.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		slog.Warn("did not exit after SIGTERM; killing its process group", "proc", p.name, "pid", pgid)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Whatever else is left in the group (an nginx worker whose master
	// went first) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// stop stops one tracked process and forgets it.
func (ps *procs) stop(p *proc) {
	p.stop()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i, q := range ps.list {
		if q == p {
			ps.list = append(ps.list[:i], ps.list[i+1:]...)
			break
		}
	}
	ps.writePgids()
}

// stopAll stops every child, the last started first (the gateways before
// the storage they read from).
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
		slog.Info("stopped", "proc", list[i].name)
	}
	ps.mu.Lock()
	ps.writePgids()
	ps.mu.Unlock()
}

// logTail returns the end of a child's log, for error messages.
func (p *proc) logTail() string { return fileTail(p.logPath, 3000) }

func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// freePort returns a port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the child binds it; starters retry on that.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v); end of %s:\n%s", p.name, p.waitErr, p.logPath, p.logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			name := "server"
			tail := ""
			if p != nil {
				name, tail = p.name, "\nend of "+p.logPath+":\n"+p.logTail()
			}
			return fmt.Errorf("%s not ready at %s after %s: %v%s", name, url, timeout, last, tail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// errAddrInUse tells a starter to pick another port and try again.
var errAddrInUse = errors.New("address already in use")

// startOnFreePort picks a port, starts a server on it with launch, and
// retries with another port when the child could not bind (another process
// took the port between freePort and the child's bind).
func startOnFreePort(ctx context.Context, name string, launch func(port int) (*proc, error)) (*proc, int, error) {
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		p, err := launch(port)
		if err == nil {
			return p, port, nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) || ctx.Err() != nil {
			return nil, 0, err
		}
		slog.Warn("port taken; retrying on another", "proc", name, "port", port)
	}
	return nil, 0, fmt.Errorf("start %s: %w", name, lastErr)
}

// readyOrInUse waits for a child to be ready; when it died complaining that
// its address is in use, it returns errAddrInUse (wrapped) so that the
// caller retries on another port.
func (ps *procs) readyOrInUse(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	err := waitHTTP(ctx, p, url, timeout)
	if err == nil {
		return nil
	}
	ps.stop(p)
	if strings.Contains(p.logTail(), "address already in use") {
		return fmt.Errorf("%s: %w", p.name, errAddrInUse)
	}
	return err
}
