package s3api

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		err        *Error
		wantBody   string
		wantRegion string
	}{
		{"GET", http.MethodGet, &Error{Status: 403, Code: CodeAccessDenied, Message: "Access <Denied>", Err: errSecret},
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<Error><Code>AccessDenied</Code><Message>Access &lt;Denied&gt;</Message><Resource>/b/k</Resource><RequestId>REQ</RequestId></Error>`, ""},
		{"region", http.MethodGet, &Error{Status: 400, Code: CodeAuthorizationHeaderMalformed, Message: "m", Region: "eu-central-1"},
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<Error><Code>AuthorizationHeaderMalformed</Code><Message>m</Message><Resource>/b/k</Resource><RequestId>REQ</RequestId><Region>eu-central-1</Region></Error>`,
			"eu-central-1"},
		{"HEAD has no body", http.MethodHead, &Error{Status: 404, Code: "NoSuchKey", Message: "m"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest(tt.method, "/b/k", nil), tt.err, "/b/k", "REQ")
			if got, want := w.Code, tt.err.Status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := w.Body.String(), tt.wantBody; got != want {
				t.Errorf("body = %s\nwant   %s", got, want)
			}
			if got, want := w.Header().Get("Content-Type"), "application/xml"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := w.Header().Get("x-amz-request-id"), "REQ"; got != want {
				t.Errorf("x-amz-request-id = %q, want %q", got, want)
			}
			if got, want := w.Header().Get("x-amz-bucket-region"), tt.wantRegion; got != want {
				t.Errorf("x-amz-bucket-region = %q, want %q", got, want)
			}
			if tt.wantBody != "" {
				if got, want := w.Header().Get("Content-Length"), strconv.Itoa(len(tt.wantBody)); got != want {
					t.Errorf("Content-Length = %q, want %q", got, want)
				}
			}
			if strings.Contains(w.Body.String(), errSecret.Error()) {
				t.Error("the internal cause reached the client")
			}
		})
	}
}

var errSecret = &Error{Code: "internal", Message: "dial tcp 10.0.0.7:9000: connection refused"}

func TestWriteListBuckets(t *testing.T) {
	w := httptest.NewRecorder()
	WriteListBuckets(w, httptest.NewRequest("GET", "/", nil), Owner{ID: "alice@example.com"}, []BucketInfo{
		{Name: "models", CreationDate: time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("CET", 3600))},
		{Name: "datasets"},
	}, "REQ")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>alice@example.com</ID></Owner>` +
		`<Buckets><Bucket><Name>models</Name><CreationDate>2026-01-02T02:04:05.678Z</CreationDate></Bucket>` +
		`<Bucket><Name>datasets</Name><CreationDate>0001-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`
	if got := w.Body.String(); got != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
	if got, want := w.Header().Get("x-amz-request-id"), "REQ"; got != want {
		t.Errorf("x-amz-request-id = %q, want %q", got, want)
	}
}

func TestWriteLocation(t *testing.T) {
	tests := []struct{ region, want string }{
		{"us-east-1", `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`},
		{"eu-central-1", `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-central-1</LocationConstraint>`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		WriteLocation(w, httptest.NewRequest("GET", "/b?location", nil), tt.region, "REQ")
		if got, want := w.Body.String(), xml.Header+tt.want; got != want {
			t.Errorf("%s: body = %s\nwant %s", tt.region, got, want)
		}
	}
}

func TestWriteListObjects(t *testing.T) {
	mod := time.Date(2026, 7, 1, 12, 0, 0, 123_456_789, time.UTC)
	page := ListPage{
		Objects: []ObjectInfo{
			{Key: "a b+c/ü%.bin", Size: 42, ETag: "d41d8cd98f00b204e9800998ecf8427e", LastModified: mod},
			{Key: "x", Size: 0, ETag: `"quoted-5"`, LastModified: mod},
		},
		CommonPrefixes:        []string{"dir one/"},
		IsTruncated:           true,
		NextMarker:            "dir one/",
		NextContinuationToken: encodeContinuationToken("dir one/"),
	}
	contents := `<Contents><Key>a b+c/ü%.bin</Key><LastModified>2026-07-01T12:00:00.123Z</LastModified><ETag>&#34;d41d8cd98f00b204e9800998ecf8427e&#34;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>` +
		`<Contents><Key>x</Key><LastModified>2026-07-01T12:00:00.123Z</LastModified><ETag>&#34;quoted-5&#34;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>`
	tests := []struct {
		name string
		q    ListQuery
		want string
	}{
		{"V2", ListQuery{V2: true, Prefix: "a", Delimiter: "/", MaxKeys: 3, StartAfter: "a", ContinuationToken: "YQ"},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>a</Prefix><Delimiter>/</Delimiter>` +
				`<MaxKeys>3</MaxKeys><KeyCount>3</KeyCount><IsTruncated>true</IsTruncated><ContinuationToken>YQ</ContinuationToken>` +
				`<NextContinuationToken>ZGlyIG9uZS8</NextContinuationToken><StartAfter>a</StartAfter>` + contents +
				`<CommonPrefixes><Prefix>dir one/</Prefix></CommonPrefixes></ListBucketResult>`},
		{"V1 with delimiter", ListQuery{Prefix: "a", Delimiter: "/", MaxKeys: 3, Marker: "a"},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>a</Prefix><Marker>a</Marker>` +
				`<NextMarker>dir one/</NextMarker><MaxKeys>3</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>` + contents +
				`<CommonPrefixes><Prefix>dir one/</Prefix></CommonPrefixes></ListBucketResult>`},
		// The gateway's pages may end short, so NextMarker is sent
		// without a delimiter too: clients resume from it.
		{"V1 without delimiter has NextMarker", ListQuery{MaxKeys: 3},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><Marker></Marker>` +
				`<NextMarker>dir one/</NextMarker><MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>` + contents +
				`<CommonPrefixes><Prefix>dir one/</Prefix></CommonPrefixes></ListBucketResult>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteListObjects(w, httptest.NewRequest("GET", "/b", nil), "b", tt.q, page, "REQ")
			if got, want := w.Body.String(), xml.Header+tt.want; got != want {
				t.Errorf("body = %s\nwant   %s", got, want)
			}
			if got, want := w.Header().Get("Content-Type"), "application/xml"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
		})
	}
}

// With encoding-type=url every name is encoded, and decodes back with the
// decoders clients use (Go's QueryUnescape, like botocore's unquote_plus,
// and PathUnescape, like RFC 3986 decoders).
func TestWriteListObjectsURLEncoding(t *testing.T) {
	const key = "a b+c/ü%&<>(1)~.bin"
	page := ListPage{
		Objects:        []ObjectInfo{{Key: key}},
		CommonPrefixes: []string{"p q+/"},
		IsTruncated:    true,
		NextMarker:     "p q+/",
	}
	for _, v2 := range []bool{false, true} {
		q := ListQuery{V2: v2, Prefix: "a b", Delimiter: "/", Marker: "m n", StartAfter: "s t", EncodingType: "url", MaxKeys: 2}
		w := httptest.NewRecorder()
		WriteListObjects(w, httptest.NewRequest("GET", "/b", nil), "b", q, page, "REQ")
		var res struct {
			Prefix, Delimiter, Marker, NextMarker, StartAfter, EncodingType string
			Contents                                                        []struct{ Key string }
			CommonPrefixes                                                  []struct{ Prefix string }
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if got, want := res.Contents[0].Key, "a%20b%2Bc/%C3%BC%25%26%3C%3E%281%29~.bin"; got != want {
			t.Errorf("v2=%v: Key = %q, want %q", v2, got, want)
		}
		checks := map[string][2]string{
			"Key":          {res.Contents[0].Key, key},
			"CommonPrefix": {res.CommonPrefixes[0].Prefix, "p q+/"},
			"Prefix":       {res.Prefix, "a b"},
			"Delimiter":    {res.Delimiter, "/"},
		}
		if v2 {
			checks["StartAfter"] = [2]string{res.StartAfter, "s t"}
		} else {
			checks["Marker"] = [2]string{res.Marker, "m n"}
			checks["NextMarker"] = [2]string{res.NextMarker, "p q+/"}
		}
		for name, c := range checks {
			for _, dec := range []func(string) (string, error){url.QueryUnescape, url.PathUnescape} {
				if got, err := dec(c[0]); err != nil || got != c[1] {
					t.Errorf("v2=%v: %s %q decodes to %q, %v; want %q", v2, name, c[0], got, err, c[1])
				}
			}
		}
		if got, want := res.EncodingType, "url"; got != want {
			t.Errorf("EncodingType = %q, want %q", got, want)
		}
	}
}

func TestWriteHead(t *testing.T) {
	w := httptest.NewRecorder()
	WriteListObjects(w, httptest.NewRequest("HEAD", "/b", nil), "b", ListQuery{MaxKeys: 1}, ListPage{}, "REQ")
	if w.Body.Len() != 0 {
		t.Errorf("HEAD got a body: %s", w.Body)
	}
	if got, want := w.Code, 200; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
}
