package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/internal/storagetest"
	"github.com/weightgate/weightgate/storage"
)

// s3Creds are STS credentials the gateway issued; nil is anonymous.
type s3Creds = credentials.Value

// stsCreds exchanges a development token for S3 credentials.
func stsCreds(tb testing.TB, h *gatewaytest.Harness, token string) *s3Creds {
	tb.Helper()
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {token}, "DurationSeconds": {"900"}}
	resp, err := http.PostForm(h.S3URL+"/", form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var a credentials.AssumeRoleWithWebIdentityResponse
	if err := xml.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
		tb.Fatalf("sts: %d %v", resp.StatusCode, err)
	}
	c := a.Result.Credentials
	return &s3Creds{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey, SessionToken: c.SessionToken}
}

// s3ListAnswer is a ListObjects(V2) answer, or its error.
type s3ListAnswer struct {
	Status                int
	IsTruncated           bool
	NextContinuationToken string
	NextMarker            string
	Contents              []struct{ Key string }
	CommonPrefixes        []struct{ Prefix string }
	Code, Message         string // an error's
}

// s3List sends GET /models?query, signed with creds (nil: unsigned).
func s3List(tb testing.TB, h *gatewaytest.Harness, creds *s3Creds, query url.Values) s3ListAnswer {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, h.S3URL+"/models?"+query.Encode(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if creds != nil {
		req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
		req = signer.SignV4(*req, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, "us-east-1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	a := s3ListAnswer{Status: resp.StatusCode}
	if err := xml.Unmarshal(b, &a); err != nil {
		tb.Fatalf("ListObjects %s: %d %v\n%.400s", query.Encode(), resp.StatusCode, err, b)
	}
	return a
}

// hubModels sends GET path (with its query) as token's bearer ("" anonymous)
// and returns the status, the ids, the next page's URL and the error code.
func hubModels(tb testing.TB, h *gatewaytest.Harness, pathAndQuery, token string) (status int, ids []string, next, code string) {
	tb.Helper()
	// A Link's next URL is absolute, on this gateway.
	path := strings.TrimPrefix(pathAndQuery, h.URL)
	if !strings.HasPrefix(path, "/") {
		tb.Fatalf("%q is not a URL of the gateway at %s", pathAndQuery, h.URL)
	}
	resp, b := h.Do(tb, http.MethodGet, path, token, nil)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, "", gatewaytest.DecodeError(tb, b).Code
	}
	for _, m := range gatewaytest.DecodeJSON[[]struct{ ID string }](tb, b) {
		ids = append(ids, m.ID)
	}
	if m := gatewaytest.LinkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil && m[2] == "next" {
		next = m[1]
	}
	return resp.StatusCode, ids, next, ""
}

// TestListingCursorsRefused: a listing cursor (an S3 continuation token,
// the Hub API's cursor) is good only for the listing that gave it. A forged
// or truncated one, another requester's, another prefix's or filter's, and
// one of the other API are refused with the protocol's precise error (S3:
// 400 InvalidArgument; Hub: 400 invalid_cursor), and the genuine one is
// accepted.
func TestListingCursorsRefused(t *testing.T) {
	t.Parallel()
	h := gatewaytest.Start(t, gatewaytest.DirStore(t), gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
	us, gb := h.Token(t, gatewaytest.Claims("US")), h.Token(t, gatewaytest.Claims("GB"))
	usCreds := stsCreds(t, h, us)

	first := func(creds *s3Creds, prefix string) string {
		a := s3List(t, h, creds, url.Values{"list-type": {"2"}, "max-keys": {"1"}, "prefix": {prefix}})
		if a.Status != 200 || !a.IsTruncated || a.NextContinuationToken == "" {
			t.Fatalf("first page of %q: %+v, want a truncated page with a token", prefix, a)
		}
		return a.NextContinuationToken
	}
	s3Token, s3USToken, s3OtherPrefix := first(nil, ""), first(usCreds, ""), first(nil, "open-lab/")
	hubCursor := func(query, token string) string {
		_, _, next, _ := hubModels(t, h, "/api/models?limit=1"+query, token)
		u, err := url.Parse(next)
		if err != nil || u.Query().Get("cursor") == "" {
			t.Fatalf("/api/models?limit=1%s: next %q, want a cursor", query, next)
		}
		return u.Query().Get("cursor")
	}
	hub, hubUS, hubAuthor := hubCursor("", ""), hubCursor("", us), hubCursor("&author=frontier-lab", us)
	forged := base64.RawURLEncoding.EncodeToString([]byte("open-lab/tiny-open/config.json, as a key; 40 bytes long"))

	s3Cases := []struct {
		name   string
		creds  *s3Creds
		prefix string
		token  string
		ok     bool
	}{
		{"genuine", nil, "", s3Token, true},
		{"genuine, US requester", usCreds, "", s3USToken, true},
		{"forged", nil, "", forged, false},
		{"truncated", nil, "", s3Token[:len(s3Token)-4], false},
		{"another requester's", nil, "", s3USToken, false},
		{"another requester's, the other way", usCreds, "", s3Token, false},
		{"another prefix's", nil, "", s3OtherPrefix, false},
		{"the Hub API's", nil, "", hub, false},
	}
	for _, c := range s3Cases {
		a := s3List(t, h, c.creds, url.Values{"list-type": {"2"}, "max-keys": {"1"}, "prefix": {c.prefix}, "continuation-token": {c.token}})
		switch {
		case c.ok && a.Status != 200:
			t.Errorf("S3, %s token: %d %s %q, want 200", c.name, a.Status, a.Code, a.Message)
		case !c.ok && (a.Status != 400 || a.Code != "InvalidArgument" || a.Message != "The continuation token provided is incorrect."):
			t.Errorf("S3, %s token: %d %s %q, want 400 InvalidArgument, The continuation token provided is incorrect.", c.name, a.Status, a.Code, a.Message)
		}
	}

	hubCases := []struct {
		name, query, token, cursor string
		ok                         bool
	}{
		{"genuine", "", "", hub, true},
		{"genuine, US requester, author", "&author=frontier-lab", us, hubAuthor, true},
		{"forged", "", "", forged, false},
		{"truncated", "", "", hub[:len(hub)-4], false},
		{"another requester's", "", "", hubUS, false},
		{"another requester's, both with tokens", "", gb, hubUS, false},
		{"another author's", "&author=open-lab", us, hubAuthor, false},
		{"another search's", "&search=tiny", "", hub, false},
		{"the S3 API's", "", "", s3Token, false},
	}
	for _, c := range hubCases {
		status, _, _, code := hubModels(t, h, "/api/models?limit=1"+c.query+"&cursor="+url.QueryEscape(c.cursor), c.token)
		switch {
		case c.ok && status != 200:
			t.Errorf("Hub, %s cursor: %d %s, want 200", c.name, status, code)
		case !c.ok && (status != 400 || code != "invalid_cursor"):
			t.Errorf("Hub, %s cursor: %d %q, want 400 invalid_cursor", c.name, status, code)
		}
	}
}

// countingStore counts the storage listing calls and the keys they return
// (listing_count_test.go counts ListPage too).
type countingStore struct {
	storage.ObjectStore
	mu          sync.Mutex
	calls, keys int
}

func (s *countingStore) count(keys int) {
	s.mu.Lock()
	s.calls++
	s.keys += keys
	s.mu.Unlock()
}

// take returns the counts since the last take.
func (s *countingStore) take() (calls, keys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	calls, keys, s.calls, s.keys = s.calls, s.keys, 0, 0
	return calls, keys
}

func (s *countingStore) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	objs, err := s.ObjectStore.List(ctx, prefix)
	s.count(len(objs))
	return objs, err
}

func (s *countingStore) ListDirs(ctx context.Context, prefix string) ([]string, error) {
	dirs, err := s.ObjectStore.ListDirs(ctx, prefix)
	s.count(len(dirs))
	return dirs, err
}

// Local keeps the dir backend's nature: its catalog lists it directly.
func (s *countingStore) Local() bool {
	l, ok := s.ObjectStore.(storage.LocalStore)
	return ok && l.Local()
}

// The documented bound on one listing page (docs/http-api.md, "How listing
// scales"): at most 64 storage listing requests, and 4,000 keys plus the
// last storage page (1,000), plus, for each of the two models a bound may
// cut (the first and the last of the page), one listing of that model.
const (
	boundRequests = 64 + 2
	boundKeys     = 4000 + 1000 + 2*3
)

// TestListingPageBound counts what each listing page reads from storage,
// over catalogs of two sizes with none, three in four, and all but the last
// of their models hidden from the requester: it stays within the
// documented bound, whatever the size and however many models are hidden.
// The S3 backend's half is TestListingPageBoundS3.
func TestListingPageBound(t *testing.T) {
	t.Parallel()
	for _, n := range []int{300, 2000} {
		for _, hide := range hidings(n) {
			t.Run(fmt.Sprintf("%d models, %s", n, hide.name), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				storagetest.WriteModels(t, dir, n, hide.closed)
				cs := &countingStore{ObjectStore: gatewaytest.OpenDirStore(t, dir)}
				checkPageBound(t, cs, n, 0)
			})
		}
	}
}

type hiding struct {
	name   string
	closed func(int) bool
}

// hidings are the degrees of hiding of a catalog of n models that
// TestListingPageBound tries.
func hidings(n int) []hiding {
	return []hiding{
		{"none hidden", nil},
		{"3 in 4 hidden", func(i int) bool { return i%4 != 0 }},
		{"all but the last hidden", func(i int) bool { return i != n-1 }},
	}
}

// checkPageBound serves cs (n models written by storagetest.WriteModels)
// and holds each of a series of listing pages to the bound, plus ahead
// storage pages read ahead in the background (counted with the page that
// meets them).
func checkPageBound(t *testing.T, cs *countingStore, n, ahead int) {
	t.Helper()
	h := gatewaytest.Start(t, cs, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
	maxCalls, maxKeys := boundRequests+ahead, boundKeys+1000*ahead
	check := func(what string) {
		t.Helper()
		calls, keys := cs.take()
		if calls > maxCalls || keys > maxKeys {
			t.Errorf("%s: %d storage listing calls returning %d keys; the bound is %d calls, %d keys", what, calls, keys, maxCalls, maxKeys)
		}
	}
	// S3: the first three pages, one from the middle, one model's prefix,
	// the organisations (a delimiter).
	token := ""
	for page := range 3 {
		q := url.Values{"list-type": {"2"}, "max-keys": {"1000"}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		a := s3List(t, h, nil, q)
		if a.Status != 200 {
			t.Fatalf("S3 page %d: %d %s", page, a.Status, a.Code)
		}
		check(fmt.Sprintf("S3 page %d", page))
		if !a.IsTruncated {
			break
		}
		token = a.NextContinuationToken
	}
	mid := storagetest.ModelID(n / 2)
	for _, q := range []url.Values{
		{"list-type": {"2"}, "start-after": {mid + "/"}},
		{"list-type": {"2"}, "prefix": {mid + "/"}},
		{"list-type": {"2"}, "delimiter": {"/"}},
		{"prefix": {"org1/"}, "delimiter": {"/"}},
	} {
		if a := s3List(t, h, nil, q); a.Status != 200 {
			t.Fatalf("S3 %s: %d %s", q.Encode(), a.Status, a.Code)
		}
		check("S3 " + q.Encode())
	}
	// The Hub API: pages of 100 and 1,000 models, and the next page of
	// each.
	for _, limit := range []string{"100", "1000"} {
		next := "/api/models?limit=" + limit
		for page := 0; page < 2 && next != ""; page++ {
			status, _, nx, code := hubModels(t, h, next, "")
			if status != 200 {
				t.Fatalf("/api/models?limit=%s page %d: %d %s", limit, page, status, code)
			}
			check(fmt.Sprintf("/api/models?limit=%s page %d", limit, page))
			next = nx
		}
	}
}
