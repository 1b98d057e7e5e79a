package gateway

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The model API follows the Hugging Face Hub's JSON, so that huggingface_hub
// (snapshot_download, list_repo_tree, list_models) works unchanged against
// the gateway. Listing a model never serves its bytes, so it asks no policy;
// it follows the Hub's rule for private repositories instead: anonymous
// callers see only open models, and cannot tell a non-open model from a
// missing one.

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

type sibling struct {
	RFilename string `json:"rfilename"`
	Size      int64  `json:"size"`
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
	Tags         []string   `json:"tags"`
	Siblings     []sibling  `json:"siblings,omitempty"`
	Export       exportInfo `json:"weightgate"`
}

func newModelInfo(m *Model, withSiblings bool) modelInfo {
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
			mi.Siblings[i] = sibling{RFilename: f.Key, Size: f.Size}
		}
	}
	return mi
}

// visibleModel loads the model named by the request path and applies the
// visibility rule above, then the revision, if the route has one.
func (s *Server) visibleModel(r *http.Request) (*Model, error) {
	id := r.PathValue("org") + "/" + r.PathValue("name")
	anonymous := scopeFrom(r.Context()).Subject.Anonymous
	m, err := s.opts.Catalog.Model(r.Context(), id)
	if errors.Is(err, ErrModelNotFound) {
		return nil, repoNotFound(anonymous, id)
	}
	if err != nil {
		return nil, s.storageUnavailable("list", err)
	}
	if anonymous && !m.Open() {
		return nil, repoNotFound(true, id)
	}
	if rev := r.PathValue("rev"); rev != "" && !revisionMatches(rev, m.Revision) {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeRevisionNotFound, HubCode: HubRevisionNotFound,
			Message: fmt.Sprintf("Revision %q not found for %s.", rev, id)}
	}
	return m, nil
}

// handleModelInfo serves /api/models/{org}/{name}[/revision/{rev}].
func (s *Server) handleModelInfo(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleModel(r)
	if err != nil {
		s.answer(w, r, nil, err)
		return
	}
	w.Header().Set("X-Repo-Commit", m.Revision)
	s.answer(w, r, newModelInfo(m, true), nil)
}

type treeEntry struct {
	Type string `json:"type"` // "file" | "directory"
	OID  string `json:"oid"`
	Size int64  `json:"size"`
	Path string `json:"path"`
}

// handleTree serves /api/models/{org}/{name}/tree/{rev}[/{path}]?recursive=.
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
	recursive, _ := strconv.ParseBool(r.URL.Query().Get("recursive"))
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	entries := []treeEntry{}
	seenDir := map[string]bool{}
	for _, f := range m.Files {
		rest, ok := strings.CutPrefix(f.Key, prefix)
		if !ok {
			continue
		}
		if sub, _, nested := strings.Cut(rest, "/"); nested && !recursive {
			if !seenDir[sub] {
				seenDir[sub] = true
				entries = append(entries, treeEntry{Type: "directory", OID: dirOID(prefix + sub), Path: prefix + sub})
			}
			continue
		}
		if recursive {
			// The Hub lists the directories of a recursive listing too.
			for d := path2parent(rest); d != ""; d = path2parent(d) {
				if !seenDir[d] {
					seenDir[d] = true
					entries = append(entries, treeEntry{Type: "directory", OID: dirOID(prefix + d), Path: prefix + d})
				}
			}
		}
		entries = append(entries, treeEntry{Type: "file", OID: f.ETag, Size: f.Size, Path: f.Key})
	}
	if dir != "" && len(entries) == 0 {
		s.answer(w, r, nil, &Error{Status: http.StatusNotFound, Code: CodeEntryNotFound, HubCode: HubEntryNotFound,
			Message: fmt.Sprintf("%s has no directory %q.", m.ID, dir)})
		return
	}
	w.Header().Set("X-Repo-Commit", m.Revision)
	s.answer(w, r, entries, nil)
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
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	bad := func(format string, args ...any) {
		s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)})
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			bad("The body must be JSON {\"paths\": [...]}: %v.", err)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			bad("The body must be a form with paths=...: %v.", err)
			return
		}
		req.Paths = r.PostForm["paths"]
		req.Expand, _ = strconv.ParseBool(r.PostForm.Get("expand"))
	}
	if len(req.Paths) > MaxPathsInfo {
		bad("At most %d paths per request, got %d.", MaxPathsInfo, len(req.Paths))
		return
	}
	type lastCommit struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Date  string `json:"date"`
	}
	type pathInfo struct {
		treeEntry
		LastCommit *lastCommit `json:"lastCommit,omitempty"`
	}
	var commit *lastCommit
	if req.Expand {
		commit = &lastCommit{ID: m.Revision, Title: "weightgate snapshot", Date: m.LastModified.UTC().Format(hubTime)}
	}
	out := []pathInfo{}
	for _, p := range req.Paths {
		p = strings.Trim(p, "/")
		if f, ok := m.File(p); ok {
			out = append(out, pathInfo{treeEntry{Type: "file", OID: f.ETag, Size: f.Size, Path: f.Key}, commit})
			continue
		}
		for _, f := range m.Files {
			if strings.HasPrefix(f.Key, p+"/") {
				out = append(out, pathInfo{treeEntry{Type: "directory", OID: dirOID(p), Path: p}, commit})
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

// handleCatalog serves /api/models: every model the caller may see, with its
// export classification. Supports the Hub's author, search and limit filters.
func (s *Server) handleCatalog(w http.ResponseWriter, r *http.Request) {
	models, err := s.opts.Catalog.Models(r.Context())
	if err != nil {
		s.answer(w, r, nil, s.storageUnavailable("list", err))
		return
	}
	q := r.URL.Query()
	author, search := q.Get("author"), strings.ToLower(q.Get("search"))
	limit := -1
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			s.answer(w, r, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_limit", Message: fmt.Sprintf("limit must be a non-negative integer, got %q.", l)})
			return
		}
		limit = n
	}
	anonymous := scopeFrom(r.Context()).Subject.Anonymous
	out := []modelInfo{}
	for _, m := range models {
		if anonymous && !m.Open() {
			continue
		}
		if author != "" && !strings.HasPrefix(m.ID, author+"/") {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(m.ID), search) {
			continue
		}
		if limit >= 0 && len(out) >= limit {
			break
		}
		out = append(out, newModelInfo(m, false))
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
		e := asError(err)
		rec.Decision, rec.Status, rec.Code, rec.Reason = "deny", e.Status, e.Code, e.Message
	} else {
		rec.Decision, rec.Status, rec.Code = "allow", http.StatusOK, "ok"
	}
	if aerr := s.record(r.Context(), rec); aerr != nil {
		writeError(w, r, s.logger, auditUnavailable(aerr))
		return
	}
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	s.writeJSON(w, r, v)
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
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
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
	if !ok {
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(append(b, '\n'))
		return
	}
	s.writeJSON(w, r, body)
}
