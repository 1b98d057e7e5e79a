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
	"path/filepath"
	"slices"
	"time"

	"github.com/weightgate/weightgate/audit"
)

// batchLines is how many lines one transaction indexes: large enough that
// the commit's cost is spread thin, small enough that memory (the pending
// sums and the rows to publish) stays small and a reader sees progress.
const batchLines = 16384

// sourceAnchor is InstanceStatus.Source for an instance read from the anchor.
const sourceAnchor = "anchor"

// instState is an instance's row in the instances table.
type instState struct {
	id               int64
	name, source     string
	firstSeq         uint64
	lastSeq          uint64
	lastHash         string
	lastTime         int64
	records          int64
	verifiedAt       int64
	broken           string
	gaps             []string
	brokenJustNow    bool
	checkpointsAdded bool
}

// fileState is a file's row in the files table.
type fileState struct {
	id       int64
	name     string
	path     string
	off      int64
	lines    int
	sealed   bool
	anchored bool
}

// Sync reads what the sources gained since the last Sync (complete lines
// only; it resumes from stored per-file offsets), checks each line's hash
// and the seq/prev continuity as it reads, and inserts the records in
// batches. A break marks that instance broken in Integrity and stops
// indexing it; what came before stays. It returns the number of decision
// and transfer records added, and an error for sources it could not read
// (the others are still synced).
func (ix *Index) Sync(ctx context.Context) (int, error) {
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.read.Store(0)
	ix.syncing.Store(true)
	n, err := ix.sync(ctx)
	ix.syncing.Store(false)
	ix.lastSync.Store(ix.now().UnixNano())
	if ctx.Err() == nil {
		// Every source was read to its end, or to what stopped it (an
		// unreadable source, a broken chain), which Integrity and the log
		// say.
		ix.caughtUp.Store(true)
	}
	return n, err
}

// Progress is how far the index has read its sources.
type Progress struct {
	// CaughtUp: a Sync since Open has read every source to its end (or
	// to what stopped it: a broken chain, an unreadable source). Until
	// then queries answer from what is indexed so far.
	CaughtUp bool
	// Syncing: a Sync is running, and has added Read rows so far.
	Syncing bool
	Read    int64
	// LastSync: when the last Sync ended; zero before the first.
	LastSync time.Time
}

// Progress says how far the index has read its sources, without waiting for
// a Sync in progress.
func (ix *Index) Progress() Progress {
	p := Progress{CaughtUp: ix.caughtUp.Load(), Syncing: ix.syncing.Load(), Read: ix.read.Load()}
	if t := ix.lastSync.Load(); t != 0 {
		p.LastSync = time.Unix(0, t).UTC()
	}
	return p
}

func (ix *Index) sync(ctx context.Context) (int, error) {
	// The sources, as they are now (AddDir and AddAnchor take mu).
	ix.mu.Lock()
	dirs, anchor := slices.Clone(ix.dirs), ix.anchor
	ix.mu.Unlock()
	var errs []error
	listed := false
	if anchor != nil && (ix.anchorEvery < 0 || ix.anchorAt.IsZero() || ix.now().Sub(ix.anchorAt) >= ix.anchorEvery) {
		if err := ix.listAnchor(ctx, anchor); err != nil {
			errs = append(errs, err)
		} else {
			listed = true
		}
	}
	type todo struct {
		name, source string
		d            dirSource
	}
	var all []todo
	fromDir := map[string]bool{}
	for _, d := range dirs {
		abs, err := filepath.Abs(d.dir)
		if err != nil {
			return 0, fmt.Errorf("index: %s: %w", d.dir, err)
		}
		if d.files != nil {
			abs = "files:" + abs
		}
		all = append(all, todo{d.instance, abs, d})
		fromDir[d.instance] = true
	}
	for _, name := range slices.Sorted(mapsKeys(ix.anchored)) {
		if !fromDir[name] {
			all = append(all, todo{name: name, source: sourceAnchor})
		}
	}
	// An instance that now comes from another source is another trail:
	// everything is rebuilt (the sums are not kept per instance).
	for _, t := range all {
		if err := ix.checkSource(ctx, t.name, t.source); err != nil {
			return 0, err
		}
	}
	total := 0
	for _, t := range all {
		st, err := ix.loadInstance(ctx, t.name, t.source)
		if err != nil {
			return total, err
		}
		if st.broken != "" {
			continue
		}
		s := &syncer{ix: ix, ctx: ctx, st: st, anch: ix.anchored[t.name]}
		if t.source == sourceAnchor {
			err = s.anchorFiles()
		} else {
			err = s.dirFiles(t.d)
		}
		total += s.added
		if err != nil {
			errs = append(errs, fmt.Errorf("index: instance %s: %w", t.name, err))
			if ctx.Err() != nil {
				return total, errors.Join(errs...)
			}
		}
		if st.brokenJustNow {
			ix.log.Warn("audit index: chain broken: nothing after it is indexed", "instance", t.name, "at", st.broken)
		}
	}
	if listed {
		if err := ix.markAnchored(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// listAnchor reads what the anchor holds for each of its instances.
func (ix *Index) listAnchor(ctx context.Context, anchor audit.AnchorStore) error {
	insts, err := anchor.Instances(ctx)
	if err != nil {
		return fmt.Errorf("index: anchor: list instances: %w", err)
	}
	m := map[string]*anchorList{}
	for _, inst := range insts {
		cps, err := anchor.Checkpoints(ctx, inst)
		if err != nil {
			return fmt.Errorf("index: anchor: list checkpoints of %s: %w", inst, err)
		}
		files, err := anchor.Files(ctx, inst)
		if err != nil {
			return fmt.Errorf("index: anchor: list sealed files of %s: %w", inst, err)
		}
		al := &anchorList{checkpoints: make(map[uint64]bool, len(cps)), files: files}
		for _, cp := range cps {
			al.checkpoints[cp.Seq] = true
		}
		m[inst] = al
	}
	ix.mu.Lock()
	ix.anchored, ix.anchorAt = m, ix.now()
	ix.mu.Unlock()
	return nil
}

// markAnchored records which checkpoints and sealed files the anchor holds,
// of those not yet marked.
func (ix *Index) markAnchored(ctx context.Context) error {
	tx, err := ix.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	for name, al := range ix.anchored {
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM instances WHERE name = ?", name).Scan(&id); err != nil {
			continue // not indexed (yet)
		}
		var seqs []uint64
		if err := collect(ctx, tx, "SELECT seq FROM checkpoints WHERE inst = ? AND anchored = 0", []any{id}, func(r *sql.Rows) error {
			var s uint64
			if err := r.Scan(&s); err != nil {
				return err
			}
			if al.checkpoints[s] {
				seqs = append(seqs, s)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, s := range seqs {
			if _, err := tx.ExecContext(ctx, "UPDATE checkpoints SET anchored = 1 WHERE inst = ? AND seq = ?", id, s); err != nil {
				return fmt.Errorf("index: %w", err)
			}
		}
		for _, f := range al.files {
			if _, err := tx.ExecContext(ctx, "UPDATE files SET anchored = 1 WHERE inst = ? AND name = ? AND anchored = 0", id, f.Name); err != nil {
				return fmt.Errorf("index: %w", err)
			}
		}
	}
	return tx.Commit()
}

// collect runs a query and calls fn for each row.
func collect(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// checkSource empties the index when instance was indexed from another
// source.
func (ix *Index) checkSource(ctx context.Context, name, source string) error {
	var old string
	err := ix.w.QueryRowContext(ctx, "SELECT source FROM instances WHERE name = ?", name).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) || err == nil && old == source {
		return nil
	}
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	ix.log.Info("audit index: instance has a new source, rebuilding", "instance", name, "was", old, "now", source)
	tx, err := ix.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	for _, t := range []string{"instances", "files", "checkpoints", "rows", "agg"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("index: %w", err)
		}
	}
	return tx.Commit()
}

// loadInstance reads instance's state, creating it.
func (ix *Index) loadInstance(ctx context.Context, name, source string) (*instState, error) {
	if _, err := ix.w.ExecContext(ctx, "INSERT INTO instances (name, source) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, source); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	st := &instState{name: name}
	var gaps string
	err := ix.w.QueryRowContext(ctx, `SELECT id, source, first_seq, last_seq, last_hash, last_time, records, verified_at, broken, gaps
		FROM instances WHERE name = ?`, name).Scan(&st.id, &st.source, &st.firstSeq, &st.lastSeq, &st.lastHash, &st.lastTime,
		&st.records, &st.verifiedAt, &st.broken, &gaps)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if gaps != "" {
		if err := json.Unmarshal([]byte(gaps), &st.gaps); err != nil {
			return nil, fmt.Errorf("index: instance %s: gaps: %w", name, err)
		}
	}
	return st, nil
}

// syncer indexes one instance's new lines, in transactions of batchLines.
type syncer struct {
	ix    *Index
	ctx   context.Context
	st    *instState
	anch  *anchorList
	added int

	tx          *sql.Tx
	insRow      *sql.Stmt
	insCP       *sql.Stmt
	pending     int
	cur         *fileState // the file being read, saved with each commit
	sums        sums
	err         error // the batch's first database error, reported by commit
	publish     bool
	rows        []Row
	filesByName map[string]*fileState
}

func (s *syncer) loadFiles() ([]*fileState, error) {
	var fs []*fileState
	s.filesByName = map[string]*fileState{}
	err := collect(s.ctx, s.ix.w, "SELECT id, name, path, off, lines, sealed, anchored FROM files WHERE inst = ?", []any{s.st.id}, func(r *sql.Rows) error {
		f := &fileState{}
		if err := r.Scan(&f.id, &f.name, &f.path, &f.off, &f.lines, &f.sealed, &f.anchored); err != nil {
			return err
		}
		fs = append(fs, f)
		s.filesByName[f.name] = f
		return nil
	})
	slices.SortFunc(fs, func(a, b *fileState) int { return audit.CompareFileNames(a.name, b.name) })
	return fs, err
}

// dirFiles indexes a directory's files: the sealed ones not yet read to
// their end, and the live (last) one from its offset.
func (s *syncer) dirFiles(src dirSource) error {
	known, err := s.loadFiles()
	if err != nil {
		return err
	}
	dir, paths := src.dir, src.files
	if paths == nil {
		if paths, err = audit.Files(dir); err != nil {
			return err
		}
	}
	var gaps []string
	listed := map[string]bool{}
	for _, p := range paths {
		listed[filepath.Base(p)] = true
	}
	for _, f := range known {
		if !listed[f.name] {
			gaps = append(gaps, fmt.Sprintf("%s was indexed and is no longer in %s", f.name, dir))
		}
	}
	var newest string
	if len(known) > 0 {
		newest = known[len(known)-1].name
	}
	var todo []*fileState
	for i, p := range paths {
		name := filepath.Base(p)
		f := s.filesByName[name]
		switch {
		case f != nil && f.sealed:
			continue
		case f == nil && newest != "" && audit.CompareFileNames(name, newest) < 0:
			gaps = append(gaps, fmt.Sprintf("%s appeared after later files were indexed: not read", name))
			continue
		case f == nil:
			f = &fileState{name: name, path: p}
		}
		f.sealed = i < len(paths)-1
		todo = append(todo, f)
	}
	s.st.gaps = gaps
	s.begin()
	for _, f := range todo {
		if f.off > 0 {
			fi, err := os.Stat(f.path)
			if err != nil {
				return s.finish(err)
			}
			if fi.Size() < f.off {
				s.broke(f, f.lines, s.st.lastSeq, fmt.Sprintf("the file is %d bytes, %d were indexed: records were removed", fi.Size(), f.off))
				return s.finish(nil)
			}
		}
		err := s.readFile(f, func(off int64) (io.ReadCloser, error) { return openAt(f.path, off) })
		if err != nil || s.st.broken != "" {
			return s.finish(err)
		}
	}
	return s.finish(nil)
}

// anchorFiles indexes an anchored instance's sealed files not yet read.
func (s *syncer) anchorFiles() error {
	if _, err := s.loadFiles(); err != nil {
		return err
	}
	s.st.gaps = nil
	s.begin()
	inst := s.st.name
	for _, af := range s.anch.files {
		f := s.filesByName[af.Name]
		if f != nil && f.sealed {
			continue
		}
		if f == nil {
			f = &fileState{name: af.Name, path: anchorObject(inst, af.Name)}
		}
		f.sealed = true
		err := s.readFile(f, func(off int64) (io.ReadCloser, error) { return openAnchoredAt(s.ctx, s.ix.anchor, inst, af.Name, off) })
		if err != nil || s.st.broken != "" {
			return s.finish(err)
		}
	}
	return s.finish(nil)
}

// anchorObject names an anchored file as Entry.File does.
func anchorObject(instance, name string) string { return "anchor:" + instance + "/files/" + name }

// readFile reads f from its offset: every complete line, checked and
// indexed. A sealed file must end in a complete line; the live one may end
// in a line still being written, left for the next Sync.
func (s *syncer) readFile(f *fileState, open func(off int64) (io.ReadCloser, error)) error {
	if f.id == 0 {
		res, err := s.tx.ExecContext(s.ctx, "INSERT INTO files (inst, name, path) VALUES (?, ?, ?)", s.st.id, f.name, f.path)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		if f.id, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		if s.anch != nil {
			for _, af := range s.anch.files {
				f.anchored = f.anchored || af.Name == f.name
			}
		}
	}
	s.cur = f
	// The file's state goes into the transaction that ends its reading;
	// commits in the middle of it save it too.
	defer s.saveFile(f)
	rc, err := open(f.off)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 256<<10)
	var buf []byte
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		line, complete, err := readLine(br, &buf)
		if err == io.EOF {
			return nil
		}
		lineNo := f.lines + 1
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.broke(f, lineNo, s.st.lastSeq+1, err.Error())
				return nil
			}
			return fmt.Errorf("read %s: %w", f.path, err)
		}
		if !complete {
			if f.sealed {
				s.broke(f, lineNo, s.st.lastSeq+1, "torn/incomplete line")
			}
			// Else a record being written: the next Sync reads it whole.
			return nil
		}
		if reason, seq := s.line(f, lineNo, line); reason != "" {
			s.broke(f, lineNo, seq, reason)
			return nil
		}
		f.off += int64(len(line)) + 1
		f.lines = lineNo
		if s.pending++; s.pending >= batchLines {
			if err := s.commit(); err != nil {
				return err
			}
			s.begin()
		}
	}
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", audit.MaxLineBytes)

// readLine reads one line into *buf: without its newline, and whether it
// had one. io.EOF only when nothing is left.
func readLine(br *bufio.Reader, buf *[]byte) ([]byte, bool, error) {
	b := (*buf)[:0]
	for {
		frag, err := br.ReadSlice('\n')
		if len(b)+len(frag) > audit.MaxLineBytes+1 {
			return nil, false, errLineTooLong
		}
		b = append(b, frag...)
		*buf = b
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(b) == 0 {
				return nil, false, io.EOF
			}
			return b, false, nil
		case err != nil:
			return nil, false, err
		}
		return b[:len(b)-1], true, nil
	}
}

// line checks and indexes one complete line. It returns a reason (and the
// seq to name) when the chain breaks there.
func (s *syncer) line(f *fileState, lineNo int, line []byte) (string, uint64) {
	e, err := audit.CheckLine(line)
	if err != nil {
		seq := e.Seq
		if seq == 0 {
			seq = s.st.lastSeq + 1
		}
		return err.Error(), seq
	}
	if lineNo == 1 && e.Kind != audit.KindStart {
		return fmt.Sprintf("file does not begin with a start record (kind %q)", e.Kind), e.Seq
	}
	if err := audit.Link(s.st.lastSeq, s.st.lastHash, e); err != nil {
		return err.Error(), e.Seq
	}
	off := f.off
	switch e.Kind {
	case audit.KindCheckpoint:
		if err := audit.CheckCheckpoint(e, nil); err != nil {
			return err.Error(), e.Seq
		}
		var cp audit.CheckpointRecord
		if err := json.Unmarshal(e.Record, &cp); err != nil {
			return "checkpoint record unparsable: " + err.Error(), e.Seq
		}
		anchored := s.anch != nil && s.anch.checkpoints[e.Seq]
		if _, err := s.insCP.ExecContext(s.ctx, s.st.id, e.Seq, e.Time.UnixNano(), cp.KeyID, f.id, lineNo, off, len(line), anchored); err != nil {
			s.err = err // reported by commit
		}
	case audit.RecordDecision, audit.RecordTransfer:
		var rec record
		if err := json.Unmarshal(e.Record, &rec); err != nil {
			return "record unparsable: " + err.Error(), e.Seq
		}
		r := rec.row(s.st.name, e)
		_, err := s.insRow.ExecContext(s.ctx, s.st.id, r.Seq, e.Time.UnixNano(), r.Kind, r.RequestID, r.API, r.Method, r.Subject,
			r.EntityName, r.EntityID, r.Country, r.IPCountry, r.Model, r.File, r.Decision, r.Code, r.Reason, r.Screening,
			r.Status, r.Bytes, r.PolicyBundle, r.PolicyRevision, r.Outcome, f.id, lineNo, off, len(line), e.Hash)
		if err != nil {
			s.err = err // reported by commit
		}
		s.sums.add(&r)
		s.st.records++
		s.added++
		s.ix.read.Add(1)
		if s.publish {
			s.rows = append(s.rows, r)
		}
	}
	if s.st.firstSeq == 0 {
		s.st.firstSeq = e.Seq
	}
	s.st.lastSeq, s.st.lastHash, s.st.lastTime = e.Seq, e.Hash, e.Time.UnixNano()
	return "", 0
}

// broke marks the instance broken at f:lineNo.
func (s *syncer) broke(f *fileState, lineNo int, seq uint64, reason string) {
	s.st.broken = (&audit.VerifyError{File: f.path, Line: lineNo, Seq: seq, Reason: reason}).Error()
	s.st.brokenJustNow = true
}

// record is what the index reads of a decision or transfer record.
type record struct {
	RequestID string `json:"request_id"`
	API       string `json:"api"`
	Method    string `json:"method"`
	Subject   string `json:"subject"`
	Entity    string `json:"entity"`
	EntityID  string `json:"entity_id"`
	Country   string `json:"country"`
	IPCountry string `json:"ip_country"`
	Model     string `json:"model"`
	Object    string `json:"object"`
	Decision  string `json:"decision"`
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	Screening string `json:"screening"`
	Status    int    `json:"status"`
	Bytes     int64  `json:"bytes"`
	Outcome   string `json:"outcome"`
	Policy    *struct {
		Bundle   string `json:"bundle"`
		Revision string `json:"revision"`
	} `json:"policy"`
}

func (rec *record) row(instance string, e audit.Entry) Row {
	r := Row{Instance: instance, Seq: int64(e.Seq), Time: e.Time, Kind: e.Kind,
		RequestID: rec.RequestID, API: rec.API, Method: rec.Method, Subject: rec.Subject, EntityName: rec.Entity,
		EntityID: rec.EntityID, Country: rec.Country, IPCountry: rec.IPCountry, Model: rec.Model, File: rec.Object,
		Decision: rec.Decision, Code: rec.Code, Reason: rec.Reason, Screening: rec.Screening, Status: rec.Status,
		Outcome: rec.Outcome}
	if e.Kind == audit.RecordTransfer {
		r.Bytes = rec.Bytes
	}
	if rec.Policy != nil {
		r.PolicyBundle, r.PolicyRevision = rec.Policy.Bundle, rec.Policy.Revision
	}
	return r
}

const insertRow = `INSERT INTO rows (inst, seq, time, kind, request_id, api, method, subject, entity_name, entity_id,
	country, ip_country, model, file, decision, code, reason, screening, status, bytes, policy_bundle, policy_revision,
	outcome, file_id, line_no, off, len, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// saveFile records f's offset in the current transaction.
func (s *syncer) saveFile(f *fileState) {
	if s.tx == nil || f.id == 0 {
		return
	}
	if _, err := s.tx.ExecContext(s.ctx, "UPDATE files SET off = ?, lines = ?, sealed = ?, anchored = ? WHERE id = ?",
		f.off, f.lines, f.sealed && s.st.broken == "", f.anchored, f.id); err != nil && s.err == nil {
		s.err = err
	}
}

// begin starts a transaction; its errors surface at commit.
func (s *syncer) begin() {
	s.pending = 0
	s.sums = sums{}
	s.err = nil
	s.rows = s.rows[:0]
	s.publish = s.ix.subs.any()
	tx, err := s.ix.w.BeginTx(s.ctx, nil)
	if err != nil {
		s.err = err
		return
	}
	s.tx = tx
	if s.insRow, err = tx.PrepareContext(s.ctx, insertRow); err != nil {
		s.err = err
		return
	}
	if s.insCP, err = tx.PrepareContext(s.ctx, `INSERT INTO checkpoints (inst, seq, time, key_id, file, line_no, off, len, anchored)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		s.err = err
	}
}

// commit saves the batch with the instance's and the current file's state,
// so that offsets never run ahead of (or behind) the rows they cover.
func (s *syncer) commit() error {
	if s.tx == nil {
		return fmt.Errorf("index: begin: %w", s.err)
	}
	defer func() { s.tx.Rollback(); s.tx = nil }()
	if s.err != nil {
		return fmt.Errorf("index: insert: %w", s.err)
	}
	if err := s.sums.flush(s.ctx, s.tx); err != nil {
		return err
	}
	if s.cur != nil {
		s.saveFile(s.cur)
	}
	if s.err != nil {
		return fmt.Errorf("index: %w", s.err)
	}
	gaps := ""
	if len(s.st.gaps) > 0 {
		b, _ := json.Marshal(s.st.gaps)
		gaps = string(b)
	}
	st := s.st
	if _, err := s.tx.ExecContext(s.ctx, `UPDATE instances SET first_seq = ?, last_seq = ?, last_hash = ?, last_time = ?, records = ?,
		verified_at = ?, broken = ?, gaps = ? WHERE id = ?`, st.firstSeq, st.lastSeq, st.lastHash, st.lastTime, st.records,
		st.verifiedAt, st.broken, gaps, st.id); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if err := s.tx.Commit(); err != nil {
		return fmt.Errorf("index: commit: %w", err)
	}
	if s.publish && len(s.rows) > 0 {
		s.ix.subs.send(s.rows)
	}
	return nil
}

// finish commits what is pending after the instance's last file (or a
// break, or err).
func (s *syncer) finish(err error) error {
	if err == nil && s.st.broken == "" {
		s.st.verifiedAt = s.ix.now().UnixNano()
	}
	if cerr := s.commit(); err == nil {
		err = cerr
	}
	return err
}
