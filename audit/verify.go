package audit

import (
	"cmp"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// HeadFileName is the name of the head file in the log directory.
const HeadFileName = "audit.head"

// NoHeadFile, as VerifyOptions.HeadFile, disables the head-file check (for
// example when verifying an archived subset of the files).
const NoHeadFile = "-"

var fileNameRE = regexp.MustCompile(`^audit-([0-9]{6,})\.jsonl$`)

// fileName returns the name of the log file with index n.
func fileName(n uint64) string { return fmt.Sprintf("audit-%06d.jsonl", n) }

// fileIndex returns the index of a log file name, or false.
func fileIndex(name string) (uint64, bool) {
	m := fileNameRE.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	return n, err == nil
}

// Files returns the paths of the log files in dir in rotation order
// (numeric order of their index). Kept-aside torn tails, the head file and
// anything else in dir are not listed. A missing dir is an error.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list files: %w", err)
	}
	type idxFile struct {
		n    uint64
		path string
	}
	var fs []idxFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if n, ok := fileIndex(e.Name()); ok {
			fs = append(fs, idxFile{n, filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(fs, func(a, b idxFile) int { return cmp.Compare(a.n, b.n) })
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.path
	}
	return out, nil
}

// CompareFileNames orders two log file names (audit-NNNNNN.jsonl) by their
// index, as Files does; a name that is not a log file's sorts first.
func CompareFileNames(a, b string) int {
	na, _ := fileIndex(a)
	nb, _ := fileIndex(b)
	return cmp.Compare(na, nb)
}

// Entry is one record as read from a log file.
type Entry struct {
	Seq    uint64
	Time   time.Time
	Kind   string
	Prev   string
	Hash   string
	Record json.RawMessage
	File   string // path as given to Scan
	Line   int    // 1-based
}

// VerifyError reports the first record that failed verification.
type VerifyError struct {
	File   string
	Line   int
	Seq    uint64 // the record's seq, or the seq expected there when unknown
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: seq %d: %s", e.File, e.Line, e.Seq, e.Reason)
}

// Scan calls fn for every record of files, in order, without verifying hashes
// or the chain. It streams: memory does not grow with the size of the log.
// The Entry's Record is only valid during the call. A line that cannot be
// decoded stops the scan with a *VerifyError; an error from fn stops it and is
// returned as is.
func Scan(files []string, fn func(Entry) error) error {
	for i, path := range files {
		if err := scanFile(path, i == len(files)-1, openPath, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanFile(path string, last bool, open func(string) (io.ReadCloser, error), fn func(Entry) error) error {
	f, err := open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	lr := newLineReader(f)
	for {
		line, complete, _, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &VerifyError{File: path, Line: lr.line + 1, Reason: "unreadable: " + err.Error()}
		}
		if !complete {
			if last {
				// The line a running gateway is writing: not yet a record.
				return nil
			}
			return &VerifyError{File: path, Line: lr.line, Reason: "torn/incomplete line"}
		}
		p, lerr := decodeLine(line)
		if lerr != nil {
			return &VerifyError{File: path, Line: lr.line, Seq: p.Seq, Reason: lerr.Error()}
		}
		if err := fn(Entry{Seq: p.Seq, Time: p.Time, Kind: p.Kind, Prev: p.Prev, Hash: p.Hash,
			Record: p.Record, File: path, Line: lr.line}); err != nil {
			return err
		}
	}
}

// decodeLine decodes a line without checking its hash.
func decodeLine(line []byte) (parsedLine, error) {
	var p parsedLine
	body, h, ok := splitHash(line)
	if !ok {
		return p, errors.New("unparsable: line does not end with a hash field")
	}
	var raw rawLine
	if err := json.Unmarshal(body, &raw); err != nil {
		return p, fmt.Errorf("unparsable: %w", err)
	}
	var ts string
	if err := json.Unmarshal(raw.Time, &ts); err != nil {
		return p, errors.New("unparsable: time is not a string")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return p, fmt.Errorf("unparsable: bad time: %w", err)
	}
	var kind string
	if err := json.Unmarshal(raw.Kind, &kind); err != nil {
		return p, errors.New("unparsable: kind is not a string")
	}
	return parsedLine{Seq: raw.Seq, Time: t, Kind: kind, Prev: raw.Prev, Record: raw.Record, Hash: h}, nil
}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// PublicKey verifies checkpoint signatures. Without it checkpoints are
	// counted but not verified (Summary.CheckpointsVerified stays 0).
	PublicKey ed25519.PublicKey
	// HeadFile is the head file to check the end of the log against. ""
	// means audit.head in the directory of the last file, if it exists;
	// NoHeadFile disables the check. A head file named explicitly must
	// exist.
	HeadFile string
	// MaxUnsigned, with PublicKey, is the longest run of records allowed
	// without a signed checkpoint after them, including at the end of the
	// log. Removing checkpoints (the only way to rewrite signed history
	// without the key) makes a longer run. 0 means DefaultMaxUnsigned.
	MaxUnsigned int
}

// DefaultMaxUnsigned is VerifyOptions.MaxUnsigned's default: the writer's
// default checkpoint cadence plus room for the log's own start, recovery
// and recovered records.
const DefaultMaxUnsigned = DefaultCheckpointEvery + 16

// Summary describes a verified log.
type Summary struct {
	Files               int
	Records             int
	Checkpoints         int
	CheckpointsVerified int
	// FirstSeq is the seq of the first record: 1 for a complete chain,
	// more when older files were not given (see the package doc).
	FirstSeq uint64
	LastSeq  uint64
	First    time.Time
	Last     time.Time
	LastHash string
	// HeadChecked reports whether a head file was compared with the log.
	HeadChecked bool
	// InFlight reports that the last file ends in an incomplete line that
	// the head file does not claim: a record being written by a running
	// gateway. It was not verified.
	InFlight bool
	// Unsigned counts the records after the last checkpoint.
	Unsigned int
}

// headState is the content of the head file.
type headState struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	File string    `json:"file"`
	Time time.Time `json:"time"`
}

// readHead reads a head file. It returns nil, nil if it is missing or empty
// (a crash can leave the unsynced head file empty on some file systems).
func readHead(path string) (*headState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: head file: %w", err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	var h headState
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("audit: head file %s: %w", path, err)
	}
	if h.Seq == 0 || len(h.Hash) != 64 {
		return nil, fmt.Errorf("audit: head file %s: missing seq or hash", path)
	}
	return &h, nil
}

// chain checks that records follow each other. It is shared by Verify and
// by Open's recovery.
type chain struct {
	started bool
	seq     uint64 // last seq seen
	hash    string // last hash seen
}

// next checks p against the chain and advances it. It returns a reason on
// failure.
func (c *chain) next(p parsedLine) string {
	if !c.started {
		if p.Seq == 0 {
			return "seq 0 is invalid: seq starts at 1"
		}
		if p.Seq == 1 && p.Prev != ZeroHash {
			return "first record (seq 1) must have a zero prev"
		}
	} else {
		switch {
		case p.Seq == c.seq+1:
		case p.Seq > c.seq+1:
			return fmt.Sprintf("seq gap: expected seq %d, found %d (records deleted or reordered)", c.seq+1, p.Seq)
		default:
			return fmt.Sprintf("seq goes backwards: expected seq %d, found %d (records duplicated or reordered)", c.seq+1, p.Seq)
		}
		if p.Prev != c.hash {
			return fmt.Sprintf("prev mismatch: prev %.12s… is not the hash of seq %d (%.12s…): a record was deleted, inserted or altered", p.Prev, c.seq, c.hash)
		}
	}
	c.started, c.seq, c.hash = true, p.Seq, p.Hash
	return ""
}

// Verify reads files in order and checks every record: the hash of each line
// against its bytes on disk, the canonical layout, the seq and prev chain
// within and across files, that every file begins with a start record, every
// checkpoint (structurally always; its signature when opts.PublicKey is set),
// and the end of the log against the head file. It streams and stops at the
// first bad record, returning a *VerifyError that names its file, line and
// seq. A chain that does not begin at seq 1 is accepted and reported in
// Summary.FirstSeq.
func Verify(files []string, opts VerifyOptions) (Summary, error) {
	return verifyFiles(files, opts, true, openPath, nil)
}

// verifyFiles is Verify over files read through open (the local disk, or an
// anchor), with live saying whether the last file may be one a gateway is
// still writing, and onRecord (if set) called for every verified record.
func verifyFiles(files []string, opts VerifyOptions, live bool, open func(string) (io.ReadCloser, error),
	onRecord func(path string, line int, p parsedLine, raw []byte)) (Summary, error) {
	var s Summary
	if len(files) == 0 {
		return s, errors.New("audit: verify: no files")
	}
	// Files named by the log must be given in rotation order.
	for i := 1; i < len(files); i++ {
		a, okA := fileIndex(files[i-1])
		b, okB := fileIndex(files[i])
		if okA && okB && a >= b {
			return s, &VerifyError{File: files[i], Line: 1, Reason: fmt.Sprintf("files out of order: %s given after %s",
				filepath.Base(files[i]), filepath.Base(files[i-1]))}
		}
	}
	var head *headState
	headPath := opts.HeadFile
	if headPath == "" {
		headPath = filepath.Join(filepath.Dir(files[len(files)-1]), HeadFileName)
	}
	if headPath != NoHeadFile {
		var err error
		if head, err = readHead(headPath); err != nil {
			return s, &VerifyError{File: headPath, Line: 1, Reason: "head file unreadable or altered: " + err.Error()}
		}
		if head == nil && opts.HeadFile != "" {
			return s, fmt.Errorf("audit: verify: head file %s is missing or empty", opts.HeadFile)
		}
		s.HeadChecked = head != nil
	}
	if opts.PublicKey != nil && opts.MaxUnsigned <= 0 {
		opts.MaxUnsigned = DefaultMaxUnsigned
	}
	var keyID string
	if opts.PublicKey != nil {
		if len(opts.PublicKey) != ed25519.PublicKeySize {
			return s, errors.New("audit: verify: bad public key size")
		}
		keyID = KeyID(opts.PublicKey)
	}

	v := &verifier{opts: opts, keyID: keyID, head: head, s: &s, lastFile: files[len(files)-1], onRecord: onRecord}
	err := v.run(files, live, open)
	return s, err
}

// openPath opens a log file on disk for verifier.run.
func openPath(path string) (io.ReadCloser, error) { return os.Open(path) }

// run verifies the files in order, each read through open. lastMayBeLive
// says whether the last file may end in a line being written (a live log);
// sealed files may not.
func (v *verifier) run(files []string, lastMayBeLive bool, open func(string) (io.ReadCloser, error)) error {
	s, head := v.s, v.head
	for i, path := range files {
		if err := v.file(path, lastMayBeLive && i == len(files)-1, open); err != nil {
			return err
		}
		s.Files++
	}
	if head != nil && head.Seq > s.LastSeq {
		return &VerifyError{File: v.lastFile, Line: v.lastLine, Seq: s.LastSeq,
			Reason: fmt.Sprintf("truncated: head file records seq %d, log ends at %d", head.Seq, s.LastSeq)}
	}
	if s.Records == 0 {
		return &VerifyError{File: v.lastFile, Line: 1, Reason: "no records: every audit file begins with a start record"}
	}
	return nil
}

type verifier struct {
	opts     VerifyOptions
	keyID    string
	head     *headState
	s        *Summary
	c        chain
	lastFile string
	lastLine int
	prevFile string
	// onRecord, if set, sees every record that passed verification, with
	// its exact line (without the newline; valid during the call only).
	onRecord func(path string, line int, p parsedLine, raw []byte)
}

func (v *verifier) file(path string, last bool, open func(string) (io.ReadCloser, error)) error {
	f, err := open(path)
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()
	lr := newLineReader(f)
	prevFile := v.prevFile
	v.prevFile = path
	index, named := fileIndex(path)
	for {
		line, complete, _, err := lr.next()
		fail := func(seq uint64, reason string) error {
			return &VerifyError{File: path, Line: lr.line, Seq: seq, Reason: reason}
		}
		if err == io.EOF {
			if lr.line == 0 && !last {
				// Only the last file may be empty (a crash right after
				// a rotation); an empty file elsewhere was emptied.
				return &VerifyError{File: path, Line: 1, Seq: v.c.seq + 1, Reason: "empty file: every audit file begins with a start record"}
			}
			return nil
		}
		if err != nil {
			lr.line++
			return fail(v.c.seq+1, "unreadable: "+err.Error())
		}
		if !complete {
			// A running gateway may be writing this very line: at the end
			// of the last file, and not claimed durable by the head file,
			// it is in flight, not torn.
			if last && (v.head == nil || v.head.Seq <= v.c.seq) {
				v.s.InFlight = true
				return nil
			}
			return fail(v.c.seq+1, "torn/incomplete line")
		}
		p, lerr := checkLine(line)
		if lerr != nil {
			seq := p.Seq
			if seq == 0 {
				seq = v.c.seq + 1
			}
			return fail(seq, lerr.reason)
		}
		if lr.line == 1 {
			if p.Kind != KindStart {
				return fail(p.Seq, fmt.Sprintf("file does not begin with a start record (kind %q)", p.Kind))
			}
			if named && index == 1 && p.Seq != 1 {
				return fail(p.Seq, fmt.Sprintf("%s must begin the chain at seq 1, begins at seq %d: its first records were removed", filepath.Base(path), p.Seq))
			}
			if !v.c.started && p.Seq != 1 {
				// A partial chain must begin at a real file boundary:
				// the start record of a rotation from another file, not
				// a restart in the middle of this one.
				var start StartRecord
				if err := json.Unmarshal(p.Record, &start); err != nil || start.PreviousFile == "" || start.PreviousFile == filepath.Base(path) {
					return fail(p.Seq, fmt.Sprintf("%s begins at seq %d with a restart inside the file, not at a file boundary: its first records were removed", filepath.Base(path), p.Seq))
				}
			}
			if v.c.started && p.Seq != v.c.seq+1 {
				what := "a file is missing"
				if p.Seq <= v.c.seq {
					what = "files duplicated or out of order"
				}
				return fail(p.Seq, fmt.Sprintf("file %s does not continue %s: expected seq %d, found %d — %s",
					filepath.Base(path), filepath.Base(prevFile), v.c.seq+1, p.Seq, what))
			}
		}
		if reason := v.c.next(p); reason != "" {
			if lr.line == 1 && v.c.started {
				reason = fmt.Sprintf("file %s does not continue %s: %s", filepath.Base(path), filepath.Base(prevFile), reason)
			}
			return fail(p.Seq, reason)
		}
		if p.Kind == KindCheckpoint {
			if reason := v.checkpoint(p); reason != "" {
				return fail(p.Seq, reason)
			}
			v.s.Unsigned = 0
		} else {
			v.s.Unsigned++
			if v.opts.PublicKey != nil && v.s.Unsigned > v.opts.MaxUnsigned {
				return fail(p.Seq, fmt.Sprintf("%d records without a signed checkpoint (at most %d expected): checkpoints were removed, or the log was written without the checkpoint key", v.s.Unsigned, v.opts.MaxUnsigned))
			}
		}
		if v.head != nil && p.Seq == v.head.Seq {
			if p.Hash != v.head.Hash {
				return fail(p.Seq, fmt.Sprintf("head file records hash %.12s… for seq %d, log has %.12s…", v.head.Hash, p.Seq, p.Hash))
			}
			if v.head.File != "" && v.head.File != filepath.Base(path) {
				return fail(p.Seq, fmt.Sprintf("head file records seq %d in %s, log has it in %s", p.Seq, v.head.File, filepath.Base(path)))
			}
		}
		if v.onRecord != nil {
			v.onRecord(path, lr.line, p, line)
		}
		if v.s.Records == 0 {
			v.s.FirstSeq, v.s.First = p.Seq, p.Time
		}
		v.s.Records++
		v.s.LastSeq, v.s.Last, v.s.LastHash = p.Seq, p.Time, p.Hash
		v.lastFile, v.lastLine = path, lr.line
	}
}

// checkpoint checks a checkpoint record; p has already passed the chain.
func (v *verifier) checkpoint(p parsedLine) string {
	v.s.Checkpoints++
	var cp CheckpointRecord
	if err := json.Unmarshal(p.Record, &cp); err != nil {
		return "checkpoint record unparsable: " + err.Error()
	}
	if cp.HeadSeq != p.Seq-1 {
		return fmt.Sprintf("checkpoint head_seq %d is not the previous record (seq %d)", cp.HeadSeq, p.Seq-1)
	}
	if cp.HeadHash != p.Prev {
		return fmt.Sprintf("checkpoint head_hash %.12s… does not match the chain (hash of seq %d is %.12s…): records before it were rewritten", cp.HeadHash, cp.HeadSeq, p.Prev)
	}
	if v.opts.PublicKey == nil {
		return ""
	}
	if cp.KeyID != v.keyID {
		return fmt.Sprintf("checkpoint signed by key_id %s, verifying with key_id %s", cp.KeyID, v.keyID)
	}
	if !ed25519.Verify(v.opts.PublicKey, CheckpointMessage(cp.HeadSeq, cp.HeadHash), cp.Sig) {
		return "checkpoint signature invalid: the checkpoint or the records it covers were forged"
	}
	v.s.CheckpointsVerified++
	return ""
}
