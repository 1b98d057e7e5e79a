// Package index keeps a queryable index of audit trails: an embedded SQLite
// database (modernc.org/sqlite, pure Go) derived from the hash-chained files
// and rebuilt from them at will. Sync reads what each source gained since
// the last Sync, checking the chain as it reads; Query, Each and Overview
// answer from the database.
//
// The index is a cache, not a record: deleting its file loses nothing, and
// it never vouches for more than it read. It checks every line's hash and
// the seq/prev chain of what it reads (a break stops that instance and shows
// in Integrity), but not checkpoint signatures, nor files read before:
// `weightgate audit verify` is the proof.
package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weightgate/weightgate/audit"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// schemaVersion is stored in PRAGMA user_version; a file of another version
// is emptied and rebuilt from the trails.
const schemaVersion = 1

// applicationID marks the file as a weightgate index (PRAGMA
// application_id), so that Open never empties a database of something else
// given by mistake.
const applicationID = 0x77676978 // "wgix"

// Index is an open index. Its methods are safe for concurrent use; Syncs
// run one at a time, queries alongside them (WAL: readers see the last
// committed batch).
type Index struct {
	path        string
	w           *sql.DB // one connection: the only writer
	r           *sql.DB // readers
	log         *slog.Logger
	now         func() time.Time
	anchorEvery time.Duration

	// syncMu serialises Syncs. It is apart from mu so that a long Sync (the
	// first over a big trail takes minutes) never holds up the readers that
	// need the fields below (Integrity, an anchored line).
	syncMu sync.Mutex
	// Sync's progress, read by Progress without a lock.
	syncing  atomic.Bool
	caughtUp atomic.Bool
	read     atomic.Int64 // rows added by the Sync running now
	lastSync atomic.Int64 // Unix nanoseconds when the last Sync ended

	mu       sync.Mutex // guards the fields below; only Sync (under syncMu) writes anchored and anchorAt
	dirs     []dirSource
	anchor   audit.AnchorStore
	anchorAt time.Time              // when the anchor was last listed
	anchored map[string]*anchorList // instance -> what the anchor holds

	subs subscribers
}

type dirSource struct {
	instance, dir string
	files         []string // AddFiles: these files, not the directory's listing
}

// anchorList is what the anchor held for an instance when last listed.
type anchorList struct {
	checkpoints map[uint64]bool
	files       []audit.AnchoredFile
}

const schema = `
CREATE TABLE instances (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	source      TEXT NOT NULL,
	first_seq   INTEGER NOT NULL DEFAULT 0,
	last_seq    INTEGER NOT NULL DEFAULT 0,
	last_hash   TEXT NOT NULL DEFAULT '',
	last_time   INTEGER NOT NULL DEFAULT 0,
	records     INTEGER NOT NULL DEFAULT 0,
	verified_at INTEGER NOT NULL DEFAULT 0,
	broken      TEXT NOT NULL DEFAULT '',
	gaps        TEXT NOT NULL DEFAULT ''
);
CREATE TABLE files (
	id       INTEGER PRIMARY KEY,
	inst     INTEGER NOT NULL,
	name     TEXT NOT NULL,
	path     TEXT NOT NULL,
	off      INTEGER NOT NULL DEFAULT 0,
	lines    INTEGER NOT NULL DEFAULT 0,
	sealed   INTEGER NOT NULL DEFAULT 0,
	anchored INTEGER NOT NULL DEFAULT 0,
	UNIQUE (inst, name)
);
CREATE TABLE checkpoints (
	inst     INTEGER NOT NULL,
	seq      INTEGER NOT NULL,
	time     INTEGER NOT NULL,
	key_id   TEXT NOT NULL,
	file     INTEGER NOT NULL,
	line_no  INTEGER NOT NULL,
	off      INTEGER NOT NULL,
	len      INTEGER NOT NULL,
	anchored INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (inst, seq)
) WITHOUT ROWID;
CREATE TABLE rows (
	id              INTEGER PRIMARY KEY,
	inst            INTEGER NOT NULL,
	seq             INTEGER NOT NULL,
	time            INTEGER NOT NULL,
	kind            TEXT NOT NULL,
	request_id      TEXT NOT NULL,
	api             TEXT NOT NULL,
	method          TEXT NOT NULL,
	subject         TEXT NOT NULL,
	entity_name     TEXT NOT NULL,
	entity_id       TEXT NOT NULL,
	country         TEXT NOT NULL,
	ip_country      TEXT NOT NULL,
	model           TEXT NOT NULL,
	file            TEXT NOT NULL,
	decision        TEXT NOT NULL,
	code            TEXT NOT NULL,
	reason          TEXT NOT NULL,
	screening       TEXT NOT NULL,
	status          INTEGER NOT NULL,
	bytes           INTEGER NOT NULL,
	policy_bundle   TEXT NOT NULL,
	policy_revision TEXT NOT NULL,
	outcome         TEXT NOT NULL,
	file_id         INTEGER NOT NULL,
	line_no         INTEGER NOT NULL,
	off             INTEGER NOT NULL,
	len             INTEGER NOT NULL,
	hash            TEXT NOT NULL
);
-- Every filter column leads an index that ends in time (and, implicitly,
-- the rowid), so that a page newest first is a walk backwards along one
-- index, and its Total a count over one range of it.
CREATE UNIQUE INDEX rows_seq      ON rows (inst, seq);
CREATE INDEX rows_kind_time       ON rows (kind, time);
CREATE INDEX rows_inst_time       ON rows (inst, kind, time);
CREATE INDEX rows_subject         ON rows (subject, kind, time);
CREATE INDEX rows_entity_name     ON rows (entity_name, kind, time);
CREATE INDEX rows_entity_id       ON rows (entity_id, kind, time);
CREATE INDEX rows_country         ON rows (country, kind, time);
CREATE INDEX rows_ip_country      ON rows (ip_country, kind, time);
CREATE INDEX rows_model           ON rows (model, kind, time);
CREATE INDEX rows_file            ON rows (file, kind, time);
CREATE INDEX rows_decision        ON rows (decision, kind, time);
CREATE INDEX rows_code            ON rows (code, kind, time);
CREATE INDEX rows_screening       ON rows (screening, kind, time);
-- Overview's sums per hour and per day, kept as rows are added (see agg.go).
CREATE TABLE agg (
	span   INTEGER NOT NULL,
	dim    INTEGER NOT NULL,
	bucket INTEGER NOT NULL,
	key    TEXT NOT NULL,
	n      INTEGER NOT NULL,
	bytes  INTEGER NOT NULL,
	PRIMARY KEY (span, dim, bucket, key)
) WITHOUT ROWID;
`

// Open opens (creating it if absent) the SQLite index at path. A file from
// another schema version is emptied and rebuilt by the next Sync; a file
// that is not a weightgate index is refused. The index is derived data:
// deleting the file loses nothing.
func Open(path string, opts Options) (*Index, error) {
	if path == "" {
		return nil, errors.New("index: no path")
	}
	ix := &Index{path: path, log: opts.Logger, now: opts.Now, anchorEvery: opts.AnchorInterval,
		anchored: map[string]*anchorList{}}
	if ix.log == nil {
		ix.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if ix.now == nil {
		ix.now = time.Now
	}
	if ix.anchorEvery == 0 {
		ix.anchorEvery = DefaultAnchorInterval
	}
	// busy_timeout: readers and the writer share the file; WAL lets them
	// run together, and the timeout covers checkpoints. synchronous=NORMAL
	// is enough for a cache: a crash loses at most the last batches, which
	// the next Sync reads again (offsets commit with their rows).
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	var err error
	if ix.w, err = sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=cache_size(-32768)"); err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	ix.w.SetMaxOpenConns(1)
	if err := ix.migrate(); err != nil {
		ix.w.Close()
		return nil, err
	}
	if ix.r, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)"); err != nil {
		ix.w.Close()
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	ix.r.SetMaxOpenConns(4)
	return ix, nil
}

// migrate creates the schema, or recreates it when the file holds another
// version of it.
func (ix *Index) migrate() error {
	ctx := context.Background()
	var app, ver int
	if err := ix.w.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return fmt.Errorf("index: %s is not a SQLite database: %w", ix.path, err)
	}
	if err := ix.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return fmt.Errorf("index: %s: %w", ix.path, err)
	}
	if app == applicationID && ver == schemaVersion {
		return nil
	}
	var tables int
	if err := ix.w.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return fmt.Errorf("index: %s: %w", ix.path, err)
	}
	if app != applicationID && tables > 0 {
		return fmt.Errorf("index: %s is a SQLite database but not a weightgate audit index: refusing to overwrite it", ix.path)
	}
	tx, err := ix.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index: %s: %w", ix.path, err)
	}
	defer tx.Rollback()
	if tables > 0 {
		ix.log.Info("audit index: schema changed, rebuilding", "path", ix.path, "version", ver, "want", schemaVersion)
		for _, t := range []string{"instances", "files", "checkpoints", "rows", "agg"} {
			if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return fmt.Errorf("index: drop %s: %w", t, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("index: create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, schemaVersion)); err != nil {
		return fmt.Errorf("index: set version: %w", err)
	}
	return tx.Commit()
}

// Close closes the index. Subscriptions end (their channels close).
func (ix *Index) Close() error {
	ix.subs.closeAll()
	err := ix.r.Close()
	if e := ix.w.Close(); err == nil {
		err = e
	}
	return err
}

// AddDir adds a local audit directory (audit.dir of this gateway, or a copy)
// as instance's trail. The directory is listed at every Sync: its last file
// is the live one, whose incomplete last line is left for a later Sync.
func (ix *Index) AddDir(instance, dir string) error {
	if !audit.ValidInstance(instance) {
		return fmt.Errorf("index: instance %q: want [A-Za-z0-9._-], 1 to 64 characters", instance)
	}
	if dir == "" {
		return fmt.Errorf("index: instance %s: no directory", instance)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, d := range ix.dirs {
		if d.instance == instance {
			return fmt.Errorf("index: instance %s added twice", instance)
		}
	}
	ix.dirs = append(ix.dirs, dirSource{instance: instance, dir: dir})
	return nil
}

// AddFiles adds a fixed list of audit files, in rotation order, as
// instance's trail (an archived subset, say): as AddDir, but only these
// files, the last one live. The chain may begin after seq 1 (Integrity
// names the records before it a gap).
func (ix *Index) AddFiles(instance string, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("index: instance %s: no files", instance)
	}
	if err := ix.AddDir(instance, files[0]); err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.dirs[len(ix.dirs)-1].files = slices.Clone(files)
	return nil
}

// AddAnchor adds every instance the anchor holds (listed again at each
// Sync, at most every Options.AnchorInterval): their sealed files, since an
// anchor has no live tail. An instance also added with AddDir is read from
// its directory; the anchor then only says what of it is anchored.
func (ix *Index) AddAnchor(store audit.AnchorStore) error {
	if store == nil {
		return errors.New("index: nil anchor")
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.anchor != nil {
		return errors.New("index: an anchor was already added")
	}
	ix.anchor = store
	return nil
}

// Follow calls Sync every interval until ctx ends; Sync publishes each new
// row to the subscribers. Errors are logged (once per distinct error), not
// returned: a source that cannot be read now may be readable at the next
// tick.
func (ix *Index) Follow(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last string
	for {
		_, err := ix.Sync(ctx)
		switch {
		case err != nil && ctx.Err() == nil && err.Error() != last:
			ix.log.Error("audit index: sync", "err", err)
			last = err.Error()
		case err == nil:
			last = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fileExists reports whether path exists (for errors that say so).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
