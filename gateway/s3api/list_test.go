package s3api

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

func objectsOf(keys ...string) []ObjectInfo {
	objs := make([]ObjectInfo, len(keys))
	for i, k := range keys {
		objs[i] = ObjectInfo{Key: k, Size: int64(len(k)), ETag: fmt.Sprintf("%032x", i)}
	}
	slices.SortFunc(objs, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return objs
}

// entries flattens a page into names, common prefixes marked with a
// trailing "(P)".
func entries(p ListPage) []string {
	var out []string
	for _, o := range p.Objects {
		out = append(out, o.Key)
	}
	for _, cp := range p.CommonPrefixes {
		out = append(out, cp+"(P)")
	}
	return out
}

// referenceList is the definition List implements, written the slow and
// obvious way: every key under the prefix becomes itself or its common
// prefix, duplicates go, the rest is sorted, and the entries after the
// marker are taken.
func referenceList(keys []string, prefix, delimiter, after string, limit int) (names []string, truncated bool) {
	type entry struct {
		name   string
		prefix bool
	}
	set := map[entry]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e := entry{name: k}
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				e = entry{name: k[:len(prefix)+i+len(delimiter)], prefix: true}
			}
		}
		if e.name > after {
			set[e] = true
		}
	}
	all := make([]entry, 0, len(set))
	for e := range set {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	if limit <= 0 {
		return nil, false
	}
	if len(all) > limit {
		all, truncated = all[:limit], true
	}
	var objs, prefixes []string
	for _, e := range all {
		if e.prefix {
			prefixes = append(prefixes, e.name+"(P)")
		} else {
			objs = append(objs, e.name)
		}
	}
	return append(objs, prefixes...), truncated
}

func TestList(t *testing.T) {
	keys := []string{
		"README.md",
		"a/1", "a/2", "a/b/1", "a/b/c/1", "a/b/c/2", "a/c/1",
		"a-b/1", "ab", "ab/1",
		"b--x--y", "b--z", "b-y",
		"photos/2006/January/sample.jpg", "photos/2006/February/sample2.jpg", "photos/2006/index.html",
		"z",
	}
	objs := objectsOf(keys...)
	tests := []struct {
		name      string
		q         ListQuery
		want      []string
		truncated bool
		next      string
	}{
		{name: "everything", q: ListQuery{MaxKeys: 1000}, want: sorted(keys)},
		{name: "root with delimiter", q: ListQuery{Delimiter: "/", MaxKeys: 1000},
			want: []string{"README.md", "ab", "b--x--y", "b--z", "b-y", "z", "a-b/(P)", "a/(P)", "ab/(P)", "photos/(P)"}},
		{name: "prefix without delimiter", q: ListQuery{Prefix: "a/b/", MaxKeys: 1000},
			want: []string{"a/b/1", "a/b/c/1", "a/b/c/2"}},
		{name: "nested prefix with delimiter", q: ListQuery{Prefix: "a/", Delimiter: "/", MaxKeys: 1000},
			want: []string{"a/1", "a/2", "a/b/(P)", "a/c/(P)"}},
		{name: "deeper", q: ListQuery{Prefix: "a/b/", Delimiter: "/", MaxKeys: 1000},
			want: []string{"a/b/1", "a/b/c/(P)"}},
		{name: "prefix not ending in the delimiter", q: ListQuery{Prefix: "a", Delimiter: "/", MaxKeys: 1000},
			want: []string{"ab", "a-b/(P)", "a/(P)", "ab/(P)"}},
		{name: "AWS photos example", q: ListQuery{Prefix: "photos/2006/", Delimiter: "/", MaxKeys: 1000},
			want: []string{"photos/2006/index.html", "photos/2006/February/(P)", "photos/2006/January/(P)"}},
		{name: "multi-character delimiter", q: ListQuery{Prefix: "b", Delimiter: "--", MaxKeys: 1000},
			want: []string{"b-y", "b--(P)"}},
		{name: "multi-character delimiter, deeper", q: ListQuery{Prefix: "b--", Delimiter: "--", MaxKeys: 1000},
			want: []string{"b--z", "b--x--(P)"}},
		{name: "prefix matches nothing", q: ListQuery{Prefix: "nothing/", MaxKeys: 1000}},
		{name: "key equal to the prefix", q: ListQuery{Prefix: "ab", MaxKeys: 1000}, want: []string{"ab", "ab/1"}},
		{name: "max-keys 0", q: ListQuery{MaxKeys: 0}},
		{name: "negative max-keys", q: ListQuery{MaxKeys: -1}},
		{name: "max-keys counts prefixes too", q: ListQuery{Delimiter: "/", MaxKeys: 3},
			want: []string{"README.md", "a-b/(P)", "a/(P)"}, truncated: true, next: "a/"},
		{name: "truncated only when more exist", q: ListQuery{Prefix: "a/", Delimiter: "/", MaxKeys: 4},
			want: []string{"a/1", "a/2", "a/b/(P)", "a/c/(P)"}},
		{name: "truncated on a key", q: ListQuery{Prefix: "a/", MaxKeys: 2},
			want: []string{"a/1", "a/2"}, truncated: true, next: "a/2"},
		{name: "marker", q: ListQuery{Prefix: "a/", MaxKeys: 1000, Marker: "a/b/c/1"},
			want: []string{"a/b/c/2", "a/c/1"}},
		{name: "marker is a common prefix", q: ListQuery{Delimiter: "/", MaxKeys: 1000, Marker: "a/"},
			want: []string{"ab", "b--x--y", "b--z", "b-y", "z", "ab/(P)", "photos/(P)"}},
		{name: "start-after inside a common prefix skips it", q: ListQuery{V2: true, Delimiter: "/", MaxKeys: 1000, StartAfter: "a/b/c/1"},
			want: []string{"ab", "b--x--y", "b--z", "b-y", "z", "ab/(P)", "photos/(P)"}},
		{name: "start-after before the prefix", q: ListQuery{V2: true, Prefix: "a/b/", MaxKeys: 1000, StartAfter: "a"},
			want: []string{"a/b/1", "a/b/c/1", "a/b/c/2"}},
		{name: "start-after past the prefix", q: ListQuery{V2: true, Prefix: "a/", MaxKeys: 1000, StartAfter: "b"}},
		{name: "marker ignored by V2", q: ListQuery{V2: true, Prefix: "a/", MaxKeys: 1000, Marker: "a/b/c/1"},
			want: []string{"a/1", "a/2", "a/b/1", "a/b/c/1", "a/b/c/2", "a/c/1"}},
		{name: "continuation token", q: ListQuery{V2: true, Prefix: "a/", MaxKeys: 1000, ContinuationToken: encodeContinuationToken("a/b/c/1")},
			want: []string{"a/b/c/2", "a/c/1"}},
		{name: "continuation token and an earlier start-after", q: ListQuery{V2: true, Prefix: "a/", MaxKeys: 1000,
			StartAfter: "a/1", ContinuationToken: encodeContinuationToken("a/b/c/1")},
			want: []string{"a/b/c/2", "a/c/1"}},
		{name: "bad continuation token", q: ListQuery{V2: true, MaxKeys: 1000, ContinuationToken: "!!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := List(objs, tt.q)
			if got := entries(page); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries = %q\nwant      %q", got, tt.want)
			}
			if got, want := page.IsTruncated, tt.truncated; got != want {
				t.Errorf("IsTruncated = %v, want %v", got, want)
			}
			if got, want := page.NextMarker, tt.next; got != want {
				t.Errorf("NextMarker = %q, want %q", got, want)
			}
			if tt.q.V2 && tt.truncated {
				if got, want := page.NextContinuationToken, encodeContinuationToken(tt.next); got != want {
					t.Errorf("NextContinuationToken = %q, want %q", got, want)
				}
			}
			if !tt.q.V2 && page.NextContinuationToken != "" {
				t.Errorf("V1 page has a continuation token")
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// List does not trust its input to be sorted.
func TestListUnsorted(t *testing.T) {
	objs := []ObjectInfo{{Key: "c"}, {Key: "a/1"}, {Key: "b"}, {Key: "a/2"}}
	before := slices.Clone(objs)
	page := List(objs, ListQuery{Delimiter: "/", MaxKeys: 1000})
	if got, want := entries(page), []string{"b", "c", "a/(P)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(objs, before) {
		t.Error("List reordered its argument")
	}
}

// keys2500 is a bucket of 2500 keys: top-level files, files in 40
// directories, and files in sub-directories of those.
func keys2500() []string {
	var keys []string
	for i := range 2500 {
		switch i % 5 {
		case 0:
			keys = append(keys, fmt.Sprintf("top-%04d.bin", i))
		case 1, 2:
			keys = append(keys, fmt.Sprintf("dir%02d/file-%04d", i%40, i))
		default:
			keys = append(keys, fmt.Sprintf("dir%02d/sub%d/part-%04d", i%40, i%3, i))
		}
	}
	return keys
}

// Paging through 2500 keys, V1 and V2, with and without a delimiter and a
// prefix, in pages of 1000 and of 7: every entry exactly once, in order, and
// the same as one unlimited listing.
func TestListPaging(t *testing.T) {
	keys := keys2500()
	objs := objectsOf(keys...)
	if len(objs) != 2500 {
		t.Fatalf("%d keys, want 2500", len(objs))
	}
	for _, v2 := range []bool{false, true} {
		for _, delim := range []string{"", "/"} {
			for _, prefix := range []string{"", "dir07/"} {
				for _, size := range []int{1000, 7} {
					name := fmt.Sprintf("v2=%v/delimiter=%q/prefix=%q/size=%d", v2, delim, prefix, size)
					t.Run(name, func(t *testing.T) {
						want, _ := referenceList(keys, prefix, delim, "", 1<<30)
						var got []string
						q := ListQuery{V2: v2, Prefix: prefix, Delimiter: delim, MaxKeys: size}
						pages := 0
						for {
							page := List(objs, q)
							pages++
							if pages > 2500 {
								t.Fatal("paging does not end")
							}
							es := entries(page)
							if len(es) > size {
								t.Fatalf("page %d has %d entries, max %d", pages, len(es), size)
							}
							// Within a page, keys and prefixes are each sorted.
							if !slices.IsSorted(es[:len(page.Objects)]) || !slices.IsSorted(page.CommonPrefixes) {
								t.Fatalf("page %d is not sorted", pages)
							}
							got = append(got, es...)
							if !page.IsTruncated {
								break
							}
							if len(es) != size {
								t.Fatalf("truncated page %d has %d entries, want %d", pages, len(es), size)
							}
							if v2 {
								q.ContinuationToken = page.NextContinuationToken
							} else {
								q.Marker = page.NextMarker
							}
						}
						if got, want := pages, (len(want)+size-1)/size; got != max(want, 1) {
							t.Errorf("%d pages, want %d", got, want)
						}
						seen := map[string]bool{}
						for _, e := range got {
							if seen[e] {
								t.Fatalf("%q listed twice", e)
							}
							seen[e] = true
						}
						slices.Sort(got)
						slices.Sort(want)
						if !reflect.DeepEqual(got, want) {
							t.Errorf("listed %d entries, want %d", len(got), len(want))
						}
					})
				}
			}
		}
	}
}

// List agrees with referenceList on random buckets and queries, one page at
// a time (the seed is fixed, so a failure reproduces).
func TestListMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 2026))
	alphabet := []string{"a", "b", "/", "-", "é", "/a"}
	randKey := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	for i := range 2000 {
		set := map[string]bool{}
		for range rng.IntN(40) {
			set[randKey()] = true
		}
		var keys []string
		for k := range set {
			keys = append(keys, k)
		}
		q := ListQuery{
			Prefix:    pick("", "a", "a/", "b", "/", randKey()),
			Delimiter: pick("", "/", "-", "a/"),
			Marker:    pick("", "", randKey()),
			MaxKeys:   rng.IntN(12),
		}
		page := List(objectsOf(keys...), q)
		want, truncated := referenceList(keys, q.Prefix, q.Delimiter, q.Marker, q.MaxKeys)
		got := entries(page)
		if !reflect.DeepEqual(got, want) || page.IsTruncated != truncated {
			t.Fatalf("case %d: keys %q, query %+v:\nList      %q truncated=%v\nreference %q truncated=%v",
				i, sorted(keys), q, got, page.IsTruncated, want, truncated)
		}
	}
}

func TestParseListQuery(t *testing.T) {
	tests := []struct {
		target   string
		want     ListQuery
		wantCode string
	}{
		{"/b", ListQuery{MaxKeys: 1000}, ""},
		{"/b?prefix=a%2Fb%20c&delimiter=%2F&marker=a%2F1&max-keys=10&encoding-type=url",
			ListQuery{Prefix: "a/b c", Delimiter: "/", Marker: "a/1", MaxKeys: 10, EncodingType: "url"}, ""},
		{"/b?list-type=2&start-after=x&continuation-token=" + encodeContinuationToken("a/é") + "&fetch-owner=true&max-keys=5000",
			ListQuery{V2: true, StartAfter: "x", ContinuationToken: encodeContinuationToken("a/é"), FetchOwner: true, MaxKeys: 1000}, ""},
		{"/b?list-type=2&marker=ignored", ListQuery{V2: true, MaxKeys: 1000}, ""},
		{"/b?max-keys=0", ListQuery{MaxKeys: 0}, ""},
		{"/b?max-keys=-1", ListQuery{}, CodeInvalidArgument},
		{"/b?max-keys=ten", ListQuery{}, CodeInvalidArgument},
		{"/b?max-keys=99999999999999999999", ListQuery{}, CodeInvalidArgument},
		{"/b?encoding-type=base64", ListQuery{}, CodeInvalidArgument},
		{"/b?list-type=2&continuation-token=%21%21", ListQuery{}, CodeInvalidArgument},
		{"/b?list-type=2&fetch-owner=yes", ListQuery{}, CodeInvalidArgument},
		{"/b?prefix=a&prefix=b", ListQuery{}, CodeInvalidArgument},
		{"/b?prefix=%zz", ListQuery{}, CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, e := ParseListQuery(httptest.NewRequest("GET", tt.target, nil))
			if code := errOrEmpty(e); code != tt.wantCode {
				t.Fatalf("ParseListQuery: %v, want %q", e, tt.wantCode)
			}
			if e == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseListQuery = %+v\nwant             %+v", got, tt.want)
			}
		})
	}
}

func errOrEmpty(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Code
}

func BenchmarkList(b *testing.B) {
	objs := objectsOf(keys2500()...)
	q := ListQuery{Delimiter: "/", MaxKeys: 1000, Marker: "dir10/"}
	for b.Loop() {
		List(objs, q)
	}
}
