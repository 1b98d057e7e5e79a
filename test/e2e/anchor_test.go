package e2e

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/s3anchor"
	"github.com/weightgate/weightgate/internal/audittest"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
)

var anchorKey = ed25519.NewKeyFromSeed([]byte("weightgate-e2e-anchor-key-seed-0"))

// anchorOn opens the anchor of a private VersityGW with an Object Lock
// bucket, as serve does.
func anchorOn(t testing.TB, cfg s3test.Config) audit.AnchorStore {
	t.Helper()
	return s3anchor.Lazy(s3anchor.Config{URL: "s3://" + cfg.Bucket + "/fleet", Endpoint: cfg.Endpoint, Region: cfg.Region,
		AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Retention: time.Hour, MaxRetries: 1})
}

func anchoredTrail(dir string, a audit.AnchorStore, instance string) audit.Config {
	return audit.Config{Dir: dir, CheckpointKey: anchorKey, CheckpointEvery: 4, CheckpointInterval: time.Hour,
		Anchor: a, Instance: instance, Logger: slog.New(slog.DiscardHandler)}
}

// rechainTrail rewrites every line of the trail in dir after edit, as an
// insider with the checkpoint key would: hashes and prevs recomputed,
// checkpoints re-signed, the head file rewritten.
func rechainTrail(t *testing.T, dir string, edit func(i int, line string) string) {
	t.Helper()
	prev := audit.ZeroHash
	var seq uint64
	var lastFile string
	files, err := audit.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			line = edit(int(seq), line)
			var m struct {
				Time   string          `json:"time"`
				Kind   string          `json:"kind"`
				Record json.RawMessage `json:"record"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			seq++
			rec := m.Record
			if m.Kind == audit.KindCheckpoint {
				rec, _ = json.Marshal(audit.CheckpointRecord{HeadSeq: seq - 1, HeadHash: prev,
					KeyID: audit.KeyID(anchorKey.Public().(ed25519.PublicKey)), Sig: ed25519.Sign(anchorKey, audit.CheckpointMessage(seq-1, prev))})
			}
			body := fmt.Sprintf(`{"seq":%d,"time":%q,"kind":%q,"prev":%q,"record":%s}`, seq, m.Time, m.Kind, prev, rec)
			sum := sha256.Sum256([]byte(body))
			prev = hex.EncodeToString(sum[:])
			out = append(out, body[:len(body)-1]+`,"hash":"`+prev+`"}`)
		}
		if err := os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		lastFile = filepath.Base(p)
	}
	head, _ := json.Marshal(map[string]any{"seq": seq, "hash": prev, "file": lastFile, "time": time.Now().UTC()})
	if err := os.WriteFile(filepath.Join(dir, audit.HeadFileName), head, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestAttackAnchorForgedTrailRefused: a gateway whose checkpoints are
// anchored in an Object Lock bucket (VersityGW) serves downloads; an insider
// then rewrites the trail (a requester renamed, a transfer's bytes zeroed,
// re-chained and re-signed with the host's key). The gateway's start on the
// forged directory is refused, naming the record, and writes nothing: no
// new checkpoint signs the forgery. A second instance anchors to the same
// bucket beside it.
func TestAttackAnchorForgedTrailRefused(t *testing.T) {
	t.Parallel()
	cfg, _ := s3test.StartLocked(t)
	anchor := anchorOn(t, cfg)
	dir := filepath.Join(t.TempDir(), "audit")
	trail, err := audit.Open(anchoredTrail(dir, anchor, "gw-a"))
	if err != nil {
		t.Fatal(err)
	}
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{Audit: trail, AuditDir: dir})
	tok := h.Token(t, gatewaytest.Claims("US"))
	for range 3 {
		resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, tok, nil)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("download: %d", resp.StatusCode)
		}
	}
	// A second gateway, its own chain, the same bucket.
	other, err := audit.Open(anchoredTrail(filepath.Join(t.TempDir(), "audit"), anchor, "gw-b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Append(t.Context(), "decision", map[string]string{"subject": "carol"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := trail.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ins, err := anchor.Instances(t.Context())
	if err != nil || strings.Join(ins, ",") != "gw-a,gw-b" {
		t.Fatalf("instances in the anchor: %v %v", ins, err)
	}
	cps, err := anchor.Checkpoints(t.Context(), "gw-a")
	if err != nil || len(cps) < 2 {
		t.Fatalf("anchored checkpoints of gw-a: %d %v", len(cps), err)
	}

	// The genuine trail restarts.
	again, err := audit.Open(anchoredTrail(dir, anchor, "gw-a"))
	if err != nil {
		t.Fatalf("the genuine trail was refused: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}

	forged := 0
	rechainTrail(t, dir, func(i int, line string) string {
		if forged == 0 && strings.Contains(line, `"type":"transfer"`) {
			forged = i + 1
			line = strings.Replace(line, `"subject":"`, `"subject":"someone-else-`, 1)
			return strings.Replace(line, `"bytes":`, `"bytes":0,"was":`, 1)
		}
		return line
	})
	if forged == 0 {
		t.Fatal("no transfer record to forge")
	}
	before := audittest.Snapshot(t, dir)
	_, err = audit.Open(anchoredTrail(dir, anchor, "gw-a"))
	if !errors.Is(err, audit.ErrAnchorMismatch) {
		t.Fatalf("start on a forged trail: %v, want a refusal", err)
	}
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || ve.Seq < uint64(forged) {
		t.Errorf("refusal %v: want a *VerifyError at or after the forged seq %d", err, forged)
	}
	t.Logf("refused: %v", err)
	if after := audittest.Snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("the refused start wrote to the trail")
	}
}

// TestAttackAnchorDownRequired: with audit.anchor.required, an anchor that
// stops answering makes /readyz fail and every download a 503
// audit_anchor_unavailable without a byte of weights, recorded as such.
func TestAttackAnchorDownRequired(t *testing.T) {
	t.Parallel()
	cfg, stop := s3test.StartLocked(t)
	dir := filepath.Join(t.TempDir(), "audit")
	c := anchoredTrail(dir, anchorOn(t, cfg), "gw-a")
	c.AnchorRequired = true
	c.CheckpointInterval = 100 * time.Millisecond // the idle checkpoint finds the anchor gone
	trail, err := audit.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = trail.Close() })
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{Audit: trail, AuditDir: dir})
	tok := h.Token(t, gatewaytest.Claims("US"))
	if resp, _ := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, tok, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("download with the anchor up: %d", resp.StatusCode)
	}
	stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := h.Do(t, http.MethodGet, "/readyz", "", nil)
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"audit_anchor":"failing"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with the anchor down: %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, body := h.Do(t, http.MethodGet, gatewaytest.Frontier+gatewaytest.Shard1, tok, nil)
	assertRefused(t, h, resp, body, refusal{status: http.StatusServiceUnavailable, code: "audit_anchor_unavailable"})
}
