package screening

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ListFile is one configured list: a file in the Consolidated Screening
// List's CSV or JSON format, and the name its entries are reported under
// when they carry no source of their own.
type ListFile struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"` // .csv or .json
}

// Lists is the set of configured lists behind one Index, reloadable while
// requests are screened: a reload builds a new index aside and swaps it in,
// so a request never waits for a reload nor sees half a list, and a reload
// that fails keeps the lists in force.
type Lists struct {
	files  []ListFile
	opts   Options
	logger *slog.Logger

	mu    sync.Mutex // serialises loads
	index atomic.Pointer[Index]
	state atomic.Pointer[State]
}

// State describes the lists in force and the last load, for /readyz.
type State struct {
	// Entries is the number of entries in force, across all lists.
	Entries int `json:"entries"`
	// Lists are the files in force, as last loaded successfully.
	Lists []ListState `json:"lists"`
	// LoadedAt is when the lists in force were loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// Error is why the last reload failed, "" when it did not; FailedAt
	// is when. The lists in force are then older than the files.
	Error    string    `json:"error,omitempty"`
	FailedAt time.Time `json:"failed_at,omitzero"`
}

// ListState is one file of the lists in force.
type ListState struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Entries int    `json:"entries"`
	SHA256  string `json:"sha256"`
}

// OpenLists loads every file and builds the index. Any file that fails to
// load is an error: a gateway must not start screening against less than it
// was configured with.
func OpenLists(files []ListFile, opts Options, logger *slog.Logger) (*Lists, error) {
	if len(files) == 0 {
		return nil, errors.New("screening: no lists configured")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Lists{files: files, opts: opts, logger: logger}
	ix, st, err := l.load()
	if err != nil {
		return nil, err
	}
	l.index.Store(ix)
	l.state.Store(st)
	logger.Info("screening lists loaded", "entries", st.Entries, "lists", len(st.Lists))
	return l, nil
}

// load reads every file and builds a new index, touching nothing in force.
func (l *Lists) load() (*Index, *State, error) {
	st := &State{}
	var all []Entry
	for _, f := range l.files {
		raw, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("screening: list %s: %w", f.Name, err)
		}
		entries, err := ParseBytes(raw, f.Path, f.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("screening: list %s: %w", f.Name, err)
		}
		// The hash is of the very bytes parsed, so /readyz names the
		// version in force even if the file changes again.
		sum := sha256.Sum256(raw)
		st.Lists = append(st.Lists, ListState{Name: f.Name, Path: f.Path, Entries: len(entries), SHA256: hex.EncodeToString(sum[:])})
		all = append(all, entries...)
	}
	ix, err := NewIndex(all, l.opts)
	if err != nil {
		return nil, nil, err
	}
	st.Entries, st.LoadedAt = len(all), time.Now().UTC()
	return ix, st, nil
}

// Reload rereads the files. On success the new lists take over at once; on
// failure the lists in force stay, the error is logged and kept in State
// until a reload succeeds, and Reload returns it.
func (l *Lists) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ix, st, err := l.load()
	if err != nil {
		old := *l.state.Load()
		old.Error, old.FailedAt = err.Error(), time.Now().UTC()
		l.state.Store(&old)
		l.logger.Error("screening lists reload refused; the previous lists stay in force",
			"err", err, "entries_in_force", old.Entries, "loaded_at", old.LoadedAt)
		return err
	}
	l.index.Store(ix)
	l.state.Store(st)
	l.logger.Info("screening lists reloaded", "entries", st.Entries, "lists", len(st.Lists))
	return nil
}

// Screen screens q against the lists in force.
func (l *Lists) Screen(q Query) Result { return l.index.Load().Screen(q) }

// State describes the lists in force and the last reload.
func (l *Lists) State() State {
	st := *l.state.Load()
	st.Lists = append([]ListState(nil), st.Lists...)
	return st
}
