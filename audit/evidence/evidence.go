// Package evidence exports audit records with the proof that they are
// genuine, as one archive (tar.gz) that Verify checks offline: for every
// record, the exact chain of lines from it to the first signed checkpoint
// after it (a segment), so that the checkpoint's signature covers it; the
// anchor references of those checkpoints and of the sealed files holding
// them; and a report of the checks made at export time.
//
// Archive layout, in this order:
//
//	segments/<instance>/<from>-<to>.json    the segment's manifest (segmentMeta)
//	segments/<instance>/<from>-<to>.jsonl   the trail's lines from seq <from> to seq <to>, byte for byte
//	...
//	report.json, report.txt                 the export-time checks (Report)
//	manifest.json                           totals (Manifest), checked against the segments
//
// A segment ends at its checkpoint (seq <to>); records not yet covered by
// one end at the last line indexed, and are listed as unsigned.
package evidence

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/index"
)

// Format names the archive layout in the manifest.
const Format = "weightgate-evidence/1"

// Summary describes a written archive.
type Summary struct {
	Records, Lines, Checkpoints int
	Instances                   []string
}

// segmentMeta describes one segment.
type segmentMeta struct {
	Instance string  `json:"instance"`
	From     int64   `json:"from"`
	To       int64   `json:"to"`
	Records  []int64 `json:"records"` // seqs of the matching records in it
	// Checkpoint is the seq of the checkpoint ending the segment (To), 0
	// when the records are not yet covered by one.
	Checkpoint int64 `json:"checkpoint"`
	// CheckpointAnchor names the anchored object holding the checkpoint,
	// when the exporting index saw it in the anchor.
	CheckpointAnchor string        `json:"checkpoint_anchor,omitempty"`
	Files            []segmentFile `json:"files"`
}

// segmentFile is a trail file the segment's lines come from.
type segmentFile struct {
	Name      string `json:"name"`
	FirstLine int    `json:"first_line"` // line number in that file of its first line in the segment
	Anchor    string `json:"anchor,omitempty"`
}

// Manifest is the archive's totals.
type Manifest struct {
	Format    string       `json:"format"`
	Created   time.Time    `json:"created"`
	Filter    index.Filter `json:"filter"`
	Segments  int          `json:"segments"`
	Records   int          `json:"records"`
	Lines     int          `json:"lines"`
	Instances []string     `json:"instances"`
}

// Report is the export-time verification report.
type Report struct {
	Created   time.Time        `json:"created"`
	Checked   string           `json:"checked"`
	Instances []InstanceReport `json:"instances"`
}

// InstanceReport is one instance's part of a Report.
type InstanceReport struct {
	index.InstanceStatus
	Records             int `json:"records_exported"`
	Segments            int `json:"segments"`
	Checkpoints         int `json:"checkpoints_exported"`
	AnchoredCheckpoints int `json:"anchored_checkpoints_exported"`
	UnsignedRecords     int `json:"unsigned_records"`
}

const checkedAtExport = "every line's SHA-256 and the seq/prev chain of every segment, read from the trail at export; " +
	"checkpoint structure (head_seq, head_hash); not signatures (verify with --key)"

// Write writes one archive for the rows that match f (all kinds when
// f.Kind is empty: decision and transfer records alike).
func Write(ctx context.Context, w io.Writer, ix *index.Index, f index.Filter) (Summary, error) {
	if f.Kind == "" {
		f.Kind = index.KindAny
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	ex := &exporter{ctx: ctx, ix: ix, tw: tw, reports: map[string]*InstanceReport{}, now: time.Now().UTC()}
	var sum Summary
	err := ix.Each(ctx, f, func(r index.Row) error {
		if s := ex.seg; s != nil && s.Instance == r.Instance && (s.Checkpoint == 0 || r.Seq < s.Checkpoint) {
			s.Records = append(s.Records, r.Seq)
			return nil
		}
		if err := ex.flush(&sum); err != nil {
			return err
		}
		cp, anchored, err := ix.NextCheckpoint(ctx, r.Instance, r.Seq)
		if err != nil {
			return err
		}
		ex.seg = &segmentMeta{Instance: r.Instance, From: r.Seq, Records: []int64{r.Seq}}
		if cp != nil {
			ex.seg.Checkpoint, ex.seg.To = cp.Seq, cp.Seq
			if anchored {
				ex.seg.CheckpointAnchor = fmt.Sprintf("anchor:%s/checkpoints/%020d.jsonl", r.Instance, cp.Seq)
			}
		}
		return nil
	})
	if err == nil {
		err = ex.flush(&sum)
	}
	if err == nil {
		err = ex.finish(f, &sum)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		return sum, fmt.Errorf("evidence: %w", err)
	}
	return sum, nil
}

type exporter struct {
	ctx      context.Context
	ix       *index.Index
	tw       *tar.Writer
	seg      *segmentMeta
	segments int
	reports  map[string]*InstanceReport
	order    []string
	now      time.Time
}

// flush writes the pending segment: its lines go through a temporary file,
// since tar wants a size before the bytes and memory must not grow with a
// segment.
func (ex *exporter) flush(sum *Summary) error {
	s := ex.seg
	if s == nil {
		return nil
	}
	ex.seg = nil
	tmp, err := os.CreateTemp("", "weightgate-evidence-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriter(tmp)
	lines := 0
	err = ex.ix.Chain(ex.ctx, s.Instance, s.From, s.To, func(l index.ChainLine) error {
		if n := len(s.Files); n == 0 || s.Files[n-1].Name != filepath.Base(l.File) {
			sf := segmentFile{Name: filepath.Base(l.File), FirstLine: l.LineNo}
			if l.FileAnchored {
				sf.Anchor = "anchor:" + s.Instance + "/files/" + sf.Name
			}
			s.Files = append(s.Files, sf)
		}
		if s.Checkpoint != 0 && l.Seq == s.Checkpoint {
			e, err := audit.CheckLine(l.Line)
			if err == nil {
				err = audit.CheckCheckpoint(e, nil)
			}
			if err != nil {
				return fmt.Errorf("%s:%d: checkpoint: %w", l.File, l.LineNo, err)
			}
		}
		if s.To == 0 || l.Seq > s.To {
			s.To = l.Seq
		}
		lines++
		bw.Write(l.Line)
		return bw.WriteByte('\n')
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	meta, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	base := fmt.Sprintf("segments/%s/%d-%d", s.Instance, s.From, s.To)
	if err := writeMember(ex.tw, base+".json", ex.now, int64(len(meta)+1), strings.NewReader(string(meta)+"\n")); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := writeMember(ex.tw, base+".jsonl", ex.now, size, tmp); err != nil {
		return err
	}
	rep := ex.reports[s.Instance]
	if rep == nil {
		rep = &InstanceReport{}
		ex.reports[s.Instance] = rep
		ex.order = append(ex.order, s.Instance)
		sum.Instances = append(sum.Instances, s.Instance)
	}
	rep.Segments++
	rep.Records += len(s.Records)
	if s.Checkpoint != 0 {
		rep.Checkpoints++
		sum.Checkpoints++
		if s.CheckpointAnchor != "" {
			rep.AnchoredCheckpoints++
		}
	} else {
		rep.UnsignedRecords += len(s.Records)
	}
	ex.segments++
	sum.Records += len(s.Records)
	sum.Lines += lines
	return nil
}

// finish writes the report and the manifest.
func (ex *exporter) finish(f index.Filter, sum *Summary) error {
	st, err := ex.ix.Integrity(ex.ctx)
	if err != nil {
		return err
	}
	rep := Report{Created: ex.now, Checked: checkedAtExport}
	for _, name := range ex.order {
		r := ex.reports[name]
		for _, s := range st {
			if s.Instance == name {
				r.InstanceStatus = s
			}
		}
		rep.Instances = append(rep.Instances, *r)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := writeMember(ex.tw, "report.json", ex.now, int64(len(js)+1), strings.NewReader(string(js)+"\n")); err != nil {
		return err
	}
	txt := reportText(rep, *sum)
	if err := writeMember(ex.tw, "report.txt", ex.now, int64(len(txt)), strings.NewReader(txt)); err != nil {
		return err
	}
	m := Manifest{Format: Format, Created: ex.now, Filter: f, Segments: ex.segments, Records: sum.Records, Lines: sum.Lines, Instances: sum.Instances}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeMember(ex.tw, "manifest.json", ex.now, int64(len(mj)+1), strings.NewReader(string(mj)+"\n"))
}

func reportText(rep Report, sum Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "weightgate audit evidence, exported %s\n", rep.Created.Format(time.RFC3339))
	fmt.Fprintf(&b, "%d records in %d lines, %d checkpoints, from %d instances\n", sum.Records, sum.Lines, sum.Checkpoints, len(sum.Instances))
	fmt.Fprintf(&b, "checked at export: %s\n", rep.Checked)
	for _, r := range rep.Instances {
		fmt.Fprintf(&b, "\n%s (%s): %d records in %d segments; %d checkpoints, %d of them anchored; %d records not yet covered by a checkpoint\n",
			r.Instance, r.Source, r.Records, r.Segments, r.Checkpoints, r.AnchoredCheckpoints, r.UnsignedRecords)
		if r.VerifyError != "" {
			fmt.Fprintf(&b, "  the index found the chain broken at %s: nothing after it is exported\n", r.VerifyError)
		} else {
			fmt.Fprintf(&b, "  the index read the chain continuous through seq %d (%s)\n", r.LastSeq, r.LastVerified.Format(time.RFC3339))
		}
		for _, g := range r.Gaps {
			fmt.Fprintf(&b, "  gap: %s\n", g)
		}
	}
	return b.String()
}

func writeMember(tw *tar.Writer, name string, t time.Time, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: t, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: wrote %d bytes of %d", name, n, size)
	}
	return err
}
