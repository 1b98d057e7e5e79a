package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/s3anchor"
	"github.com/weightgate/weightgate/internal/anchortest"
	"github.com/weightgate/weightgate/internal/audittest"
	"github.com/weightgate/weightgate/internal/s3test"
)

// testAnchors are the anchors the audit commands reach in tests, by bucket.
var (
	testAnchors sync.Map
	anchorSeq   atomic.Int64
)

func init() {
	openAnchor = func(s anchorSpec) (audit.AnchorStore, error) {
		if m, ok := testAnchors.Load(s.Bucket); ok {
			return m.(*anchortest.Mem), nil
		}
		return openS3Anchor(s)
	}
}

// testAnchor registers a new in-memory anchor and returns its s3:// URL.
func testAnchor(t *testing.T) (*anchortest.Mem, string) {
	t.Helper()
	bucket := fmt.Sprintf("anchor-%d", anchorSeq.Add(1))
	m := anchortest.NewMem()
	testAnchors.Store(bucket, m)
	t.Cleanup(func() { testAnchors.Delete(bucket) })
	return m, "s3://" + bucket + "/audit"
}

// pubKeyFile writes audittest's checkpoint public key as PEM.
func pubKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cp.pub.pem")
	if err := os.WriteFile(path, pemPublicKey(t, audittest.Pub()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// anchoredCLITrail writes a trail of 12 downloads and anchors it as gw-a.
func anchoredCLITrail(t *testing.T, withKey bool) (dir, anchorURL string, m *anchortest.Mem) {
	t.Helper()
	dir = t.TempDir()
	o := audittest.Options{Downloads: 12}
	if withKey {
		o.Key = audittest.Key
	}
	audittest.Trail(t, dir, o)
	m, anchorURL = testAnchor(t)
	audittest.Anchor(t, m, "gw-a", dir)
	return dir, anchorURL, m
}

// TestAuditVerifyAnchorForgeries: each forgery of an insider who can write
// the audit directory passes `audit verify` (with --key when the trail is
// signed) and fails `audit verify --anchor --strict` with exit status 1,
// naming the first record that differs.
func TestAuditVerifyAnchorForgeries(t *testing.T) {
	t.Parallel()
	for _, f := range audittest.Forgeries() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			dir, anchor, _ := anchoredCLITrail(t, f.Key)
			var key []string
			if f.Key {
				key = []string{"--key", pubKeyFile(t)}
			}
			file, seq := f.Forge(t, dir)
			if f.OldVerifyPasses {
				out, _, code := runMain(t, append(append([]string{"audit", "verify"}, key...), dir)...)
				if code != 0 {
					t.Errorf("audit verify without the anchor: exit %d, want 0 (the finding):\n%s", code, out)
				}
			}
			out, stderr, code := runMain(t, append(append([]string{"audit", "verify", "--anchor", anchor, "--strict"}, key...), dir)...)
			want := fmt.Sprintf("%s:", file)
			if code != 1 || !strings.HasPrefix(out, "FAIL ") || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf(": seq %d: ", seq)) || !strings.Contains(out, f.Reason) {
				t.Errorf("verify --anchor --strict: exit %d, want 1 naming %s seq %d (%q):\n%s%s", code, file, seq, f.Reason, out, stderr)
			}
		})
	}
}

// TestAuditVerifyAnchorStrict: --strict turns what cannot be proven into a
// failure: a trail with neither anchor nor key, a keyless trail whose tail
// was cut (only its sealed files are anchored), an unanchored tail; a clean
// anchored trail passes it.
func TestAuditVerifyAnchorStrict(t *testing.T) {
	t.Parallel()
	dir, anchor, _ := anchoredCLITrail(t, true)
	key := pubKeyFile(t)
	if out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--key", key, "--strict", dir); code != 0 || !strings.Contains(out, "OK anchored as gw-a: 3 sealed files") || strings.Contains(out, "NOTE") {
		t.Errorf("clean trail: exit %d, want 0 with no note:\n%s", code, out)
	}

	keyless, keylessAnchor, _ := anchoredCLITrail(t, false)
	out, _, code := runMain(t, "audit", "verify", "--strict", keyless)
	if code != 1 || !strings.Contains(out, "neither --anchor nor --key") {
		t.Errorf("--strict without anchor or key: exit %d, want 1 saying why:\n%s", code, out)
	}
	// Cut the live file's tail and delete the head file: nothing anchored
	// covers the live file of a keyless trail, so only --strict fails it.
	lines := audittest.Lines(t, keyless)
	liveName := lines[len(lines)-1].File
	var live []string
	for _, l := range lines {
		if l.File == liveName {
			live = append(live, l.Text+"\n")
		}
	}
	if len(live) < 3 {
		t.Fatalf("live file %s has %d lines", liveName, len(live))
	}
	os.WriteFile(filepath.Join(keyless, liveName), []byte(strings.Join(live[:2], "")), 0o600)
	os.Remove(filepath.Join(keyless, audit.HeadFileName))
	if out, _, code := runMain(t, "audit", "verify", "--anchor", keylessAnchor, keyless); code != 0 || !strings.Contains(out, "NOTE ") {
		t.Errorf("keyless cut tail without --strict: exit %d, want 0 with notes:\n%s", code, out)
	}
	out, _, code = runMain(t, "audit", "verify", "--anchor", keylessAnchor, "--strict", keyless)
	for _, want := range []string{"NOTE unanchored tail", "NOTE no head file", "FAIL --strict"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("keyless cut tail --strict: exit %d, want 1 and %q:\n%s", code, want, out)
		}
	}

	// One more record after the newest anchored checkpoint.
	l, err := audit.Open(audit.Config{Dir: dir, CheckpointKey: audittest.Key, CheckpointEvery: 100, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(context.Background(), audit.RecordDecision, audit.Record{Type: audit.RecordDecision, Subject: "carol"})
	// Close would checkpoint (and the gateway anchor it): leave the log as
	// a crash would, its lock released by the test's end.
	defer l.Close()
	out, _, code = runMain(t, "audit", "verify", "--anchor", anchor, "--key", key, "--strict", dir)
	if code != 1 || !strings.Contains(out, "NOTE unanchored tail: 2 records") {
		t.Errorf("unanchored tail --strict: exit %d, want 1:\n%s", code, out)
	}
}

// TestAuditVerifyAnchorObjects: a rewritten anchored checkpoint and a gap
// in the cadence fail verify --anchor with exit status 1.
func TestAuditVerifyAnchorObjects(t *testing.T) {
	t.Parallel()
	key := pubKeyFile(t)
	t.Run("rewritten in the anchor", func(t *testing.T) {
		t.Parallel()
		dir, anchor, m := anchoredCLITrail(t, true)
		cps, _ := m.Checkpoints(context.Background(), "gw-a")
		m.RewriteCheckpoint("gw-a", cps[2].Seq, []byte("{}\n"))
		out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--key", key, dir)
		if code != 1 || !strings.Contains(out, fmt.Sprintf("anchor:gw-a/checkpoints/%020d.jsonl:1: seq %d: rewritten in the anchor: 2 versions", cps[2].Seq, cps[2].Seq)) {
			t.Errorf("exit %d, want 1 naming the rewritten checkpoint:\n%s", code, out)
		}
	})
	t.Run("cadence", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		c := audittest.NewClock()
		audittest.Trail(t, dir, audittest.Options{Key: audittest.Key, Downloads: 12, Clock: c, Between: func(i int) {
			if i == 6 {
				c.Advance(10 * time.Minute)
			}
		}})
		m, anchor := testAnchor(t)
		audittest.Anchor(t, m, "gw-a", dir)
		out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--key", key, dir)
		if code != 1 || !strings.Contains(out, "cadence: anchored checkpoints") {
			t.Errorf("10 min gap, default interval: exit %d, want 1:\n%s", code, out)
		}
		if out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--key", key, "--interval", "15m", dir); code != 0 {
			t.Errorf("10 min gap, --interval 15m: exit %d, want 0:\n%s", code, out)
		}
	})
}

// TestAuditAnchorFleet: two gateways anchor into one bucket; verify with
// no local directory proves both chains from the anchor, and query reads
// both instances' records.
func TestAuditAnchorFleet(t *testing.T) {
	t.Parallel()
	m, anchor := testAnchor(t)
	dirs := map[string]string{}
	for i, inst := range []string{"gw-a", "gw-b"} {
		dirs[inst] = t.TempDir()
		c := audittest.NewClock()
		c.Advance(time.Duration(i) * time.Minute)
		audittest.Trail(t, dirs[inst], audittest.Options{Key: audittest.Key, Downloads: 12, Clock: c})
		audittest.Anchor(t, m, inst, dirs[inst])
	}
	key := pubKeyFile(t)
	out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--key", key, "--strict")
	if code != 0 || !strings.Contains(out, "OK gw-a: 29 records in 3 sealed files, seq 1..29") || !strings.Contains(out, "OK gw-b: 29 records in 3 sealed files, seq 1..29") {
		t.Errorf("fleet verify: exit %d, want both instances OK:\n%s", code, out)
	}
	out, _, code = runMain(t, "audit", "query", "--anchor", anchor, "--subject", "bob", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) < 3 || rows[0][0] != "instance" {
		t.Fatalf("query --anchor: exit %d, %v:\n%s", code, err, out)
	}
	per := map[string]int{}
	for _, r := range rows[1:] {
		per[r[0]]++
		if r[11] != "bob" {
			t.Errorf("row %q is not bob's", r)
		}
	}
	if per["gw-a"] == 0 || per["gw-a"] != per["gw-b"] {
		t.Errorf("rows per instance %v, want both, equally", per)
	}
	out, _, _ = runMain(t, "audit", "query", "--anchor", anchor, "--anchor-instance", "gw-b", "--format", "json")
	if !strings.Contains(out, `{"instance":"gw-b","seq":`) || strings.Contains(out, `"gw-a"`) {
		t.Errorf("query --anchor-instance gw-b --format json:\n%.400s", out)
	}

	// A local trail in a fleet's anchor needs its instance named.
	if _, _, code := runMain(t, "audit", "verify", "--anchor", anchor, dirs["gw-a"]); code != 2 {
		t.Errorf("verify DIR against a two-instance anchor without --anchor-instance: exit %d, want 2", code)
	}
	if out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--anchor-instance", "gw-b", "--key", key, dirs["gw-b"]); code != 0 {
		t.Errorf("verify gw-b: exit %d:\n%s", code, out)
	}
	// gw-a's trail is not gw-b's.
	if out, _, code := runMain(t, "audit", "verify", "--anchor", anchor, "--anchor-instance", "gw-b", "--key", key, dirs["gw-a"]); code != 1 {
		t.Errorf("verify gw-a's trail as gw-b: exit %d, want 1:\n%s", code, out)
	}
}

// TestAuditAnchorUsage: bad anchor flags and an unreachable anchor are exit
// status 2, never a pass.
func TestAuditAnchorUsage(t *testing.T) {
	t.Parallel()
	dir, anchor, m := anchoredCLITrail(t, true)
	for _, args := range [][]string{
		{"audit", "verify", "--anchor", "http://bucket/x", dir},
		{"audit", "verify", "--anchor", "s3:///x", dir},
		{"audit", "verify", "--anchor", anchor, "--anchor-endpoint", "http://h:1/path", dir},
		{"audit", "verify", "--anchor", "s3://no-such-test-anchor/x", dir},
		{"audit", "query", "--anchor", anchor, dir},
		{"audit", "query", "--anchor", "s3://no-such-test-anchor/x"},
	} {
		if out, _, code := runMain(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2:\n%s", args, code, out)
		}
	}
	m.Fail = errors.New("connection refused")
	for _, args := range [][]string{
		{"audit", "verify", "--anchor", anchor, "--anchor-instance", "gw-a", dir},
		{"audit", "verify", "--anchor", anchor},
		{"audit", "query", "--anchor", anchor},
	} {
		if out, _, code := runMain(t, args...); code != 2 || strings.Contains(out, "OK") {
			t.Errorf("unreachable anchor %q: exit %d, want 2:\n%s", args, code, out)
		}
	}
}

func pemPublicKey(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestAuditVerifyAnchorS3: a trail a log anchored in a real Object Lock
// bucket (VersityGW) passes `audit verify --anchor --strict`, by directory
// and for the fleet from the bucket alone; re-chained and re-signed after a
// rename, it fails naming the record.
func TestAuditVerifyAnchorS3(t *testing.T) {
	cfg, stop := s3test.StartLocked(t)
	defer stop()
	url := "s3://" + cfg.Bucket + "/audit"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := s3anchor.New(ctx, s3anchor.Config{URL: url, Endpoint: cfg.Endpoint, Region: cfg.Region,
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := audit.Open(audit.Config{Dir: dir, CheckpointKey: audittest.Key, CheckpointEvery: 5, MaxFileBytes: 4096,
		CheckpointInterval: time.Hour, Anchor: store, Instance: "gw-a", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		rec := audit.Record{Type: audit.RecordDecision, RequestID: fmt.Sprintf("req-%d", i), API: "resolve", Subject: "alice",
			Country: "US", Model: "frontier-lab/frontier-x", Decision: "allow", Status: 200}
		if err := l.Append(ctx, audit.RecordDecision, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := audit.Files(dir); len(files) < 3 {
		t.Fatalf("%d audit files, want at least 3 (sealed files to anchor)", len(files))
	}
	t.Setenv("AWS_ACCESS_KEY_ID", cfg.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", cfg.SecretKey)
	key := pubKeyFile(t)
	anchorArgs := []string{"--anchor", url, "--anchor-endpoint", "http://" + cfg.Endpoint, "--key", key}
	if out, stderr, code := runMain(t, append(append([]string{"audit", "verify", "--strict"}, anchorArgs...), dir)...); code != 0 {
		t.Fatalf("verify --anchor --strict of the genuine trail: exit %d\n%s%s", code, out, stderr)
	}
	if out, stderr, code := runMain(t, append([]string{"audit", "verify", "--strict"}, anchorArgs...)...); code != 0 || !strings.Contains(out, "OK gw-a") {
		t.Fatalf("fleet verify from the anchor: exit %d\n%s%s", code, out, stderr)
	}
	lines := audittest.Lines(t, dir)
	i := slices.IndexFunc(lines, func(l audittest.Line) bool { return l.Kind() == "decision" })
	audittest.Rechain(t, dir, audittest.Key, func(ls []audittest.Line) []audittest.Line {
		r := ls[i].Record()
		r["subject"] = "mallory"
		ls[i] = ls[i].WithRecord(r)
		return ls
	})
	out, stderr, code := runMain(t, append(append([]string{"audit", "verify", "--strict"}, anchorArgs...), dir)...)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("seq %d", lines[i].Seq())) {
		t.Fatalf("verify --anchor of the re-chained trail: exit %d, want 1 naming seq %d\n%s%s", code, lines[i].Seq(), out, stderr)
	}
	if out, _, code := runMain(t, "audit", "verify", "--key", key, dir); code != 0 {
		t.Errorf("plain verify --key of the re-signed forgery: exit %d, want 0 (what the anchor adds)\n%s", code, out)
	}
}
