package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/weightgate/weightgate/catalog"
	"github.com/weightgate/weightgate/gateway/s3api"
)

// How listings scale: a page reads the store forward from where the last
// one ended (catalog.Scan), one storage page at a time, and stops when it
// is full or when it has read catalog.DefaultScanLimits (4,000 keys, 64
// storage requests), whichever comes first. Models the requester may not
// see are passed over (a model hidden from the requester is skipped with
// one storage request, never read through), so a page that meets many of
// them may come back short, or empty, with a cursor to go on: S3 says
// IsTruncated, the Hub API sends a Link to the next page. The cursor is
// sealed (cursor.go): it carries the position, which may be among hidden
// models, but nobody can read it. What a short page tells its reader is
// documented in docs/http-api.md.

// scanLimits are the bounds of one listing page.
func (s *Server) scanLimits() catalog.ScanLimits {
	if s.opts.ScanLimits == (catalog.ScanLimits{}) {
		return catalog.DefaultScanLimits
	}
	return s.opts.ScanLimits
}

// visibleGroup reports whether the requester may see the model g is of,
// with the model: assembled from the files the scan read when they are
// all of them, else loaded (and cached) as a download would load it. A
// storage failure is returned (the page fails, 503); a policy failure
// hides the model (a listing fails closed by omission, as before).
func (s *Server) visibleGroup(ctx context.Context, view *viewer, g catalog.Group) (*catalog.Model, bool, error) {
	var m *catalog.Model
	var err error
	if g.Complete {
		m, err = s.opts.Catalog.ModelOf(ctx, g.ID, g.Files)
	} else {
		m, err = s.opts.Catalog.Model(ctx, g.ID)
	}
	if errors.Is(err, catalog.ErrModelNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if e := view.check(m); e != nil {
		if e.Status == http.StatusServiceUnavailable {
			return nil, false, e // storage: Describe could not read a base model
		}
		return nil, false, nil
	}
	return m, true, nil
}

// s3Page lists one page of the bucket for an S3 ListObjects(V2) request:
// the keys ORG/NAME/PATH of the models the requester may see, by S3's
// rules for prefix, delimiter, start-after and max-keys.
func (s *Server) s3Page(ctx context.Context, view *viewer, q s3api.ListQuery, after string) (s3api.ListPage, string, error) {
	var page s3api.ListPage
	limit := min(q.MaxKeys, s3api.MaxKeys)
	if limit <= 0 {
		return page, "", nil
	}
	n := 0
	last := ""    // the last entry of the page
	lastCP := ""  // the last common prefix added
	full := false // another entry follows the page's last
	var err error // a storage failure, which fails the page
	pos, done, scanErr := s.opts.Catalog.Scan(ctx, q.Prefix, after, s.scanLimits(), func(g catalog.Group) (string, bool) {
		_, ok, verr := s.visibleGroup(ctx, view, g)
		if verr != nil {
			err = verr
			return "", true
		}
		if !ok {
			return catalog.Past(g.ID + "/"), false
		}
		for _, f := range g.Files {
			key := g.ID + "/" + f.Key
			if key <= after {
				continue
			}
			if q.Delimiter != "" {
				if j := strings.Index(key[len(q.Prefix):], q.Delimiter); j >= 0 {
					cp := key[:len(q.Prefix)+j+len(q.Delimiter)]
					if cp == lastCP || cp <= after {
						continue
					}
					if n == limit {
						full = true
						return "", true
					}
					page.CommonPrefixes = append(page.CommonPrefixes, cp)
					lastCP, last = cp, cp
					n++
					if len(cp) <= len(g.ID)+1 {
						// The common prefix holds this model and perhaps
						// others: skip the rest of what it stands for.
						return pastPrefix(cp), false
					}
					// A "directory" inside the model: the model's other
					// files are in hand, and those below it are passed
					// over by comparing with lastCP.
					continue
				}
			}
			if n == limit {
				full = true
				return "", true
			}
			page.Objects = append(page.Objects, s3api.ObjectInfo{Key: key, Size: f.Size, ETag: f.ETag, LastModified: f.ModTime})
			last = key
			n++
		}
		return "", false
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return s3api.ListPage{}, "", err
	}
	switch {
	case full:
		page.IsTruncated = true
		if last == lastCP {
			// Resume past everything the common prefix stands for,
			// rather than read through it again.
			return page, pastPrefix(last), nil
		}
		return page, last, nil
	case !done:
		// A limit ended the scan: a short page, which resumes where the
		// scan stopped (past the last entry, perhaps past hidden models).
		page.IsTruncated = true
		return page, max(pos, last), nil
	}
	return page, "", nil
}

// pastPrefix is a position after every key below the common prefix cp.
func pastPrefix(cp string) string {
	if strings.HasSuffix(cp, "/") {
		return catalog.Past(cp)
	}
	// Any other delimiter: the largest code point after cp stands above
	// every key of cp but those that continue with it, which the page
	// skips by comparing with its last common prefix.
	return cp + string(utf8.MaxRune)
}
