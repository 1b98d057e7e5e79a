package audittest

import (
	"testing"

	"github.com/weightgate/weightgate/audit"
)

// TestGenerateVerifies: a generated trail is one the audit package accepts,
// signatures and head file included.
func TestGenerateVerifies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n, err := Generate(dir, GenOptions{Records: 5000, Seed: 1, CheckpointEvery: 100, MaxFileBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5000 {
		t.Fatalf("wrote %d records, want 5000", n)
	}
	files, err := audit.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("%d files: want rotation", len(files))
	}
	s, err := audit.Verify(files, audit.VerifyOptions{PublicKey: Pub(), MaxUnsigned: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !s.HeadChecked || s.CheckpointsVerified == 0 || s.CheckpointsVerified != s.Checkpoints {
		t.Fatalf("summary %+v", s)
	}
}
