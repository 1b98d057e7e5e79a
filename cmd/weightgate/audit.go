package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/audit/evidence"
	"github.com/weightgate/weightgate/audit/index"
	"github.com/weightgate/weightgate/identity"
)

const auditUsage = `Usage:
  weightgate audit verify [--key PUB.pem] [--max-unsigned N] [--head FILE|-] [--partial] [--strict]
      [--anchor s3://BUCKET/PREFIX [--anchor-endpoint HOST:PORT] [--anchor-instance ID] [--interval D]]
      [FILE|DIR...]
      check the hash chain (and, with --key, every signed checkpoint and that no
      more than N records go without one); with --anchor, also that the files
      match every checkpoint and sealed file the anchor holds, the genesis is
      checkpointed and checkpoints are at most --interval apart; with --anchor
      and no FILE|DIR, every instance's sealed files from the anchor alone;
      --strict fails on every NOTE (needs --anchor or --key);
      exit 0 with a summary, 1 naming the first bad record, 2 on usage or I/O errors
  weightgate audit query FILE|DIR...|--anchor s3://BUCKET/PREFIX [--anchor-instance ID]
      [--model M] [--file F] [--subject S] [--entity E] [--country CC] [--ip-country CC]
      [--decision allow|deny] [--code C] [--screening S] [--since T] [--until T]
      [--format table|json|csv] [--summary] [--index FILE] [--rebuild]
      the records that match (decision and transfer records), from the files or from
      every instance's sealed files in the anchor (with an instance column), read from
      an index of them (SQLite) brought up to date first; the index checks each line's
      hash and the chain as it reads, and a break fails the query (exit 1) after the
      records before it; --summary counts requests, denials and bytes per model x
      country x decision; --evidence OUT.tar.gz writes them instead as an evidence
      archive: each record with the chain of lines to the signed checkpoint after it
  weightgate audit verify --evidence FILE [--key PUB.pem] [--anchor ...] [--strict]
      check an evidence archive offline: every line's hash, each segment's chain to
      its checkpoint, the signatures (--key), the records listed, and (--anchor) that
      the checkpoints are the anchored ones; exit 0, 1 naming the first failure, 2

A DIR stands for its audit-NNNNNN.jsonl files in rotation order. The anchor's
credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
`

func (m *Main) audit(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, auditUsage)
		return errors.New("audit: verify or query?")
	}
	switch args[0] {
	case "verify":
		return m.auditVerify(ctx, args[1:])
	case "query":
		return m.auditQuery(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, auditUsage)
		return flag.ErrHelp
	}
	fmt.Fprint(m.Stderr, auditUsage)
	return fmt.Errorf("audit: unknown command %q", args[0])
}

// auditFiles expands the arguments: a directory stands for its rotation
// sequence, a file for itself.
func auditFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		fs, err := audit.Files(a)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("%s holds no audit files", a)
		}
		files = append(files, fs...)
	}
	return files, nil
}

// parseInterleaved parses flags that may come before or after the file
// arguments (`audit query FILE --model x` reads naturally).
func parseInterleaved(fs interface {
	Parse([]string) error
	Args() []string
}, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func (m *Main) auditVerify(ctx context.Context, args []string) error {
	fs := m.newFlagSet("audit verify", "[--key PUB.pem] [--anchor s3://BUCKET/PREFIX] [--strict] [FILE|DIR...]")
	keyPath := fs.String("key", "", "Ed25519 public key (PEM) of the checkpoint signer: every checkpoint must verify")
	head := fs.String("head", "", `head file to check the tail against (default: audit.head beside the files, if present; "-": none)`)
	maxUnsigned := fs.Int("max-unsigned", audit.DefaultMaxUnsigned, "with --key: the longest run of records allowed without a signed checkpoint (set it to audit.checkpoint.every + 16)")
	partial := fs.Bool("partial", false, "accept a chain that does not start at seq 1 (older files archived elsewhere)")
	strict := fs.Bool("strict", false, "fail (exit 1) on every NOTE: whatever could not be proven fails; needs --anchor or --key")
	interval := fs.Duration("interval", audit.DefaultCheckpointInterval, "with --anchor: the trail's audit.checkpoint.interval; anchored checkpoints further apart fail")
	evidencePath := fs.String("evidence", "", "check an evidence archive (audit query --evidence) instead of a trail: its lines, chains, checkpoints (signatures with --key) and, with --anchor, that its checkpoints are the anchored ones")
	var af anchorFlags
	af.register(fs)
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *evidencePath != "" && len(paths) > 0 {
		return errors.New("audit verify: give --evidence FILE or FILE|DIR, not both")
	}
	if len(paths) == 0 && af.URL == "" && *evidencePath == "" {
		fs.Usage()
		return errors.New("audit verify: no files given (or --anchor to verify a fleet from its anchor)")
	}
	if *strict && af.URL == "" && *keyPath == "" {
		fmt.Fprintln(m.Stdout, "FAIL --strict: neither --anchor nor --key given: a trail checked by neither can be rewritten whole by anyone who can write its directory")
		return errTampered
	}
	opts := audit.VerifyOptions{HeadFile: *head, MaxUnsigned: *maxUnsigned}
	if *keyPath != "" {
		pub, err := identity.LoadPublicKeyPEM(*keyPath)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		ed, ok := pub.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("audit verify: %s is a %T, want an Ed25519 public key", *keyPath, pub)
		}
		opts.PublicKey = ed
	}
	var anchor audit.AnchorStore
	if af.URL != "" {
		if anchor, err = af.open(); err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
	}
	if *evidencePath != "" {
		return m.verifyEvidence(ctx, *evidencePath, opts.PublicKey, anchor, *strict)
	}
	aopts := audit.AnchorOptions{VerifyOptions: opts, Interval: *interval, Partial: *partial}
	if len(paths) == 0 {
		return m.verifyFleet(ctx, anchor, aopts, *strict)
	}
	files, err := auditFiles(paths)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}

	var (
		sum   audit.Summary
		asum  audit.AnchorSummary
		notes []string
	)
	if anchor != nil {
		inst, err := af.instance(ctx, anchor)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		asum, err = audit.VerifyAnchored(ctx, files, inst, anchor, aopts)
		if err != nil {
			return m.verifyFailed(err)
		}
		sum, notes = asum.Summary, asum.Notes
	} else if sum, err = audit.Verify(files, opts); err != nil {
		return m.verifyFailed(err)
	}
	checkpoints := fmt.Sprintf("%d checkpoints (not verified: no --key)", sum.Checkpoints)
	if opts.PublicKey != nil {
		checkpoints = fmt.Sprintf("%d checkpoints, %d verified", sum.Checkpoints, sum.CheckpointsVerified)
	}
	fmt.Fprintf(m.Stdout, "OK %d records in %d files, seq %d..%d, %s .. %s, %s, head %s\n",
		sum.Records, sum.Files, sum.FirstSeq, sum.LastSeq,
		sum.First.UTC().Format(time.RFC3339), sum.Last.UTC().Format(time.RFC3339), checkpoints, sum.LastHash)
	if anchor != nil {
		fmt.Fprintf(m.Stdout, "OK anchored as %s: %d sealed files and %d checkpoints match, the newest at seq %d\n",
			asum.Instance, asum.AnchoredFiles, asum.AnchoredCheckpoints, asum.NewestAnchoredSeq)
	}
	if sum.FirstSeq != 1 {
		if !*partial {
			fmt.Fprintf(m.Stdout, "FAIL %s: the chain starts at seq %d, not 1: the records before it are missing (pass --partial if they were archived elsewhere)\n", files[0], sum.FirstSeq)
			return errTampered
		}
		notes = append(notes, fmt.Sprintf("the chain starts at seq %d: seq 1..%d are in files not given, and are not verified", sum.FirstSeq, sum.FirstSeq-1))
	}
	if sum.InFlight {
		notes = append(notes, "the last file ends in a record being written (or torn by a crash): it was not verified")
	}
	if opts.PublicKey != nil && sum.Unsigned > 0 {
		notes = append(notes, fmt.Sprintf("the last %d records are not yet covered by a signed checkpoint", sum.Unsigned))
	}
	if !sum.HeadChecked {
		notes = append(notes, "no head file was checked: a truncated tail after the last checkpoint would not show")
	}
	return m.printNotes("", notes, *strict)
}

// verifyEvidence checks an evidence archive offline.
func (m *Main) verifyEvidence(ctx context.Context, path string, pub ed25519.PublicKey, anchor audit.AnchorStore, strict bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	res, err := evidence.Verify(ctx, f, evidence.VerifyOptions{PublicKey: pub, Anchor: anchor})
	if err != nil {
		return m.verifyFailed(err)
	}
	checkpoints := fmt.Sprintf("%d checkpoints (not verified: no --key)", res.Checkpoints)
	if pub != nil {
		checkpoints = fmt.Sprintf("%d checkpoints, %d verified", res.Checkpoints, res.CheckpointsVerified)
	}
	if anchor != nil {
		checkpoints += fmt.Sprintf(", %d anchored", res.CheckpointsAnchored)
	}
	fmt.Fprintf(m.Stdout, "OK evidence %s: %d records from %s in %d segments of %d lines, %s, exported %s\n", path, res.Records,
		strings.Join(res.Manifest.Instances, ", "), res.Segments, res.Lines, checkpoints, res.Manifest.Created.UTC().Format(time.RFC3339))
	return m.printNotes("", res.Notes, strict)
}

// verifyFailed prints a verification failure: the first record that
// differs, with exit status 1; any other error (an unreadable file or
// anchor) is returned for exit status 2.
func (m *Main) verifyFailed(err error) error {
	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		fmt.Fprintf(m.Stdout, "FAIL %s\n", ve)
		return errTampered
	}
	return fmt.Errorf("audit verify: %w", err)
}

// printNotes prints the notes (prefixed for an instance of a fleet) and,
// with strict, fails on any.
func (m *Main) printNotes(prefix string, notes []string, strict bool) error {
	for _, n := range notes {
		fmt.Fprintf(m.Stdout, "NOTE %s%s\n", prefix, n)
	}
	if strict && len(notes) > 0 {
		fmt.Fprintf(m.Stdout, "FAIL %s--strict: %d notes: what they name is not proven\n", prefix, len(notes))
		return errTampered
	}
	return nil
}

// verifyFleet verifies every instance an anchor holds, from the anchor
// alone: one line per instance.
func (m *Main) verifyFleet(ctx context.Context, anchor audit.AnchorStore, opts audit.AnchorOptions, strict bool) error {
	res, err := audit.VerifyFleet(ctx, anchor, opts)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if len(res) == 0 {
		fmt.Fprintln(m.Stdout, "FAIL the anchor holds no instance: nothing to verify")
		return errTampered
	}
	failed := false
	for _, r := range res {
		if r.Err != nil {
			var ve *audit.VerifyError
			if !errors.As(r.Err, &ve) {
				return fmt.Errorf("audit verify: %s: %w", r.Instance, r.Err)
			}
			fmt.Fprintf(m.Stdout, "FAIL %s: %s\n", r.Instance, ve)
			failed = true
			continue
		}
		checkpoints := fmt.Sprintf("%d checkpoints (not verified: no --key)", r.AnchoredCheckpoints)
		if opts.PublicKey != nil {
			checkpoints = fmt.Sprintf("%d checkpoints, verified", r.AnchoredCheckpoints)
		}
		fmt.Fprintf(m.Stdout, "OK %s: %d records in %d sealed files, seq %d..%d, %s .. %s, %s, the newest at seq %d\n",
			r.Instance, r.Records, r.Files, r.FirstSeq, r.LastSeq, r.First.UTC().Format(time.RFC3339), r.Last.UTC().Format(time.RFC3339),
			checkpoints, r.NewestAnchoredSeq)
		if err := m.printNotes(r.Instance+": ", r.Notes, strict); err != nil {
			failed = true
		}
	}
	if failed {
		return errTampered
	}
	return nil
}

// parseWhen accepts RFC 3339 or a date (UTC midnight).
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-01-02T15:04:05Z) nor a date (2026-01-02)", s)
}

var queryColumns = []string{"seq", "time", "type", "request_id", "api", "decision", "status", "code", "model", "object", "subject", "entity", "country", "bytes", "outcome", "reason"}

func queryRow(r index.Row) []string {
	num := func(n int64) string {
		if n == 0 && r.Kind != audit.RecordTransfer {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	status := ""
	if r.Status != 0 {
		status = strconv.Itoa(r.Status)
	}
	entity := r.EntityName
	if entity == "" {
		entity = r.EntityID
	}
	return []string{strconv.FormatInt(r.Seq, 10), r.Time.UTC().Format(time.RFC3339Nano), r.Kind, r.RequestID, r.API,
		r.Decision, status, r.Code, r.Model, r.File, r.Subject, entity, r.Country, num(r.Bytes), r.Outcome, r.Reason}
}

// queryLine is a record as --format json prints it: the audit line's fields
// in the line's own order.
type queryLine struct {
	Instance string          `json:"instance,omitempty"` // read from an anchor
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Kind     string          `json:"kind"`
	Prev     string          `json:"prev"`
	Record   json.RawMessage `json:"record"`
	Hash     string          `json:"hash"`
}

// indexCacheDir is where `audit query` keeps its indexes by default; tests
// point it elsewhere.
var indexCacheDir = func() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "weightgate"), nil
}

// defaultIndexPath is the index of one set of sources: one file per set,
// so that two trails never share (and rebuild) one index. Without a usable
// cache directory (no $HOME, a read-only one, as on some CI runners) the
// index is built in a temporary directory that cleanup removes: the query
// still answers, only without a cache for the next one. warn says so.
func defaultIndexPath(sources []string, warn io.Writer) (path string, cleanup func(), err error) {
	sum := sha256.Sum256([]byte(strings.Join(sources, "\n")))
	name := "audit-index-" + hex.EncodeToString(sum[:6]) + ".db"
	dir, err := indexCacheDir()
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		// MkdirAll succeeds on a read-only directory that exists.
		var f *os.File
		if f, err = os.CreateTemp(dir, ".probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return filepath.Join(dir, name), func() {}, nil
		}
	}
	tmp, terr := os.MkdirTemp("", "weightgate-index-")
	if terr != nil {
		return "", nil, fmt.Errorf("no cache directory for the index (%v) and no temporary one (%v): give --index FILE", err, terr)
	}
	fmt.Fprintf(warn, "audit query: no cache directory for the index (%v): building it in a temporary file, removed afterwards (--index FILE keeps it)\n", err)
	return filepath.Join(tmp, name), func() { os.RemoveAll(tmp) }, nil
}

func (m *Main) auditQuery(ctx context.Context, args []string) error {
	fs := m.newFlagSet("audit query", "FILE|DIR...|--anchor s3://BUCKET/PREFIX [filters] [--format table|json|csv] [--summary] [--index FILE]")
	var f index.Filter
	fs.StringVar(&f.Model, "model", "", "model id, ORG/NAME")
	fs.StringVar(&f.File, "file", "", "file of the model (the object path, e.g. model-00001-of-00002.safetensors)")
	fs.StringVar(&f.Subject, "subject", "", "subject (token sub)")
	fs.StringVar(&f.Entity, "entity", "", "entity name or id")
	fs.StringVar(&f.Country, "country", "", "requester country, ISO code")
	fs.StringVar(&f.Decision, "decision", "", "allow or deny (decision records only)")
	fs.StringVar(&f.Code, "code", "", "decision code, e.g. country_of_concern (decision records only)")
	fs.StringVar(&f.Screening, "screening", "", "screening status: hit, review, clear or off (decision records only)")
	fs.StringVar(&f.IPCountry, "ip-country", "", "country of the client address, ISO code (decision records only)")
	since := fs.String("since", "", "records at or after this time (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "records before this time")
	format := fs.String("format", "table", "table, json (the audit lines: seq, time, kind, prev, record, hash) or csv")
	summary := fs.Bool("summary", false, "print requests, denials and bytes per model x country x decision instead of records")
	indexPath := fs.String("index", "", "the index to query, brought up to date first (default: a file per set of sources under the user cache directory, $XDG_CACHE_HOME/weightgate or ~/.cache/weightgate)")
	rebuild := fs.Bool("rebuild", false, "delete the index first and build it again from the trail")
	evidenceOut := fs.String("evidence", "", "write the matching records as an evidence archive (tar.gz) to this file instead of printing them (check it with audit verify --evidence)")
	var af anchorFlags
	af.register(fs)
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 && af.URL == "" {
		fs.Usage()
		return errors.New("audit query: no files given (or --anchor to read a fleet's sealed files)")
	}
	if len(paths) > 0 && af.URL != "" {
		return errors.New("audit query: give FILE|DIR or --anchor, not both")
	}
	if len(paths) > 1 && af.Instance != "" {
		return errors.New("audit query: --anchor-instance names the trail of one FILE|DIR")
	}
	if f.Decision != "" && f.Decision != "allow" && f.Decision != "deny" {
		return fmt.Errorf("audit query: --decision must be allow or deny, got %q", f.Decision)
	}
	if !slices.Contains([]string{"table", "json", "csv"}, *format) {
		return fmt.Errorf("audit query: --format must be table, json or csv, got %q", *format)
	}
	f.Country, f.IPCountry = strings.ToUpper(f.Country), strings.ToUpper(f.IPCountry)
	if f.Since, err = parseWhen(*since); err != nil {
		return fmt.Errorf("audit query: --since: %w", err)
	}
	if f.Until, err = parseWhen(*until); err != nil {
		return fmt.Errorf("audit query: --until: %w", err)
	}
	// Decision and transfer records alike, as the trail holds them.
	f.Kind = index.KindAny
	f.Instance = af.Instance

	ix, closeIndex, err := m.openQueryIndex(ctx, paths, af, *indexPath, *rebuild)
	if err != nil {
		return fmt.Errorf("audit query: %w", err)
	}
	defer closeIndex()
	broken, err := brokenInstances(ctx, ix, f.Instance)
	if err != nil {
		return fmt.Errorf("audit query: %w", err)
	}

	if *evidenceOut != "" {
		return m.writeEvidence(ctx, ix, f, *evidenceOut, broken)
	}

	// From an anchor, every record says which gateway wrote it.
	fromAnchor := af.URL != ""
	columns := queryColumns
	if fromAnchor {
		columns = append([]string{"instance"}, queryColumns...)
	}
	row := func(r index.Row) []string {
		if fromAnchor {
			return append([]string{r.Instance}, queryRow(r)...)
		}
		return queryRow(r)
	}
	var (
		emit  func(index.Row) error
		flush = func() error { return nil }
	)
	var totals audit.Totals
	switch {
	case *summary:
		emit = func(r index.Row) error {
			totals.Add(&audit.Record{Type: r.Kind, Model: r.Model, Country: r.Country, Decision: r.Decision, Bytes: r.Bytes})
			return nil
		}
	case *format == "json":
		enc := json.NewEncoder(m.Stdout)
		err = ix.EachLine(ctx, f, func(r index.Row, line []byte) error {
			e, err := audit.CheckLine(line)
			if err != nil {
				return err
			}
			inst := ""
			if fromAnchor {
				inst = r.Instance
			}
			return enc.Encode(queryLine{inst, e.Seq, e.Time, e.Kind, e.Prev, e.Record, e.Hash})
		})
	case *format == "csv":
		cw := csv.NewWriter(m.Stdout)
		if err := cw.Write(columns); err != nil {
			return err
		}
		emit = func(r index.Row) error { return cw.Write(row(r)) }
		flush = func() error { cw.Flush(); return cw.Error() }
	default:
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(columns, "\t")))
		n := 0
		emit = func(r index.Row) error {
			fmt.Fprintln(tw, strings.Join(row(r), "\t"))
			// tabwriter holds rows until Flush to align them; flushing
			// every 1000 keeps memory flat on a multi-gigabyte log.
			if n++; n%1000 == 0 {
				return tw.Flush()
			}
			return nil
		}
		flush = tw.Flush
	}
	if emit != nil {
		err = ix.Each(ctx, f, emit)
	}
	if err != nil {
		return fmt.Errorf("audit query: %w", err)
	}
	if *summary {
		err = m.printSummary(totals.Rows(), *format)
	} else {
		err = flush()
	}
	if err != nil {
		return err
	}
	if len(broken) > 0 {
		// The rows before each break are printed; what follows it is not
		// in the index, so the answer is incomplete: say so and fail.
		for _, b := range broken {
			fmt.Fprintf(m.Stderr, "audit query: %s: the chain breaks at %s: the records after it are not included (see weightgate audit verify)\n", b.Instance, b.VerifyError)
		}
		return errTampered
	}
	return nil
}

// writeEvidence writes the archive of f's records to path (through a
// temporary file: a failed export leaves no partial archive behind).
func (m *Main) writeEvidence(ctx context.Context, ix *index.Index, f index.Filter, path string, broken []index.InstanceStatus) error {
	if len(broken) > 0 {
		return fmt.Errorf("audit query: %s: the chain breaks at %s: no evidence is exported from a broken trail (see weightgate audit verify)", broken[0].Instance, broken[0].VerifyError)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".evidence-*")
	if err != nil {
		return fmt.Errorf("audit query: %w", err)
	}
	defer os.Remove(tmp.Name())
	sum, err := evidence.Write(ctx, tmp, ix, f)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("audit query: %w", err)
	}
	fmt.Fprintf(m.Stdout, "wrote %s: %d records in %d lines, %d checkpoints, from %s\n", path, sum.Records, sum.Lines, sum.Checkpoints, strings.Join(sum.Instances, ", "))
	return nil
}

// openQueryIndex opens the index of the sources `audit query` names and
// brings it up to date: each FILE or DIR argument one trail, or every
// instance of the anchor. closeIndex closes it (and removes it when it was
// only temporary).
func (m *Main) openQueryIndex(ctx context.Context, paths []string, af anchorFlags, path string, rebuild bool) (ix *index.Index, closeIndex func(), err error) {
	var sources []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, err
		}
		sources = append(sources, abs)
	}
	if af.URL != "" {
		sources = []string{af.URL, af.Endpoint}
	}
	cleanup := func() {}
	if path == "" {
		if path, cleanup, err = defaultIndexPath(sources, m.Stderr); err != nil {
			return nil, nil, err
		}
	}
	if rebuild {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				cleanup()
				return nil, nil, err
			}
		}
	}
	// Reading the anchor's listings on every Sync: the command syncs once.
	if ix, err = index.Open(path, index.Options{Logger: slog.New(slog.DiscardHandler), AnchorInterval: -1}); err != nil {
		cleanup()
		return nil, nil, err
	}
	closeIndex = func() { ix.Close(); cleanup() }
	if err := addQuerySources(ctx, ix, paths, af); err != nil {
		closeIndex()
		return nil, nil, err
	}
	if _, err := ix.Sync(ctx); err != nil {
		closeIndex()
		return nil, nil, err
	}
	return ix, closeIndex, nil
}

func addQuerySources(ctx context.Context, ix *index.Index, paths []string, af anchorFlags) error {
	if af.URL != "" {
		anchor, err := af.open()
		if err != nil {
			return err
		}
		return ix.AddAnchor(anchor)
	}
	// One trail per argument, named so that they sort in argument order:
	// the records come out in the order the files were given.
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		inst := fmt.Sprintf("local-%04d", i+1)
		if af.Instance != "" && len(paths) == 1 {
			// The trail's own name (its audit.anchor.instance), which
			// evidence archives carry and their anchor knows it by.
			inst = af.Instance
		}
		if !fi.IsDir() {
			err = ix.AddFiles(inst, []string{p})
		} else if files, ferr := audit.Files(p); ferr != nil {
			return ferr
		} else if len(files) == 0 {
			return fmt.Errorf("%s holds no audit files", p)
		} else {
			err = ix.AddDir(inst, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// brokenInstances returns the instances (of the one named, if any) whose
// chain the index found broken.
func brokenInstances(ctx context.Context, ix *index.Index, only string) ([]index.InstanceStatus, error) {
	st, err := ix.Integrity(ctx)
	if err != nil {
		return nil, err
	}
	var out []index.InstanceStatus
	for _, s := range st {
		if s.VerifyError != "" && (only == "" || s.Instance == only) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *Main) printSummary(rows []audit.TotalsRow, format string) error {
	header := []string{"model", "country", "decision", "requests", "denials", "bytes"}
	row := func(t audit.TotalsRow) []string {
		return []string{t.Model, t.Country, t.Decision, strconv.FormatInt(t.Requests, 10), strconv.FormatInt(t.Denials, 10), strconv.FormatInt(t.Bytes, 10)}
	}
	switch format {
	case "json":
		enc := json.NewEncoder(m.Stdout)
		for _, t := range rows {
			if err := enc.Encode(map[string]any{"model": t.Model, "country": t.Country, "decision": t.Decision,
				"requests": t.Requests, "denials": t.Denials, "bytes": t.Bytes}); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(m.Stdout)
		cw.Write(header)
		for _, t := range rows {
			cw.Write(row(t))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, t := range rows {
		fmt.Fprintln(tw, strings.Join(row(t), "\t"))
	}
	return tw.Flush()
}
