package gateway

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/licence"
	"github.com/weightgate/weightgate/policy"
	"github.com/weightgate/weightgate/storage"
)

// The model API follows the Hugging Face Hub's JSON, so that huggingface_hub
// (snapshot_download, list_repo_tree, list_models) works unchanged against
// the gateway. Listing a model never serves its bytes, but it tells that the
// model exists: anonymous callers see only open models, and a signed-in
// requester sees a model that is not open only if the policy declares it
// visible to them (visible.go); either way a hidden model cannot be told
// from a missing one.

// hubTime is the Hub's timestamp format, milliseconds and Z: older
// huggingface_hub releases parse exactly this and nothing else.
const hubTime = "2006-01-02T15:04:05.000Z"

// exportInfo is the model's export metadata, under the "weightgate" key.
type exportInfo struct {
	Classified          bool     `json:"classified"`
	Status              string   `json:"status"` // "classified" | "unclassified"
	Weights             string   `json:"weights,omitempty"`
	TrainingComputeFLOP *float64 `json:"training_compute_flop,omitempty"`
	ECCN                string   `json:"eccn,omitempty"`
	Revision            string   `json:"revision"`
	UnclassifiedReason  string   `json:"unclassified_reason,omitempty"`
}

// sibling is an entry of a model's siblings. Size, BlobID and LFS are sent
// only with ?blobs=true, as the Hub does.
type sibling struct {
	RFilename string      `json:"rfilename"`
	Size      *int64      `json:"size,omitempty"`
	BlobID    string      `json:"blobId,omitempty"`
	LFS       *siblingLFS `json:"lfs,omitempty"`
}

// siblingLFS is model info's name for a tree entry's lfs: sha256, not oid.
type siblingLFS struct {
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	PointerSize int    `json:"pointerSize"`
}

type modelInfo struct {
	MongoID      string     `json:"_id"`
	ID           string     `json:"id"`
	ModelID      string     `json:"modelId"`
	Author       string     `json:"author"`
	SHA          string     `json:"sha"`
	LastModified string     `json:"lastModified,omitempty"`
	Private      bool       `json:"private"`
	Gated        any        `json:"gated"` // false, or "manual" for models the policy gates
	Disabled     bool       `json:"disabled"`
	Downloads    int        `json:"downloads"`
	Likes        int        `json:"likes"`
	Tags         []string   `json:"tags"`
	Siblings     []sibling  `json:"siblings,omitempty"`
	Export       exportInfo `json:"weightgate"`
}

// newModelInfo is m as the Hub's model info. Siblings are listed when
// withSiblings is set, with their sizes and blob ids when blobs is too.
func (s *Server) newModelInfo(m *catalog.Model, withSiblings, blobs bool) modelInfo {
	sum := sha1.Sum([]byte(m.ID))
	org, _, _ := strings.Cut(m.ID, "/")
	mi := modelInfo{
		MongoID: hex.EncodeToString(sum[:12]), ID: m.ID, ModelID: m.ID, Author: org, SHA: m.Revision,
		Gated: false, Tags: []string{}, Export: exportInfo{Revision: m.Revision},
	}
	if !m.LastModified.IsZero() {
		mi.LastModified = m.LastModified.UTC().Format(hubTime)
	}
	if !m.Open() {
		mi.Gated = "manual"
	}
	if m.Manifest != nil {
		mi.Export.Classified, mi.Export.Status = true, "classified"
		mi.Export.Weights, mi.Export.TrainingComputeFLOP, mi.Export.ECCN = m.Manifest.Weights, m.Manifest.TrainingComputeFLOP, m.Manifest.ECCN
	} else {
		mi.Export.Status, mi.Export.UnclassifiedReason = "unclassified", m.ParseError
	}
	if withSiblings {
		mi.Siblings = make([]sibling, len(m.Files))
		for i, f := range m.Files {
			mi.Siblings[i] = sibling{RFilename: f.Key}
			if !blobs {
				continue
			}
			e := s.fileEntry(m, f)
			mi.Siblings[i].Size, mi.Siblings[i].BlobID = &e.Size, e.OID
			if e.LFS != nil {
				mi.Siblings[i].LFS = &siblingLFS{Size: e.LFS.Size, SHA256: e.LFS.OID, PointerSize: e.LFS.PointerSize}
			}
		}
	}
	return mi
}

// visibleModel loads the model named by the request path and applies the
// visibility rule (visible.go), then the revision, if the route has one.
func (s *Server) visibleModel(r *http.Request) (*catalog.Model, error) {
	id := r.PathValue("org") + "/" + r.PathValue("name")
	anonymous := scopeFrom(r.Context()).Subject.Anonymous
	m, err := s.opts.Catalog.Model(r.Context(), id)
	if errors.Is(err, catalog.ErrModelNotFound) {
		return nil, repoNotFound(anonymous, id)
	}
	if err != nil {
		return nil, s.storageUnavailable("list", err)
	}
	if e := s.newViewer(r, apiOf(r.URL.Path)).check(m); e != nil {
		return nil, e
	}
	if rev := r.PathValue("rev"); rev != "" && !revisionMatches(rev, m.Revision) {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeRevisionNotFound, HubCode: HubRevisionNotFound,
			Message: fmt.Sprintf("Revision %q not found for %s.", rev, id)}
	}
	return m, nil
}

// handleModelInfo serves /api/models/{org}/{name}[/revision/{rev}][?blobs=true].
func (s *Server) handleModelInfo(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleModel(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	w.Header().Set("X-Repo-Commit", m.Revision)
	s.answer(w, r, s.newModelInfo(m, true, queryBool(r.URL.Query(), "blobs")), nil)
}

// queryBool reads a boolean query parameter as both generations of
// huggingface_hub write it (true/false from httpx, True/False from
// requests), and @huggingface/hub (true/false); absent or anything else is
// false.
func queryBool(q url.Values, name string) bool {
	v := strings.ToLower(q.Get(name))
	return v == "true" || v == "1"
}

// treeEntry is an entry of a tree listing or a paths-info answer, in the
// Hub's shape. There is never a xetHash: a client that saw one would fetch
// from a Xet store, around the policy.
type treeEntry struct {
	Type string `json:"type"` // "file" | "directory"
	// OID is, for a file whose content sha256 is known, the git blob id of
	// its LFS pointer (as on the Hub); otherwise the storage ETag. For a
	// directory, a hash of its path.
	OID        string      `json:"oid"`
	Size       int64       `json:"size"`
	Path       string      `json:"path"`
	LFS        *lfsInfo    `json:"lfs,omitempty"`
	LastCommit *lastCommit `json:"lastCommit,omitempty"`
}

// lfsInfo describes a weights file as the Hub describes an LFS file: the
// content's sha256 (oid), its size, and the size of its LFS pointer.
type lfsInfo struct {
	OID         string `json:"oid"`
	Size        int64  `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

type lastCommit struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Date  string `json:"date"`
}

// fileEntry is the listing entry of f, a file of m. A weights file gets an
// lfs object when its sha256 is known without reading it (export.yaml,
// object metadata, or computed by an earlier download): a listing never
// reads file contents.
func (s *Server) fileEntry(m *catalog.Model, f storage.ObjectInfo) treeEntry {
	e := treeEntry{Type: "file", OID: f.ETag, Size: f.Size, Path: f.Key}
	if catalog.ObjectKind(f.Key) != policy.KindWeights {
		return e
	}
	if sum := s.opts.Catalog.KnownSHA256(m, f.Key, f); sum != "" {
		ptr := lfsPointer(sum, f.Size)
		e.OID = gitBlobID(ptr)
		e.LFS = &lfsInfo{OID: sum, Size: f.Size, PointerSize: len(ptr)}
	}
	return e
}

// lfsPointer is the Git LFS pointer file of a content of that sha256 and size.
func lfsPointer(sha256Hex string, size int64) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex, size)
}

// gitBlobID is git's object id of a blob holding b.
func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func commitOf(m *catalog.Model) *lastCommit {
	return &lastCommit{ID: m.Revision, Title: "weightgate snapshot", Date: m.LastModified.UTC().Format(hubTime)}
}

// TreePageSize is the largest page of a tree listing; a longer listing is
// paged with an absolute Link: <...>; rel="next", as the Hub pages it.
const TreePageSize = 1000

// handleTree serves /api/models/{org}/{name}/tree/{rev}[/{path}]
// ?recursive=&expand=[&limit=][&cursor=]. The entries are listed in a fixed
// order (a directory before its first file), limit (at most TreePageSize, the
// default) per page. The next page's URL names the commit, not the branch, so
// that pages never mix two versions of the model.
func (s *Server) handleTree(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleModel(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	dir := strings.Trim(r.PathValue("path"), "/")
	if dir != "" {
		if e := checkFilePath(dir); e != nil {
			s.answer(w, r, nil, e)
			return
		}
	}
	q := r.URL.Query()
	recursive, expand := queryBool(q, "recursive"), queryBool(q, "expand")
	limit := TreePageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
				Message: fmt.Sprintf("limit must be a positive integer, got %q.", v)})
			return
		}
		limit = min(n, TreePageSize)
	}
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	var commit *lastCommit
	if expand {
		commit = commitOf(m)
	}
	entries := []treeEntry{}
	seenDir := map[string]bool{}
	addDir := func(p string) {
		if !seenDir[p] {
			seenDir[p] = true
			entries = append(entries, treeEntry{Type: "directory", OID: dirOID(p), Path: p, LastCommit: commit})
		}
	}
	for _, f := range m.Files {
		rest, ok := strings.CutPrefix(f.Key, prefix)
		if !ok {
			continue
		}
		if sub, _, nested := strings.Cut(rest, "/"); nested && !recursive {
			addDir(prefix + sub)
			continue
		}
		if recursive {
			// The Hub lists the directories of a recursive listing too,
			// each before the files below it.
			var parents []string
			for d := path2parent(rest); d != ""; d = path2parent(d) {
				parents = append(parents, d)
			}
			for i := len(parents) - 1; i >= 0; i-- {
				addDir(prefix + parents[i])
			}
		}
		e := s.fileEntry(m, f)
		e.LastCommit = commit
		entries = append(entries, e)
	}
	if dir != "" && len(entries) == 0 {
		s.answer(w, r, nil, &Error{Status: http.StatusNotFound, Code: CodeEntryNotFound, HubCode: HubEntryNotFound,
			Message: fmt.Sprintf("%s has no directory %q.", m.ID, dir)})
		return
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		n, ok := decodeCursor(c)
		if !ok || n > len(entries) {
			s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidCursor,
				Message: "The cursor is not one this listing gave; list again from the start."})
			return
		}
		offset = n
	}
	end := min(offset+limit, len(entries))
	if end < len(entries) {
		next := url.Values{"recursive": {strconv.FormatBool(recursive)}, "expand": {strconv.FormatBool(expand)},
			"cursor": {encodeCursor(end)}}
		if q.Has("limit") {
			next.Set("limit", strconv.Itoa(limit))
		}
		u := s.publicBase(r) + "/api/models/" + m.ID + "/tree/" + m.Revision
		if dir != "" {
			u += "/" + escapeSegments(dir)
		}
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", u, next.Encode()))
	}
	w.Header().Set("X-Repo-Commit", m.Revision)
	s.answer(w, r, entries[offset:end], nil)
}

// Tree cursors are opaque to clients: an offset into the listing of one
// commit (the next link pins it).
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	return n, err == nil && n >= 0 && strconv.Itoa(n) == string(b[1:])
}

// escapeSegments percent-encodes each segment of a slash-separated path.
func escapeSegments(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// publicBase is the scheme and host a client reached the gateway at, for
// absolute links (the tree's next page, which clients require absolute). A
// trusted proxy (Locator.TrustedProxies) may say so with X-Forwarded-Proto
// and X-Forwarded-Host; anyone else's are ignored.
func (s *Server) publicBase(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.trustedPeer(r) {
		if p := strings.ToLower(strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Proto")))); p == "http" || p == "https" {
			scheme = p
		}
		if h := strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Host"))); forwardedHost.MatchString(h) {
			host = h
		}
	}
	return scheme + "://" + host
}

var forwardedHost = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$`)

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return first
}

// trustedPeer reports whether the TCP peer is one of the trusted proxies.
func (s *Server) trustedPeer(r *http.Request) bool {
	if s.opts.Locator == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.opts.Locator.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// MaxPathsInfo bounds one paths-info request.
const MaxPathsInfo = 1000

// handlePathsInfo serves POST /api/models/{org}/{name}/paths-info/{rev}, the
// Hub's batch stat: given paths (JSON {"paths": [...], "expand": bool}, or a
// form with repeated paths=), it returns an entry for each that exists.
// @huggingface/hub's snapshotDownload and huggingface_hub's get_paths_info
// use it.
func (s *Server) handlePathsInfo(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleModel(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	var req struct {
		Paths  []string `json:"paths"`
		Expand bool     `json:"expand"`
	}
	// The body is bounded in size and read time (boundBody).
	bad := func(err error, format string, args ...any) {
		if e := s.bodyError(err); e != nil {
			s.answer(w, r, nil, e)
			return
		}
		s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)})
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			bad(err, "The body must be JSON {\"paths\": [...]}: %v.", err)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			bad(err, "The body must be a form with paths=...: %v.", err)
			return
		}
		req.Paths = r.PostForm["paths"]
		req.Expand = queryBool(r.PostForm, "expand")
	}
	if len(req.Paths) > MaxPathsInfo {
		bad(nil, "At most %d paths per request, got %d.", MaxPathsInfo, len(req.Paths))
		return
	}
	var commit *lastCommit
	if req.Expand {
		commit = commitOf(m)
	}
	out := []treeEntry{}
	for _, p := range req.Paths {
		p = strings.Trim(p, "/")
		if f, ok := m.File(p); ok {
			e := s.fileEntry(m, f)
			e.LastCommit = commit
			out = append(out, e)
			continue
		}
		for _, f := range m.Files {
			if strings.HasPrefix(f.Key, p+"/") {
				out = append(out, treeEntry{Type: "directory", OID: dirOID(p), Path: p, LastCommit: commit})
				break
			}
		}
	}
	w.Header().Set("X-Repo-Commit", m.Revision)
	s.answer(w, r, out, nil)
}

func path2parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

func dirOID(p string) string {
	sum := sha1.Sum([]byte(p))
	return hex.EncodeToString(sum[:])
}

// CatalogPageSize is the largest page of /api/models, and its size when
// the request names no limit; a longer listing is paged with a Link
// header, as the Hub pages it.
const CatalogPageSize = 1000

// handleCatalog serves /api/models[?author=][&search=][&limit=][&cursor=]:
// the models the caller may see, in id order, with their export
// classification, limit (at most CatalogPageSize) per page. The next
// page's URL is in a Link header (rel="next"); a page may hold fewer
// models than the limit, and still have a next one, when the gateway
// passed over models the caller may not see (listing.go).
func (s *Server) handleCatalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	author, search := q.Get("author"), strings.ToLower(q.Get("search"))
	limit := CatalogPageSize
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_limit", Message: fmt.Sprintf("limit must be a non-negative integer, got %q.", l)})
			return
		}
		limit = min(n, CatalogPageSize)
	}
	view := s.newViewer(r, apiOf(r.URL.Path))
	out := []modelInfo{}
	if limit == 0 || (author != "" && strings.Contains(author, "/")) {
		s.answer(w, r, out, nil)
		return
	}
	prefix := ""
	if author != "" {
		prefix = author + "/"
	}
	bound := []string{"hub", view.sub.ID, author, search}
	after := ""
	if c := q.Get("cursor"); c != "" {
		pos, ok := s.cursors.open(bound, c)
		if !ok {
			s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidCursor,
				Message: "The cursor is not one this listing gave; list again from the start."})
			return
		}
		after = pos
	}
	var err error
	full := false
	look := s.newLookahead(r.Context(), view, true, func(id string) bool {
		return search == "" || strings.Contains(strings.ToLower(id), search)
	})
	pos, done, scanErr := look.scan(r.Context(), s.opts.Catalog, prefix, after, s.scanLimits(), func(g catalog.Group) (string, bool) {
		past := catalog.Past(g.ID + "/")
		if search != "" && !strings.Contains(strings.ToLower(g.ID), search) {
			return past, false
		}
		if len(out) == limit {
			full = true
			return "", true
		}
		m, ok, verr := look.visible(r.Context(), g)
		if verr != nil {
			err = verr
			return "", true
		}
		if ok {
			out = append(out, s.newModelInfo(m, false, false))
		}
		return past, false
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		s.answer(w, r, nil, s.storageUnavailable("list", err))
		return
	}
	if full || !done {
		next := pos
		if full {
			// Resume after the page's last model.
			next = catalog.Past(out[len(out)-1].ID + "/")
		}
		v := url.Values{"cursor": {s.cursors.seal(bound, next)}}
		for _, k := range []string{"author", "search", "limit", "full", "config"} {
			if q.Has(k) {
				v.Set(k, q.Get(k))
			}
		}
		w.Header().Set("Link", fmt.Sprintf("<%s/api/models?%s>; rel=\"next\"", s.publicBase(r), v.Encode()))
	}
	s.answer(w, r, out, nil)
}

// answer records the decision for an API request (model info, tree,
// paths-info, catalog, unknown endpoints), then sends v as JSON, or err. No
// policy is asked for these (they serve no weights), so the record has no
// policy input; it names the requester, the model and the answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	rec := s.newRecord(r)
	if err != nil {
		if h := asError(err).hidden; h != nil {
			// A hidden model: the record keeps what the policy was asked
			// and answered, which the requester is not told.
			rec.Input, rec.Policy = h.in, &h.d
		}
		s.conclude(w, r, rec, refused(asError(err)), hubAPI{s}, func() { writeError(w, r, s.logger, err) })
		return
	}
	s.conclude(w, r, rec, allowed(http.StatusOK, "ok", ""), hubAPI{s}, func() { s.writeJSON(w, r, v) })
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(b, '\n'))
	}
}

// ReadyTimeout bounds the storage check of /readyz.
const ReadyTimeout = 3 * time.Second

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, map[string]string{"status": "ok"})
}

// handleReadyz reports whether a download could be served now: storage
// answers, a policy is loaded, and the audit log can be written.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, false) }

// readyz is /readyz; admin adds what only the operator may see: the
// licences and attestations about to expire (their ids name parties and
// models, which the public listeners never reveal).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, admin bool) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	checks := map[string]string{}
	ok := true
	check := func(name string, err error) {
		checks[name] = "ok"
		if err != nil {
			ok = false
			checks[name] = "failing"
			s.logger.Warn("not ready", "check", name, "err", err)
		}
	}
	check("storage", s.opts.Store.Ping(ctx))
	name, rev := s.opts.Policy.Bundle()
	var perr error
	if name == "" || rev == "" {
		perr = errors.New("no policy bundle loaded")
	}
	check("policy", perr)
	check("audit", s.opts.Audit.Healthy(ctx))
	if a, ok := s.opts.Audit.(AnchoredAuditLog); ok && a.Anchored() {
		check("audit_anchor", a.AnchorHealthy(ctx))
	}
	body := map[string]any{"ready": ok, "checks": checks, "policy": map[string]string{"bundle": name, "revision": rev}}
	if s.opts.Screener != nil {
		// A list that failed to reload leaves the previous one in force:
		// the gateway still screens, so it stays ready, but says its lists
		// are stale and why.
		st := s.opts.Screener.State()
		checks["screening"] = "ok"
		if st.Error != "" {
			checks["screening"] = "stale"
			s.logger.Warn("screening lists are stale", "err", st.Error)
		}
		body["screening"] = st
	}
	if admin && s.opts.Expiry != nil {
		// An expiring licence does not make the gateway unready: it still
		// decides correctly, and refuses once the licence has expired.
		es, err := s.opts.Expiry.Expiring()
		checks["expiry"] = "ok"
		switch {
		case err != nil:
			checks["expiry"] = "failing"
			s.logger.Warn("licence expiry: registry unreadable", "err", err)
		case len(es) > 0:
			checks["expiry"] = "expiring"
		}
		if es == nil {
			es = []licence.Expiry{}
		}
		body["expiring"] = es
	}
	// The catalog's background warming never makes the gateway unready:
	// a request classifies what warming has not reached yet.
	if check, detail := s.opts.Catalog.WarmState(); admin && check != "" {
		checks["catalog"], body["catalog"] = check, detail
	}
	if c, isState := s.opts.Console.(ConsoleState); admin && isState {
		checks["console"], body["console"] = c.ReadyState()
	}
	if !ok {
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(append(b, '\n'))
		return
	}
	s.writeJSON(w, r, body)
}

// whoami is the answer of /api/whoami-v2: the Hub's fields that
// huggingface_hub's login (name, auth.accessToken.displayName and role) and
// @huggingface/hub's whoAmI read, and under "weightgate" the subject the
// gateway will decide on, as the token establishes it.
type whoami struct {
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	Name     string        `json:"name"`
	Fullname string        `json:"fullname"`
	Email    *string       `json:"email"`
	Orgs     []struct{}    `json:"orgs"`
	Auth     whoamiAuth    `json:"auth"`
	Subject  whoamiSubject `json:"weightgate"`
}

type whoamiAuth struct {
	Type        string `json:"type"`
	AccessToken struct {
		DisplayName string `json:"displayName"`
		Role        string `json:"role"`
	} `json:"accessToken"`
}

type whoamiSubject struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name,omitempty"`
	Country            string        `json:"country"`
	Nationality        []string      `json:"nationality,omitempty"`
	PermanentResidence []string      `json:"permanent_residence,omitempty"`
	Employee           bool          `json:"employee"`
	Entity             policy.Entity `json:"entity"`
}

// handleWhoami serves GET /api/whoami-v2, which `hf auth login` and
// huggingface_hub's login() call to validate a token before saving it. It
// reads nothing from storage; anonymous callers get 401.
func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) {
	sub := scopeFrom(r.Context()).Subject
	if sub.Anonymous {
		w.Header().Set("WWW-Authenticate", `Bearer realm="weightgate"`)
		s.answer(w, r, nil, &Error{Status: http.StatusUnauthorized, Code: CodeAuthenticationRequired,
			Message: "No token was sent; whoami-v2 needs one (Authorization: Bearer hf_...)."})
		return
	}
	v := whoami{ID: sub.ID, Type: "user", Name: sub.ID, Fullname: sub.Name, Orgs: []struct{}{},
		Subject: whoamiSubject{ID: sub.ID, Name: sub.Name, Country: sub.Country, Nationality: sub.Nationality,
			PermanentResidence: sub.PermanentResidence, Employee: sub.Employee, Entity: sub.Entity}}
	if v.Fullname == "" {
		v.Fullname = sub.ID
	}
	v.Auth.Type = "access_token"
	v.Auth.AccessToken.DisplayName, v.Auth.AccessToken.Role = "weightgate", "read"
	s.answer(w, r, v, nil)
}

// handleTelemetry answers huggingface_hub's telemetry pings (HEAD
// /api/telemetry/...) with an empty 200: the client ignores the answer, and
// nothing is read or kept beyond the request's decision record.
func (s *Server) handleTelemetry(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, struct{}{}, nil)
}

// handleXet refuses the Xet token endpoints: a Xet token would let a client
// fetch file contents from a Xet store, around the policy. The gateway never
// advertises Xet, so only a client that was told about Xet elsewhere asks.
func (s *Server) handleXet(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, nil, &Error{Status: http.StatusNotFound, Code: CodeXetNotSupported, HubCode: HubEntryNotFound,
		Message: "This gateway serves no Xet storage; files are downloaded through /resolve/."})
}
