package s3anchor_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/weightgate/weightgate/internal/s3test"
)

// BenchmarkPutCheckpoint is the cost of anchoring one checkpoint (a line
// of about 330 bytes) on a local VersityGW with Object Lock: one PUT with
// retention and If-None-Match.
func BenchmarkPutCheckpoint(b *testing.B) {
	cfg, _ := s3test.StartLocked(b)
	s := newStore(b, cfg, "bench")
	line := bytes.Repeat([]byte("x"), 330)
	b.ResetTimer()
	for i := range b.N {
		if err := s.PutCheckpoint(b.Context(), "gw", uint64(i+1), line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutFile is the cost of anchoring one sealed file.
func BenchmarkPutFile(b *testing.B) {
	cfg, _ := s3test.StartLocked(b)
	s := newStore(b, cfg, "bench")
	n := 0
	for _, size := range []int{1 << 20, 16 << 20} {
		data := bytes.Repeat([]byte("y"), size)
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				n++ // a new name each time: every PUT a first write
				if err := s.PutFile(b.Context(), "gw", fmt.Sprintf("audit-%06d.jsonl", n), bytes.NewReader(data), int64(size)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
