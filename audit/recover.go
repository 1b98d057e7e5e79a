package audit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// openState is where Open resumes the chain.
type openState struct {
	f        *os.File // the last file, open for appending
	name     string
	index    uint64
	size     int64
	rotate   bool // the last file is full: start a new one
	seq      uint64
	hash     string
	prevFile string // file holding the last good record, "" for a new chain
	recovery *RecoveryRecord
	// sinceCheckpoint counts the records after the last checkpoint of the
	// last file, so that the cadence of checkpoints survives a restart.
	// When the last file holds none, it is noCheckpointSeen.
	sinceCheckpoint int
}

// noCheckpointSeen marks a chain whose last file holds no checkpoint: the
// writer then checkpoints at its first batch (when it has a key).
const noCheckpointSeen = -1

// fileScan is the result of reading one file for Open.
type fileScan struct {
	lines    int
	seq      uint64
	hash     string
	goodEnd  int64 // offset just past the last good line
	size     int64
	tornLine int // first line of the torn tail, 0 if none
	// sinceCheckpoint counts good lines after the last checkpoint, or is
	// noCheckpointSeen when the file has none.
	sinceCheckpoint int
}

// scanForOpen reads path fully. Bad lines at the very end that may be a
// torn write (incomplete, or not matching their own hash) are the torn tail.
// A bad line followed by any line that is whole and matches its own hash, a
// line that matches its hash but breaks the chain or layout, or an
// unreadable line, is corruption: it returns a *VerifyError.
func scanForOpen(path string) (fileScan, error) {
	fs := fileScan{sinceCheckpoint: noCheckpointSeen}
	f, err := os.Open(path)
	if err != nil {
		return fs, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	lr := newLineReader(f)
	var c chain
	var firstBad *VerifyError
	for {
		line, complete, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fs, &VerifyError{File: path, Line: lr.line + 1, Reason: "unreadable: " + err.Error()}
		}
		if firstBad != nil {
			if complete {
				if _, lerr := checkLine(line); lerr == nil || lerr.selfConsistent {
					return fs, firstBad
				}
			}
			continue
		}
		if !complete {
			firstBad = &VerifyError{File: path, Line: lr.line, Seq: c.seq + 1, Reason: "torn/incomplete line"}
			fs.tornLine = lr.line
			continue
		}
		p, lerr := checkLine(line)
		if lerr != nil {
			seq := p.Seq
			if seq == 0 {
				seq = c.seq + 1
			}
			firstBad = &VerifyError{File: path, Line: lr.line, Seq: seq, Reason: lerr.reason}
			if lerr.selfConsistent {
				return fs, firstBad
			}
			fs.tornLine = lr.line
			continue
		}
		if reason := c.next(p); reason != "" {
			return fs, &VerifyError{File: path, Line: lr.line, Seq: p.Seq, Reason: reason}
		}
		if fs.lines == 0 && p.Kind != KindStart {
			return fs, &VerifyError{File: path, Line: lr.line, Seq: p.Seq,
				Reason: fmt.Sprintf("file does not begin with a start record (kind %q)", p.Kind)}
		}
		fs.lines++
		fs.seq, fs.hash = p.Seq, p.Hash
		fs.goodEnd = lr.off
		switch {
		case p.Kind == KindCheckpoint:
			fs.sinceCheckpoint = 0
		case fs.sinceCheckpoint != noCheckpointSeen:
			fs.sinceCheckpoint++
		}
	}
	fs.size = lr.off
	return fs, nil
}

// openDir finds where the chain in dir ends, sets a torn tail aside and
// returns the last file open for appending.
func openDir(dir string, maxFileBytes int64, logger *slog.Logger) (*openState, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		// A head file without any log file is a trail that was removed
		// (or archived whole): starting a new chain at seq 1 would hide
		// that and overwrite the only trace of it.
		if head, err := readHead(filepath.Join(dir, HeadFileName)); err != nil || head != nil {
			if err == nil {
				err = fmt.Errorf("%s records seq %d in %s, but the directory holds no audit files", HeadFileName, head.Seq, head.File)
			}
			return nil, fmt.Errorf("audit: refusing to open %s: the trail was removed; restore it, or move %s aside to start a new chain deliberately: %w",
				dir, HeadFileName, err)
		}
		name := fileName(1)
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
		return &openState{f: f, name: name, index: 1, hash: ZeroHash}, nil
	}
	refuse := func(err error) error {
		return fmt.Errorf("audit: refusing to open %s: the log is corrupt or was altered (not a crash); investigate: %w", dir, err)
	}
	head, err := readHead(filepath.Join(dir, HeadFileName))
	if err != nil {
		return nil, refuse(err)
	}

	last := files[len(files)-1]
	tail, err := scanForOpen(last)
	if err != nil {
		return nil, refuse(err)
	}
	st := &openState{name: filepath.Base(last), size: tail.goodEnd, hash: ZeroHash}
	st.index, _ = fileIndex(last)
	st.sinceCheckpoint = tail.sinceCheckpoint
	if tail.lines > 0 {
		st.seq, st.hash, st.prevFile = tail.seq, tail.hash, st.name
	} else {
		// The last file holds no good record (a crash right after a
		// rotation): the chain ends in the last earlier file that has one,
		// which must be whole.
		for i := len(files) - 2; i >= 0; i-- {
			fs, err := scanForOpen(files[i])
			if err != nil {
				return nil, refuse(err)
			}
			if fs.tornLine != 0 {
				return nil, refuse(&VerifyError{File: files[i], Line: fs.tornLine, Seq: fs.seq + 1,
					Reason: "torn line in a file that is not the last"})
			}
			if fs.lines > 0 {
				st.seq, st.hash, st.prevFile = fs.seq, fs.hash, filepath.Base(files[i])
				break
			}
		}
	}
	// The head file was written after an fsync: a log that ends before it
	// lost durable records, which no crash can do.
	if head != nil && (head.Seq > st.seq || head.Seq == st.seq && head.Hash != st.hash) {
		return nil, refuse(&VerifyError{File: last, Line: tail.lines, Seq: st.seq,
			Reason: fmt.Sprintf("truncated: head file records seq %d (hash %.12s…), log ends at %d (hash %.12s…)",
				head.Seq, head.Hash, st.seq, st.hash)})
	}

	if tail.tornLine != 0 {
		aside, err := setAside(last, tail.goodEnd, tail.size)
		if err != nil {
			return nil, err
		}
		logger.Warn("audit: torn tail set aside after a crash", "file", last,
			"line", tail.tornLine, "torn_bytes", tail.size-tail.goodEnd, "kept_aside", aside, "last_good_seq", st.seq)
		st.recovery = &RecoveryRecord{TornBytes: tail.size - tail.goodEnd, KeptAside: aside, LastGoodSeq: st.seq}
	}
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	st.f = f
	st.rotate = st.size >= maxFileBytes
	return st, nil
}

// setAside copies path[from:to] into path.torn-<unixnano>, makes the copy
// durable, and only then truncates path to from. The copy is never deleted.
func setAside(path string, from, to int64) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("audit: recover: %w", err)
	}
	defer src.Close()
	aside := path + ".torn-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	dst, err := os.OpenFile(aside, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("audit: recover: %w", err)
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, from, to-from))
	if err == nil {
		err = dst.Sync()
	}
	err = errors.Join(err, dst.Close())
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return "", fmt.Errorf("audit: recover: keep torn tail aside: %w", err)
	}
	if err := os.Truncate(path, from); err != nil {
		return "", fmt.Errorf("audit: recover: truncate %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return "", fmt.Errorf("audit: recover: %w", err)
	}
	err = errors.Join(f.Sync(), f.Close())
	if err != nil {
		return "", fmt.Errorf("audit: recover: %w", err)
	}
	return aside, nil
}
