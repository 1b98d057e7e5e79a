package catalog

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// CatalogFakeStore is an ObjectStore whose methods call its function fields.
// A nil field fails the call with errUnexpectedCall.
type CatalogFakeStore struct {
	StatFn     func(ctx context.Context, key string) (storage.ObjectInfo, error)
	OpenFn     func(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error)
	ListFn     func(ctx context.Context, prefix string) ([]storage.ObjectInfo, error)
	ListDirsFn func(ctx context.Context, prefix string) ([]string, error)
	// ListPageFn, when nil, pages through what ListFn returns.
	ListPageFn func(ctx context.Context, prefix, startAfter, delimiter string, limit int) (storage.Page, error)
	PingFn     func(ctx context.Context) error
}

var _ storage.ObjectStore = (*CatalogFakeStore)(nil)

var errUnexpectedCall = errors.New("unexpected call to the fake store")

func (s *CatalogFakeStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if s.StatFn == nil {
		return storage.ObjectInfo{}, errUnexpectedCall
	}
	return s.StatFn(ctx, key)
}

func (s *CatalogFakeStore) Open(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	if s.OpenFn == nil {
		return nil, errUnexpectedCall
	}
	return s.OpenFn(ctx, key, etag, offset, length)
}

func (s *CatalogFakeStore) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	if s.ListFn == nil {
		return nil, errUnexpectedCall
	}
	return s.ListFn(ctx, prefix)
}

func (s *CatalogFakeStore) ListDirs(ctx context.Context, prefix string) ([]string, error) {
	if s.ListDirsFn == nil {
		return nil, errUnexpectedCall
	}
	return s.ListDirsFn(ctx, prefix)
}

func (s *CatalogFakeStore) ListPage(ctx context.Context, prefix, startAfter, delimiter string, limit int) (storage.Page, error) {
	if s.ListPageFn != nil {
		return s.ListPageFn(ctx, prefix, startAfter, delimiter, limit)
	}
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return storage.Page{}, err
	}
	objs = slices.Clone(objs) // the fakes list in any order; a page is in key order
	slices.SortFunc(objs, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return storage.PageOf(objs, prefix, startAfter, delimiter, limit), nil
}

func (s *CatalogFakeStore) Ping(ctx context.Context) error {
	if s.PingFn == nil {
		return errUnexpectedCall
	}
	return s.PingFn(ctx)
}

// catalogObject is one object of a catalogMemStore. An empty ETag is derived
// from the data.
type catalogObject struct {
	Data    string
	Size    int64 // 0: len(Data)
	ETag    string
	ModTime time.Time
}

// catalogMemStore is an in-memory object store behind a CatalogFakeStore,
// counting the calls the catalog makes.
type catalogMemStore struct {
	mu      sync.Mutex
	objects map[string]catalogObject

	lists, opens, listDirs atomic.Int32
	listed                 []string // prefixes passed to List
}

func newCatalogMemStore(objects map[string]catalogObject) *catalogMemStore {
	return &catalogMemStore{objects: objects}
}

func (m *catalogMemStore) set(key string, o catalogObject) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = o
}

func (m *catalogMemStore) info(key string, o catalogObject) storage.ObjectInfo {
	size := o.Size
	if size == 0 {
		size = int64(len(o.Data))
	}
	etag := o.ETag
	if etag == "" {
		sum := sha1.Sum([]byte(o.Data))
		etag = hex.EncodeToString(sum[:])
	}
	return storage.ObjectInfo{Key: key, Size: size, ETag: etag, ModTime: o.ModTime}
}

// list returns the objects below prefix in reverse key order, so that the
// catalog is seen to sort them itself.
func (m *catalogMemStore) list(_ context.Context, prefix string) ([]storage.ObjectInfo, error) {
	m.lists.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listed = append(m.listed, prefix)
	var out []storage.ObjectInfo
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, m.info(k, o))
		}
	}
	slices.SortFunc(out, func(a, b storage.ObjectInfo) int { return strings.Compare(b.Key, a.Key) })
	return out, nil
}

func (m *catalogMemStore) open(_ context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	m.opens.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, storage.ErrObjectNotFound)
	}
	if etag != "" && etag != m.info(key, o).ETag {
		return nil, fmt.Errorf("%s: %w", key, storage.ErrObjectChanged)
	}
	data := o.Data[offset:]
	if length >= 0 {
		data = data[:length]
	}
	return io.NopCloser(strings.NewReader(data)), nil
}

func (m *catalogMemStore) listDirsFn(_ context.Context, prefix string) ([]string, error) {
	m.listDirs.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for k := range m.objects {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if dir, _, ok := strings.Cut(rest, "/"); ok && dir != "" {
			seen[dir+"/"] = true
		}
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}

// Store returns a CatalogFakeStore backed by m.
func (m *catalogMemStore) Store() *CatalogFakeStore {
	return &CatalogFakeStore{ListFn: m.list, OpenFn: m.open, ListDirsFn: m.listDirsFn}
}

// MustCatalogModel returns the model id from c, failing the test on error.
func MustCatalogModel(tb testing.TB, c *Catalog, id string) *Model {
	tb.Helper()
	m, err := c.Model(context.Background(), id)
	if err != nil {
		tb.Fatalf("Model(%q): %v", id, err)
	}
	return m
}

func newTestCatalog(store storage.ObjectStore, ttl time.Duration) *Catalog {
	return NewCatalog(store, 64, ttl, slog.New(slog.DiscardHandler))
}

var (
	catalogT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	catalogClosedManifest = catalogObject{Data: "weights: closed\ntraining_compute_flop: 3.0e26\neccn: 4E091\n", ModTime: catalogT0}
	catalogOpenManifest   = catalogObject{Data: "weights: open\n", ModTime: catalogT0}
)

func TestCatalog_Model_NotFound(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/other/config.json": {Data: "{}"},
		"org/model2/x.bin":      {Data: "x"}, // shares the prefix "org/model"
		"org/empty/":            {},          // a directory marker only
		"org/empty/sub/":        {},
	})
	c := newTestCatalog(mem.Store(), time.Minute)
	for _, id := range []string{"org/model", "org/empty", "nope/nope"} {
		t.Run(id, func(t *testing.T) {
			m, err := c.Model(t.Context(), id)
			if !errors.Is(err, ErrModelNotFound) {
				t.Fatalf("Model(%q) = %v, %v; want ErrModelNotFound", id, m, err)
			}
			if m != nil {
				t.Errorf("Model(%q) = %+v, want nil", id, m)
			}
		})
	}
}

func TestCatalog_Model_MalformedID(t *testing.T) {
	ids := []string{
		"", "a", "../x", "x/..", "a/b/c", ".hidden/x", "org/.hidden", "/name", "org/",
		"org/a..b", "-org/name", "org/na me", "org/name\x00", `org\name`, "org/" + strings.Repeat("n", 97),
	}
	for _, id := range ids {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			touched := func() { t.Errorf("Model(%q) touched the store", id) }
			store := &CatalogFakeStore{
				StatFn:     func(context.Context, string) (storage.ObjectInfo, error) { touched(); return storage.ObjectInfo{}, nil },
				OpenFn:     func(context.Context, string, string, int64, int64) (io.ReadCloser, error) { touched(); return nil, nil },
				ListFn:     func(context.Context, string) ([]storage.ObjectInfo, error) { touched(); return nil, nil },
				ListDirsFn: func(context.Context, string) ([]string, error) { touched(); return nil, nil },
				PingFn:     func(context.Context) error { touched(); return nil },
			}
			c := newTestCatalog(store, time.Minute)
			if _, err := c.Model(t.Context(), id); !errors.Is(err, ErrModelNotFound) {
				t.Errorf("Model(%q) error = %v, want ErrModelNotFound", id, err)
			}
		})
	}
}

func TestCatalog_Model_Unclassified(t *testing.T) {
	tests := []struct {
		name      string
		manifest  *catalogObject
		wantError string // substring of ParseError
		wantOpens int32
	}{
		{name: "Missing", manifest: nil, wantError: "export.yaml is missing"},
		{name: "Invalid", manifest: &catalogObject{Data: "weights: Open\n"}, wantError: "weights must be open or closed", wantOpens: 1},
		{name: "ClosedWithoutCompute", manifest: &catalogObject{Data: "weights: closed\n"}, wantError: "training_compute_flop is required", wantOpens: 1},
		{name: "Empty", manifest: &catalogObject{Data: "", Size: 0}, wantError: "empty", wantOpens: 1},
		{
			// Too large to read: unclassified without opening it.
			name:      "TooLarge",
			manifest:  &catalogObject{Data: "weights: open\n", Size: MaxManifestSize + 1},
			wantError: "more than the",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := map[string]catalogObject{
				"org/model/config.json":       {Data: "{}", ModTime: catalogT0},
				"org/model/model.safetensors": {Data: "weights", ModTime: catalogT0},
			}
			if tt.manifest != nil {
				objects["org/model/export.yaml"] = *tt.manifest
			}
			mem := newCatalogMemStore(objects)
			c := newTestCatalog(mem.Store(), time.Minute)
			m := MustCatalogModel(t, c, "org/model")
			if m.Manifest != nil {
				t.Errorf("Manifest = %+v, want nil", m.Manifest)
			}
			if got, want := m.ParseError, tt.wantError; !strings.Contains(got, want) {
				t.Errorf("ParseError = %q, want it to mention %q", got, want)
			}
			if m.Open() {
				t.Errorf("Open() = true for an unclassified model")
			}
			if pm := m.PolicyModel(); pm.Classified {
				t.Errorf("PolicyModel().Classified = true, want false")
			}
			if !hex40.MatchString(m.Revision) {
				t.Errorf("Revision = %q, want 40 lowercase hex", m.Revision)
			}
			if got, want := mem.opens.Load(), tt.wantOpens; got != want {
				t.Errorf("Open calls = %d, want %d", got, want)
			}
		})
	}
}

func TestCatalog_Model_Classified(t *testing.T) {
	later := catalogT0.Add(time.Hour)
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/":                               {}, // directory markers
		"org/model/sub/":                           {},
		"org/model/export.yaml":                    catalogClosedManifest,
		"org/model/config.json":                    {Data: "{}", ModTime: catalogT0},
		"org/model/model-00001.safetensors":        {Data: "aaaa", ModTime: later},
		"org/model/text_encoder/model.safetensors": {Data: "bb", ModTime: catalogT0},
	})
	var openKey, openETag string
	var openOff, openLen int64
	store := mem.Store()
	store.OpenFn = func(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
		openKey, openETag, openOff, openLen = key, etag, offset, length
		return mem.open(ctx, key, etag, offset, length)
	}
	c := newTestCatalog(store, time.Minute)
	m := MustCatalogModel(t, c, "org/model")

	if got, want := m.ID, "org/model"; got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	var keys []string
	for _, f := range m.Files {
		keys = append(keys, f.Key)
	}
	if got, want := keys, []string{"config.json", "export.yaml", "model-00001.safetensors", "text_encoder/model.safetensors"}; !slices.Equal(got, want) {
		t.Errorf("file keys = %q, want %q", got, want)
	}
	if m.Manifest == nil {
		t.Fatalf("Manifest = nil, ParseError = %q", m.ParseError)
	}
	if got, want := m.ParseError, ""; got != want {
		t.Errorf("ParseError = %q, want %q", got, want)
	}
	if got, want := m.Manifest.Weights, "closed"; got != want {
		t.Errorf("Weights = %q, want %q", got, want)
	}
	if got, want := m.Manifest.ECCN, "4E091"; got != want {
		t.Errorf("ECCN = %q, want %q", got, want)
	}
	if m.Open() {
		t.Errorf("Open() = true for closed weights")
	}
	if got, want := m.LastModified, later; !got.Equal(want) {
		t.Errorf("LastModified = %v, want %v", got, want)
	}
	pm := m.PolicyModel()
	if !pm.Classified || pm.Weights != "closed" || pm.ECCN != "4E091" || pm.TrainingComputeFLOP != 3.0e26 || pm.ID != "org/model" || pm.Revision != m.Revision {
		t.Errorf("PolicyModel() = %+v", pm)
	}
	// export.yaml is read whole, pinned to the ETag the listing returned.
	mf, _ := m.File(ManifestName)
	if got, want := openKey, "org/model/export.yaml"; got != want {
		t.Errorf("Open key = %q, want %q", got, want)
	}
	if got, want := openETag, mf.ETag; got != want || got == "" {
		t.Errorf("Open etag = %q, want %q", got, want)
	}
	if openOff != 0 || openLen >= 0 {
		t.Errorf("Open offset, length = %d, %d; want 0, <0", openOff, openLen)
	}
}

func TestCatalog_Model_OpenWeights(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/export.yaml":       catalogOpenManifest,
		"org/model/model.safetensors": {Data: "w"},
	})
	m := MustCatalogModel(t, newTestCatalog(mem.Store(), time.Minute), "org/model")
	if !m.Open() {
		t.Errorf("Open() = false, want true")
	}
	if pm := m.PolicyModel(); !pm.Classified || pm.Weights != "open" || pm.TrainingComputeFLOP != 0 {
		t.Errorf("PolicyModel() = %+v", pm)
	}
}

func TestCatalog_Model_DeclaredRevision(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/export.yaml":       {Data: "weights: open\nrevision: " + rev + "\n"},
		"org/model/model.safetensors": {Data: "w"},
	})
	m := MustCatalogModel(t, newTestCatalog(mem.Store(), time.Minute), "org/model")
	if got, want := m.Revision, rev; got != want {
		t.Errorf("Revision = %q, want %q", got, want)
	}
	// A declared revision does not follow the contents.
	mem.set("org/model/model.safetensors", catalogObject{Data: "changed"})
	m = MustCatalogModel(t, newTestCatalog(mem.Store(), time.Minute), "org/model")
	if got, want := m.Revision, rev; got != want {
		t.Errorf("Revision after a change = %q, want %q", got, want)
	}
}

func TestCatalog_Model_DerivedRevision(t *testing.T) {
	base := func() map[string]catalogObject {
		return map[string]catalogObject{
			"org/model/export.yaml":       catalogOpenManifest,
			"org/model/config.json":       {Data: "{}", ETag: "e1"},
			"org/model/model.safetensors": {Data: "weights", ETag: "e2"},
		}
	}
	revision := func(t *testing.T, objects map[string]catalogObject) string {
		t.Helper()
		m := MustCatalogModel(t, newTestCatalog(newCatalogMemStore(objects).Store(), time.Minute), "org/model")
		if !hex40.MatchString(m.Revision) {
			t.Fatalf("Revision = %q, want 40 lowercase hex", m.Revision)
		}
		return m.Revision
	}
	want := revision(t, base())
	if got := revision(t, base()); got != want {
		t.Fatalf("Revision is not stable across loads: %q, then %q", want, got)
	}

	tests := []struct {
		name   string
		change func(map[string]catalogObject)
	}{
		{"Size", func(o map[string]catalogObject) {
			o["org/model/model.safetensors"] = catalogObject{Data: "weights", Size: 8, ETag: "e2"}
		}},
		{"ETag", func(o map[string]catalogObject) {
			o["org/model/model.safetensors"] = catalogObject{Data: "weights", ETag: "e3"}
		}},
		{"ConfigETag", func(o map[string]catalogObject) {
			o["org/model/config.json"] = catalogObject{Data: "{}", ETag: "e9"}
		}},
		{"AddedFile", func(o map[string]catalogObject) {
			o["org/model/README.md"] = catalogObject{Data: "hi"}
		}},
		{"RemovedFile", func(o map[string]catalogObject) {
			delete(o, "org/model/config.json")
		}},
		{"RenamedFile", func(o map[string]catalogObject) {
			o["org/model/model2.safetensors"] = o["org/model/model.safetensors"]
			delete(o, "org/model/model.safetensors")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := base()
			tt.change(objects)
			if got := revision(t, objects); got == want {
				t.Errorf("Revision = %q after the change, want it to differ", got)
			}
		})
	}

	t.Run("ModTimeOnly", func(t *testing.T) {
		// Only path, size and ETag count: a touched file with the same bytes
		// keeps its revision.
		objects := base()
		o := objects["org/model/config.json"]
		o.ModTime = catalogT0.Add(time.Hour)
		objects["org/model/config.json"] = o
		if got := revision(t, objects); got != want {
			t.Errorf("Revision = %q, want %q", got, want)
		}
	})
}

func TestCatalog_Model_Cache(t *testing.T) {
	t.Run("WithinTTL", func(t *testing.T) {
		mem := newCatalogMemStore(map[string]catalogObject{
			"org/model/export.yaml": catalogOpenManifest,
			"org/model/a.bin":       {Data: "a"},
		})
		c := newTestCatalog(mem.Store(), time.Hour)
		m1 := MustCatalogModel(t, c, "org/model")
		m2 := MustCatalogModel(t, c, "org/model")
		if got, want := mem.lists.Load(), int32(1); got != want {
			t.Errorf("List calls = %d, want %d", got, want)
		}
		if got, want := mem.opens.Load(), int32(1); got != want {
			t.Errorf("Open calls = %d, want %d", got, want)
		}
		if m1 != m2 {
			t.Errorf("second call returned a different model")
		}
	})

	t.Run("NotFoundIsCached", func(t *testing.T) {
		mem := newCatalogMemStore(map[string]catalogObject{})
		c := newTestCatalog(mem.Store(), time.Hour)
		for range 2 {
			if _, err := c.Model(t.Context(), "org/model"); !errors.Is(err, ErrModelNotFound) {
				t.Fatalf("Model error = %v, want ErrModelNotFound", err)
			}
		}
		if got, want := mem.lists.Load(), int32(1); got != want {
			t.Errorf("List calls = %d, want %d", got, want)
		}
	})

	t.Run("AfterTTL", func(t *testing.T) {
		const ttl = 100 * time.Millisecond
		mem := newCatalogMemStore(map[string]catalogObject{
			"org/model/export.yaml": catalogOpenManifest,
			"org/model/a.bin":       {Data: "a"},
		})
		c := newTestCatalog(mem.Store(), ttl)
		MustCatalogModel(t, c, "org/model")
		mem.set("org/model/b.bin", catalogObject{Data: "b"})
		deadline := time.Now().Add(time.Second)
		for {
			m := MustCatalogModel(t, c, "org/model")
			if mem.lists.Load() >= 2 {
				if _, ok := m.File("b.bin"); !ok {
					t.Errorf("reloaded model lacks the new file")
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("model not reloaded within 1s of a %v TTL", ttl)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("ListErrorNotCached", func(t *testing.T) {
		mem := newCatalogMemStore(map[string]catalogObject{
			"org/model/export.yaml": catalogOpenManifest,
			"org/model/a.bin":       {Data: "a"},
		})
		boom := errors.New("storage unavailable")
		var calls atomic.Int32
		store := mem.Store()
		store.ListFn = func(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
			if calls.Add(1) == 1 {
				return nil, boom
			}
			return mem.list(ctx, prefix)
		}
		c := newTestCatalog(store, time.Hour)
		_, err := c.Model(t.Context(), "org/model")
		if !errors.Is(err, boom) {
			t.Fatalf("first Model error = %v, want %v", err, boom)
		}
		if errors.Is(err, ErrModelNotFound) {
			t.Errorf("a storage error reads as not found: %v", err)
		}
		m := MustCatalogModel(t, c, "org/model")
		if m.Manifest == nil {
			t.Errorf("Manifest = nil after retry (ParseError %q)", m.ParseError)
		}
		if got, want := calls.Load(), int32(2); got != want {
			t.Errorf("List calls = %d, want %d", got, want)
		}
	})

	t.Run("ManifestReadErrorNotCached", func(t *testing.T) {
		mem := newCatalogMemStore(map[string]catalogObject{
			"org/model/export.yaml": catalogOpenManifest,
			"org/model/a.bin":       {Data: "a"},
		})
		var calls atomic.Int32
		store := mem.Store()
		store.OpenFn = func(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
			if calls.Add(1) == 1 {
				return nil, fmt.Errorf("%s: %w", key, storage.ErrObjectChanged)
			}
			return mem.open(ctx, key, etag, offset, length)
		}
		c := newTestCatalog(store, time.Hour)
		if _, err := c.Model(t.Context(), "org/model"); !errors.Is(err, storage.ErrObjectChanged) {
			t.Fatalf("first Model error = %v, want ErrObjectChanged", err)
		}
		// Not an unclassified model: the read failed, so the model is retried.
		m := MustCatalogModel(t, c, "org/model")
		if m.Manifest == nil {
			t.Errorf("Manifest = nil after retry (ParseError %q)", m.ParseError)
		}
	})
}

func TestCatalog_Model_Concurrent(t *testing.T) {
	const n = 50
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/export.yaml": catalogClosedManifest,
		"org/model/a.bin":       {Data: "a"},
	})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	store := mem.Store()
	store.ListFn = func(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
		once.Do(func() { close(entered) })
		<-release
		return mem.list(ctx, prefix)
	}
	c := newTestCatalog(store, time.Hour)

	var started, done sync.WaitGroup
	models := make([]*Model, n)
	errs := make([]error, n)
	for i := range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			models[i], errs[i] = c.Model(context.Background(), "org/model")
		}()
	}
	started.Wait()
	<-entered
	// Give every goroutine time to join the load in flight before it ends.
	time.Sleep(50 * time.Millisecond)
	close(release)
	done.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if models[i] == nil || models[i].Manifest == nil || models[i].Manifest.Weights != "closed" {
			t.Fatalf("goroutine %d: model = %+v", i, models[i])
		}
	}
	// One load is shared; a goroutine descheduled between the cache lookup
	// and joining the flight could start one more, but no more than that.
	t.Logf("List calls = %d, Open calls = %d", mem.lists.Load(), mem.opens.Load())
	if got := mem.lists.Load(); got < 1 || got > 2 {
		t.Errorf("List calls = %d for %d concurrent requests, want 1 (at most 2)", got, n)
	}
	if got := mem.opens.Load(); got > 2 {
		t.Errorf("Open calls = %d for %d concurrent requests, want 1 (at most 2)", got, n)
	}
}

func TestCatalog_Model_CallerCancel(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/export.yaml": catalogOpenManifest,
		"org/model/a.bin":       {Data: "a"},
	})
	entered := make(chan struct{})
	release := make(chan struct{})
	var loadCtxErr error
	var loadHasDeadline bool
	store := mem.Store()
	store.ListFn = func(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
		close(entered)
		<-release
		loadCtxErr = ctx.Err()
		_, loadHasDeadline = ctx.Deadline()
		return mem.list(ctx, prefix)
	}
	c := newTestCatalog(store, time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.Model(ctx, "org/model")
		firstErr <- err
	}()
	<-entered
	second := make(chan error, 1)
	go func() {
		_, err := c.Model(context.Background(), "org/model")
		second <- err
	}()
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller error = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Errorf("other caller error = %v, want nil: one caller's cancellation failed the shared load", err)
	}
	if loadCtxErr != nil {
		t.Errorf("load context error = %v, want nil", loadCtxErr)
	}
	if !loadHasDeadline {
		t.Errorf("load context has no deadline; a hung store would hang the load")
	}
}

// scanModels scans the whole catalog as the listings do, page after page
// with limits small enough to cut through models, and returns the models
// met (assembled from the scan, or loaded when a limit cut them), in key
// order.
func scanModels(ctx context.Context, c *Catalog, lim ScanLimits) ([]*Model, error) {
	var out []*Model
	pos := ""
	for {
		var merr error
		next, done, err := c.Scan(ctx, "", pos, lim, func(g Group) (string, bool) {
			var m *Model
			var err error
			if g.Complete {
				m, err = c.ModelOf(ctx, g.ID, g.Files)
			} else {
				m, err = c.Model(ctx, g.ID)
			}
			if errors.Is(err, ErrModelNotFound) {
				return Past(g.ID + "/"), false
			}
			if err != nil {
				merr = err
				return "", true
			}
			out = append(out, m)
			return Past(g.ID + "/"), false
		})
		if merr != nil {
			return nil, merr
		}
		if err != nil {
			return nil, err
		}
		if done {
			return out, nil
		}
		pos = next
	}
}

// TestCatalog_ScanModels: a scan of the whole store meets every model with
// a valid id once, classified or not, and nothing else (markers, files
// outside ORG/NAME/PATH, invalid names), in key order, however its limits
// cut it.
func TestCatalog_ScanModels(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org-b/m3/export.yaml":  catalogOpenManifest,
		"org-b/m3/a.bin":        {Data: "a"},
		"org-a/m2/a.bin":        {Data: "a"}, // unclassified, still listed
		"org-a/m1/export.yaml":  catalogClosedManifest,
		"org-a/m1/a.bin":        {Data: "a"},
		"org-a/-bad/a.bin":      {Data: "a"}, // invalid name
		"org-a/a..b/a.bin":      {Data: "a"}, // invalid name
		".hidden/m/a.bin":       {Data: "a"}, // invalid org
		"org-c/empty/":          {},          // marker only: no model
		"org-c/empty/sub/":      {},
		"org-d/x/y/z/deep.bin":  {Data: "a"},
		"top-level-file.txt":    {Data: "a"},
		"org-e/file-at-org.bin": {Data: "a"},
		"org/model/a.bin":       {Data: "a"},
		"org/model-b/a.bin":     {Data: "a"},
		"org/model.x/a.bin":     {Data: "a"},
	})
	for _, lim := range []ScanLimits{DefaultScanLimits, {Entries: 1, Requests: 1}, {Entries: 2, Requests: 64}} {
		c := newTestCatalog(mem.Store(), time.Hour)
		models, err := scanModels(t.Context(), c, lim)
		if err != nil {
			t.Fatalf("%+v: %v", lim, err)
		}
		var ids []string
		for _, m := range models {
			ids = append(ids, m.ID)
		}
		// Key order: "org/model-b/" sorts before "org/model/".
		want := []string{"org-a/m1", "org-a/m2", "org-b/m3", "org-d/x", "org/model-b", "org/model.x", "org/model"}
		if !slices.Equal(ids, want) {
			t.Errorf("%+v: models %q, want %q", lim, ids, want)
		}
		if len(models) == len(want) && (models[1].Manifest != nil || models[0].Manifest == nil) {
			t.Errorf("%+v: org-a/m1 manifest %+v, org-a/m2 %+v; want one, and none", lim, models[0].Manifest, models[1].Manifest)
		}
	}
}

func TestCatalog_Scan_StorageError(t *testing.T) {
	boom := errors.New("storage unavailable")
	mem := newCatalogMemStore(map[string]catalogObject{"org/model/a.bin": {Data: "a"}})
	s := mem.Store()
	s.ListPageFn = func(context.Context, string, string, string, int) (storage.Page, error) { return storage.Page{}, boom }
	c := newTestCatalog(s, time.Hour)
	if models, err := scanModels(t.Context(), c, DefaultScanLimits); !errors.Is(err, boom) {
		t.Errorf("scan = %v, %v; want error %v", models, err, boom)
	}
}

func TestModel_File(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/config.json":            {Data: "{}"},
		"org/model/export.yaml":            catalogOpenManifest,
		"org/model/model.safetensors":      {Data: "abc"},
		"org/model/onnx/model.onnx":        {Data: "abcd"},
		"org/model/model.safetensors.json": {Data: "{}"},
	})
	m := MustCatalogModel(t, newTestCatalog(mem.Store(), time.Minute), "org/model")
	tests := []struct {
		path     string
		wantOK   bool
		wantSize int64
	}{
		{"config.json", true, 2},
		{"model.safetensors", true, 3},
		{"onnx/model.onnx", true, 4},
		{"export.yaml", true, int64(len(catalogOpenManifest.Data))},
		{"config", false, 0},
		{"onnx", false, 0},
		{"onnx/", false, 0},
		{"org/model/config.json", false, 0},
		{"/config.json", false, 0},
		{"Config.json", false, 0},
		{"", false, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.path), func(t *testing.T) {
			got, ok := m.File(tt.path)
			if ok != tt.wantOK {
				t.Fatalf("File(%q) ok = %v, want %v", tt.path, ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if got.Key != tt.path {
				t.Errorf("Key = %q, want %q", got.Key, tt.path)
			}
			if got.Size != tt.wantSize {
				t.Errorf("Size = %d, want %d", got.Size, tt.wantSize)
			}
		})
	}
}

func TestCatalog_Frontier(t *testing.T) {
	// Only signed classifications count (TestCatalog_Frontier_SignedOnly).
	priv := mustKey(t)
	mem := newCatalogMemStore(map[string]catalogObject{
		"a/open-small/export.yaml": {Data: mustSign(t, priv, "a/open-small", "weights: open\ntraining_compute_flop: 1e24\n")},
		"a/open-big/export.yaml":   {Data: mustSign(t, priv, "a/open-big", "weights: open\ntraining_compute_flop: 2e26\n")},
		"b/tie/export.yaml":        {Data: mustSign(t, priv, "b/tie", "weights: open\ntraining_compute_flop: 2e26\n")},
		"c/closed/export.yaml":     {Data: mustSign(t, priv, "c/closed", "weights: closed\ntraining_compute_flop: 9e26\n")},
		"d/broken/export.yaml":     {Data: "weights: open\ntraining_compute_flop: 9e27\nextra: 1\n"},
	})
	newTestCatalog := func(store storage.ObjectStore, ttl time.Duration) *Catalog {
		c := newTestCatalog(store, ttl)
		c.SetClassificationKeys(keysOf(priv))
		return c
	}
	tests := []struct {
		name string
		cfg  Frontier
		want policy.Frontier
	}{
		{"none by default", Frontier{}, policy.Frontier{Source: policy.FrontierNone}},
		{"configured", Frontier{FLOP: 5e26}, policy.Frontier{FLOP: 5e26, Source: policy.FrontierConfigured}},
		// Closed and unclassified models never set it; a tie goes to the
		// first id in order.
		{"from the catalog", Frontier{FromCatalog: true}, policy.Frontier{FLOP: 2e26, Source: policy.FrontierCatalog, Model: "a/open-big"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCatalog(mem.Store(), time.Minute)
			c.SetFrontier(tt.cfg)
			got, err := c.Frontier(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("Frontier = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}

	t.Run("cached for the TTL", func(t *testing.T) {
		c := newTestCatalog(mem.Store(), time.Hour)
		c.SetFrontier(Frontier{FromCatalog: true})
		if _, err := c.Frontier(context.Background()); err != nil {
			t.Fatal(err)
		}
		before := mem.lists.Load()
		mem.set("e/bigger/export.yaml", catalogObject{Data: mustSign(t, priv, "e/bigger", "weights: open\ntraining_compute_flop: 8e26\n")})
		defer func() { mem.mu.Lock(); delete(mem.objects, "e/bigger/export.yaml"); mem.mu.Unlock() }()
		got, err := c.Frontier(context.Background())
		if err != nil || got.Model != "a/open-big" || mem.lists.Load() != before {
			t.Errorf("second call = %+v, %v after %d more listings; want the cached frontier, no listing", got, err, mem.lists.Load()-before)
		}
	})

	t.Run("storage error", func(t *testing.T) {
		broken := &CatalogFakeStore{ListFn: func(context.Context, string) ([]storage.ObjectInfo, error) { return nil, errors.New("disk on fire") }}
		c := newTestCatalog(broken, time.Minute)
		c.SetFrontier(Frontier{FromCatalog: true})
		if f, err := c.Frontier(context.Background()); err == nil {
			t.Errorf("Frontier = %+v, nil; want the storage error", f)
		}
	})
}

func TestCatalog_Describe_Base(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/base/export.yaml":    {Data: "weights: open\ntraining_compute_flop: 2e26\neccn: EAR99\n"},
		"org/ft/export.yaml":      {Data: "weights: closed\ntraining_compute_flop: 2.1e26\nbase_model: org/base\nfine_tune_compute_flop: 1e25\n"},
		"org/orphan/export.yaml":  {Data: "weights: closed\ntraining_compute_flop: 1e26\nbase_model: org/gone\nfine_tune_compute_flop: 1e25\n"},
		"org/plain/export.yaml":   {Data: "weights: closed\ntraining_compute_flop: 1e26\n"},
		"org/unclass/config.json": {Data: "{}"},
		"org/ft2/export.yaml":     {Data: "weights: closed\ntraining_compute_flop: 1e26\nbase_model: org/unclass\nfine_tune_compute_flop: 1e25\n"},
	})
	c := newTestCatalog(mem.Store(), time.Minute)
	tests := []struct {
		model string
		want  *policy.BaseModel
	}{
		{"org/ft", &policy.BaseModel{ID: "org/base", Found: true, Classified: true, Weights: "open", TrainingComputeFLOP: 2e26, ECCN: "EAR99"}},
		{"org/orphan", &policy.BaseModel{ID: "org/gone"}},
		{"org/ft2", &policy.BaseModel{ID: "org/unclass", Found: true}},
		{"org/plain", nil},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			m := MustCatalogModel(t, c, tt.model)
			in := NewInput(policy.Subject{ID: "alice"}, m.ID, "model.safetensors", policy.Request{Method: "GET"})
			if err := c.Describe(context.Background(), &in, m); err != nil {
				t.Fatal(err)
			}
			if got, want := in.Model.ID, tt.model; got != want || in.Model.Classified != m.PolicyModel().Classified || in.Model.Weights != m.PolicyModel().Weights {
				t.Errorf("Model = %+v, want the catalog's %+v", in.Model, m.PolicyModel())
			}
			if in.Subject.ID != "alice" || in.Object.Kind != policy.KindWeights || in.Request.Method != "GET" {
				t.Errorf("Describe changed what NewInput set: %+v", in)
			}
			if (in.Model.Base == nil) != (tt.want == nil) || (tt.want != nil && *in.Model.Base != *tt.want) {
				t.Errorf("Base = %+v, want %+v", in.Model.Base, tt.want)
			}
			if in.Frontier.Source != policy.FrontierNone {
				t.Errorf("Frontier = %+v, want none", in.Frontier)
			}
		})
	}

	t.Run("storage error reading the base", func(t *testing.T) {
		fail := mem.Store()
		fail.ListFn = func(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
			if prefix == "org/base/" {
				return nil, errors.New("timeout")
			}
			return mem.list(ctx, prefix)
		}
		c := newTestCatalog(fail, time.Minute)
		m := MustCatalogModel(t, c, "org/ft")
		in := NewInput(policy.Subject{}, m.ID, "", policy.Request{})
		if err := c.Describe(context.Background(), &in, m); err == nil {
			t.Errorf("Describe = nil with base %+v; want the storage error", in.Model.Base)
		}
	})
}

// TestCatalog_Forget: a model reclassified from open to closed in storage is
// read again after Forget, well within the TTL.
func TestCatalog_Forget(t *testing.T) {
	mem := newCatalogMemStore(map[string]catalogObject{
		"org/model/export.yaml": catalogOpenManifest,
		"org/model/a.bin":       {Data: "a"},
	})
	c := newTestCatalog(mem.Store(), time.Hour)
	if m := MustCatalogModel(t, c, "org/model"); !m.Open() {
		t.Fatalf("model not open before the change")
	}
	mem.set("org/model/export.yaml", catalogClosedManifest)
	if m := MustCatalogModel(t, c, "org/model"); !m.Open() {
		t.Fatalf("cache not used within the TTL (the test needs it)")
	}
	c.Forget()
	if m := MustCatalogModel(t, c, "org/model"); m.Open() {
		t.Errorf("model still open after Forget; want the closed classification from storage")
	}
	if got, want := mem.lists.Load(), int32(2); got != want {
		t.Errorf("List calls = %d, want %d", got, want)
	}
}
