package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends per second with group commit and
// with one write+fsync per record, for 1, 16 and 64 concurrent writers.
// Run it on the disk the gateway will use: the numbers are fsync latency.
func BenchmarkAppend(b *testing.B) {
	modes := []struct {
		name      string
		perRecord bool
	}{
		{"group", false},
		{"fsync-per-record", true},
	}
	rec := decision(1)
	for _, m := range modes {
		for _, writers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/%d", m.name, writers), func(b *testing.B) {
				var fsyncs atomic.Int64
				l := MustOpen(b, Config{Dir: b.TempDir(), SyncEveryRecord: m.perRecord, Observe: func(s BatchStats) {
					if s.Err == nil {
						fsyncs.Add(1)
					}
				}})
				fsyncs.Store(0)
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range writers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := l.Append(ctx, "decision", rec); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
				if n := fsyncs.Load(); n > 0 {
					b.ReportMetric(float64(b.N)/float64(n), "records/fsync")
				}
				MustClose(b, l)
			})
		}
	}
}
