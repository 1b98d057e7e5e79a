package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/weightgate/weightgate/storage"
)

// Listings read the store forward, one storage page at a time, and never
// the whole store: a page of a listing costs what it returns, plus what it
// passes over (models hidden from the requester), which ScanLimits bound.
// Each model met is assembled from the files the listing read (ModelOf):
// its classification is read once per version of its export.yaml and
// remembered by that version (its ETag), so that a listing of a model
// already seen reads nothing but the listing, however old the entry, and a
// rewritten export.yaml is read again as soon as a listing shows its new
// ETag.

// DefaultClassificationCacheSize is how many parsed export.yaml versions a
// Catalog remembers: enough for a catalog of 100,000 models, at a few
// hundred bytes each (the manifest and its signature record), so at most
// a few tens of MiB.
const DefaultClassificationCacheSize = 131_072

// classKey names one version of a model's export.yaml.
type classKey struct {
	id, etag string
	size     int64
}

// classification is what a version of export.yaml says, once parsed and
// its signature checked.
type classification struct {
	manifest   *Manifest
	signed     bool
	parseError string
}

func newClassCache() *lru.Cache[classKey, classification] {
	c, err := lru.New[classKey, classification](DefaultClassificationCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
}

// classify returns the classification of model id given its export.yaml's
// listing entry mf (found false when it has none), reading the file only
// for a version it has not read before.
func (c *Catalog) classify(ctx context.Context, id string, mf storage.ObjectInfo, found bool) (classification, error) {
	switch {
	case !found:
		return classification{parseError: "export.yaml is missing"}, nil
	case mf.Size > MaxManifestSize:
		return classification{parseError: fmt.Sprintf("export.yaml is %d bytes, more than the %d allowed", mf.Size, MaxManifestSize)}, nil
	}
	k := classKey{id: id, etag: mf.ETag, size: mf.Size}
	if mf.ETag == "" {
		return c.readClass(ctx, k, mf)
	}
	if cl, ok := c.classes.Get(k); ok {
		return cl, nil
	}
	// One read per version however many ask at once: a page's own
	// request and the page's warming (warmClasses) among them.
	v, err, _ := c.flight.Do(fmt.Sprintf("\x01%s\x00%s\x00%d", id, mf.ETag, mf.Size), func() (any, error) {
		return c.readClass(ctx, k, mf)
	})
	if err != nil {
		return classification{}, err
	}
	return v.(classification), nil
}

// readClass reads and parses the version k of a model's export.yaml, and
// remembers it.
func (c *Catalog) readClass(ctx context.Context, k classKey, mf storage.ObjectInfo) (classification, error) {
	id := k.id
	b, err := c.readAll(ctx, id+"/"+ManifestName, mf)
	if err != nil {
		return classification{}, err
	}
	var cl classification
	man, err := ParseManifest(b)
	switch {
	case err != nil:
		cl.parseError = err.Error()
	case c.keys != nil:
		// An unverified classification is no classification: its fields
		// (weights, compute, declared hashes, revision) are dropped here
		// rather than passed on, so that nothing downstream can mistake
		// them for the compliance team's.
		if err := c.keys.Verify(id, man); err != nil {
			cl.parseError = "classification not accepted: " + err.Error()
		} else {
			cl.manifest, cl.signed = &man, true
		}
	default:
		cl.manifest = &man
	}
	if cl.parseError != "" {
		c.logger.Warn("model is unclassified", "model", id, "reason", cl.parseError)
	}
	// Read with If-Match on the listed ETag, so the bytes are that
	// version's; an empty ETag names no version and is not remembered.
	if mf.ETag != "" {
		c.classes.Add(k, cl)
	}
	return cl, nil
}

// MaxClassReads is how many export.yaml reads warming may have under way
// at once, for the whole catalog.
const MaxClassReads = 8

// warmClasses reads, in the background and MaxClassReads at a time, the
// export.yaml versions a page of the store's listing shows and the
// catalog has not read: a listing page then waits for the slowest of its
// reads rather than for their sum. The page's own request reads the
// same versions in order and joins the reads under way (classify); an
// error here is left for it to meet.
func (c *Catalog) warmClasses(p storage.Page, wg *sync.WaitGroup) {
	var todo []storage.ObjectInfo
	for _, o := range p.Objects {
		id, ok := modelOfKey(o.Key)
		if !ok || o.Key != id+"/"+ManifestName || o.ETag == "" || o.Size > MaxManifestSize {
			continue
		}
		if !c.classes.Contains(classKey{id: id, etag: o.ETag, size: o.Size}) {
			todo = append(todo, o)
		}
	}
	if len(todo) == 0 {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), pageFetchTimeout)
		defer cancel()
		var reads sync.WaitGroup
		for _, o := range todo {
			c.classReads <- struct{}{}
			reads.Add(1)
			go func() {
				defer reads.Done()
				defer func() { <-c.classReads }()
				id, _ := modelOfKey(o.Key)
				_, _ = c.classify(ctx, id, o, true)
			}()
		}
		reads.Wait()
	}()
}

// ModelOf is model id assembled from files, every file below its prefix
// (keys relative to it, sorted) as a listing just read them: nothing is
// listed again, and export.yaml is read only for a version not read
// before. A model with no files is reported as ErrModelNotFound. The
// result is not put in the model cache, which only full loads fill.
func (c *Catalog) ModelOf(ctx context.Context, id string, files []storage.ObjectInfo) (*Model, error) {
	if !ValidModelID(id) {
		return nil, fmt.Errorf("%w: malformed id %q", ErrModelNotFound, id)
	}
	m, err := c.assemble(ctx, id, files)
	if err != nil {
		return nil, err
	}
	return foundOrNot(m)
}

// ScanLimits bound what one listing page may read beyond what it returns.
type ScanLimits struct {
	// Entries is how many storage entries (keys) one scan may read.
	Entries int
	// Requests is how many storage listing requests one scan may make.
	Requests int
}

// DefaultScanLimits are a listing page's bounds: four storage pages of
// keys, and 64 requests (a page of common prefixes makes one request for
// each, to find a model in it the requester may see).
var DefaultScanLimits = ScanLimits{Entries: 4 * storage.MaxPageSize, Requests: 64}

// Group is a model as a Scan met it: its id and the files the scan read,
// relative to the model's prefix, sorted.
type Group struct {
	ID    string
	Files []storage.ObjectInfo
	// Complete is set when Files are every file of the model (the scan
	// read from before its first key to past its last, with nothing
	// outside the scan's prefix); otherwise the caller asks Catalog.Model
	// what the model is, and lists only Files.
	Complete bool
}

// Scan reads the keys below prefix that sort after after, in order, and
// calls fn with each model they belong to (keys outside the ORG/NAME/PATH
// layout, or whose ORG/NAME is no valid id, are passed over). fn returns
// where to go on from: "" to go on with the next key, a key to skip to
// (the scan goes on after it), or stop. Scan returns the position it
// reached (every key at or before it was read and passed to fn, or passed
// over), and whether it reached the end of the listing. It stops early,
// with done false, once it has read lim's entries or made lim's requests;
// an error is the store's, and nothing read is then to be presented as
// complete.
func (c *Catalog) Scan(ctx context.Context, prefix, after string, lim ScanLimits, fn func(Group) (skipTo string, stop bool)) (pos string, done bool, err error) {
	return c.ScanAhead(ctx, prefix, after, lim, nil, fn)
}

// ScanAhead is Scan that also calls ahead, when not nil, with each model
// the scan has read whole as soon as a storage page shows it, before fn
// reaches it: the caller may start work on the models fn will likely be
// called with (a listing decides their visibility concurrently). A group
// given to ahead may never reach fn (fn stopped, or skipped past it), and
// the one fn gets may differ (its Complete); the caller compares them. It
// reads nothing more than Scan does.
func (c *Catalog) ScanAhead(ctx context.Context, prefix, after string, lim ScanLimits, ahead func(Group), fn func(Group) (skipTo string, stop bool)) (pos string, done bool, err error) {
	pos = after
	entries, requests := 0, 0
	var buf []storage.ObjectInfo // keys read, not yet passed on
	more := true                 // the store may hold keys after buf
	aheadPos := after            // every key up to it was given to ahead
	giveAhead := func() {
		i, _ := slices.BinarySearchFunc(buf, aheadPos, func(o storage.ObjectInfo, k string) int { return strings.Compare(o.Key, k) })
		for i < len(buf) && buf[i].Key <= aheadPos {
			i++
		}
		for i < len(buf) {
			id, ok := modelOfKey(buf[i].Key)
			if !ok {
				aheadPos = buf[i].Key
				i++
				continue
			}
			j := i + 1
			for j < len(buf) && strings.HasPrefix(buf[j].Key, id+"/") {
				j++
			}
			if j == len(buf) {
				return // its last key may be on the next page
			}
			g := Group{ID: id, Files: make([]storage.ObjectInfo, j-i)}
			for k, o := range buf[i:j] {
				o.Key = o.Key[len(id)+1:]
				g.Files[k] = o
			}
			g.Complete = (i > 0 || pos < id+"/") && strings.HasPrefix(id+"/", prefix)
			ahead(g)
			aheadPos, i = buf[j-1].Key, j
		}
	}
	for {
		// Fill buf until it holds a whole model (a key of another one
		// follows) or the listing ends, within the limits.
		for more && !wholeGroup(buf) && entries < lim.Entries && requests < lim.Requests {
			from := pos
			if n := len(buf); n > 0 {
				from = buf[n-1].Key
			}
			p, err := c.listPage(ctx, prefix, from)
			if err != nil {
				return pos, false, fmt.Errorf("list %q: %w", prefix, err)
			}
			requests++
			entries += len(p.Objects)
			buf = append(buf, p.Objects...)
			more = p.Truncated && len(p.Objects) > 0
			if ahead != nil {
				giveAhead()
			}
		}
		if len(buf) == 0 {
			return pos, !more, nil
		}
		id, ok := modelOfKey(buf[0].Key)
		if !ok {
			pos, buf = buf[0].Key, buf[1:]
			continue
		}
		n := 1
		for n < len(buf) && strings.HasPrefix(buf[n].Key, id+"/") {
			n++
		}
		whole := n < len(buf) || !more
		g := Group{ID: id, Files: make([]storage.ObjectInfo, n)}
		for i, o := range buf[:n] {
			o.Key = o.Key[len(id)+1:]
			g.Files[i] = o
		}
		// Complete: the scan was before the model's first key, read past
		// its last, and the prefix does not cut into the model.
		g.Complete = whole && pos < id+"/" && strings.HasPrefix(id+"/", prefix)
		skipTo, stop := fn(g)
		pos, buf = buf[n-1].Key, buf[n:]
		if skipTo > pos {
			pos = skipTo
			for len(buf) > 0 && buf[0].Key <= skipTo {
				buf = buf[1:]
			}
		}
		if stop || !whole {
			// A model cut by a limit ends the scan too: the next one
			// goes on after its last key read.
			return pos, whole && len(buf) == 0 && !more, nil
		}
	}
}

// listPage is a page of the store's listing below prefix from after:
// from the listing-page cache when the store is remote (pages.go).
func (c *Catalog) listPage(ctx context.Context, prefix, after string) (storage.Page, error) {
	if c.pages == nil {
		return c.store.ListPage(ctx, prefix, after, "", storage.MaxPageSize)
	}
	return c.pages.listPage(ctx, prefix, after)
}

// wholeGroup reports whether buf holds every key of its first model: a
// key of another model (or outside the layout) follows them.
func wholeGroup(buf []storage.ObjectInfo) bool {
	if len(buf) == 0 {
		return false
	}
	id, ok := modelOfKey(buf[0].Key)
	if !ok {
		return true
	}
	return !strings.HasPrefix(buf[len(buf)-1].Key, id+"/")
}

// modelOfKey returns the model a key belongs to: its ORG/NAME, when the key
// has a path below it and ORG/NAME is a valid id.
func modelOfKey(key string) (string, bool) {
	org, rest, ok := strings.Cut(key, "/")
	if !ok {
		return "", false
	}
	name, file, ok := strings.Cut(rest, "/")
	if !ok || file == "" {
		return "", false
	}
	id := org + "/" + name
	return id, ValidModelID(id)
}

// Past is the smallest position after every key below the "directory"
// dir (a prefix ending in "/"): the last byte of dir raised by one. A scan
// told to skip to it goes on with the first key after dir's.
func Past(dir string) string {
	if dir == "" || dir[len(dir)-1] != '/' {
		return dir
	}
	// "/" + 1 is "0": every key below "a/" sorts before "a0", and the
	// only key the position itself would hide, "a0" exactly, is no
	// model's file (it has fewer segments than ORG/NAME/PATH).
	return dir[:len(dir)-1] + "0"
}
