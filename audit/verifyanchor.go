package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// AnchorOptions configures VerifyAnchored and VerifyFleet.
type AnchorOptions struct {
	VerifyOptions
	// Interval is the trail's checkpoint.interval: two consecutive anchored
	// checkpoints further apart in record time than Interval +
	// CadenceSlack(Interval) fail verification. 0 means
	// DefaultCheckpointInterval.
	Interval time.Duration
	// Partial accepts local files that begin after the anchor's first
	// sealed file (older files archived elsewhere): the anchored files
	// before the first local one are not compared, which is a note.
	Partial bool
}

// CadenceSlack is how much later than the interval a checkpoint may follow
// the one before it: the writer's timer fires an interval after the last
// checkpoint, and the checkpoint then waits for its batch's write and fsync
// and, on a busy disk, for the batch before it. Ten seconds (a tenth of
// longer intervals) covers that and no missed checkpoint.
func CadenceSlack(interval time.Duration) time.Duration { return max(10*time.Second, interval/10) }

// AnchorSummary describes a trail verified against its anchor.
type AnchorSummary struct {
	Instance string
	// Summary is the chain verified: the local files (VerifyAnchored) or
	// the sealed files in the anchor (VerifyFleet).
	Summary
	// AnchoredCheckpoints and AnchoredFiles count what the anchor holds for
	// the instance; every one was matched (or, for checkpoints beyond the
	// sealed files in VerifyFleet, checked on its own).
	AnchoredCheckpoints int
	AnchoredFiles       int
	// NewestAnchoredSeq is the seq of the newest anchored checkpoint.
	NewestAnchoredSeq uint64
	// Unanchored counts the local records after the newest anchored
	// checkpoint: nothing outside the host vouches for them yet.
	Unanchored int
	// Notes says what was not proven. A strict verification fails on any.
	Notes []string
}

func (s *AnchorSummary) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// anchoredName names an object of the anchor in errors.
func anchoredName(instance, kind, name string) string {
	return "anchor:" + instance + "/" + kind + "/" + name
}

func checkpointObject(instance string, seq uint64) string {
	return anchoredName(instance, "checkpoints", fmt.Sprintf("%020d.jsonl", seq))
}

// anchoredCP is an anchored checkpoint with its line decoded.
type anchoredCP struct {
	AnchoredCheckpoint
	p parsedLine
}

// restart is a "start" record written by a new process (not by a rotation):
// the gateway was stopped before it, so the time since the record before it
// is not a gap in anchoring.
type restart struct {
	seq            uint64
	time, prevTime time.Time
}

// anchorState is what an instance's anchor holds, read and checked on its
// own.
type anchorState struct {
	instance string
	cps      []anchoredCP
	files    []AnchoredFile
}

// readAnchor lists an instance's anchored objects and checks each on its
// own: one version only, and a checkpoint object holding exactly one
// checkpoint line of its own seq that matches its hash.
func readAnchor(ctx context.Context, anchor AnchorStore, instance string) (*anchorState, error) {
	cps, err := anchor.Checkpoints(ctx, instance)
	if err != nil {
		return nil, fmt.Errorf("audit: anchor: list checkpoints of %s: %w", instance, err)
	}
	files, err := anchor.Files(ctx, instance)
	if err != nil {
		return nil, fmt.Errorf("audit: anchor: list sealed files of %s: %w", instance, err)
	}
	st := &anchorState{instance: instance, files: files}
	for _, f := range files {
		if f.Versions > 1 {
			return nil, &VerifyError{File: anchoredName(instance, "files", f.Name), Line: 1,
				Reason: fmt.Sprintf("rewritten in the anchor: %d versions of a write-once object", f.Versions)}
		}
		if _, ok := fileIndex(f.Name); !ok {
			return nil, &VerifyError{File: anchoredName(instance, "files", f.Name), Line: 1, Reason: "not an audit file name"}
		}
	}
	for _, cp := range cps {
		obj := checkpointObject(instance, cp.Seq)
		if cp.Versions > 1 {
			return nil, &VerifyError{File: obj, Line: 1, Seq: cp.Seq,
				Reason: fmt.Sprintf("rewritten in the anchor: %d versions of a write-once object", cp.Versions)}
		}
		line, ok := bytes.CutSuffix(cp.Line, []byte("\n"))
		if !ok || bytes.IndexByte(line, '\n') >= 0 {
			return nil, &VerifyError{File: obj, Line: 1, Seq: cp.Seq, Reason: "anchored checkpoint is not exactly one log line"}
		}
		p, lerr := checkLine(line)
		switch {
		case lerr != nil:
			return nil, &VerifyError{File: obj, Line: 1, Seq: cp.Seq, Reason: "anchored checkpoint: " + lerr.reason}
		case p.Seq != cp.Seq:
			return nil, &VerifyError{File: obj, Line: 1, Seq: cp.Seq, Reason: fmt.Sprintf("anchored under seq %d but holds seq %d", cp.Seq, p.Seq)}
		case p.Kind != KindCheckpoint:
			return nil, &VerifyError{File: obj, Line: 1, Seq: cp.Seq, Reason: fmt.Sprintf("anchored checkpoint holds a %q record", p.Kind)}
		}
		st.cps = append(st.cps, anchoredCP{cp, p})
	}
	return st, nil
}

// checkSignature verifies an anchored checkpoint on its own: its fields
// against its own line and, with a key, its signature. It returns a reason.
func checkSignature(p parsedLine, pub ed25519.PublicKey) string {
	var cp CheckpointRecord
	if err := json.Unmarshal(p.Record, &cp); err != nil {
		return "checkpoint record unparsable: " + err.Error()
	}
	if cp.HeadSeq != p.Seq-1 || cp.HeadHash != p.Prev {
		return "checkpoint head_seq/head_hash do not name the record before it"
	}
	if pub == nil {
		return ""
	}
	if cp.KeyID != KeyID(pub) {
		return fmt.Sprintf("checkpoint signed by key_id %s, verifying with key_id %s", cp.KeyID, KeyID(pub))
	}
	if !ed25519.Verify(pub, CheckpointMessage(cp.HeadSeq, cp.HeadHash), cp.Sig) {
		return "checkpoint signature invalid"
	}
	return ""
}

// localLine is a verified record's line as the chain holds it.
type localLine struct {
	path string
	line int
	raw  []byte
}

// collector gathers, during one verification pass, the lines at the seqs
// the anchor holds checkpoints for and the restarts.
type collector struct {
	want     map[uint64]bool
	lines    map[uint64]localLine
	restarts []restart
	prevTime time.Time
	// lastPath and lastLine locate the last record seen.
	lastPath string
	lastLine int
	lastSeq  uint64
}

func newCollector(cps []anchoredCP) *collector {
	c := &collector{want: map[uint64]bool{}, lines: map[uint64]localLine{}}
	for _, cp := range cps {
		c.want[cp.Seq] = true
	}
	return c
}

func (c *collector) record(path string, line int, p parsedLine, raw []byte) {
	if c.want[p.Seq] {
		c.lines[p.Seq] = localLine{path, line, bytes.Clone(raw)}
	}
	if p.Kind == KindStart && p.Seq > 1 {
		var start StartRecord
		if json.Unmarshal(p.Record, &start) == nil && start.Reason == "start" {
			c.restarts = append(c.restarts, restart{p.Seq, p.Time, c.prevTime})
		}
	}
	c.prevTime = p.Time
	c.lastPath, c.lastLine, c.lastSeq = path, line, p.Seq
}

// compareCheckpoints checks every anchored checkpoint at or below upTo
// against the chain's line at its seq. It returns the first that differs,
// naming the local record there.
func (c *collector) compareCheckpoints(st *anchorState, upTo uint64) error {
	matched := uint64(0)
	for _, cp := range st.cps {
		if cp.Seq > upTo {
			break
		}
		l, ok := c.lines[cp.Seq]
		want := cp.Line[:len(cp.Line)-1]
		since := fmt.Sprintf("the records after seq %d were rewritten", matched)
		if matched == 0 {
			since = "the trail was rewritten from its start"
		}
		if !ok {
			// The trail ends before the checkpoint: the first record
			// missing is the one after its end.
			return &VerifyError{File: c.lastPath, Line: c.lastLine + 1, Seq: c.lastSeq + 1,
				Reason: fmt.Sprintf("records deleted: the local trail ends at seq %d, the anchor holds checkpoint seq %d (%s)", c.lastSeq, cp.Seq, checkpointObject(st.instance, cp.Seq))}
		}
		if !bytes.Equal(l.raw, want) {
			return &VerifyError{File: l.path, Line: l.line, Seq: cp.Seq,
				Reason: fmt.Sprintf("differs from the anchored checkpoint %s in %s: %s", checkpointObject(st.instance, cp.Seq), lineDiff(want, l.raw), since)}
		}
		matched = cp.Seq
	}
	return nil
}

// checkCadence fails when two consecutive anchored checkpoints are further
// apart than the interval allows. Between a and b, a restart of the gateway
// explains the time it was stopped; that is known only when the records
// between them are at hand (known reports it), otherwise a long gap is a
// note.
func checkCadence(st *anchorState, opts AnchorOptions, restarts []restart, known func(a, b uint64) bool,
	where func(seq uint64) (string, int), s *AnchorSummary) error {
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	limit := interval + CadenceSlack(interval)
	for i := 1; i < len(st.cps); i++ {
		a, b := st.cps[i-1], st.cps[i]
		gap := b.p.Time.Sub(a.p.Time)
		if gap <= limit {
			continue
		}
		if !known(a.Seq, b.Seq) {
			s.note("anchored checkpoints seq %d and %d are %s apart (more than %s) and the records between them are not at hand: a stop of the gateway or a gap in anchoring",
				a.Seq, b.Seq, gap.Round(time.Second), limit)
			continue
		}
		t0, bad := a.p.Time, time.Duration(0)
		for _, r := range restarts {
			if r.seq <= a.Seq || r.seq >= b.Seq {
				continue
			}
			bad = max(bad, r.prevTime.Sub(t0))
			t0 = r.time
		}
		bad = max(bad, b.p.Time.Sub(t0))
		if bad > limit {
			file, line := where(b.Seq)
			return &VerifyError{File: file, Line: line, Seq: b.Seq,
				Reason: fmt.Sprintf("cadence: anchored checkpoints seq %d (%s) and seq %d (%s) are %s apart while the gateway ran, more than checkpoint.interval %s + %s allows: records went unanchored",
					a.Seq, a.p.Time.Format(time.RFC3339), b.Seq, b.p.Time.Format(time.RFC3339), bad.Round(time.Second), interval, CadenceSlack(interval))}
		}
	}
	return nil
}

// checkGenesis requires the checkpoint the writer anchors right after the
// first record of a chain. A trail written without a checkpoint key has
// none: when the anchor holds its sealed files and no key is given, that is
// a note (only the sealed files are proven), not a failure.
func checkGenesis(st *anchorState, file string, pub ed25519.PublicKey, s *AnchorSummary) error {
	if len(st.cps) == 0 && len(st.files) > 0 && pub == nil {
		s.note("the anchor holds no checkpoint (a trail written without a checkpoint key): only its sealed files are proven")
		return nil
	}
	if len(st.cps) == 0 {
		return &VerifyError{File: file, Line: 1, Seq: 1,
			Reason: fmt.Sprintf("the anchor holds no checkpoint for instance %q: nothing proves this trail (wrong instance, or never anchored)", st.instance)}
	}
	if st.cps[0].Seq != 2 {
		return &VerifyError{File: file, Line: 1, Seq: 1,
			Reason: fmt.Sprintf("the genesis record is not checkpointed in the anchor: its first checkpoint is seq %d, want seq 2", st.cps[0].Seq)}
	}
	return nil
}

// VerifyAnchored verifies a local trail (files in rotation order, as for
// Verify) of one instance against its anchor: the chain itself (Verify);
// that the anchor holds one version of each object; that every sealed file
// the anchor holds is present locally with the same bytes (else the first
// line that differs, or "deleted locally"); that every anchored checkpoint
// is the local record at its seq byte for byte; that the genesis record is
// checkpointed; and that anchored checkpoints follow each other at most
// opts.Interval (+ CadenceSlack) apart while the gateway ran. Local records
// after the newest anchored checkpoint, local sealed files the anchor lacks
// and checkpoints not verified for want of a key are notes. A failure is a
// *VerifyError naming the first record that differs; an anchor that cannot
// be read is another error.
func VerifyAnchored(ctx context.Context, files []string, instance string, anchor AnchorStore, opts AnchorOptions) (AnchorSummary, error) {
	s := AnchorSummary{Instance: instance}
	if len(files) == 0 {
		return s, errors.New("audit: verify: no files")
	}
	st, err := readAnchor(ctx, anchor, instance)
	if err != nil {
		return s, err
	}
	s.AnchoredCheckpoints, s.AnchoredFiles = len(st.cps), len(st.files)
	if n := len(st.cps); n > 0 {
		s.NewestAnchoredSeq = st.cps[n-1].Seq
	}

	// Sealed files first: they cover the oldest history and name the
	// exact first line that differs.
	local := map[string]string{}
	for _, f := range files {
		local[filepath.Base(f)] = f
	}
	firstLocal, _ := fileIndex(files[0])
	dir := filepath.Dir(files[len(files)-1])
	skipped := 0
	var sealedSeq uint64 // the last record of the newest sealed file
	for _, af := range st.files {
		path, ok := local[af.Name]
		if !ok {
			if idx, _ := fileIndex(af.Name); opts.Partial && idx < firstLocal {
				skipped++
				continue
			}
			return s, &VerifyError{File: filepath.Join(dir, af.Name), Line: 1, Seq: anchoredFirstSeq(ctx, anchor, instance, af.Name),
				Reason: fmt.Sprintf("sealed file deleted locally: the anchor holds %s (%d bytes)", anchoredName(instance, "files", af.Name), af.Size)}
		}
		last, err := compareSealed(ctx, anchor, instance, af.Name, path)
		if err != nil {
			return s, err
		}
		sealedSeq = max(sealedSeq, last)
	}
	if skipped > 0 {
		s.note("%d sealed files in the anchor precede the local files given and were not compared (--partial)", skipped)
	}
	for _, f := range files[:len(files)-1] {
		if !slices.ContainsFunc(st.files, func(af AnchoredFile) bool { return af.Name == filepath.Base(f) }) {
			s.note("%s is a complete (rotated) file the anchor does not hold sealed", filepath.Base(f))
		}
	}

	c := newCollector(st.cps)
	sum, verr := verifyFiles(files, opts.VerifyOptions, true, openPath, c.record)
	s.Summary = sum
	upTo := ^uint64(0)
	var ve *VerifyError
	if verr != nil {
		// Only checkpoints below the first bad record can be compared:
		// a difference there is the earlier finding.
		if !errors.As(verr, &ve) {
			return s, verr
		}
		upTo = ve.Seq - 1
		if ve.Seq == 0 {
			upTo = sum.LastSeq
		}
	}
	if err := c.compareCheckpoints(st, upTo); err != nil {
		return s, err
	}
	if verr != nil {
		return s, verr
	}
	if err := checkGenesis(st, files[0], opts.PublicKey, &s); err != nil && (sum.FirstSeq == 1 || len(st.cps) == 0) {
		return s, err
	} else if err != nil {
		s.note("the chain given starts at seq %d: %s", sum.FirstSeq, err.(*VerifyError).Reason)
	}
	known := func(a, b uint64) bool { return a >= sum.FirstSeq && b <= sum.LastSeq }
	where := func(seq uint64) (string, int) {
		l := c.lines[seq]
		return l.path, l.line
	}
	if err := checkCadence(st, opts, c.restarts, known, where, &s); err != nil {
		return s, err
	}
	if proven := max(s.NewestAnchoredSeq, sealedSeq); sum.LastSeq > proven {
		s.Unanchored = int(sum.LastSeq - proven)
		s.note("unanchored tail: %d records (seq %d..%d) after the newest anchored checkpoint or sealed file", s.Unanchored, proven+1, sum.LastSeq)
	}
	if opts.PublicKey == nil && len(st.cps) > 0 {
		s.note("%d anchored checkpoints not signature-verified: no key given", len(st.cps))
	}
	return s, nil
}

// anchoredFirstSeq returns the seq of an anchored file's first record, or 0.
func anchoredFirstSeq(ctx context.Context, anchor AnchorStore, instance, name string) uint64 {
	rc, err := anchor.OpenFile(ctx, instance, name)
	if err != nil {
		return 0
	}
	defer rc.Close()
	line, complete, _, err := newLineReader(rc).next()
	if err != nil || !complete {
		return 0
	}
	p, _ := decodeLine(line)
	return p.Seq
}

// compareSealed compares a local file with its sealed copy line by line and
// returns the first line that differs, or the seq of its last record.
func compareSealed(ctx context.Context, anchor AnchorStore, instance, name, path string) (uint64, error) {
	rc, err := anchor.OpenFile(ctx, instance, name)
	if err != nil {
		return 0, fmt.Errorf("audit: anchor: open %s: %w", anchoredName(instance, "files", name), err)
	}
	defer rc.Close()
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()
	ar, lr := newLineReader(rc), newLineReader(f)
	obj := anchoredName(instance, "files", name)
	var last uint64
	for {
		al, acomplete, _, aerr := ar.next()
		ll, lcomplete, _, lerr := lr.next()
		if aerr != nil && aerr != io.EOF {
			return 0, fmt.Errorf("audit: anchor: read %s: %w", obj, aerr)
		}
		if lerr != nil && lerr != io.EOF {
			return 0, &VerifyError{File: path, Line: lr.line + 1, Reason: "unreadable: " + lerr.Error()}
		}
		switch {
		case aerr == io.EOF && lerr == io.EOF:
			return last, nil
		case aerr == io.EOF:
			p, _ := decodeLine(ll)
			return 0, &VerifyError{File: path, Line: lr.line, Seq: p.Seq,
				Reason: fmt.Sprintf("added after the file was sealed: %s ends at line %d", obj, ar.line)}
		case lerr == io.EOF:
			p, _ := decodeLine(al)
			return 0, &VerifyError{File: path, Line: ar.line, Seq: p.Seq,
				Reason: fmt.Sprintf("missing: the local file ends at line %d, %s goes on with seq %d (records deleted)", lr.line, obj, p.Seq)}
		case acomplete != lcomplete || !bytes.Equal(al, ll):
			p, _ := decodeLine(al)
			return 0, &VerifyError{File: path, Line: lr.line, Seq: p.Seq,
				Reason: fmt.Sprintf("differs from the sealed copy %s in %s", obj, lineDiff(al, ll))}
		}
		if p, err := decodeLine(al); err == nil {
			last = p.Seq
		}
	}
}

// lineDiff names what differs between an anchored line and a local one:
// the chain fields, and the top-level fields of the record.
func lineDiff(anchored, local []byte) string {
	a, aerr := decodeLine(anchored)
	l, lerr := decodeLine(local)
	if aerr != nil || lerr != nil {
		return "its bytes (local line unparsable)"
	}
	var d []string
	if a.Seq != l.Seq {
		d = append(d, fmt.Sprintf("seq (anchored %d, local %d)", a.Seq, l.Seq))
	}
	if a.Kind != l.Kind {
		d = append(d, fmt.Sprintf("kind (anchored %s, local %s)", a.Kind, l.Kind))
	}
	if !a.Time.Equal(l.Time) {
		d = append(d, "time")
	}
	var ar, lrec map[string]json.RawMessage
	if json.Unmarshal(a.Record, &ar) == nil && json.Unmarshal(l.Record, &lrec) == nil {
		var keys []string
		for k, v := range ar {
			if w, ok := lrec[k]; !ok || !bytes.Equal(v, w) {
				keys = append(keys, k)
			}
		}
		for k := range lrec {
			if _, ok := ar[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			d = append(d, "record fields "+strings.Join(keys, ", "))
		}
	}
	if a.Prev != l.Prev {
		d = append(d, "prev")
	}
	if len(d) == 0 {
		d = append(d, "its bytes")
	}
	return strings.Join(d, "; ")
}

// InstanceResult is one instance of a fleet verified from the anchor alone.
type InstanceResult struct {
	AnchorSummary
	Err error
}

// VerifyFleet verifies every instance an anchor holds from the anchor
// alone, with no local files: each instance's sealed files as one chain
// from seq 1 (read from the anchor, streamed), every anchored checkpoint
// within them byte for byte, those beyond them (the live file on the host)
// by their own line and, with opts.PublicKey, their signature; the genesis
// checkpoint and the cadence. It returns one result per instance; an error
// only when the anchor cannot be listed.
func VerifyFleet(ctx context.Context, anchor AnchorStore, opts AnchorOptions) ([]InstanceResult, error) {
	instances, err := anchor.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: anchor: list instances: %w", err)
	}
	out := make([]InstanceResult, 0, len(instances))
	for _, inst := range instances {
		s, err := verifyInstance(ctx, anchor, inst, opts)
		out = append(out, InstanceResult{s, err})
	}
	return out, nil
}

func verifyInstance(ctx context.Context, anchor AnchorStore, instance string, opts AnchorOptions) (AnchorSummary, error) {
	s := AnchorSummary{Instance: instance}
	st, err := readAnchor(ctx, anchor, instance)
	if err != nil {
		return s, err
	}
	s.AnchoredCheckpoints, s.AnchoredFiles = len(st.cps), len(st.files)
	if n := len(st.cps); n > 0 {
		s.NewestAnchoredSeq = st.cps[n-1].Seq
	}
	c := newCollector(st.cps)
	var sum Summary
	first := anchoredName(instance, "checkpoints", "")
	if len(st.files) > 0 {
		names := make([]string, len(st.files))
		for i, f := range st.files {
			names[i] = anchoredName(instance, "files", f.Name)
		}
		first = names[0]
		open := func(path string) (io.ReadCloser, error) { return anchor.OpenFile(ctx, instance, filepath.Base(path)) }
		vo := opts.VerifyOptions
		vo.HeadFile = NoHeadFile
		sum, err = verifyFiles(names, vo, false, open, c.record)
		s.Summary = sum
		if err != nil {
			return s, err
		}
		if sum.FirstSeq != 1 {
			return s, &VerifyError{File: names[0], Line: 1, Seq: sum.FirstSeq,
				Reason: fmt.Sprintf("the sealed files begin at seq %d: the anchor lacks the files before it", sum.FirstSeq)}
		}
		if err := c.compareCheckpoints(st, sum.LastSeq); err != nil {
			return s, err
		}
	} else {
		s.note("no sealed file in the anchor: the records are only on the gateway's host")
	}
	for _, cp := range st.cps {
		if len(st.files) > 0 && cp.Seq <= sum.LastSeq {
			continue
		}
		if reason := checkSignature(cp.p, opts.PublicKey); reason != "" {
			return s, &VerifyError{File: checkpointObject(instance, cp.Seq), Line: 1, Seq: cp.Seq, Reason: reason}
		}
	}
	if err := checkGenesis(st, first, opts.PublicKey, &s); err != nil {
		return s, err
	}
	known := func(a, b uint64) bool { return len(st.files) > 0 && b <= sum.LastSeq }
	where := func(seq uint64) (string, int) {
		if l, ok := c.lines[seq]; ok {
			return l.path, l.line
		}
		return checkpointObject(instance, seq), 1
	}
	if err := checkCadence(st, opts, c.restarts, known, where, &s); err != nil {
		return s, err
	}
	if opts.PublicKey == nil && len(st.cps) > 0 {
		s.note("%d anchored checkpoints not signature-verified: no key given", len(st.cps))
	}
	return s, nil
}
