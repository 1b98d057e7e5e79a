package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/weightgate/weightgate/audit"
)

// NextCheckpoint returns instance's first checkpoint after seq (the one
// whose signature covers seq), its line read from the trail, and whether
// the anchor holds it; nil if there is none yet.
func (ix *Index) NextCheckpoint(ctx context.Context, instance string, seq int64) (*CheckpointRef, bool, error) {
	var cp CheckpointRef
	var file, off, t int64
	var length int
	var anchored bool
	err := ix.r.QueryRowContext(ctx, `SELECT seq, time, key_id, file, off, len, anchored FROM checkpoints
		WHERE inst = (SELECT id FROM instances WHERE name = ?) AND seq > ? ORDER BY seq LIMIT 1`, instance, seq).
		Scan(&cp.Seq, &t, &cp.KeyID, &file, &off, &length, &anchored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("index: %w", err)
	}
	lf := &lineFetcher{ix: ix, ctx: ctx}
	defer lf.close()
	if cp.Line, _, err = lf.line(file, off, length, ""); err != nil {
		return nil, false, err
	}
	cp.Time = time.Unix(0, t).UTC()
	return &cp, anchored, nil
}

// ChainLine is one line of a trail as Chain reads it.
type ChainLine struct {
	Seq    int64
	File   string // path, or anchored object name
	LineNo int
	Line   []byte // without its newline; valid during the call only
	// FileAnchored reports that the anchor holds the (sealed) file.
	FileAnchored bool
}

// Chain calls fn for every line of instance's trail from record from
// (a decision, transfer or checkpoint record the index holds) through
// record to, or through the last line indexed when to is 0, in order,
// across files. It checks each line's hash and that it continues the one
// before, as Sync did: a trail changed since it was indexed is an error.
func (ix *Index) Chain(ctx context.Context, instance string, from, to int64, fn func(ChainLine) error) error {
	var instID, fileID, off int64
	var lineNo int
	err := ix.r.QueryRowContext(ctx, `SELECT inst, file_id, off, line_no FROM rows WHERE inst = (SELECT id FROM instances WHERE name = ?) AND seq = ?
		UNION ALL SELECT inst, file, off, line_no FROM checkpoints WHERE inst = (SELECT id FROM instances WHERE name = ?) AND seq = ? LIMIT 1`,
		instance, from, instance, from).Scan(&instID, &fileID, &off, &lineNo)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s seq %d", ErrNotFound, instance, from)
	}
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	var files []*fileRef
	var lastSeq int64
	if err := ix.r.QueryRowContext(ctx, "SELECT last_seq FROM instances WHERE id = ?", instID).Scan(&lastSeq); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if to == 0 {
		to = lastSeq
	}
	if to < from || to > lastSeq {
		return fmt.Errorf("index: %s: seq %d..%d is not in the index (it holds up to %d)", instance, from, to, lastSeq)
	}
	err = collect(ctx, ix.r, "SELECT id, name, path, anchored FROM files WHERE inst = ?", []any{instID}, func(rs *sql.Rows) error {
		f := &fileRef{inst: instance}
		if err := rs.Scan(&f.id, &f.name, &f.path, &f.anchored); err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(files, func(a, b *fileRef) int { return audit.CompareFileNames(a.name, b.name) })
	i := slices.IndexFunc(files, func(f *fileRef) bool { return f.id == fileID })
	lf := &lineFetcher{ix: ix, ctx: ctx}
	defer lf.close()
	var prevSeq uint64
	var prevHash string
	for ; i < len(files); i, off, lineNo = i+1, 0, 1 {
		f := files[i]
		if err := lf.seek(f, off); err != nil {
			return err
		}
		for n := lineNo; ; n++ {
			line, complete, err := lf.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("index: %s: %w", f.path, err)
			}
			changed := func(reason string) error {
				return fmt.Errorf("index: %s:%d: the trail changed since it was indexed: %s", f.path, n, reason)
			}
			if !complete {
				return changed("incomplete line")
			}
			e, err := audit.CheckLine(line)
			if err != nil {
				return changed(err.Error())
			}
			if prevSeq == 0 && int64(e.Seq) != from {
				return changed(fmt.Sprintf("seq %d where seq %d was", e.Seq, from))
			}
			if prevSeq != 0 {
				if err := audit.Link(prevSeq, prevHash, e); err != nil {
					return changed(err.Error())
				}
			}
			if err := fn(ChainLine{Seq: int64(e.Seq), File: f.path, LineNo: n, Line: line, FileAnchored: f.anchored}); err != nil {
				return err
			}
			if int64(e.Seq) == to {
				return nil
			}
			prevSeq, prevHash = e.Seq, e.Hash
		}
	}
	return fmt.Errorf("index: %s: the trail ends before seq %d", instance, to)
}
