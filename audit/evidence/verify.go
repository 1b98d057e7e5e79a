package evidence

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/weightgate/weightgate/audit"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// PublicKey verifies every checkpoint's signature; without it only
	// their structure is checked (a note).
	PublicKey ed25519.PublicKey
	// Anchor, when set, must hold every checkpoint the archive says is
	// anchored, byte for byte; a checkpoint it does not hold is a note.
	Anchor audit.AnchorStore
}

// Result describes a verified archive.
type Result struct {
	Manifest            Manifest
	Segments            int
	Records             int
	Lines               int
	Checkpoints         int
	CheckpointsVerified int // signatures checked with the key
	CheckpointsAnchored int // found in the anchor, identical
	Unsigned            int // records in segments no checkpoint ends
	Notes               []string
}

// Verify checks an archive Write made, offline: every line's hash, each
// segment's chain (seq and prev) up to its checkpoint, the checkpoints'
// structure and (with a key) signatures, that every record a segment lists
// is in it, that the totals match the manifest and, with an anchor, that
// the checkpoints are the anchored ones. It streams (memory is bounded by
// one segment's list of records) and returns a *audit.VerifyError naming
// the archive member and line of the first failure.
func Verify(ctx context.Context, r io.Reader, opts VerifyOptions) (Result, error) {
	var res Result
	gz, err := gzip.NewReader(r)
	if err != nil {
		return res, fmt.Errorf("evidence: not a gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	var meta *segmentMeta
	var metaName string
	anchored := map[string]map[uint64][]byte{}
	sawManifest := false
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("evidence: read archive: %w", err)
		}
		fail := func(line int, seq uint64, format string, args ...any) error {
			return &audit.VerifyError{File: h.Name, Line: line, Seq: seq, Reason: fmt.Sprintf(format, args...)}
		}
		if sawManifest {
			return res, fail(0, 0, "member after manifest.json")
		}
		switch {
		case strings.HasPrefix(h.Name, "segments/") && strings.HasSuffix(h.Name, ".json"):
			if meta != nil {
				return res, fail(0, 0, "segment manifest without its lines (%s)", metaName)
			}
			meta = &segmentMeta{}
			if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(meta); err != nil {
				return res, fail(1, 0, "unparsable segment manifest: %v", err)
			}
			metaName = h.Name
			if want := fmt.Sprintf("segments/%s/%d-%d.json", meta.Instance, meta.From, meta.To); h.Name != want || !audit.ValidInstance(meta.Instance) {
				return res, fail(1, 0, "segment manifest for %s seq %d..%d is named %s", meta.Instance, meta.From, meta.To, h.Name)
			}
		case strings.HasPrefix(h.Name, "segments/") && strings.HasSuffix(h.Name, ".jsonl"):
			if meta == nil || strings.TrimSuffix(h.Name, "l") != metaName {
				return res, fail(0, 0, "segment lines without their manifest")
			}
			if err := verifySegment(ctx, tr, h.Name, meta, opts, anchored, &res); err != nil {
				return res, err
			}
			meta = nil
		case h.Name == "report.json" || h.Name == "report.txt":
			// Made at export: informative, not proof.
		case h.Name == "manifest.json":
			if meta != nil {
				return res, fail(0, 0, "segment manifest %s without its lines", metaName)
			}
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&res.Manifest); err != nil {
				return res, fail(1, 0, "unparsable: %v", err)
			}
			m := res.Manifest
			switch {
			case m.Format != Format:
				return res, fail(1, 0, "format %q, want %q", m.Format, Format)
			case m.Segments != res.Segments || m.Records != res.Records || m.Lines != res.Lines:
				return res, fail(1, 0, "lists %d segments, %d records and %d lines; the archive holds %d, %d and %d: segments were removed or added",
					m.Segments, m.Records, m.Lines, res.Segments, res.Records, res.Lines)
			}
			sawManifest = true
		default:
			return res, fail(0, 0, "unexpected member")
		}
	}
	if !sawManifest {
		return res, &audit.VerifyError{File: "manifest.json", Reason: "missing: the archive is incomplete"}
	}
	if opts.PublicKey == nil && res.Checkpoints > 0 {
		res.Notes = append(res.Notes, "checkpoint signatures not checked (no --key): anyone could have made these segments")
	}
	if res.Unsigned > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d records are not yet covered by a signed checkpoint", res.Unsigned))
	}
	if opts.Anchor == nil && res.Checkpoints > 0 {
		res.Notes = append(res.Notes, "checkpoints not compared with the anchor (no --anchor)")
	}
	return res, nil
}

// verifySegment reads one segment's lines.
func verifySegment(ctx context.Context, r io.Reader, name string, meta *segmentMeta, opts VerifyOptions,
	anchored map[string]map[uint64][]byte, res *Result) error {
	want := map[int64]bool{}
	for _, s := range meta.Records {
		if s < meta.From || s > meta.To {
			return &audit.VerifyError{File: path.Clean(name), Seq: uint64(s), Reason: fmt.Sprintf("record listed outside the segment's seq %d..%d", meta.From, meta.To)}
		}
		want[s] = false
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var prevSeq uint64
	var prevHash string
	var last audit.Entry
	var lastLine []byte
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return &audit.VerifyError{File: name, Line: n + 1, Reason: "line too long"}
		}
		if err == io.EOF && len(line) == 0 {
			break
		}
		n++
		if err != nil {
			return &audit.VerifyError{File: name, Line: n, Reason: "torn/incomplete line"}
		}
		line = line[:len(line)-1]
		e, cerr := audit.CheckLine(line)
		fail := func(seq uint64, reason string) error {
			return &audit.VerifyError{File: name, Line: n, Seq: seq, Reason: reason}
		}
		if cerr != nil {
			return fail(e.Seq, cerr.Error())
		}
		if n == 1 && int64(e.Seq) != meta.From {
			return fail(e.Seq, fmt.Sprintf("the segment begins at seq %d, its manifest says %d", e.Seq, meta.From))
		}
		if n > 1 {
			if err := audit.Link(prevSeq, prevHash, e); err != nil {
				return fail(e.Seq, err.Error())
			}
		}
		if _, ok := want[int64(e.Seq)]; ok {
			if e.Kind != audit.RecordDecision && e.Kind != audit.RecordTransfer {
				return fail(e.Seq, fmt.Sprintf("listed as a record, but a %q line", e.Kind))
			}
			want[int64(e.Seq)] = true
		}
		prevSeq, prevHash, last = e.Seq, e.Hash, e
		lastLine = append(lastLine[:0], line...)
		res.Lines++
	}
	if n == 0 {
		return &audit.VerifyError{File: name, Line: 1, Reason: "empty segment"}
	}
	if int64(last.Seq) != meta.To {
		return &audit.VerifyError{File: name, Line: n, Seq: last.Seq, Reason: fmt.Sprintf("the segment ends at seq %d, its manifest says %d: lines were removed", last.Seq, meta.To)}
	}
	for _, s := range meta.Records {
		if !want[s] {
			return &audit.VerifyError{File: name, Seq: uint64(s), Reason: "record listed but not in the segment"}
		}
	}
	res.Segments++
	res.Records += len(meta.Records)
	if meta.Checkpoint == 0 {
		res.Unsigned += len(meta.Records)
		return nil
	}
	if int64(last.Seq) != meta.Checkpoint {
		return &audit.VerifyError{File: name, Line: n, Seq: last.Seq, Reason: "the segment does not end at its checkpoint"}
	}
	if err := audit.CheckCheckpoint(last, opts.PublicKey); err != nil {
		return &audit.VerifyError{File: name, Line: n, Seq: last.Seq, Reason: err.Error()}
	}
	res.Checkpoints++
	if opts.PublicKey != nil {
		res.CheckpointsVerified++
	}
	if opts.Anchor == nil {
		return nil
	}
	cps, ok := anchored[meta.Instance]
	if !ok {
		list, err := opts.Anchor.Checkpoints(ctx, meta.Instance)
		if err != nil {
			return fmt.Errorf("evidence: anchor: list checkpoints of %s: %w", meta.Instance, err)
		}
		cps = map[uint64][]byte{}
		for _, c := range list {
			if c.Versions > 1 {
				return &audit.VerifyError{File: fmt.Sprintf("anchor:%s/checkpoints/%020d.jsonl", meta.Instance, c.Seq), Seq: c.Seq,
					Reason: fmt.Sprintf("rewritten in the anchor: %d versions of a write-once object", c.Versions)}
			}
			cps[c.Seq] = c.Line
		}
		anchored[meta.Instance] = cps
	}
	a, ok := cps[last.Seq]
	switch {
	case ok && !bytes.Equal(a, append(lastLine, '\n')):
		return &audit.VerifyError{File: name, Line: n, Seq: last.Seq, Reason: "the checkpoint differs from the anchored one: the segment was rewritten and re-signed"}
	case ok:
		res.CheckpointsAnchored++
	case meta.CheckpointAnchor != "":
		return &audit.VerifyError{File: name, Line: n, Seq: last.Seq, Reason: "the archive says the anchor holds this checkpoint; it does not"}
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("%s: checkpoint seq %d is not in the anchor", meta.Instance, last.Seq))
	}
	return nil
}
