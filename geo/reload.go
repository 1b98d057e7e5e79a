package geo

import (
	"net/netip"
	"sync"
)

// ReloadableDB is a country database that Reload replaces from its file, for
// SIGHUP. A lookup holds the read lock, so the old database is closed only
// once no lookup is using it.
type ReloadableDB struct {
	path string
	mu   sync.RWMutex
	db   *DB
}

// OpenReloadable opens the database at path, as Open does.
func OpenReloadable(path string) (*ReloadableDB, error) {
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	return &ReloadableDB{path: path, db: db}, nil
}

// Country is DB.Country on the database in use.
func (c *ReloadableDB) Country(addr netip.Addr) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.db.Country(addr)
}

// Reload opens the file again and swaps it in. A file that does not open
// leaves the database in use as it is.
func (c *ReloadableDB) Reload() error {
	db, err := Open(c.path)
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := c.db
	c.db = db
	c.mu.Unlock()
	return old.Close()
}

// Close closes the database in use.
func (c *ReloadableDB) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db.Close()
}

// Path is the file the database is read from.
func (c *ReloadableDB) Path() string { return c.path }
