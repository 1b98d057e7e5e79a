// Command wgbench is the orchestrator and load generator of weightgate's
// side-by-side benchmark: it starts VersityGW, two gateways (S3 and dir
// backends), nginx and OPA's server on 127.0.0.1, measures each case
// against its baseline, and writes the report. bench/run installs and
// builds what it needs and runs it; see docs/performance.md and
// bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick   bool
	runs    int
	out     string
	repo    string
	work    string
	command string    // the command line recorded in the report
	started time.Time // when bench/run started, for the total wall time
	keep    bool
	tools   tools
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		// Progress lines: time of day is enough.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		},
	})))
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wgbench:", err)
		os.Exit(2)
	}
	// SIGINT (Ctrl-C), SIGTERM and SIGHUP end the run; the deferred
	// cleanup in run stops every child.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err = run(ctx, o)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		if interrupted {
			fmt.Fprintln(os.Stderr, "wgbench: interrupted:", err)
		} else {
			fmt.Fprintln(os.Stderr, "wgbench: error:", err)
		}
		os.Exit(1)
	}
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("wgbench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "smaller files and fewer runs: a routine check in under three minutes")
	fs.IntVar(&o.runs, "runs", 0, "runs of each case and side (default 5, quick 3)")
	fs.StringVar(&o.out, "out", "", "report file (default bench/RESULTS.md, quick var/bench/RESULTS-quick.md)")
	fs.StringVar(&o.repo, "repo", ".", "the weightgate repository")
	fs.StringVar(&o.work, "work", "", "private work directory (default var/bench/run-TIMESTAMP)")
	fs.StringVar(&o.command, "command", "", "command line to record in the report (default: this one)")
	started := fs.String("started", "", "Unix time (seconds, fractional) bench/run started, for the total wall time")
	fs.BoolVar(&o.keep, "keep", false, "keep the generated store and audit trails in the work directory")
	fs.StringVar(&o.tools.weightgate, "weightgate", ".tools/bin/weightgate", "weightgate binary")
	fs.StringVar(&o.tools.versitygw, "versitygw", ".tools/bin/versitygw", "versitygw binary")
	fs.StringVar(&o.tools.opa, "opa", ".tools/bin/opa", "opa binary")
	fs.StringVar(&o.tools.nginx, "nginx", "nginx", "nginx binary")
	fs.StringVar(&o.tools.goBin, "go", "go", "go command (runs the policy package's Go benchmark)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.runs < 0 {
		return o, errors.New("--runs must be positive")
	}
	if o.runs == 0 {
		o.runs = 5
		if o.quick {
			o.runs = 3
		}
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return o, err
	}
	o.repo = repo
	if _, err := os.Stat(filepath.Join(repo, "config.example.yaml")); err != nil {
		return o, fmt.Errorf("--repo %s is not the weightgate repository: %w", repo, err)
	}
	if o.command == "" {
		o.command = strings.Join(os.Args, " ")
	}
	if *started != "" {
		f, err := strconv.ParseFloat(*started, 64)
		if err != nil {
			return o, fmt.Errorf("--started: %w", err)
		}
		o.started = time.Unix(0, int64(f*1e9))
	}
	if o.work == "" {
		o.work = filepath.Join(repo, "var", "bench", "run-"+time.Now().Format("20060102-150405"))
	}
	if o.out == "" {
		o.out = filepath.Join(repo, "bench", "RESULTS.md")
		if o.quick {
			o.out = filepath.Join(repo, "var", "bench", "RESULTS-quick.md")
		}
	}
	for _, p := range []*string{&o.work, &o.out, &o.tools.weightgate, &o.tools.versitygw, &o.tools.opa} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(repo, *p)
		}
	}
	return o, nil
}

// params are the sizes and counts of a mode.
type params struct {
	mode               string
	runs               int
	shardSize, bigSize int64
	singleReps         int // downloads of the big file, one after the other, per run
	concurrent         int // downloads at once in the concurrent cases
	headConns          int
	headWarm, headDur  time.Duration
	decisions          int // sequential decisions per run and side
	firstBytes         int // sequential ranged GETs per run and side
	memConns           int
}

func paramsFor(o options) params {
	p := params{mode: "full", runs: o.runs, shardSize: 256 << 20, bigSize: 1 << 30, singleReps: 1, concurrent: shardCount,
		headConns: 64, headWarm: time.Second, headDur: 10 * time.Second, decisions: 10000, firstBytes: 2000, memConns: 64}
	if o.quick {
		// A 256 MiB download takes a fraction of a second: four in a row
		// per run make a figure that is not all noise.
		p.mode, p.shardSize, p.bigSize, p.singleReps = "quick", 64<<20, 256<<20, 4
		p.headWarm, p.headDur, p.decisions, p.firstBytes = 500*time.Millisecond, 3*time.Second, 2000, 300
	}
	return p
}

// run sets everything up, runs every case and writes the report. Whatever
// happens, every process it started is stopped before it returns.
func run(ctx context.Context, o options) (err error) {
	start := time.Now()
	// The machine and the commit as they are when the binaries were built,
	// not as they may be by the end of a long run.
	mach := machine(ctx, &o.tools, o.repo, o.out)
	p := paramsFor(o)
	if err := os.MkdirAll(filepath.Join(o.work, "logs"), 0o755); err != nil {
		return err
	}
	loadBefore := loadAverage()
	busyBefore, busyErr := cpuBusy()
	slog.Info("wgbench", "mode", p.mode, "runs", p.runs, "work", o.work, "loadavg", loadBefore)
	ps := &procs{pgidFile: filepath.Join(o.work, "children")}
	defer ps.stopAll()
	if !o.keep {
		// The generated store is gigabytes; logs and configurations stay.
		defer func() {
			for _, d := range []string{"s3", "s3-sidecar", "gw-s3/audit", "gw-dir/audit", "gw-mem-small/audit", "gw-mem-big/audit"} {
				_ = os.RemoveAll(filepath.Join(o.work, d))
			}
		}()
	}
	b := &bench{p: p, t: &o.tools, work: o.work, repo: o.repo, ps: ps, r: &Report{
		Date: start, Command: o.command, Mode: p.mode, Runs: p.runs,
		Internals: Table{Header: internalsHeader,
			Note: "From the gateways' own Prometheus metrics (/metrics), read before and after each measured run of the weightgate side and summed: what the gateway spent its time on. Means are per request, per evaluation or per audit batch."},
	}}
	if err := b.setup(ctx); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"one large download", b.caseSingle},
		{"concurrent downloads, S3 backend", b.caseConcurrentS3},
		{"concurrent downloads, dir backend", b.caseConcurrentDir},
		{"HEAD rate", b.caseHead},
		{"time to first byte", b.caseFirstByte},
		{"policy decision", b.casePolicy},
		{"memory", b.caseMemory},
		{"Go benchmark", b.caseGoBench},
	} {
		t0 := time.Now()
		slog.Info("case", "name", c.name)
		if err := c.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		slog.Info("case done", "name", c.name, "took", time.Since(t0).Round(time.Millisecond))
	}
	ps.stopAll()

	b.r.Harness = time.Since(start)
	// Other work on the machine during the run takes cores from the sides
	// being compared: say how much there was.
	other := "unknown"
	if busyAfter, err := cpuBusy(); err == nil && busyErr == nil {
		avail := time.Duration(runtime.NumCPU()) * b.r.Harness
		o := max(0, busyAfter-busyBefore-ownCPU())
		other = fmt.Sprintf("%s of CPU time (%.0f%% of the %s the machine's cores had during the harness's run); the benchmark itself used %s",
			roundDur(o), 100*o.Seconds()/avail.Seconds(), roundDur(avail), roundDur(ownCPU()))
	}
	if !o.started.IsZero() {
		b.r.Total = time.Since(o.started)
	}
	b.r.Machine = append(mach,
		KV{"load average (1, 5, 15 min)", fmt.Sprintf("%s before the run, %s after it", loadBefore, loadAverage())},
		KV{"other processes during the run", other})
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(b.r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	total := b.r.Harness
	if b.r.Total > 0 {
		total = b.r.Total
	}
	slog.Info("report written", "file", o.out, "elapsed", roundDur(total))
	return nil
}
