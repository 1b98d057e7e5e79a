package httpsem

import (
	"net/http"
	"strings"
	"time"
)

// CheckConditions evaluates r's conditional headers against an object with
// the given ETag (quoted or not) and modification time, and returns the
// status to answer with: http.StatusOK to go on and serve the object,
// http.StatusNotModified or http.StatusPreconditionFailed otherwise.
//
// The precedence is RFC 9110's, which is also S3's documented behaviour:
//
//  1. If-Match present: 412 unless an entity tag matches (strong
//     comparison; "*" matches). If-Unmodified-Since is then ignored, so
//     If-Match true with If-Unmodified-Since false serves the object.
//  2. Else If-Unmodified-Since: 412 if the object changed after it.
//  3. If-None-Match present: if an entity tag matches (weak comparison;
//     "*" matches), 304 for GET and HEAD, 412 otherwise.
//     If-Modified-Since is then ignored, so If-None-Match false with
//     If-Modified-Since true is a 304.
//  4. Else If-Modified-Since (GET and HEAD only): 304 unless the object
//     changed after it.
//
// Dates that do not parse are ignored, as the RFC says. HTTP dates have
// whole seconds, so modTime is compared truncated to the second. Call it
// only once the request is authorised: a 304 or 412 tells the client the
// object exists and something about its ETag.
func CheckConditions(r *http.Request, etag string, modTime time.Time) int {
	modTime = modTime.Truncate(time.Second)
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead

	if im, ok := headerList(r, "If-Match"); ok {
		if !etagMatches(im, etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if t, ok := headerDate(r, "If-Unmodified-Since"); ok && modTime.After(t) {
		return http.StatusPreconditionFailed
	}

	if inm, ok := headerList(r, "If-None-Match"); ok {
		if etagMatches(inm, etag, true) {
			if safe {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
	} else if t, ok := headerDate(r, "If-Modified-Since"); ok && safe && !modTime.After(t) {
		return http.StatusNotModified
	}
	return http.StatusOK
}

// headerList returns every value of a list-valued header joined by commas,
// and whether it is present.
func headerList(r *http.Request, name string) (string, bool) {
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}

func headerDate(r *http.Request, name string) (time.Time, bool) {
	vs := r.Header.Values(name)
	if len(vs) != 1 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(vs[0])
	return t, err == nil
}

// etagMatches reports whether the comma-separated entity-tag list matches
// etag. Unquoted tags are accepted, as S3 does. With weak comparison W/
// prefixes are ignored; with strong comparison a weak tag never matches.
func etagMatches(list, etag string, weak bool) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	want := strings.Trim(etag, `"`)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if strings.HasPrefix(t, "W/") {
			if !weak {
				continue
			}
			t = t[2:]
		}
		if strings.Trim(t, `"`) == want && want != "" {
			return true
		}
	}
	return false
}
