package audit

import (
	"crypto/ed25519"
	"errors"
)

// CheckLine checks one line (without its newline) as Verify does: the hash
// against the line's bytes and the canonical layout. It returns the decoded
// record (File and Line left empty; Record aliases line). For readers that
// keep their own place in a trail, such as an index following it.
func CheckLine(line []byte) (Entry, error) {
	p, lerr := checkLine(line)
	if lerr != nil {
		return Entry{Seq: p.Seq}, errors.New(lerr.reason)
	}
	return Entry{Seq: p.Seq, Time: p.Time, Kind: p.Kind, Prev: p.Prev, Hash: p.Hash, Record: p.Record}, nil
}

// Link checks that e follows the record (prevSeq, prevHash) in a chain, as
// Verify does: seq one more and prev its hash. prevSeq 0 means e is the
// first record read: seq 1 must then have a zero prev, and a later seq
// begins a partial chain (see the package doc).
func Link(prevSeq uint64, prevHash string, e Entry) error {
	c := chain{started: prevSeq != 0, seq: prevSeq, hash: prevHash}
	if reason := c.next(parsedLine{Seq: e.Seq, Prev: e.Prev, Hash: e.Hash}); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// CheckCheckpoint checks a checkpoint record on its own: that it names the
// record before it (head_seq, head_hash against its own seq and prev) and,
// with pub, its key id and signature.
func CheckCheckpoint(e Entry, pub ed25519.PublicKey) error {
	if e.Kind != KindCheckpoint {
		return errors.New("not a checkpoint record (kind " + e.Kind + ")")
	}
	if reason := checkSignature(parsedLine{Seq: e.Seq, Prev: e.Prev, Record: e.Record}, pub); reason != "" {
		return errors.New(reason)
	}
	return nil
}
