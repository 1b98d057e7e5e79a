package audit

import (
	"context"
	"io"
)

// An anchor keeps the proof of a trail where the gateway's host cannot
// change it: each signed checkpoint line, and each sealed (rotated, complete)
// audit file, written once and never overwritten or deleted (an S3 bucket
// with Object Lock in compliance mode). Whoever can write the audit
// directory can re-chain it and even sign new checkpoints with the host's
// key, but cannot take back what the anchor already holds, so a rewritten
// trail no longer matches it.
//
// Several gateways may share one anchor: each writes under its own instance
// id, its own chain.
//
// Layout of an S3 anchor at s3://bucket/prefix:
//
//	prefix/<instance>/checkpoints/<seq, 20 digits>.jsonl   the checkpoint's log line, byte for byte (with its newline)
//	prefix/<instance>/files/<file name>                    a sealed audit file, byte for byte
//
// where seq is the checkpoint record's own seq.

// AnchoredCheckpoint is one checkpoint an anchor holds.
type AnchoredCheckpoint struct {
	Instance string
	// Seq is the checkpoint record's seq; Line its exact log line, newline
	// included.
	Seq  uint64
	Line []byte
	// Versions is how many versions the anchor holds of this object: more
	// than one means someone wrote it again, which verification refuses.
	Versions int
}

// AnchoredFile is one sealed audit file an anchor holds.
type AnchoredFile struct {
	Instance string
	Name     string // audit-NNNNNN.jsonl
	Size     int64
	Versions int // as for AnchoredCheckpoint
}

// AnchorStore is an anchor: write-once storage for checkpoints and sealed
// files, readable by verification.
type AnchorStore interface {
	// PutCheckpoint stores the checkpoint line of instance whose record has
	// seq. Storing the same seq twice is an error unless the line is
	// identical (a retry after an uncertain failure).
	PutCheckpoint(ctx context.Context, instance string, seq uint64, line []byte) error
	// PutFile stores a sealed audit file. As PutCheckpoint: never a second,
	// different object under one name.
	PutFile(ctx context.Context, instance, name string, r io.Reader, size int64) error
	// Instances lists the instances that have anchored anything, sorted.
	Instances(ctx context.Context) ([]string, error)
	// Checkpoints lists an instance's anchored checkpoints in seq order.
	Checkpoints(ctx context.Context, instance string) ([]AnchoredCheckpoint, error)
	// Files lists an instance's sealed files in file order.
	Files(ctx context.Context, instance string) ([]AnchoredFile, error)
	// OpenFile reads one sealed file (the oldest version, should there be
	// more than one).
	OpenFile(ctx context.Context, instance, name string) (io.ReadCloser, error)
}
