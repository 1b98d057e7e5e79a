// Package licence keeps what a compliance team runs its licences on beyond
// the policy's own data: the durable count of releases made under each
// capped licence, and the licences and attestations of the policy registry
// that are about to expire.
package licence

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/weightgate/weightgate/policy"
)

// ErrExhausted is returned by Reserve when a licence has no release left.
var ErrExhausted = errors.New("licence: no release left")

// countsVersion is the format of the counts file.
const countsVersion = 1

// countsFile is the counts file's content.
type countsFile struct {
	Version int `json:"version"`
	// Releases is the releases made under each licence, by licence id.
	Releases map[string]int `json:"releases"`
}

// Counter counts the releases made under capped licences, durably: a
// release is counted, and the count is on disk, before Reserve returns, so
// that a cap holds across restarts and crashes. Counts only grow: a release
// is counted when it is reserved, before any byte is sent, and never given
// back (a transfer cut short may still have delivered part of the weights).
//
// The counts live in one small JSON file, rewritten whole for each
// reservation (a temporary file, fsync, rename, fsync of the directory).
// There are as many entries as capped licences, a handful, and a
// reservation is rare (one per licensed weights download), so an embedded
// database would add a dependency and a file format for no gain; the
// rename is what makes each write all-or-nothing.
type Counter struct {
	path string
	mu   sync.Mutex
	used map[string]int
}

// Open reads the counts at path, or starts with none when the file does not
// exist (its directory must). A file that exists but cannot be read or
// parsed is an error: starting from zero would hand out releases again.
func Open(path string) (*Counter, error) {
	c := &Counter{path: path, used: map[string]int{}}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("licence counts: %s: the directory must exist", path)
	}
	bs, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("licence counts: %w", err)
	}
	var f countsFile
	if err := json.Unmarshal(bs, &f); err != nil {
		return nil, fmt.Errorf("licence counts: %s: %w", path, err)
	}
	if f.Version != countsVersion {
		return nil, fmt.Errorf("licence counts: %s: version %d, want %d", path, f.Version, countsVersion)
	}
	for id, n := range f.Releases {
		if n < 0 {
			return nil, fmt.Errorf("licence counts: %s: licence %q has %d releases", path, id, n)
		}
		c.used[id] = n
	}
	return c, nil
}

// Counts returns a copy of the releases made under each licence.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.used)
}

// Reserve counts one release under each of rs, all or none: it returns
// ErrExhausted (wrapped, naming the licence) if any has made its
// MaxReleases already, and any error writing the counts, in which case
// nothing is counted and nothing may be sent. Reservations are serialised,
// so that two requests for a licence's last release cannot both have it.
func (c *Counter) Reserve(rs []policy.Release) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rs {
		if c.used[r.Licence] >= r.MaxReleases {
			return fmt.Errorf("%w: licence %s has made %d of %d releases", ErrExhausted, r.Licence, c.used[r.Licence], r.MaxReleases)
		}
	}
	next := maps.Clone(c.used)
	for _, r := range rs {
		next[r.Licence]++
	}
	if err := c.write(next); err != nil {
		return err
	}
	c.used = next
	return nil
}

// write replaces the counts file with used, durably.
func (c *Counter) write(used map[string]int) error {
	bs, err := json.MarshalIndent(countsFile{Version: countsVersion, Releases: used}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("licence counts: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(append(bs, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("licence counts: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("licence counts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("licence counts: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("licence counts: %w", err)
	}
	// The rename is durable only once the directory is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("licence counts: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("licence counts: %w", err)
	}
	return nil
}
