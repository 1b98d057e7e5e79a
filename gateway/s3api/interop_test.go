package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weightgate/weightgate/gateway/httpsem"
)

// fakeS3 is a read-only S3 server assembled from this package's primitives
// the way the gateway wires them: Classify, then Verify, then the operation.
// It records the operations it served.
type fakeS3 struct {
	iss     *Issuer
	region  string
	buckets map[string]map[string][]byte
	modTime time.Time

	mu  sync.Mutex
	ops []Op
}

func (s *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	fail := func(e *Error) { WriteError(w, r, e, r.URL.Path, reqID) }
	op, bucket, key, e := Classify(r)
	if e != nil {
		fail(e)
		return
	}
	cred, err := Verify(r, s.iss, time.Now(), VerifyOptions{Region: s.region})
	if err != nil {
		fail(err.(*Error))
		return
	}
	if cred.Subject.ID != testSubject().ID {
		fail(errAccessDenied("wrong subject"))
		return
	}
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()

	if op == OpListBuckets {
		var bs []BucketInfo
		for name := range s.buckets {
			bs = append(bs, BucketInfo{Name: name, CreationDate: s.modTime})
		}
		slices.SortFunc(bs, func(a, b BucketInfo) int { return strings.Compare(a.Name, b.Name) })
		WriteListBuckets(w, r, Owner{ID: cred.Subject.ID}, bs, reqID)
		return
	}
	objects, ok := s.buckets[bucket]
	if !ok {
		fail(newError(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist."))
		return
	}
	etag := func(b []byte) string { sum := md5.Sum(b); return hex.EncodeToString(sum[:]) }
	switch op {
	case OpGetBucketLocation:
		WriteLocation(w, r, s.region, reqID)
	case OpHeadBucket:
		w.Header().Set("x-amz-bucket-region", s.region)
	case OpListObjects, OpListObjectsV2:
		q, e := ParseListQuery(r)
		if e != nil {
			fail(e)
			return
		}
		var infos []ObjectInfo
		for k, b := range objects {
			infos = append(infos, ObjectInfo{Key: k, Size: int64(len(b)), ETag: etag(b), LastModified: s.modTime})
		}
		WriteListObjects(w, r, bucket, q, List(infos, q), reqID)
	case OpGetObject, OpHeadObject:
		body, ok := objects[key]
		if !ok {
			fail(newError(http.StatusNotFound, "NoSuchKey", "The specified key does not exist."))
			return
		}
		tag := `"` + etag(body) + `"`
		w.Header().Set("ETag", tag)
		w.Header().Set("Last-Modified", s.modTime.UTC().Format(http.TimeFormat))
		switch httpsem.CheckConditions(r, tag, s.modTime) {
		case http.StatusNotModified:
			w.WriteHeader(http.StatusNotModified)
			return
		case http.StatusPreconditionFailed:
			fail(newError(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold."))
			return
		}
		if ct := r.URL.Query().Get("response-content-type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if op == OpGetObject {
			w.Write(body)
		}
	}
}

// interopKeys are keys that exercise path and listing encoding.
var interopKeys = map[string]string{
	"org/model/config.json":                     `{"a":1}`,
	"org/model/weights/model-00001.safetensors": "weights-1",
	"org/model/weights/model-00002.safetensors": "weights-2",
	"org/model/dir with space/a+b=c&d.bin":      "awkward",
	"org/model/ünïcødé/(1)~*'!.txt":             "unicode",
	"org/other/README.md":                       "readme",
	"top-level.txt":                             "top",
}

// startInterop starts the STS endpoint and the S3 server for region, and
// returns a minio-go client whose credentials come from the STS endpoint.
func startInterop(t *testing.T, region, clientRegion string) (*minio.Client, *fakeS3, *httptest.Server) {
	t.Helper()
	iss := MustIssuer(t, time.Now)
	sts := httptest.NewServer(STSHandler(acceptAll(), iss, STSOptions{}))
	t.Cleanup(sts.Close)
	objects := map[string][]byte{}
	for k, v := range interopKeys {
		objects[k] = []byte(v)
	}
	s3 := &fakeS3{iss: iss, region: region, modTime: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		buckets: map[string]map[string][]byte{"models": objects, "empty": {}}}
	srv := httptest.NewServer(s3)
	t.Cleanup(srv.Close)

	token := MustJWT(t, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	creds, err := credentials.NewSTSWebIdentity(sts.URL, func() (*credentials.WebIdentityToken, error) {
		return &credentials.WebIdentityToken{Token: token}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	client, err := minio.New(u.Host, &minio.Options{Creds: creds, Secure: false, BucketLookup: minio.BucketLookupPath, Region: clientRegion})
	if err != nil {
		t.Fatal(err)
	}
	return client, s3, srv
}

// minio-go, unmodified, against the primitives: STS credentials, listing
// (V1 and V2, paged, url-encoded), GetObject, StatObject, presigned URLs,
// conditional requests, and refused writes.
func TestInteropMinioClient(t *testing.T) {
	// A listing bug can make minio-go page forever; fail instead.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, s3, _ := startInterop(t, "us-east-1", "")

	t.Run("ListBuckets", func(t *testing.T) {
		bs, err := client.ListBuckets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, b := range bs {
			names = append(names, b.Name)
		}
		if got, want := names, []string{"empty", "models"}; !slices.Equal(got, want) {
			t.Errorf("buckets = %q, want %q", got, want)
		}
	})
	t.Run("BucketExists", func(t *testing.T) {
		for bucket, want := range map[string]bool{"models": true, "nope": false} {
			got, err := client.BucketExists(ctx, bucket)
			if err != nil || got != want {
				t.Errorf("BucketExists(%s) = %v, %v; want %v", bucket, got, err, want)
			}
		}
	})
	t.Run("GetBucketLocation", func(t *testing.T) {
		loc, err := client.GetBucketLocation(ctx, "models")
		if err != nil || loc != "us-east-1" {
			t.Errorf("GetBucketLocation = %q, %v", loc, err)
		}
	})

	for _, v1 := range []bool{false, true} {
		for _, maxKeys := range []int{0, 1, 2} {
			name := "ListObjects/v1=" + strconv.FormatBool(v1) + "/max-keys=" + strconv.Itoa(maxKeys)
			t.Run(name+"/recursive", func(t *testing.T) {
				var got []string
				for o := range client.ListObjects(ctx, "models", minio.ListObjectsOptions{Prefix: "org/model/", Recursive: true, UseV1: v1, MaxKeys: maxKeys}) {
					if o.Err != nil {
						t.Fatal(o.Err)
					}
					got = append(got, o.Key)
				}
				var want []string
				for k := range interopKeys {
					if strings.HasPrefix(k, "org/model/") {
						want = append(want, k)
					}
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("keys = %q\nwant   %q", got, want)
				}
			})
			t.Run(name+"/delimited", func(t *testing.T) {
				var got []string
				for o := range client.ListObjects(ctx, "models", minio.ListObjectsOptions{Prefix: "org/model/", UseV1: v1, MaxKeys: maxKeys}) {
					if o.Err != nil {
						t.Fatal(o.Err)
					}
					got = append(got, o.Key)
				}
				want := []string{"org/model/config.json", "org/model/dir with space/", "org/model/weights/", "org/model/ünïcødé/"}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("entries = %q\nwant      %q", got, want)
				}
			})
		}
	}

	for key, content := range interopKeys {
		t.Run("GetObject/"+key, func(t *testing.T) {
			obj, err := client.GetObject(ctx, "models", key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			b, err := io.ReadAll(obj)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != content {
				t.Errorf("content = %q, want %q", got, content)
			}
			st, err := client.StatObject(ctx, "models", key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Size, int64(len(content)); got != want {
				t.Errorf("size = %d, want %d", got, want)
			}

			u, err := client.PresignedGetObject(ctx, "models", key, 10*time.Minute, url.Values{"response-content-type": {"text/x-weights"}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(u.String())
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != content {
				t.Errorf("presigned GET = %d %q, want 200 %q", resp.StatusCode, b, content)
			}
			if got, want := resp.Header.Get("Content-Type"), "text/x-weights"; got != want {
				t.Errorf("presigned Content-Type = %q, want %q", got, want)
			}

			// A presigned URL changed to name another object is refused.
			other := *u
			other.Path, other.RawPath = "/models/top-level.txt", ""
			if key == "top-level.txt" {
				other.Path = "/models/org/other/README.md"
			}
			resp, err = http.Get(other.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got, want := resp.StatusCode, http.StatusForbidden; got != want {
				t.Errorf("presigned URL edited to name another object: status %d, want %d", got, want)
			}
		})
	}

	t.Run("conditional", func(t *testing.T) {
		opts := minio.GetObjectOptions{}
		opts.SetMatchETag("0123")
		obj, err := client.GetObject(ctx, "models", "top-level.txt", opts)
		if err == nil {
			_, err = io.ReadAll(obj)
		}
		if got := minio.ToErrorResponse(err); got.Code != "PreconditionFailed" || got.StatusCode != 412 {
			t.Errorf("If-Match mismatch: %+v", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := client.StatObject(ctx, "models", "nope", minio.StatObjectOptions{})
		if got := minio.ToErrorResponse(err); got.Code != "NoSuchKey" {
			t.Errorf("StatObject(nope): %+v", got)
		}
	})
	t.Run("writes refused", func(t *testing.T) {
		_, err := client.PutObject(ctx, "models", "new.bin", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		if got := minio.ToErrorResponse(err); got.Code != CodeAccessDenied {
			t.Errorf("PutObject: %v", err)
		}
		err = client.RemoveObject(ctx, "models", "top-level.txt", minio.RemoveObjectOptions{})
		if got := minio.ToErrorResponse(err); got.Code != CodeAccessDenied {
			t.Errorf("RemoveObject: %v", err)
		}
		err = client.MakeBucket(ctx, "newbucket", minio.MakeBucketOptions{})
		if got := minio.ToErrorResponse(err); got.Code != CodeAccessDenied {
			t.Errorf("MakeBucket: %v", err)
		}
	})
	t.Run("unsupported reads", func(t *testing.T) {
		_, err := client.GetBucketPolicy(ctx, "models")
		if got := minio.ToErrorResponse(err); got.Code != CodeNotImplemented {
			t.Errorf("GetBucketPolicy: %v", err)
		}
	})

	s3.mu.Lock()
	defer s3.mu.Unlock()
	for _, op := range []Op{OpListBuckets, OpHeadBucket, OpGetBucketLocation, OpListObjects, OpListObjectsV2, OpGetObject, OpHeadObject} {
		if !slices.Contains(s3.ops, op) {
			t.Errorf("minio-go never made a %s request", op)
		}
	}
}

// A server in another region: minio-go signs its first location request
// for us-east-1, reads the region from the AuthorizationHeaderMalformed
// answer, and signs everything after for the right region.
func TestInteropRegionDiscovery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, _, _ := startInterop(t, "eu-central-1", "")
	loc, err := client.GetBucketLocation(ctx, "models")
	if err != nil || loc != "eu-central-1" {
		t.Fatalf("GetBucketLocation = %q, %v", loc, err)
	}
	obj, err := client.GetObject(ctx, "models", "top-level.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	if err != nil || string(b) != "top" {
		t.Errorf("GetObject = %q, %v", b, err)
	}

	// A client pinned to another region is refused, and told ours.
	pinned, _, _ := startInterop(t, "eu-central-1", "us-west-2")
	_, err = pinned.StatObject(ctx, "models", "top-level.txt", minio.StatObjectOptions{})
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.StatusCode != 400 || er.Region != "eu-central-1" {
		t.Errorf("pinned client: %#v", err)
	}
}
