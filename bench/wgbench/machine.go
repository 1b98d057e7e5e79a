package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// tools are the programs the benchmark runs, as bench/run found or built
// them.
type tools struct {
	weightgate, versitygw, opa, nginx, goBin string
}

// machine describes where the figures were taken, for the report.
func machine(ctx context.Context, t *tools, repo string) []KV {
	var kv []KV
	add := func(k, v string) { kv = append(kv, KV{k, v}) }
	add("CPU", cpuModel())
	add("cores", fmt.Sprintf("%d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	add("memory", memTotal())
	add("kernel", kernelRelease())
	add("go", firstLine(output(ctx, "", t.goBin, "version")))
	add("nginx", firstLine(output(ctx, "", t.nginx, "-v")))
	add("versitygw", toolVersion(ctx, t.versitygw, "--version"))
	add("opa", toolVersion(ctx, t.opa, "version"))
	add("weightgate", weightgateCommit(ctx, repo))
	return kv
}

// toolVersion is the tool's own version line and, since a `go install`ed
// binary often reports "git"/"dev", the module version it was built from.
func toolVersion(ctx context.Context, bin, flag string) string {
	v := firstLine(output(ctx, "", bin, flag))
	if bi, err := buildinfo.ReadFile(bin); err == nil && bi.Main.Version != "" {
		v = fmt.Sprintf("%s (module %s %s, %s)", v, bi.Main.Path, bi.Main.Version, bi.GoVersion)
	}
	return v
}

func weightgateCommit(ctx context.Context, repo string) string {
	rev := strings.TrimSpace(output(ctx, repo, "git", "rev-parse", "--short", "HEAD"))
	if rev == "" {
		return "unknown (not a git checkout?)"
	}
	branch := strings.TrimSpace(output(ctx, repo, "git", "rev-parse", "--abbrev-ref", "HEAD"))
	if strings.TrimSpace(output(ctx, repo, "git", "status", "--porcelain")) != "" {
		rev += " dirty"
	}
	if branch != "" && branch != "HEAD" {
		rev += " (branch " + branch + ")"
	}
	return rev
}

// output returns a command's combined output ("" if it cannot run): nginx -v
// writes to stderr.
func output(ctx context.Context, dir, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unavailable: " + err.Error()
	}
	return string(out)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == "MemTotal" {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err == nil {
				return fmt.Sprintf("%.1f GiB (MemTotal %d kB)", float64(kib)/(1<<20), kib)
			}
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}
