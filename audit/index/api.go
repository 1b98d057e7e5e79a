package index

import (
	"errors"
	"log/slog"
	"time"
)

// ErrNotFound is returned by Entry for a record the index does not hold.
var ErrNotFound = errors.New("index: record not found")

// Options configures Open.
type Options struct {
	// Logger receives what Sync finds (a broken chain, an unreadable
	// source); nil discards it.
	Logger *slog.Logger
	// Now is the clock for Integrity's LastVerified and Overview's open
	// end; nil means time.Now.
	Now func() time.Time
	// AnchorInterval is how often Sync lists what an anchor holds (its
	// listings grow with every checkpoint, so Follow's interval is too
	// often). 0 means DefaultAnchorInterval; negative means every Sync.
	AnchorInterval time.Duration
}

// DefaultAnchorInterval is Options.AnchorInterval's default.
const DefaultAnchorInterval = time.Minute

// Filter selects rows. Empty fields match anything.
type Filter struct {
	// Since and Until bound the record's time: at or after Since, before
	// Until. Zero means open.
	Since, Until time.Time
	// Entity matches the entity's name or its id; File the object path.
	Instance, Subject, Entity, Country, IPCountry, Model, File, Decision, Code, Screening string
	// Kind is "decision" (the default, ""), "transfer" or "any".
	Kind string
}

// Row kinds, as in Filter.Kind and Row.Kind.
const (
	KindDecision = "decision"
	KindTransfer = "transfer"
	KindAny      = "any"
)

// Row is one decision or transfer record.
type Row struct {
	Instance string
	Seq      int64
	Time     time.Time // the line's time (when the record was logged)
	Kind     string    // "decision" or "transfer"

	RequestID, API, Method, Subject, EntityName, EntityID, Country, IPCountry, Model, File string
	Decision, Code, Reason, Screening                                                      string

	Status int
	Bytes  int64 // transfer bytes (transfer rows), 0 otherwise

	PolicyBundle, PolicyRevision string

	// Outcome is a transfer's outcome (complete, aborted, error); "" on
	// decision rows.
	Outcome string

	// Gap is set only on rows from Subscribe: rows were missed before this one.
	Gap bool
}

// Page is one page of Query.
type Page struct {
	Rows  []Row
	Next  string // cursor of the next page, "" at the end
	Total int64  // rows matching the filter, on every page
}

// Count is one group of an Overview.
type Count struct {
	Key   string
	N     int64
	Bytes int64
}

// Overview sums up the decisions of a time range.
type Overview struct {
	Since, Until time.Time

	Decisions, Denials int64
	Bytes              int64 // bytes sent: the sum of the transfer rows'

	ByCode            []Count // decisions by code (Key = code), most first
	RefusalsByCountry []Count // denials by requester country (Key = ISO alpha-2), most first
	// ByModel counts allowed downloads (N: transfer rows, one per streamed
	// file) and bytes sent per model, most bytes first.
	ByModel                  []Count
	TopSubjects, TopEntities []Count // top 10 by decisions; an entity is its name, or its id when it has none

	ScreeningHits, ScreeningReviews int64

	ByHour []Count // decisions per hour (Key = the hour, RFC 3339 UTC), oldest first
}

// Entry is one record with its place in the chain.
type Entry struct {
	Row  Row
	Line []byte // the exact line from the trail file, without its newline
	// File is the file's path (a directory source) or its anchored
	// object's name (anchor:<instance>/files/<name>); LineNo is 1-based.
	File   string
	LineNo int
	// Checkpoint is the first checkpoint after the record (the one whose
	// signature covers it); nil if none yet.
	Checkpoint *CheckpointRef
	// Anchored reports that the checkpoint, or the sealed file holding the
	// record, is in the anchor.
	Anchored bool
}

// CheckpointRef is a checkpoint record.
type CheckpointRef struct {
	Seq   int64
	Time  time.Time
	KeyID string
	Line  []byte // the exact line, without its newline
}

// InstanceStatus is what the index knows of one instance's trail.
type InstanceStatus struct {
	Instance string
	Source   string // the directory, or "anchor"

	Records           int64 // decision and transfer records indexed
	FirstSeq, LastSeq int64 // of every record read (start and checkpoint records too)
	LastTime          time.Time

	Checkpoints         int64
	LastCheckpoint      time.Time
	AnchoredCheckpoints int64
	SealedFiles         int
	AnchoredFiles       int

	// LastVerified is when Sync last read the chain to its end without a
	// break; VerifyError is "" while the chain read so far is continuous,
	// else the first break (file:line: seq N: reason): nothing after it is
	// indexed.
	LastVerified time.Time
	VerifyError  string
	// Gaps lists, human-readably, what is missing: files indexed before and
	// gone since, seq gaps, sealed files the anchor does not hold.
	Gaps []string
}
