package index

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weightgate/weightgate/audit"
)

// openAt opens a local file at off.
func openAt(path string, off int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openAnchoredAt opens an anchored file at off (an anchor reads from the
// start: the bytes before off are skipped).
func openAnchoredAt(ctx context.Context, anchor audit.AnchorStore, instance, name string, off int64) (io.ReadCloser, error) {
	rc, err := anchor.OpenFile(ctx, instance, name)
	if err != nil {
		return nil, fmt.Errorf("anchor: open %s: %w", anchorObject(instance, name), err)
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		return nil, fmt.Errorf("anchor: read %s: %w", anchorObject(instance, name), err)
	}
	return rc, nil
}

// fileRef is a file of the files table, as the readers need it.
type fileRef struct {
	id       int64
	inst     string
	name     string
	path     string
	anchored bool
}

// lineFetcher reads lines at known offsets, keeping the last file open so
// that reading a trail's rows in order reads each file once.
type lineFetcher struct {
	ix   *Index
	ctx  context.Context
	cur  *fileRef
	rc   io.ReadCloser
	br   *bufio.Reader
	pos  int64
	buf  []byte
	file map[int64]*fileRef
}

func (lf *lineFetcher) close() {
	if lf.rc != nil {
		lf.rc.Close()
		lf.rc = nil
	}
}

func (lf *lineFetcher) fileRef(id int64) (*fileRef, error) {
	if f := lf.file[id]; f != nil {
		return f, nil
	}
	f := &fileRef{id: id}
	err := lf.ix.r.QueryRowContext(lf.ctx, "SELECT i.name, i.source, f.name, f.path, f.anchored FROM files f JOIN instances i ON i.id = f.inst WHERE f.id = ?", id).
		Scan(&f.inst, new(string), &f.name, &f.path, &f.anchored)
	if err != nil {
		return nil, fmt.Errorf("index: file %d: %w", id, err)
	}
	if lf.file == nil {
		lf.file = map[int64]*fileRef{}
	}
	lf.file[id] = f
	return f, nil
}

// open positions the reader at off of file f.
func (lf *lineFetcher) seek(f *fileRef, off int64) error {
	if lf.cur != nil && lf.cur.id == f.id && lf.rc != nil && off >= lf.pos {
		if _, err := lf.br.Discard(int(off - lf.pos)); err != nil {
			return fmt.Errorf("index: %s: %w", f.path, err)
		}
		lf.pos = off
		return nil
	}
	lf.close()
	var err error
	if len(f.path) > 7 && f.path[:7] == "anchor:" {
		lf.ix.mu.Lock()
		anchor := lf.ix.anchor
		lf.ix.mu.Unlock()
		if anchor == nil {
			return fmt.Errorf("index: %s is in the anchor, and no anchor was added", f.path)
		}
		lf.rc, err = openAnchoredAt(lf.ctx, anchor, f.inst, f.name, off)
	} else {
		lf.rc, err = openAt(f.path, off)
	}
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	lf.cur, lf.pos = f, off
	lf.br = bufio.NewReaderSize(lf.rc, 64<<10)
	return nil
}

// next reads the line at the reader's position (without its newline).
func (lf *lineFetcher) next() ([]byte, bool, error) {
	line, complete, err := readLine(lf.br, &lf.buf)
	if err != nil {
		return nil, false, err
	}
	lf.pos += int64(len(line))
	if complete {
		lf.pos++
	}
	return line, complete, nil
}

// line reads the line at off of file id, and checks that it is still the
// line indexed there (its hash): a trail rewritten since is an error.
func (lf *lineFetcher) line(id, off int64, length int, hash string) ([]byte, *fileRef, error) {
	f, err := lf.fileRef(id)
	if err != nil {
		return nil, nil, err
	}
	if err := lf.seek(f, off); err != nil {
		return nil, nil, err
	}
	line, complete, err := lf.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("index: %s: %w", f.path, err)
	}
	if !complete || len(line) != length {
		return nil, nil, fmt.Errorf("index: %s at byte %d: the file changed since it was indexed", f.path, off)
	}
	e, cerr := audit.CheckLine(line)
	if cerr != nil || (hash != "" && e.Hash != hash) {
		return nil, nil, fmt.Errorf("index: %s at byte %d: the line changed since it was indexed", f.path, off)
	}
	return bytesClone(line), f, nil
}

func bytesClone(b []byte) []byte { return append([]byte(nil), b...) }

// EachLine is Each with each row's exact line (without its newline), read
// from its file and checked against the hash indexed for it.
func (ix *Index) EachLine(ctx context.Context, f Filter, fn func(Row, []byte) error) error {
	lf := &lineFetcher{ix: ix, ctx: ctx}
	defer lf.close()
	return ix.each(ctx, f, func(r Row, p linePos) error {
		line, _, err := lf.line(p.file, p.off, p.length, p.hash)
		if err != nil {
			return err
		}
		return fn(r, line)
	})
}

// Entry returns instance's record seq with its line, its place and the
// checkpoint that covers it. ErrNotFound if the index does not hold it
// (start and checkpoint records are not rows).
func (ix *Index) Entry(ctx context.Context, instance string, seq int64) (Entry, error) {
	names, _, err := instNames(ctx, ix.r)
	if err != nil {
		return Entry{}, err
	}
	var p linePos
	row := ix.r.QueryRowContext(ctx, "SELECT "+rowCols+", file_id, line_no, off, len, hash FROM rows WHERE inst = (SELECT id FROM instances WHERE name = ?) AND seq = ?", instance, seq)
	r, err := scanRow(row, names, &p.file, &p.lineNo, &p.off, &p.length, &p.hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	lf := &lineFetcher{ix: ix, ctx: ctx}
	defer lf.close()
	line, f, err := lf.line(p.file, p.off, p.length, p.hash)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Row: r, Line: line, File: f.path, LineNo: p.lineNo, Anchored: f.anchored}
	var cp CheckpointRef
	var cf, coff int64
	var clen int
	var t int64
	var anchored bool
	err = ix.r.QueryRowContext(ctx, `SELECT seq, time, key_id, file, off, len, anchored FROM checkpoints
		WHERE inst = (SELECT id FROM instances WHERE name = ?) AND seq > ? ORDER BY seq LIMIT 1`, instance, seq).
		Scan(&cp.Seq, &t, &cp.KeyID, &cf, &coff, &clen, &anchored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return e, nil
	case err != nil:
		return Entry{}, fmt.Errorf("index: %w", err)
	}
	if cp.Line, _, err = lf.line(cf, coff, clen, ""); err != nil {
		return Entry{}, err
	}
	cp.Time = time.Unix(0, t).UTC()
	e.Checkpoint = &cp
	e.Anchored = e.Anchored || anchored
	return e, nil
}

// Integrity reports what the index knows of each instance's trail, in
// instance order.
func (ix *Index) Integrity(ctx context.Context) ([]InstanceStatus, error) {
	ix.mu.Lock()
	hasAnchor, anchoredInst := ix.anchor != nil, map[string]bool{}
	for name := range ix.anchored {
		anchoredInst[name] = true
	}
	listedAnchor := !ix.anchorAt.IsZero()
	ix.mu.Unlock()

	var out []InstanceStatus
	var ids []int64
	err := collect(ctx, ix.r, `SELECT id, name, source, first_seq, last_seq, last_time, records, verified_at, broken, gaps FROM instances ORDER BY name`, nil,
		func(rs *sql.Rows) error {
			var s InstanceStatus
			var id, lt, va int64
			var gaps string
			if err := rs.Scan(&id, &s.Instance, &s.Source, &s.FirstSeq, &s.LastSeq, &lt, &s.Records, &va, &s.VerifyError, &gaps); err != nil {
				return err
			}
			if lt != 0 {
				s.LastTime = time.Unix(0, lt).UTC()
			}
			if va != 0 {
				s.LastVerified = time.Unix(0, va).UTC()
			}
			if gaps != "" {
				if err := json.Unmarshal([]byte(gaps), &s.Gaps); err != nil {
					return err
				}
			}
			if s.FirstSeq > 1 {
				s.Gaps = append(s.Gaps, fmt.Sprintf("the trail read begins at seq %d: seq 1..%d are not in the source", s.FirstSeq, s.FirstSeq-1))
			}
			out = append(out, s)
			ids = append(ids, id)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i := range out {
		s, id := &out[i], ids[i]
		var last sql.NullInt64
		if err := ix.r.QueryRowContext(ctx, "SELECT count(*), max(time), coalesce(sum(anchored), 0) FROM checkpoints WHERE inst = ?", id).
			Scan(&s.Checkpoints, &last, &s.AnchoredCheckpoints); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		if last.Valid {
			s.LastCheckpoint = time.Unix(0, last.Int64).UTC()
		}
		err := collect(ctx, ix.r, "SELECT name, sealed, anchored FROM files WHERE inst = ? ORDER BY id", []any{id}, func(rs *sql.Rows) error {
			var name string
			var sealed, anchored bool
			if err := rs.Scan(&name, &sealed, &anchored); err != nil {
				return err
			}
			if sealed {
				s.SealedFiles++
			}
			if anchored {
				s.AnchoredFiles++
			}
			if hasAnchor && listedAnchor && sealed && !anchored && anchoredInst[s.Instance] {
				s.Gaps = append(s.Gaps, fmt.Sprintf("sealed file %s is not in the anchor", name))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if hasAnchor && listedAnchor && !anchoredInst[s.Instance] {
			s.Gaps = append(s.Gaps, "the anchor holds nothing of this instance")
		}
	}
	return out, nil
}
