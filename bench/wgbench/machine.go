package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
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
func machine(ctx context.Context, t *tools, repo, report string) []KV {
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
	add("weightgate", weightgateCommit(ctx, repo, report))
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

// weightgateCommit names the commit measured, and the uncommitted changes
// if any, leaving out the report being written (bench/RESULTS.md is
// committed, and each run rewrites it).
func weightgateCommit(ctx context.Context, repo, report string) string {
	rev := strings.TrimSpace(output(ctx, repo, "git", "rev-parse", "--short", "HEAD"))
	if rev == "" {
		return "unknown (not a git checkout?)"
	}
	branch := strings.TrimSpace(output(ctx, repo, "git", "rev-parse", "--abbrev-ref", "HEAD"))
	// "XY path" lines; the leading space of X is part of the format.
	if st := strings.TrimRight(output(ctx, repo, "git", "status", "--porcelain"), "\n"); st != "" {
		// Say what differs: a README edit does not change what was measured,
		// a change under gateway/ does.
		var paths []string
		for _, l := range strings.Split(st, "\n") {
			if len(l) > 3 {
				if p := strings.TrimSpace(l[3:]); filepath.Join(repo, p) != report {
					paths = append(paths, p)
				}
			}
		}
		if len(paths) == 0 {
			return rev + branchText(branch)
		}
		more := ""
		if len(paths) > 6 {
			paths, more = paths[:6], fmt.Sprintf(", and %d more", len(paths)-6)
		}
		rev += fmt.Sprintf(" dirty (%s%s)", strings.Join(paths, ", "), more)
	}
	return rev + branchText(branch)
}

func branchText(branch string) string {
	if branch == "" || branch == "HEAD" {
		return ""
	}
	return " (branch " + branch + ")"
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

// loadAverage is /proc/loadavg's three averages: other work on the machine
// (a build, another benchmark) takes cores from the sides being compared.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuBusy returns the machine's busy CPU time so far, from /proc/stat
// (user, nice, system, irq, softirq and steal of the "cpu" line).
func cpuBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += v
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// ownCPU is the CPU time of this process and of every child it has waited
// for (and theirs: nginx's workers, reaped by its master), that is, of the
// whole benchmark once its children have been stopped.
func ownCPU() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
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
