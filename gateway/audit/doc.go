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
// After every durable batch the writer replaces Dir/audit.head (write to
// audit.head.tmp, then rename) with {"seq","hash","file","time"} of the last
// durable record. It is written only after the batch's fsync, so it never
// claims more than the log holds; it is not itself fsynced, so after a crash
// it may lag behind the log (or, on some file systems, be empty: an empty head
// file is treated as absent). Verify and Open use it to detect a truncated
// tail: a head file naming a seq beyond the end of the log, or a different
// hash for that seq, is an error.
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
