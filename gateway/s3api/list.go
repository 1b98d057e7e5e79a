package s3api

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxKeys is the largest page a listing returns, and the default size.
const MaxKeys = 1000

// ObjectInfo is what a listing says about one object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // quoted or not; listings quote it
	LastModified time.Time
}

// ListQuery is a ListObjects (V1) or ListObjectsV2 request, as
// ParseListQuery reads it.
type ListQuery struct {
	// V2 is set for ListObjectsV2 (list-type=2).
	V2        bool
	Prefix    string
	Delimiter string
	// MaxKeys is the page size, at most MaxKeys. Zero is an empty page,
	// as S3's max-keys=0; ParseListQuery sets MaxKeys when absent.
	MaxKeys int
	// Marker (V1) and StartAfter (V2) list keys after the given one.
	Marker     string
	StartAfter string
	// ContinuationToken (V2) is the NextContinuationToken of the previous
	// page, as the client sent it.
	ContinuationToken string
	// EncodingType is "" or "url".
	EncodingType string
	// FetchOwner (V2) asks for each object's owner.
	FetchOwner bool
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextMarker is, when IsTruncated, the last key or common prefix of the
	// page: the V1 marker of the next page (sent only with a delimiter, as
	// S3; without one, clients use the last key, which is the same).
	NextMarker string
	// NextContinuationToken is, for V2 when IsTruncated, the token of the
	// next page.
	NextContinuationToken string
}

// ParseListQuery reads a ListObjects or ListObjectsV2 request's parameters
// (V2 when list-type=2). A parameter given twice, a max-keys that is not a
// non-negative integer, an encoding-type other than url, a fetch-owner other
// than true or false, and a continuation token that is not base64url are
// InvalidArgument errors. A max-keys over MaxKeys is lowered to it.
func ParseListQuery(r *http.Request) (ListQuery, *Error) {
	params, e := parseQuery(r.URL.RawQuery)
	if e != nil {
		return ListQuery{}, e
	}
	get := func(name string) (string, *Error) {
		vs := params.values(name)
		if len(vs) > 1 {
			return "", errInvalidArgument("The parameter " + name + " appears more than once.")
		}
		return strings.Join(vs, ""), nil
	}
	var q ListQuery
	var s string
	if s, e = get("list-type"); e != nil {
		return ListQuery{}, e
	}
	q.V2 = s == "2"
	type field struct {
		name string
		dst  *string
	}
	fields := []field{{"prefix", &q.Prefix}, {"delimiter", &q.Delimiter}, {"encoding-type", &q.EncodingType}}
	if q.V2 {
		fields = append(fields, field{"start-after", &q.StartAfter}, field{"continuation-token", &q.ContinuationToken})
	} else {
		fields = append(fields, field{"marker", &q.Marker})
	}
	for _, f := range fields {
		if *f.dst, e = get(f.name); e != nil {
			return ListQuery{}, e
		}
	}
	if q.EncodingType != "" && q.EncodingType != "url" {
		return ListQuery{}, errInvalidArgument("Invalid Encoding Method specified in Request.")
	}
	if q.ContinuationToken != "" {
		// Opaque: the server that made it reads it (the gateway seals
		// its tokens); here only its form is checked.
		if b, err := base64.RawURLEncoding.DecodeString(q.ContinuationToken); err != nil || len(b) == 0 {
			return ListQuery{}, errInvalidArgument("The continuation token provided is incorrect.")
		}
	}

	q.MaxKeys = MaxKeys
	if s, e = get("max-keys"); e != nil {
		return ListQuery{}, e
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return ListQuery{}, errInvalidArgument("Provided max-keys not an integer or within integer range.")
		}
		q.MaxKeys = min(n, MaxKeys)
	}
	if q.V2 {
		if s, e = get("fetch-owner"); e != nil {
			return ListQuery{}, e
		}
		switch s {
		case "", "false":
		case "true":
			q.FetchOwner = true
		default:
			return ListQuery{}, errInvalidArgument("fetch-owner must be true or false.")
		}
	}
	return q, nil
}

// List returns the page of objects that q asks for. objects should be
// sorted by key (an unsorted slice is sorted in a copy).
//
// The listing is the sorted sequence of entries: keys under q.Prefix, and,
// with a delimiter, common prefixes standing for every key that has the
// delimiter after the prefix (the common prefix runs to and includes its
// first occurrence). An entry is returned only if its name sorts after the
// marker (Marker for V1; the later of StartAfter and the continuation
// token's key for V2), so that a page never repeats a key or common prefix
// of an earlier one, and a start-after inside a common prefix skips it. At
// most MaxKeys entries (keys and common prefixes together, capped at
// MaxKeys) are returned; IsTruncated is set only when another entry exists.
// A continuation token ParseListQuery would refuse yields an empty page.
func List(objects []ObjectInfo, q ListQuery) ListPage {
	byKey := func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(objects, byKey) {
		objects = slices.Clone(objects)
		slices.SortStableFunc(objects, byKey)
	}
	after := q.Marker
	if q.V2 {
		after = q.StartAfter
		if q.ContinuationToken != "" {
			k, ok := decodeContinuationToken(q.ContinuationToken)
			if !ok {
				return ListPage{}
			}
			after = max(after, k)
		}
	}
	limit := min(q.MaxKeys, MaxKeys)
	if limit <= 0 {
		return ListPage{}
	}

	var page ListPage
	var last string
	n := 0
	i := sort.Search(len(objects), func(i int) bool {
		k := objects[i].Key
		return k >= q.Prefix && k > after
	})
	for i < len(objects) {
		key := objects[i].Key
		if !strings.HasPrefix(key, q.Prefix) {
			break // keys under the prefix are contiguous
		}
		if q.Delimiter != "" {
			if j := strings.Index(key[len(q.Prefix):], q.Delimiter); j >= 0 {
				cp := key[:len(q.Prefix)+j+len(q.Delimiter)]
				if cp > after {
					if n == limit {
						page.IsTruncated = true
						break
					}
					page.CommonPrefixes = append(page.CommonPrefixes, cp)
					last = cp
					n++
				}
				// Skip every key the common prefix stands for; they are
				// contiguous from i.
				i += sort.Search(len(objects)-i, func(k int) bool {
					return !strings.HasPrefix(objects[i+k].Key, cp)
				})
				continue
			}
		}
		if n == limit {
			page.IsTruncated = true
			break
		}
		page.Objects = append(page.Objects, objects[i])
		last = key
		n++
		i++
	}
	if page.IsTruncated {
		page.NextMarker = last
		if q.V2 {
			page.NextContinuationToken = encodeContinuationToken(last)
		}
	}
	return page
}

// encodeContinuationToken makes the opaque V2 token for "after key".
func encodeContinuationToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decodeContinuationToken(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}
