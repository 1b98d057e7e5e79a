// Package audit is weightgate's tamper-evident audit trail: an append-only,
// hash-chained, group-committed log of JSON lines, rotated by size, with
// optional Ed25519-signed checkpoints and an optional asynchronous mirror.
//
// # File format
//
// The log is a directory holding audit-000001.jsonl, audit-000002.jsonl, ...
// (at least six digits; Files orders them numerically). Each line is one
// record:
//
//	{"seq":N,"time":"<RFC3339Nano UTC>","kind":"<kind>","prev":"<64 hex>","record":<JSON object>,"hash":"<64 hex>"}
//
// with the keys in exactly that order and no whitespace between tokens. The
// body of a line is the line without its `,"hash":"<64 hex>"` member, i.e.
// `{"seq":…,"time":…,"kind":…,"prev":…,"record":…}`, and hash is the lowercase
// hex SHA-256 of the body. Because prev is the hash of the previous record,
// each hash covers the whole chain before it. seq starts at 1 and grows by one
// forever, across files and restarts; the first record's prev is 64 zeros.
// Verification recomputes hashes from the bytes on disk, never from a
// re-serialisation.
//
// Kinds written by callers are free-form names ([A-Za-z0-9_.:-], at most 64
// bytes; the gateway uses "decision" and "transfer"). The log itself writes:
//
//   - "start": the first record after Open and the first record of every file
//     ({"reason":"start"|"rotate","file","pid","previous_file"}).
//   - "checkpoint": {"head_seq","head_hash","key_id","sig"}, an Ed25519
//     signature over "weightgate-audit-checkpoint\n<head_seq>\n<head_hash>\n"
//     where head is the record just before the checkpoint, and key_id is the
//     hex of the first 16 bytes of SHA-256(public key).
//   - "recovery": after Open found and set aside a torn tail
//     ({"torn_bytes","kept_aside","last_good_seq"}).
//   - "recovered": the first record written after a write failure
//     ({"error","since"}).
//
// Callers cannot use these kinds.
//
// # Head file
//
// After every durable batch the writer records {"seq","hash","file","time"}
// of the last durable record in Dir/audit.head: one JSON object padded with
// spaces to a fixed 256 bytes and a newline, overwritten in place (one
// pwrite; the first write of a process replaces the file through a rename).
// It is written only after the batch's fsync, so it never claims more than
// the log holds; it is not itself fsynced, so after a crash it may lag behind
// the log. A missing or empty head file is treated as absent (nothing to
// check); one that does not parse makes Open refuse and Verify fail. Verify
// and Open use it to detect a truncated tail: a head file naming a seq beyond
// the end of the log, or another hash for that seq, is an error. It guards
// against accidental or naive truncation only: whoever can rewrite the log
// can rewrite it too, which is what checkpoints and the mirror are for.
//
// # Crash recovery and refusal
//
// Open reads the last file fully. Bad bytes at its very end that a crash
// can leave (an incomplete last line, or trailing lines that do not match
// their own hash, e.g. zero-filled blocks) are copied to
// <file>.torn-<unixnano>, which is never deleted, and the file is cut back to
// its last good line; a "recovery" record follows the new "start" record.
// Anything else is refused with an error wrapping a *VerifyError that names
// file and line: a bad line followed by a line that matches its own hash, a
// line that matches its hash but breaks the chain or the layout, or a log
// ending before the seq in the head file. Only one process may write a log
// directory at a time: Open takes an flock on Dir/audit.lock.
//
// # Group commit and failure
//
// Append hands its record to a single writer goroutine through a queue of
// MaxBatch requests (full queue: Append blocks, honouring its context; no
// record is ever dropped). The writer takes everything queued, up to
// MaxBatch, assigns seq, time and prev, writes the batch with one write and
// one fsync, and only then lets the batch's Appends return. If the write or
// the fsync fails, every Append of the batch fails, the file is cut back to
// its size before the batch and seq/prev stay at the last durable record;
// the log is then failed (Healthy returns the error) and each later batch is
// a retry. The first batch that succeeds, or a Healthy call once the disk
// accepts writes, begins with a "recovered" record. If the file cannot be
// cut back, nothing is written until it can.
//
// # Mirror
//
// With Config.Mirror set, the lines of each durable batch (the exact bytes of
// the file) are queued for the mirror, after the fsync and in order, on a
// queue of MirrorQueueBatches batches served by one goroutine. The mirror
// never blocks or fails Append: when its queue is full the batch is dropped
// from the mirror (not from the log), counted in MirrorDropped and logged at
// most once a second; Send errors are counted in MirrorErrors and logged.
// A consumer of the mirror can detect every gap from seq. Close waits at most
// MirrorFlushTimeout for the mirror to drain.
//
// # Checkpoint cadence
//
// With a key, the writer checkpoints right after the first record of a new
// chain (seq 2 signs the genesis start record), after every CheckpointEvery
// records, and at most CheckpointInterval after the previous checkpoint even
// when no record arrives: an idle log still signs a checkpoint (over no new
// records) each interval, so that anchored checkpoints are never further
// apart than that.
//
// # Anchor
//
// With Config.Anchor (an AnchorStore: write-once storage off the host; see
// AnchorStore for the layout), each checkpoint line is handed to the anchor
// once durable, and each file once rotation has sealed it, by a goroutine
// of its own behind a bounded queue: anchoring never blocks or fails Append.
// Before Open writes anything it reads what the anchor holds for
// Config.Instance and checks the local trail against it: the chain from
// seq 1 through the newest anchored checkpoint, every anchored checkpoint
// present with identical bytes, every sealed file present with its anchored
// size and the newest one identical; an anchored object with more than one
// version is tampering too. A difference makes Open refuse with an error
// wrapping ErrAnchorMismatch and a *VerifyError naming the first record
// found to differ. An anchor that cannot be read makes Open refuse with
// Config.AnchorRequired, else Open proceeds and checks later (a mismatch
// then fails the log for good); AnchorHealthy reports it meanwhile.
//
// # Partial chains
//
// Verify accepts a chain whose first record is not seq 1 (older files archived
// elsewhere and not given). The first record's prev cannot be checked; the
// chain is verified from there on and Summary.FirstSeq reports where it
// starts. Callers that require the complete history must check
// Summary.FirstSeq == 1. Every file must still begin with a "start" record,
// so a partial chain always begins at a file boundary.
package audit
