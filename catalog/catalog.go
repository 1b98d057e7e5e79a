package catalog

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/sync/singleflight"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// ErrModelNotFound is returned by Catalog for a model with no objects.
var ErrModelNotFound = errors.New("model not found")

// modelSegment is the shape of an org or model name: what the Hugging Face
// Hub accepts, and nothing that could walk out of a prefix.
var modelSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// ValidModelID reports whether id is "org/name" with two well-formed segments.
func ValidModelID(id string) bool {
	org, name, ok := strings.Cut(id, "/")
	return ok && validSegment(org) && validSegment(name)
}

func validSegment(s string) bool {
	return modelSegment.MatchString(s) && !strings.Contains(s, "..")
}

// Model is what the gateway knows of one model: its files and classification.
type Model struct {
	ID    string               // "org/name"
	Files []storage.ObjectInfo // keys relative to the model's prefix, sorted
	// Manifest is nil when the model is unclassified: export.yaml is missing
	// or failed strict parsing (ParseError says why).
	Manifest   *Manifest
	ParseError string
	// Signed is set when a configured classification key's signature
	// verified Manifest; only then is Manifest.Signature's record to be
	// believed. With keys configured an unsigned Manifest is dropped
	// (nil), so Signed is false only without keys.
	Signed       bool
	Revision     string // 40 hex: export.yaml's, or derived from the files
	LastModified time.Time
}

// PolicyModel is the model as the policy sees it.
func (m *Model) PolicyModel() policy.Model {
	pm := policy.Model{ID: m.ID, Revision: m.Revision}
	if m.Manifest != nil {
		pm.Classified = true
		if s := m.Manifest.Signature; m.Signed && s != nil {
			pm.Signed = true
			pm.ClassifiedBy, pm.ClassifiedAt, pm.ClassificationBasis = s.ClassifiedBy, s.ClassifiedAt.Format(time.RFC3339), s.Basis
		}
		pm.Weights = m.Manifest.Weights
		pm.ECCN = m.Manifest.ECCN
		if m.Manifest.TrainingComputeFLOP != nil {
			pm.TrainingComputeFLOP = *m.Manifest.TrainingComputeFLOP
		}
		pm.BaseModel = m.Manifest.BaseModel
		if m.Manifest.FineTuneComputeFLOP != nil {
			pm.FineTuneComputeFLOP = *m.Manifest.FineTuneComputeFLOP
		}
	}
	return pm
}

// Open reports whether the model is classified as open weights.
func (m *Model) Open() bool { return m.Manifest != nil && m.Manifest.Weights == "open" }

// File returns the listed file at path p.
func (m *Model) File(p string) (storage.ObjectInfo, bool) {
	i, ok := slices.BinarySearchFunc(m.Files, p, func(o storage.ObjectInfo, p string) int { return strings.Compare(o.Key, p) })
	if !ok {
		return storage.ObjectInfo{}, false
	}
	return m.Files[i], true
}

// deriveRevision is a stable commit-like id for a model without a declared
// revision: SHA-1 over every file's path, size and ETag, so that it changes
// exactly when the model's contents do.
func deriveRevision(files []storage.ObjectInfo) string {
	h := sha1.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", f.Key, f.Size, f.ETag)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Catalog reads models from an ObjectStore and caches them, so that the hot
// path (one request per shard) does not list and re-read export.yaml each time.
// Storage errors are never cached; a missing model is, for the TTL.
type Catalog struct {
	store  storage.ObjectStore
	cache  *expirable.LRU[string, *Model]
	flight singleflight.Group
	logger *slog.Logger
	ttl    time.Duration
	hashes *contentHashes
	// stats remembers found objects' Stat for the TTL, nil for a
	// LocalStore: a HEAD or GET of a shard then costs no storage round trip
	// before the decision. A stale entry cannot serve other bytes than the
	// ones decided on: reads carry the stat's ETag as If-Match, and a
	// mismatch drops the entry (ForgetStat), so a file rewritten within the
	// TTL gets one 503 "changed; retry" and then its new version.
	stats *expirable.LRU[string, storage.ObjectInfo]
	// classes remembers parsed export.yaml versions by model, ETag and
	// size (scan.go): a listing that shows a version already read does
	// not read it again.
	classes *lru.Cache[classKey, classification]
	// pages remembers pages of the store's listing for the TTL and reads
	// one ahead (pages.go); nil for a LocalStore, whose listing is as
	// cheap as a cache's.
	pages *pageCache
	// classReads bounds the export.yaml reads warmClasses has under way.
	classReads chan struct{}

	// keys, when not nil, are the compliance keys a classification must be
	// signed by (SetClassificationKeys).
	keys ClassificationKeys

	frontierCfg Frontier
	frontierMu  sync.Mutex
	frontier    policy.Frontier // computed from the catalog
	frontierAt  time.Time       // when; zero: never

	warm warmState // warm.go
}

// Frontier configures the open-weight frontier, the training compute of the
// most capable published model, that moves the 4E091 control threshold up
// (exclusion (b) of ECCN 4E091; see docs/policies.md).
type Frontier struct {
	// FLOP, when positive, is the frontier as the operator configures it.
	FLOP float64
	// FromCatalog computes it instead as the largest training compute of an
	// open-weight model in the catalog whose classification a configured
	// key signed (Model.Signed): an unsigned export.yaml, which anyone who
	// can write to storage can make, never moves the threshold. Without
	// classification keys it is therefore always zero; it is off by default.
	FromCatalog bool
}

// NewCatalog returns a catalog over store keeping at most size models for
// ttl. A nil logger discards.
func NewCatalog(store storage.ObjectStore, size int, ttl time.Duration, logger *slog.Logger) *Catalog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{
		store:      store,
		cache:      expirable.NewLRU[string, *Model](size, nil, ttl),
		logger:     logger,
		ttl:        ttl,
		hashes:     newContentHashes(store, DefaultHashCacheSize, logger),
		classes:    newClassCache(),
		classReads: make(chan struct{}, MaxClassReads),
	}
	if l, ok := store.(storage.LocalStore); !ok || !l.Local() {
		c.stats = expirable.NewLRU[string, storage.ObjectInfo](DefaultStatCacheSize, nil, ttl)
		c.pages = newPageCache(store, ttl, DefaultListingCacheBytes)
		c.pages.onPage = c.warmClasses
	}
	return c
}

// SetListingCacheBytes bounds the listing-page cache (pages.go) to n
// bytes; 0 turns it off, so every page is listed from the store. Call it
// before the catalog is used. A LocalStore's catalog has no such cache.
func (c *Catalog) SetListingCacheBytes(n int64) {
	switch {
	case c.pages == nil:
	case n <= 0:
		c.pages = nil
	default:
		c.pages.maxBytes = n
	}
}

// DefaultStatCacheSize is how many object stats a Catalog remembers: a few
// hundred bytes each, so at most a few tens of MiB.
const DefaultStatCacheSize = 65536

// Stat is the store's Stat of key, remembered for the catalog's TTL when the
// object exists and the store is not a LocalStore. Errors, including "not
// found", are never remembered.
func (c *Catalog) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if c.stats == nil {
		return c.store.Stat(ctx, key)
	}
	if info, ok := c.stats.Get(key); ok {
		return info, nil
	}
	info, err := c.store.Stat(ctx, key)
	if err != nil {
		return info, err
	}
	c.stats.Add(key, info)
	return info, nil
}

// ForgetStat drops the remembered Stat of key, once storage has said that
// the object changed since: the next request stats it afresh.
func (c *Catalog) ForgetStat(key string) {
	if c.stats != nil {
		c.stats.Remove(key)
	}
}

// Forget drops every remembered model, object stat, listing page and the computed
// open-weight frontier, so that the next request reads its model's
// classification from storage again: a model reclassified from open to
// closed is then refused at once rather than when its cache entry expires.
// Content hashes stay: they are keyed by the object version they hash.
func (c *Catalog) Forget() {
	c.cache.Purge()
	c.classes.Purge()
	if c.stats != nil {
		c.stats.Purge()
	}
	if c.pages != nil {
		c.pages.purge()
	}
	c.frontierMu.Lock()
	c.frontierAt = time.Time{}
	c.frontierMu.Unlock()
	c.restartWarming()
}

// SHA256 returns the sha256 (64 lowercase hex) of the content of file, a
// file of m, at the version info describes (its storage ETag and size, and
// the metadata hash Stat found): the one export.yaml declares for it, else
// the one in the object's metadata (info.SHA256), else one computed earlier
// for this version of the object; else it computes it now by reading the
// whole object, which takes as long as reading it. Concurrent calls for one
// object version share one computation, which goes on when ctx ends. The
// error is a storage error when the object cannot be read or changed since
// info was taken, or ctx's.
func (c *Catalog) SHA256(ctx context.Context, m *Model, file string, info storage.ObjectInfo) (string, error) {
	key := m.ID + "/" + file
	if sum := c.knownSHA256(m, file, key, info); sum != "" {
		return sum, nil
	}
	return c.hashes.sum(ctx, key, info)
}

// KnownSHA256 is SHA256 without reading anything: "" when the hash of file
// (a listed file of m, info its listing entry) is neither declared nor
// already computed. Listings use it, so that listing a model never reads its
// files.
func (c *Catalog) KnownSHA256(m *Model, file string, info storage.ObjectInfo) string {
	return c.knownSHA256(m, file, m.ID+"/"+file, info)
}

func (c *Catalog) knownSHA256(m *Model, file, key string, info storage.ObjectInfo) string {
	if m.Manifest != nil {
		if sum := m.Manifest.SHA256[file]; sum != "" {
			return sum
		}
	}
	if info.SHA256 != "" {
		// Remembered, so that listings, which do not see object
		// metadata, report it too.
		c.hashes.remember(key, info, info.SHA256)
		return info.SHA256
	}
	return c.hashes.known(key, info)
}

// SetClassificationKeys makes keys the compliance keys a model's
// export.yaml must be signed by (see docs/models.md): a manifest that does
// not verify against one of them, for this model, is dropped and the model
// is unclassified, whatever the file says. Without keys (nil or empty) every
// manifest that parses is believed and none is Signed: a development
// setting. Call it before the catalog is used.
func (c *Catalog) SetClassificationKeys(keys ClassificationKeys) {
	if len(keys) == 0 {
		keys = nil
	}
	c.keys = keys
}

// SetFrontier sets how the open-weight frontier is found. Call it before the
// catalog is used.
func (c *Catalog) SetFrontier(f Frontier) { c.frontierCfg = f }

// Describe fills in what the catalog knows of m for the policy: the model as
// the policy sees it (in.Model), the base model of a fine-tune
// (in.Model.Base) and the open-weight frontier (in.Frontier). A storage error
// is returned rather than guessed around, so that the caller denies.
func (c *Catalog) Describe(ctx context.Context, in *policy.Input, m *Model) error {
	in.Model = m.PolicyModel()
	f, err := c.Frontier(ctx)
	if err != nil {
		return err
	}
	in.Frontier = f
	if m.Manifest == nil || m.Manifest.BaseModel == "" {
		return nil
	}
	base := &policy.BaseModel{ID: m.Manifest.BaseModel}
	bm, err := c.Model(ctx, base.ID)
	switch {
	case errors.Is(err, ErrModelNotFound):
		// Not in the catalog: the policy cannot confirm that the base was
		// published, and judges the fine-tune on its total compute.
	case err != nil:
		return fmt.Errorf("base model %s of %s: %w", base.ID, m.ID, err)
	default:
		pm := bm.PolicyModel()
		base.Found, base.Classified, base.Weights = true, pm.Classified, pm.Weights
		base.TrainingComputeFLOP, base.ECCN = pm.TrainingComputeFLOP, pm.ECCN
	}
	in.Model.Base = base
	return nil
}

// Frontier returns the open-weight frontier as configured by SetFrontier.
// Computed from the catalog, it is cached for the metadata TTL.
func (c *Catalog) Frontier(ctx context.Context) (policy.Frontier, error) {
	switch {
	case c.frontierCfg.FLOP > 0:
		return policy.Frontier{FLOP: c.frontierCfg.FLOP, Source: policy.FrontierConfigured}, nil
	case !c.frontierCfg.FromCatalog:
		return policy.Frontier{Source: policy.FrontierNone}, nil
	}
	c.frontierMu.Lock()
	if !c.frontierAt.IsZero() && time.Since(c.frontierAt) < c.ttl {
		f := c.frontier
		c.frontierMu.Unlock()
		return f, nil
	}
	c.frontierMu.Unlock()

	v, err, _ := c.flight.Do("\x00frontier", func() (any, error) {
		f, err := c.openFrontier(ctx)
		if err != nil {
			return nil, fmt.Errorf("open-weight frontier: %w", err)
		}
		c.frontierMu.Lock()
		c.frontier, c.frontierAt = f, time.Now()
		c.frontierMu.Unlock()
		return f, nil
	})
	if err != nil {
		return policy.Frontier{}, err
	}
	return v.(policy.Frontier), nil
}

// openFrontier reads the whole catalog forward (Walk) for the largest
// training compute of an open, signed model; of equals, the first by id.
func (c *Catalog) openFrontier(ctx context.Context) (policy.Frontier, error) {
	f := policy.Frontier{Source: policy.FrontierCatalog}
	err := c.Walk(ctx, func(m *Model) bool {
		pm := m.PolicyModel()
		if m.Open() && m.Signed && (pm.TrainingComputeFLOP > f.FLOP || (pm.TrainingComputeFLOP == f.FLOP && f.FLOP > 0 && m.ID < f.Model)) {
			f.FLOP, f.Model = pm.TrainingComputeFLOP, m.ID
		}
		return true
	})
	if err != nil {
		return policy.Frontier{}, err
	}
	return f, nil
}

// Walk calls fn with every model of the catalog in id order, reading the
// store forward (Scan, page after page, so the catalog's size is not
// bounded: every model's classification is read once per version and
// remembered), until fn returns false or the listing ends.
func (c *Catalog) Walk(ctx context.Context, fn func(*Model) bool) error {
	pos := ""
	for {
		var merr error
		stopped := false
		next, done, err := c.Scan(ctx, "", pos, DefaultScanLimits, func(g Group) (string, bool) {
			var m *Model
			var err error
			if g.Complete {
				m, err = c.ModelOf(ctx, g.ID, g.Files)
			} else {
				m, err = c.Model(ctx, g.ID) // cut by a limit: load it whole
			}
			if errors.Is(err, ErrModelNotFound) {
				return Past(g.ID + "/"), false
			}
			if err != nil {
				merr = err
				return "", true
			}
			if !fn(m) {
				stopped = true
				return "", true
			}
			return Past(g.ID + "/"), false
		})
		switch {
		case merr != nil:
			return merr
		case err != nil:
			return err
		case done || stopped:
			return nil
		}
		pos = next
	}
}

// MaxModelsListed is how many models Models returns at most: it holds them
// all in memory, for a page that shows them all.
const MaxModelsListed = 10_000

// ErrTooManyModels is Models' error for a catalog larger than
// MaxModelsListed.
var ErrTooManyModels = fmt.Errorf("catalog has more than %d models", MaxModelsListed)

// Models returns every model of the catalog in id order; past
// MaxModelsListed it returns the first MaxModelsListed with
// ErrTooManyModels, so that a caller can show those and say there are more.
func (c *Catalog) Models(ctx context.Context) ([]*Model, error) {
	var out []*Model
	over := false
	err := c.Walk(ctx, func(m *Model) bool {
		if len(out) == MaxModelsListed {
			over = true
			return false
		}
		out = append(out, m)
		return true
	})
	switch {
	case err != nil:
		return nil, err
	case over:
		return out, ErrTooManyModels
	}
	return out, nil
}

// catalogLoadTimeout bounds one model load that concurrent requests share.
const catalogLoadTimeout = 30 * time.Second

// Model returns the model id ("org/name"). It returns an error wrapping
// ErrModelNotFound when no object lies below the model's prefix, and any
// other error when storage cannot be read.
func (c *Catalog) Model(ctx context.Context, id string) (*Model, error) {
	if !ValidModelID(id) {
		return nil, fmt.Errorf("%w: malformed id %q", ErrModelNotFound, id)
	}
	if m, ok := c.cache.Get(id); ok {
		return foundOrNot(m)
	}
	// Concurrent requests for the same model share one load. The load is
	// detached from the first caller's cancellation so that its disconnect
	// does not fail the others, and bounded so that it cannot hang.
	ch := c.flight.DoChan(id, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), catalogLoadTimeout)
		defer cancel()
		m, err := c.load(lctx, id)
		if err != nil {
			return nil, err
		}
		c.cache.Add(id, m)
		return m, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return foundOrNot(res.Val.(*Model))
	}
}

func foundOrNot(m *Model) (*Model, error) {
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrModelNotFound, m.ID)
	}
	return m, nil
}

func (c *Catalog) load(ctx context.Context, id string) (*Model, error) {
	prefix := id + "/"
	objs, err := c.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	for i := range objs {
		objs[i].Key = strings.TrimPrefix(objs[i].Key, prefix)
	}
	return c.assemble(ctx, id, objs)
}

// assemble builds model id from its files (keys relative to its prefix),
// reading its export.yaml unless that version's classification is
// remembered.
func (c *Catalog) assemble(ctx context.Context, id string, objs []storage.ObjectInfo) (*Model, error) {
	m := &Model{ID: id, Files: make([]storage.ObjectInfo, 0, len(objs))}
	for _, o := range objs {
		if o.Key == "" || strings.HasSuffix(o.Key, "/") {
			continue // directory markers some S3 tools create
		}
		m.Files = append(m.Files, o)
		if o.ModTime.After(m.LastModified) {
			m.LastModified = o.ModTime
		}
	}
	slices.SortFunc(m.Files, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	if len(m.Files) == 0 {
		return m, nil
	}
	mf, found := m.File(ManifestName)
	cl, err := c.classify(ctx, id, mf, found)
	if err != nil {
		return nil, err
	}
	m.Manifest, m.Signed, m.ParseError = cl.manifest, cl.signed, cl.parseError
	if m.Manifest != nil && m.Manifest.Revision != "" {
		m.Revision = m.Manifest.Revision
	} else {
		m.Revision = deriveRevision(m.Files)
	}
	return m, nil
}

func (c *Catalog) readAll(ctx context.Context, key string, info storage.ObjectInfo) ([]byte, error) {
	rc, err := c.store.Open(ctx, key, info.ETag, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}
