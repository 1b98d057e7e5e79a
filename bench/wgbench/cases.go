package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// bench is one benchmark run: what it started and what it found.
type bench struct {
	p    params
	t    *tools
	work string
	repo string
	ps   *procs
	r    *Report

	s3           *s3Server
	l            *layout
	gwS3, gwDir  *gateway
	ng           *nginxServer
	token        string
	direct       *minio.Client // presigns for VersityGW itself
	viaProxyOn   *minio.Client // for nginx's proxy, proxy_buffering on
	viaProxyOff  *minio.Client // and off
	proxyChoice  string        // "on" or "off": the faster, the baseline of the proxied cases
	proxyMedians map[string]float64
	// embeddedLatency is the policy case's in-process measurement, shown
	// when the Go benchmark reports no percentiles.
	embeddedLatency Latencies
}

// side is one of the things a case compares: run measures it once.
type side[T any] struct {
	name string
	run  func(context.Context) (T, error)
}

// alternate runs one discarded warm-up of each side, then runs rounds of
// all sides in turn (A B A B ...), so that drift over the run (page cache,
// a background task, thermal state) falls on every side alike. It returns
// each side's figures in run order.
func alternate[T any](ctx context.Context, runs int, show func(T) string, sides ...side[T]) ([][]T, error) {
	for _, s := range sides {
		v, err := s.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("warm-up of %s: %w", s.name, err)
		}
		slog.Info("warm-up (discarded)", "side", s.name, "value", show(v))
	}
	out := make([][]T, len(sides))
	for i := range runs {
		for j, s := range sides {
			v, err := s.run(ctx)
			if err != nil {
				return nil, fmt.Errorf("run %d of %s: %w", i+1, s.name, err)
			}
			slog.Info("run", "n", i+1, "side", s.name, "value", show(v))
			out[j] = append(out[j], v)
		}
	}
	return out, nil
}

// observed wraps a gateway side so that the gateway's own metrics are read
// before and after each run, and the differences of the measured runs (all
// but alternate's warm-up) summed into in: they show where its time went.
func observed[T any](g *gateway, in *internals, run func(context.Context) (T, error)) func(context.Context) (T, error) {
	hc := newClient(1)
	host := strings.TrimPrefix(g.url, "http://")
	calls := 0
	return func(ctx context.Context) (T, error) {
		calls++
		var zero T
		before, err := settledMetrics(ctx, hc, g.admin+"/metrics", 0, nil)
		if err != nil {
			return zero, err
		}
		sent := answeredBy(host)
		v, err := run(ctx)
		if err != nil {
			return v, err
		}
		after, err := settledMetrics(ctx, hc, g.admin+"/metrics", float64(answeredBy(host)-sent), before)
		if err != nil {
			return zero, err
		}
		// The warm-up is waited for too, so that none of it spills into
		// the first measured run, but not counted.
		if calls > 1 {
			in.add(before, after)
		}
		return v, nil
	}
}

// settledMetrics scrapes the gateway's metrics once it has counted want
// more requests than in before. A request is counted when its handler
// returns, which for a download is after its transfer record is on disk:
// after the client has read the last byte, and so after the run ended.
func settledMetrics(ctx context.Context, hc *http.Client, url string, want float64, before map[string]float64) (map[string]float64, error) {
	const key = "weightgate_http_request_duration_seconds_count"
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := scrapeMetrics(ctx, hc, url)
		if err != nil || m[key]-before[key] >= want {
			return m, err
		}
		if time.Now().After(deadline) {
			slog.Warn("the gateway's request count lags behind the responses received; its metrics for this run are incomplete",
				"counted", m[key]-before[key], "answered", want)
			return m, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addInternals puts what the gateway's metrics said during a case in the
// report.
// alternateObserved is alternate with the first side a gateway's, whose own
// metrics are read around each of its runs and reported under label.
func alternateObserved[T any](ctx context.Context, b *bench, g *gateway, label string, show func(T) string, gwSide side[T], others ...side[T]) ([][]T, error) {
	var in internals
	gwSide.run = observed(g, &in, gwSide.run)
	v, err := alternate(ctx, b.p.runs, show, append([]side[T]{gwSide}, others...)...)
	if err != nil {
		return nil, err
	}
	b.addInternals(label, &in)
	return v, nil
}

func (b *bench) addInternals(label string, in *internals) {
	b.r.Internals.Rows = append(b.r.Internals.Rows, in.row(label))
}

func showMBs(v float64) string  { return fmtNum(v) + " MB/s" }
func showRate(v float64) string { return fmtNum(v) + " req/s" }
func showLat(l Latencies) string {
	return fmt.Sprintf("p50 %s µs, p99 %s µs", fmtNum(l.P50), fmtNum(l.P99))
}

// setup starts every long-running process, uploads the store and checks
// that each side serves the same bytes before anything is timed.
func (b *bench) setup(ctx context.Context) error {
	for _, bin := range []string{b.t.weightgate, b.t.versitygw, b.t.opa} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("tool missing: %w (bench/run installs and builds the tools)", err)
		}
	}
	if _, err := exec.LookPath(b.t.nginx); err != nil {
		return fmt.Errorf("nginx missing: %w (bench/run installs Debian's nginx)", err)
	}
	var err error
	if b.s3, err = startVersityGW(ctx, b.ps, b.t.versitygw, b.work); err != nil {
		return err
	}
	if b.l, err = upload(ctx, b.s3, b.repo, b.p.shardSize, b.p.bigSize); err != nil {
		return err
	}
	if err := verifyOnDisk(ctx, b.s3, b.l); err != nil {
		return err
	}
	if b.token, err = mintToken(ctx, b.t, b.repo); err != nil {
		return err
	}
	if b.gwS3, err = startGateway(ctx, b.ps, b.t, b.work, b.repo, b.s3, gatewaySpec{name: "gw-s3", backend: "s3"}); err != nil {
		return err
	}
	if b.gwDir, err = startGateway(ctx, b.ps, b.t, b.work, b.repo, b.s3, gatewaySpec{name: "gw-dir", backend: "dir"}); err != nil {
		return err
	}
	if b.ng, err = startNginx(ctx, b.ps, b.t.nginx, b.work, b.s3); err != nil {
		return err
	}
	if b.direct, err = b.s3.clientFor(b.s3.addr); err != nil {
		return err
	}
	if b.viaProxyOn, err = b.s3.clientFor(b.ng.proxyOn); err != nil {
		return err
	}
	if b.viaProxyOff, err = b.s3.clientFor(b.ng.proxyOff); err != nil {
		return err
	}
	if err := b.checkSides(ctx); err != nil {
		return err
	}

	b.r.Sizes = []KV{
		{"bench model", fmt.Sprintf("`%s`: closed weights, 3.0e26 FLOP, ECCN 4E091; %d shards of %s and `consolidated.safetensors` of %s (ChaCha8 bytes, sha256s declared in export.yaml), plus testdata/store (%d files)",
			benchModel, shardCount, sizeText(b.p.shardSize), sizeText(b.p.bigSize), b.l.TestFiles)},
		{"one large download", b.singleText()},
		{"concurrent downloads", fmt.Sprintf("%d × %s (one shard each)", b.p.concurrent, sizeText(b.p.shardSize))},
		{"HEAD", fmt.Sprintf("%d connections, %s measured after %s warm-up, per run", b.p.headConns, b.p.headDur, b.p.headWarm)},
		{"time to first byte", fmt.Sprintf("%d sequential `Range: bytes=0-1023` GETs per run", b.p.firstBytes)},
		{"policy", fmt.Sprintf("%d sequential decisions per run", b.p.decisions)},
		{"memory", fmt.Sprintf("%d concurrent downloads of one %s file, then of one %s file", b.p.memConns, sizeText(b.p.shardSize), sizeText(b.p.bigSize))},
		{"setup", fmt.Sprintf("upload %s", roundDur(b.l.UploadTime))},
	}
	b.r.Configs = append(b.r.Configs,
		ConfigBlock{"nginx.conf (both proxies and the static server)", "nginx", b.ng.conf},
		ConfigBlock{"weightgate, S3 backend (gw-s3; the memory case's fresh gateways differ only in ports and audit dir)", "yaml", string(b.gwS3.rendered)},
		ConfigBlock{"weightgate, dir backend (gw-dir)", "yaml", string(b.gwDir.rendered)},
		ConfigBlock{"VersityGW", "sh", fmt.Sprintf("ROOT_ACCESS_KEY=<random> ROOT_SECRET_KEY=<random> versitygw --port %s --region %s --health /health --keep-alive --quiet posix %s", b.s3.addr, region, b.s3.root)},
		ConfigBlock{"bench model export.yaml", "yaml", b.exportYAML()},
	)
	return nil
}

func (b *bench) singleText() string {
	if b.p.singleReps == 1 {
		return sizeText(b.p.bigSize) + ", one download per run"
	}
	return fmt.Sprintf("%s, %d downloads one after the other per run", sizeText(b.p.bigSize), b.p.singleReps)
}

func (b *bench) exportYAML() string {
	out, err := b.s3.client.GetObject(context.Background(), bucket, b.l.Export.Key, minio.GetObjectOptions{})
	if err != nil {
		return err.Error()
	}
	defer out.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(out); err != nil {
		return err.Error()
	}
	return buf.String()
}

// Requests of each side.

const wgName, wgDirName = "weightgate (S3 backend)", "weightgate (dir backend)"

func (b *bench) gwReq(g *gateway, method string, f benchFile) request {
	name := wgName
	if g == b.gwDir {
		name = wgDirName
	}
	return request{side: name, method: method, url: g.resolveURL(f),
		header: http.Header{"Authorization": {"Bearer " + b.token}}, status: http.StatusOK, size: f.Size}
}

// presigned is a request to VersityGW, straight or through a proxy,
// presigned for the host it is sent to.
func (b *bench) presigned(ctx context.Context, c *minio.Client, name, method string, f benchFile) (request, error) {
	u, err := c.Presign(ctx, method, bucket, f.Key, 12*time.Hour, nil)
	if err != nil {
		return request{}, fmt.Errorf("presign %s %s: %w", method, f.Key, err)
	}
	return request{side: name, method: method, url: u.String(), status: http.StatusOK, size: f.Size}, nil
}

func (b *bench) static(f benchFile) request {
	return request{side: "nginx static", method: http.MethodGet, url: "http://" + b.ng.files + "/" + f.Key,
		status: http.StatusOK, size: f.Size}
}

func ranged(r request) request {
	r.header = r.header.Clone()
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set("Range", "bytes=0-1023")
	r.status, r.size = http.StatusPartialContent, 1024
	return r
}

// checkSides downloads the same files from every side and compares their
// sha256 with what was uploaded, and checks that the gateways do enforce
// the policy (an anonymous request for closed weights is refused), so that
// what is timed afterwards is the real thing.
func (b *bench) checkSides(ctx context.Context) error {
	hc := newClient(1)
	anon := b.gwReq(b.gwS3, http.MethodGet, b.l.Shards[0])
	anon.header = nil
	anon.status, anon.size = http.StatusUnauthorized, -1
	for _, g := range []*gateway{b.gwS3, b.gwDir} {
		anon.url = g.resolveURL(b.l.Shards[0])
		if _, err := anon.do(ctx, hc, nil, nil); err != nil && !strings.Contains(err.Error(), "Content-Length") {
			return fmt.Errorf("an anonymous request for closed weights was not refused with 401: %w", err)
		}
	}
	for _, f := range []benchFile{b.l.Shards[0], b.l.Config} {
		reqs := []request{b.gwReq(b.gwS3, http.MethodGet, f), b.gwReq(b.gwDir, http.MethodGet, f), b.static(f)}
		for _, c := range []struct {
			client *minio.Client
			name   string
		}{{b.direct, "VersityGW direct"}, {b.viaProxyOn, "nginx proxy (buffering on)"}, {b.viaProxyOff, "nginx proxy (buffering off)"}} {
			r, err := b.presigned(ctx, c.client, c.name, http.MethodGet, f)
			if err != nil {
				return err
			}
			reqs = append(reqs, r)
		}
		for _, r := range reqs {
			sum, err := fetchSHA256(ctx, hc, r)
			if err != nil {
				return fmt.Errorf("first download: %w", err)
			}
			if sum != f.SHA256 {
				return fmt.Errorf("%s served %s with sha256 %s, uploaded %s", r.side, f.Key, sum, f.SHA256)
			}
		}
	}
	slog.Info("every side serves the uploaded bytes; anonymous requests for closed weights are refused")
	return nil
}

// comparison is a case's figures, weightgate against its baseline(s).
type comparison struct {
	title  string // the summary's case column
	raw    string // the raw table's title
	unit   string
	names  []string    // weightgate first, then the baselines
	values [][]float64 // per side, per run
	base   int         // which baseline the ratio is taken against
	tgt    target
}

// add puts the comparison in the report and returns its ratio of medians.
func (b *bench) add(c comparison) float64 {
	wg, base := Summarize(c.values[0]), Summarize(c.values[c.base])
	ratio := Ratio(wg.Median, base.Median)
	b.r.Summary = append(b.r.Summary, SummaryRow{
		Case: c.title, WG: fmtSummary(wg, c.unit), Baseline: fmtSummary(base, c.unit),
		Ratio: fmtRatio(ratio), Target: c.tgt.String(), Met: c.tgt.met(ratio),
	})
	t := Table{Title: c.raw, Header: []string{"run"}}
	for _, n := range c.names {
		t.Header = append(t.Header, n+" ("+c.unit+")")
	}
	for i := range c.values[0] {
		row := []string{fmt.Sprint(i + 1)}
		for _, v := range c.values {
			row = append(row, fmtNum(v[i]))
		}
		t.Rows = append(t.Rows, row)
	}
	row := []string{"median"}
	for _, v := range c.values {
		row = append(row, fmtNum(Median(v)))
	}
	t.Rows = append(t.Rows, row)
	b.r.Raw = append(b.r.Raw, t)
	return ratio
}

// caseSingle: one large closed-weight download, through the S3-backed
// gateway against straight from VersityGW.
func (b *bench) caseSingle(ctx context.Context) error {
	hc := newClient(1)
	gw := b.gwReq(b.gwS3, http.MethodGet, b.l.Big)
	direct, err := b.presigned(ctx, b.direct, "VersityGW direct", http.MethodGet, b.l.Big)
	if err != nil {
		return err
	}
	// nginx relaying the same download: not the baseline, a reference for
	// what any proxy that adds a hop costs on this machine.
	ref, err := b.presigned(ctx, b.viaProxyOff, "nginx proxy, proxy_buffering off (reference)", http.MethodGet, b.l.Big)
	if err != nil {
		return err
	}
	reps := ""
	if b.p.singleReps > 1 {
		reps = fmt.Sprintf(" (%d in a row per run)", b.p.singleReps)
	}
	seq := func(r request) side[float64] {
		return side[float64]{r.side, func(ctx context.Context) (float64, error) {
			return sequentialThroughput(ctx, hc, r, b.p.singleReps)
		}}
	}
	v, err := alternateObserved(ctx, b, b.gwS3, fmt.Sprintf("one %s download%s", sizeText(b.l.Big.Size), reps), showMBs,
		seq(gw), seq(direct), seq(ref))
	if err != nil {
		return err
	}
	b.add(comparison{
		title: fmt.Sprintf("one %s closed-weight download%s, MB/s: weightgate (S3) ÷ direct from VersityGW", sizeText(b.l.Big.Size), reps),
		raw:   fmt.Sprintf("One %s download%s (MB/s)", sizeText(b.l.Big.Size), reps),
		unit:  "MB/s", names: []string{gw.side, direct.side, ref.side}, values: v, base: 1, tgt: target{value: 0.85},
	})
	b.r.Notes = append(b.r.Notes, fmt.Sprintf(
		"One large download: for reference, nginx relaying the same download (proxy_buffering off) reached a median %s MB/s, %s of direct: the cost of any extra hop on this machine, where the proxy, VersityGW and the client share the cores.",
		fmtNum(Median(v[2])), fmtRatio(Ratio(Median(v[2]), Median(v[1])))))
	return nil
}

// caseConcurrentS3: every shard at once, through the gateway against nginx
// proxying to the same VersityGW, with proxy_buffering on and off; the
// faster nginx is the baseline.
func (b *bench) caseConcurrentS3(ctx context.Context) error {
	hc := newClient(b.p.concurrent)
	var gw, on, off []request
	for _, f := range b.l.Shards[:b.p.concurrent] {
		gw = append(gw, b.gwReq(b.gwS3, http.MethodGet, f))
		r, err := b.presigned(ctx, b.viaProxyOn, "nginx proxy, proxy_buffering on", http.MethodGet, f)
		if err != nil {
			return err
		}
		on = append(on, r)
		if r, err = b.presigned(ctx, b.viaProxyOff, "nginx proxy, proxy_buffering off", http.MethodGet, f); err != nil {
			return err
		}
		off = append(off, r)
	}
	run := func(reqs []request) side[float64] {
		return side[float64]{reqs[0].side, func(ctx context.Context) (float64, error) { return throughput(ctx, hc, reqs) }}
	}
	v, err := alternateObserved(ctx, b, b.gwS3, fmt.Sprintf("%d concurrent downloads, S3 backend", b.p.concurrent), showMBs, run(gw), run(on), run(off))
	if err != nil {
		return err
	}
	b.proxyMedians = map[string]float64{"on": Median(v[1]), "off": Median(v[2])}
	base := 1
	b.proxyChoice = "on"
	if b.proxyMedians["off"] > b.proxyMedians["on"] {
		base, b.proxyChoice = 2, "off"
	}
	b.add(comparison{
		title: fmt.Sprintf("%d concurrent %s downloads, aggregate MB/s: weightgate (S3) ÷ nginx proxy to the same VersityGW (proxy_buffering %s, the faster)",
			b.p.concurrent, sizeText(b.p.shardSize), b.proxyChoice),
		raw:  fmt.Sprintf("%d concurrent %s downloads, S3 backend (aggregate MB/s)", b.p.concurrent, sizeText(b.p.shardSize)),
		unit: "MB/s", names: []string{gw[0].side, on[0].side, off[0].side}, values: v, base: base, tgt: target{value: 1.0},
	})
	b.r.Notes = append(b.r.Notes, fmt.Sprintf(
		"nginx proxy baseline: proxy_buffering on gave a median %s MB/s and off %s MB/s for %d concurrent downloads; the faster (%s) is the baseline of that case and of the HEAD case (a HEAD has no body to buffer). Both use 256 KiB proxy buffers and upstream keep-alive (nginx.conf below).",
		fmtNum(b.proxyMedians["on"]), fmtNum(b.proxyMedians["off"]), b.p.concurrent, b.proxyChoice))
	return nil
}

// caseConcurrentDir: the same from the dir backend against nginx serving the
// files it reads as static files (sendfile).
func (b *bench) caseConcurrentDir(ctx context.Context) error {
	hc := newClient(b.p.concurrent)
	var gw, st []request
	for _, f := range b.l.Shards[:b.p.concurrent] {
		gw = append(gw, b.gwReq(b.gwDir, http.MethodGet, f))
		st = append(st, b.static(f))
	}
	run := func(reqs []request) side[float64] {
		return side[float64]{reqs[0].side, func(ctx context.Context) (float64, error) { return throughput(ctx, hc, reqs) }}
	}
	v, err := alternateObserved(ctx, b, b.gwDir, fmt.Sprintf("%d concurrent downloads, dir backend", b.p.concurrent), showMBs, run(gw), run(st))
	if err != nil {
		return err
	}
	b.add(comparison{
		title: fmt.Sprintf("dir backend, %d concurrent %s downloads, aggregate MB/s: weightgate (dir) ÷ nginx static files (sendfile)", b.p.concurrent, sizeText(b.p.shardSize)),
		raw:   fmt.Sprintf("%d concurrent %s downloads, dir backend (aggregate MB/s)", b.p.concurrent, sizeText(b.p.shardSize)),
		unit:  "MB/s", names: []string{gw[0].side, st[0].side}, values: v, base: 1, tgt: target{value: 0.9},
	})
	return nil
}

// caseHead: HEAD of one shard from many connections, back to back.
func (b *bench) caseHead(ctx context.Context) error {
	hc := newClient(b.p.headConns)
	gw := b.gwReq(b.gwS3, http.MethodHead, b.l.Shards[0])
	proxy := b.viaProxyOn
	if b.proxyChoice == "off" {
		proxy = b.viaProxyOff
	}
	ng, err := b.presigned(ctx, proxy, "nginx proxy, proxy_buffering "+b.proxyChoice, http.MethodHead, b.l.Shards[0])
	if err != nil {
		return err
	}
	run := func(r request) side[float64] {
		return side[float64]{r.side, func(ctx context.Context) (float64, error) {
			return requestRate(ctx, hc, r, b.p.headConns, b.p.headWarm, b.p.headDur)
		}}
	}
	v, err := alternateObserved(ctx, b, b.gwS3, fmt.Sprintf("HEAD, %d connections (warm-up phases included)", b.p.headConns), showRate, run(gw), run(ng))
	if err != nil {
		return err
	}
	b.add(comparison{
		title: fmt.Sprintf("HEAD of a shard, %d connections, requests/s: weightgate (S3) ÷ nginx proxy", b.p.headConns),
		raw:   fmt.Sprintf("HEAD of a shard, %d connections (requests/s)", b.p.headConns),
		unit:  "req/s", names: []string{gw.side, ng.side}, values: v, base: 1, tgt: target{value: 0.8},
	})
	return nil
}

// latencyTable is the raw table of a latency comparison.
func latencyTable(title, unit string, names []string, v [][]Latencies) Table {
	t := Table{Title: title, Header: []string{"run"}}
	for _, n := range names {
		t.Header = append(t.Header, n+" p50 ("+unit+")", n+" p99 ("+unit+")")
	}
	for i := range v[0] {
		row := []string{fmt.Sprint(i + 1)}
		for _, s := range v {
			row = append(row, fmtNum(s[i].P50), fmtNum(s[i].P99))
		}
		t.Rows = append(t.Rows, row)
	}
	row := []string{"median"}
	for _, s := range v {
		row = append(row, fmtNum(Median(p50s(s))), fmtNum(Median(p99s(s))))
	}
	t.Rows = append(t.Rows, row)
	return t
}

func p50s(ls []Latencies) []float64 {
	out := make([]float64, len(ls))
	for i, l := range ls {
		out[i] = l.P50
	}
	return out
}

func p99s(ls []Latencies) []float64 {
	out := make([]float64, len(ls))
	for i, l := range ls {
		out[i] = l.P99
	}
	return out
}

// caseFirstByte: the time to first byte the gateway adds, with a warm
// metadata cache (the warm-up run fills it; its TTL is far longer than a
// run).
func (b *bench) caseFirstByte(ctx context.Context) error {
	hc := newClient(1)
	gw := ranged(b.gwReq(b.gwS3, http.MethodGet, b.l.Shards[0]))
	d, err := b.presigned(ctx, b.direct, "VersityGW direct", http.MethodGet, b.l.Shards[0])
	if err != nil {
		return err
	}
	direct := ranged(d)
	run := func(r request) side[Latencies] {
		return side[Latencies]{r.side, func(ctx context.Context) (Latencies, error) {
			s, err := firstByteTimes(ctx, hc, r, b.p.firstBytes)
			return SummarizeLatencies(s), err
		}}
	}
	v, err := alternateObserved(ctx, b, b.gwS3, "time to first byte (sequential ranged GETs)", showLat, run(gw), run(direct))
	if err != nil {
		return err
	}
	gwP50, dP50 := Median(p50s(v[0])), Median(p50s(v[1]))
	added := (gwP50 - dP50) / 1000 // ms
	tgt := target{value: 1, atMost: true}
	b.r.Absolute = append(b.r.Absolute, AbsoluteRow{
		Figure: "time to first byte added by the gateway, p50 (warm metadata cache)",
		Value: fmt.Sprintf("%s ms (weightgate %s ms, direct %s ms; p99 %s vs %s ms)", fmtNum(added), fmtNum(gwP50/1000), fmtNum(dP50/1000),
			fmtNum(Median(p99s(v[0]))/1000), fmtNum(Median(p99s(v[1]))/1000)),
		Target: "≤ 1 ms", Met: tgt.met(added),
		Source: fmt.Sprintf("%d sequential `Range: bytes=0-1023` GETs per run, S3 backend vs presigned; medians of %d runs", b.p.firstBytes, b.p.runs),
	})
	b.r.Raw = append(b.r.Raw, latencyTable("Time to first byte, Range: bytes=0-1023 (µs)", "µs", []string{gw.side, direct.side}, v))
	return nil
}

// casePolicy: the embedded prepared query against OPA's server over HTTP,
// after checking that both decide alike.
func (b *bench) casePolicy(ctx context.Context) error {
	pb, opaProc, err := startPolicyBench(ctx, b.ps, b.t, b.work, b.repo)
	if err != nil {
		return err
	}
	defer b.ps.stop(opaProc)
	inputs := policyInputs(time.Now())
	agree, err := pb.checkAgreement(ctx, inputs)
	if err != nil {
		return err
	}
	in := inputs["allow"]
	want, err := pb.engine.Decide(ctx, in)
	if err != nil {
		return err
	}
	v, err := alternate(ctx, b.p.runs, showLat,
		side[Latencies]{"embedded (Engine.Decide)", func(ctx context.Context) (Latencies, error) {
			s, err := pb.embeddedLatencies(ctx, in, want.Code, b.p.decisions)
			return SummarizeLatencies(s), err
		}},
		side[Latencies]{"OPA server over HTTP", func(ctx context.Context) (Latencies, error) {
			s, err := pb.opaLatencies(ctx, in, want.Code, b.p.decisions)
			return SummarizeLatencies(s), err
		}},
	)
	if err != nil {
		return err
	}
	emb, opa := Summarize(p50s(v[0])), Summarize(p50s(v[1]))
	r50 := Ratio(emb.Median, opa.Median)
	r99 := Ratio(Median(p99s(v[0])), Median(p99s(v[1])))
	tgt := target{value: 0.1, atMost: true}
	b.r.Summary = append(b.r.Summary, SummaryRow{
		Case:     fmt.Sprintf("policy decision latency p50, µs: embedded prepared query ÷ OPA server over HTTP (%s input)", want.Code),
		WG:       fmtSummary(emb, "µs"),
		Baseline: fmtSummary(opa, "µs"),
		Ratio:    fmt.Sprintf("%s (p99: %s)", fmtRatio(r50), fmtRatio(r99)),
		Target:   tgt.String(), Met: tgt.met(r50),
	})
	t := latencyTable("Policy decision latency (µs)", "µs", []string{"embedded", "OPA server"}, v)
	t.Note = fmt.Sprintf("%d sequential decisions per run and side, of the allow input (%s). OPA's server (`opa run --server`, the module's version) loads the regime `Engine.Export` wrote; before timing, both were asked for: %s. The HTTP side's time includes marshalling the input and decoding the answer.",
		b.p.decisions, want.Code, strings.Join(agree, "; "))
	b.r.Raw = append(b.r.Raw, t)
	b.embeddedLatency = Latencies{P50: emb.Median, P99: Median(p99s(v[0]))}
	return nil
}

// caseMemory: the resident memory of a fresh S3-backed gateway while
// memConns clients download one file at once, for a shard and for the big
// file: bounded, and flat in the file size.
func (b *bench) caseMemory(ctx context.Context) error {
	type result struct {
		file                       benchFile
		idleRSS, idleHWM, hwm, rss int64 // KiB
		sampled                    int64 // KiB, largest VmRSS sample
		samples                    int
		peak                       int64 // KiB, the peak during the downloads
		mbs                        float64
	}
	var res []result
	for _, m := range []struct {
		name string
		f    benchFile
	}{{"gw-mem-small", b.l.Shards[0]}, {"gw-mem-big", b.l.Big}} {
		g, err := startGateway(ctx, b.ps, b.t, b.work, b.repo, b.s3, gatewaySpec{name: m.name, backend: "s3"})
		if err != nil {
			return err
		}
		pid := g.proc.pid()
		time.Sleep(500 * time.Millisecond) // let start-up garbage settle
		idle, err := procStatusKiB(pid, "VmRSS", "VmHWM")
		if err != nil {
			return err
		}
		hc := newClient(b.p.memConns)
		reqs := make([]request, b.p.memConns)
		for i := range reqs {
			reqs[i] = b.gwReq(g, http.MethodGet, m.f)
		}
		sampler := sampleRSS(pid, 20*time.Millisecond)
		mbs, err := throughput(ctx, hc, reqs)
		sampled, n, serr := sampler.stop()
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("sampling %s's memory: %w", m.name, serr)
		}
		end, err := procStatusKiB(pid, "VmRSS", "VmHWM")
		if err != nil {
			return err
		}
		b.ps.stop(g.proc)
		r := result{file: m.f, idleRSS: idle["VmRSS"], idleHWM: idle["VmHWM"], hwm: end["VmHWM"], rss: end["VmRSS"],
			sampled: sampled, samples: n, mbs: mbs}
		// VmHWM is the process's lifetime peak, start-up included. If it
		// rose during the downloads, it is their exact peak; if not, the
		// downloads stayed below the start-up peak and the samples are the
		// best measure of theirs.
		r.peak = r.sampled
		if r.hwm > r.idleHWM {
			r.peak = max(r.hwm, r.sampled)
		}
		slog.Info("memory", "file", sizeText(m.f.Size), "idle_rss", kibText(r.idleRSS), "peak", kibText(r.peak),
			"vmhwm", kibText(r.hwm), "samples", n, "MB/s", fmtNum(mbs))
		res = append(res, r)
	}
	small, big := res[0], res[1]
	const limit = 128 << 10 // KiB
	flat := float64(big.peak) / float64(small.peak)
	met := "yes"
	if big.peak > limit || small.peak > limit || flat > 1.25 {
		met = "**no**"
	}
	b.r.Summary = append(b.r.Summary, SummaryRow{
		Case:     fmt.Sprintf("memory: peak RSS of a fresh S3-backed gateway during %d concurrent downloads of one file (weightgate column: the %s file; baseline column: the same gateway with the %s file)", b.p.memConns, sizeText(big.file.Size), sizeText(small.file.Size)),
		WG:       kibText(big.peak) + " at " + sizeText(big.file.Size),
		Baseline: kibText(small.peak) + " at " + sizeText(small.file.Size),
		Ratio:    fmtRatio(flat),
		Target:   "≤ 128 MiB, flat in file size (ratio ≤ 1.25)",
		Met:      met,
	})
	t := Table{Title: fmt.Sprintf("Memory, %d concurrent downloads of one file (fresh gateway for each size)", b.p.memConns),
		Note:   "Peak: VmHWM at the end when it rose during the downloads (it also covers start-up), else the largest VmRSS sample (every 20 ms).",
		Header: []string{"file", "idle VmRSS", "peak during downloads", "largest sample", "samples", "VmHWM at end", "VmRSS at end", "aggregate MB/s"}}
	for _, r := range res {
		t.Rows = append(t.Rows, []string{sizeText(r.file.Size), kibText(r.idleRSS), kibText(r.peak), kibText(r.sampled),
			fmt.Sprint(r.samples), kibText(r.hwm), kibText(r.rss), fmtNum(r.mbs)})
	}
	b.r.Raw = append(b.r.Raw, t)
	return nil
}

func kibText(kib int64) string { return fmtNum(float64(kib)/1024) + " MiB" }

// caseGoBench runs the policy package's decision benchmark and reports
// every metric it prints (ns/op, B/op, allocs/op and any custom metric,
// such as p50-ns and p99-ns).
func (b *bench) caseGoBench(ctx context.Context) error {
	args := []string{"test", "-run", "^$", "-bench", "BenchmarkDecide", "-benchmem", "-count", "1", "./policy/opa/"}
	b.r.GoBenchCommand = "go test -run '^$' -bench 'BenchmarkDecide' -benchmem -count 1 ./policy/opa/"
	logPath := filepath.Join(b.work, "logs", "go-bench.txt")
	// Through procs, like every child: stopped on Ctrl-C with the rest.
	// -C runs it from the repository, as the command line above reads.
	p, err := b.ps.start("go test (BenchmarkDecide)", logPath, nil, b.t.goBin, append([]string{"-C", b.repo}, args...)...)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		b.ps.stop(p)
		return ctx.Err()
	}
	b.ps.stop(p)
	if p.waitErr != nil {
		return fmt.Errorf("%s: %v\n%s", b.r.GoBenchCommand, p.waitErr, p.logTail())
	}
	out, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	results, err := ParseGoBench(bytes.NewReader(out))
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("%s printed no benchmark results:\n%s", b.r.GoBenchCommand, out)
	}
	b.r.GoBench = results
	p99Target := target{value: 100, atMost: true}
	percentiles := false
	for _, g := range results {
		p50, ok50 := g.Metric("p50-ns")
		p99, ok99 := g.Metric("p99-ns")
		if ok50 && ok99 {
			percentiles = true
			b.r.Absolute = append(b.r.Absolute, AbsoluteRow{
				Figure: "decision latency p50 / p99, " + g.Name,
				Value:  fmt.Sprintf("%s / %s µs", fmtNum(p50/1000), fmtNum(p99/1000)),
				Target: "p99 ≤ 100 µs", Met: p99Target.met(p99 / 1000), Source: "Go benchmark",
			})
		}
	}
	if !percentiles {
		l := b.embeddedLatency
		b.r.Absolute = append(b.r.Absolute, AbsoluteRow{
			Figure: "decision latency p50 / p99, Engine.Decide (allow input)",
			Value:  fmt.Sprintf("%s / %s µs", fmtNum(l.P50), fmtNum(l.P99)),
			Target: "p99 ≤ 100 µs", Met: p99Target.met(l.P99),
			Source: "the policy case's in-process timings (medians over runs): BenchmarkDecide reports no p50-ns/p99-ns",
		})
		for _, g := range results {
			if ns, ok := g.Metric("ns/op"); ok {
				b.r.Absolute = append(b.r.Absolute, AbsoluteRow{
					Figure: "decision time, mean, " + g.Name, Value: fmtNum(ns/1000) + " µs/op",
					Target: "–", Met: "–", Source: "Go benchmark",
				})
			}
		}
	}
	for _, g := range results {
		allocs, okA := g.Metric("allocs/op")
		bytesOp, okB := g.Metric("B/op")
		if okA && okB {
			b.r.Absolute = append(b.r.Absolute, AbsoluteRow{
				Figure: "allocations per decision, " + g.Name,
				Value:  fmt.Sprintf("%s allocs, %s B", fmtNum(allocs), fmtNum(bytesOp)),
				Target: "–", Met: "–", Source: "Go benchmark",
			})
		}
	}
	return nil
}
