package index

import (
	"context"
	"errors"
	"time"

	"github.com/weightgate/weightgate/audit"
)

// errUnfinished marks what this first commit of the API does not do yet.
var errUnfinished = errors.New("index: not implemented yet")

// Index is the audit index.
type Index struct{}

// Open opens (creating it if absent) the SQLite index at path.
func Open(path string, opts Options) (*Index, error) { return nil, errUnfinished }

// Close closes the index.
func (ix *Index) Close() error { return nil }

// AddDir adds a local audit directory as instance's trail.
func (ix *Index) AddDir(instance, dir string) error { return errUnfinished }

// AddAnchor adds every instance an anchor holds.
func (ix *Index) AddAnchor(store audit.AnchorStore) error { return errUnfinished }

// Sync reads what the sources gained since the last Sync.
func (ix *Index) Sync(ctx context.Context) (int, error) { return 0, errUnfinished }

// Follow calls Sync every interval until ctx ends.
func (ix *Index) Follow(ctx context.Context, interval time.Duration) {}

// Subscribe receives rows added from now on.
func (ix *Index) Subscribe() (rows <-chan Row, cancel func()) {
	ch := make(chan Row)
	close(ch)
	return ch, func() {}
}

// Query returns matching rows newest first.
func (ix *Index) Query(ctx context.Context, f Filter, limit int, cursor string) (Page, error) {
	return Page{}, errUnfinished
}

// Each streams every matching row.
func (ix *Index) Each(ctx context.Context, f Filter, fn func(Row) error) error { return errUnfinished }

// Overview sums up a time range.
func (ix *Index) Overview(ctx context.Context, since, until time.Time) (Overview, error) {
	return Overview{}, errUnfinished
}

// Entry returns one record with its place in the chain.
func (ix *Index) Entry(ctx context.Context, instance string, seq int64) (Entry, error) {
	return Entry{}, errUnfinished
}

// Integrity reports each instance's state.
func (ix *Index) Integrity(ctx context.Context) ([]InstanceStatus, error) { return nil, errUnfinished }
