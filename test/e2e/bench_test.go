package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/s3test"
)

// BenchmarkDownload compares a 64 MiB download straight from VersityGW
// (minio-go, the baseline) with the same download through the gateway's S3
// backend (token check, metadata, policy, stat, audit fsync, ranged GET), side
// by side against one private server. bench/download.sh runs it.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	cfg, _ := s3test.Start(b, bigModel(b, size), "models/")
	client, err := cfg.Client(1)
	if err != nil {
		b.Fatal(err)
	}
	h := gatewaytest.Start(b, gatewaytest.S3Store(b, cfg), gatewaytest.Options{})
	ctx := context.Background()

	// Both sides copy through a 256 KiB buffer, as the gateway does, into a
	// sink that hides io.Discard's ReadFrom (which would read 8 KiB at a time).
	buf := make([]byte, 256<<10)
	sink := struct{ io.Writer }{io.Discard}
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			obj, err := client.GetObject(ctx, cfg.Bucket, cfg.Prefix+"big-lab/huge/model.safetensors", minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.CopyBuffer(sink, obj, buf); err != nil || n != size {
				b.Fatalf("%d bytes: %v", n, err)
			}
			obj.Close()
		}
	})
	b.Run("gateway", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			resp, err := http.Get(h.URL + "/big-lab/huge/resolve/main/model.safetensors")
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.CopyBuffer(sink, resp.Body, buf); err != nil || n != size || resp.StatusCode != 200 {
				b.Fatalf("%d: %d bytes: %v", resp.StatusCode, n, err)
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkDecision compares the per-request cost of a download decision:
// a HEAD through the gateway (token verification, cached metadata, stat,
// policy evaluation, one fsynced audit record) against a bare StatObject on
// the same server, the least any gateway must do.
func BenchmarkDecision(b *testing.B) {
	cfg, _ := s3test.Start(b, s3test.StoreDir(b), "models/")
	client, err := cfg.Client(1)
	if err != nil {
		b.Fatal(err)
	}
	h := gatewaytest.Start(b, gatewaytest.S3Store(b, cfg), gatewaytest.Options{})
	tok := h.Token(b, gatewaytest.Claims("US"))
	ctx := context.Background()
	key := "frontier-lab/frontier-x/model-00001-of-00002.safetensors"

	b.Run("direct-stat", func(b *testing.B) {
		for b.Loop() {
			if _, err := client.StatObject(ctx, cfg.Bucket, cfg.Prefix+key, minio.StatObjectOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gateway-head", func(b *testing.B) {
		req, _ := http.NewRequest(http.MethodHead, h.URL+"/"+key[:len("frontier-lab/frontier-x")]+"/resolve/main/"+key[len("frontier-lab/frontier-x/"):], nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for b.Loop() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%v %v", resp, err)
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkAuditedDecisions measures sustained audited decisions per second:
// concurrent requesters send HEAD requests for a closed model's shard (token
// verification, cached metadata, stat, policy, one durable decision record
// each) through the gateway over the dir backend, with the audit trail in
// group-commit mode and, for comparison, with one fsync per record.
// bench/audit.sh runs it.
func BenchmarkAuditedDecisions(b *testing.B) {
	for _, mode := range []struct {
		name      string
		perRecord bool
		signed    bool // checkpoints signed (default cadence)
		anchored  bool // and anchored on a private VersityGW with Object Lock
	}{{"group", false, false, false}, {"fsync-per-record", true, false, false},
		{"group-signed", false, true, false}, {"group-anchored", false, true, true}} {
		for _, n := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/%d", mode.name, n), func(b *testing.B) {
				dir := filepath.Join(b.TempDir(), "audit")
				cfg := audit.Config{Dir: dir, SyncEveryRecord: mode.perRecord}
				if mode.signed {
					cfg.CheckpointKey = anchorKey
				}
				if mode.anchored {
					s3cfg, _ := s3test.StartLocked(b)
					cfg.Anchor, cfg.Instance = anchorOn(b, s3cfg), "bench"
				}
				l, err := audit.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				h := gatewaytest.Start(b, gatewaytest.DirStore(b), gatewaytest.Options{Audit: l, AuditDir: dir})
				tok := h.Token(b, gatewaytest.Claims("US"))
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
				defer client.CloseIdleConnections()
				url := h.URL + gatewaytest.Frontier + gatewaytest.Shard1

				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, n)
				b.ResetTimer()
				start := time.Now()
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest(http.MethodHead, url, nil)
						req.Header.Set("Authorization", "Bearer "+tok)
						for next.Add(1) <= int64(b.N) {
							resp, err := client.Do(req)
							if err != nil {
								errs <- err
								return
							}
							resp.Body.Close()
							if resp.StatusCode != 200 {
								errs <- fmt.Errorf("status %d", resp.StatusCode)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			})
		}
	}
}
