package s3api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// S3Namespace is the XML namespace of S3 responses (errors have none).
const S3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// timeFormat is S3's timestamp format in XML: RFC 3339, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// errorResponse is S3's error document.
type errorResponse struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
	Region    string   `xml:"Region,omitempty"`
}

// WriteError writes e as S3's XML error document, with e.Status, Content-Type
// application/xml and x-amz-request-id. resource is the bucket or object path
// the request named. A HEAD request gets the status and headers only, as
// from S3. When e.Region is set it is sent as <Region> and
// x-amz-bucket-region, which clients read to re-sign for the right region.
func WriteError(w http.ResponseWriter, r *http.Request, e *Error, resource, requestID string) {
	w.Header().Set("x-amz-request-id", requestID)
	if e.Region != "" {
		w.Header().Set("x-amz-bucket-region", e.Region)
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.Status)
		return
	}
	writeXMLBody(w, e.Status, "application/xml", errorResponse{
		Code:      e.Code,
		Message:   e.Message,
		Resource:  resource,
		RequestID: requestID,
		Region:    e.Region,
	})
}

// Owner is a bucket owner in ListAllMyBucketsResult.
type Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// BucketInfo is one bucket in a ListBuckets answer.
type BucketInfo struct {
	Name         string
	CreationDate time.Time
}

// ListAllMyBucketsResult is the ListBuckets response body.
type ListAllMyBucketsResult struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   Owner    `xml:"Owner"`
	Buckets []Bucket `xml:"Buckets>Bucket"`
}

// Bucket is one bucket of ListAllMyBucketsResult.
type Bucket struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
}

// LocationConstraint is the GetBucketLocation response body: empty for
// us-east-1, the region otherwise.
type LocationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// ListBucketResult is the ListObjects (V1) response body.
type ListBucketResult struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []Object       `xml:"Contents"`
	CommonPrefixes []CommonPrefix `xml:"CommonPrefixes"`
}

// ListBucketResultV2 is the ListObjectsV2 response body.
type ListBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	KeyCount              int            `xml:"KeyCount"`
	IsTruncated           bool           `xml:"IsTruncated"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	Contents              []Object       `xml:"Contents"`
	CommonPrefixes        []CommonPrefix `xml:"CommonPrefixes"`
}

// Object is one entry of Contents.
type Object struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

// CommonPrefix is one entry of CommonPrefixes.
type CommonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// WriteListBuckets writes the ListBuckets response.
func WriteListBuckets(w http.ResponseWriter, r *http.Request, owner Owner, buckets []BucketInfo, requestID string) {
	res := ListAllMyBucketsResult{Owner: owner, Buckets: make([]Bucket, len(buckets))}
	for i, b := range buckets {
		res.Buckets[i] = Bucket{Name: b.Name, CreationDate: formatTime(b.CreationDate)}
	}
	writeXML(w, r, res, requestID)
}

// WriteLocation writes the GetBucketLocation response: an empty
// LocationConstraint for us-east-1 (S3's historical encoding of the default
// region), the region otherwise.
func WriteLocation(w http.ResponseWriter, r *http.Request, region, requestID string) {
	if region == DefaultRegion {
		region = ""
	}
	writeXML(w, r, LocationConstraint{Region: region}, requestID)
}

// WriteListObjects writes page as the answer to q: a ListBucketResult for V1,
// a ListBucketResultV2 for V2. Objects have no Owner, even with
// fetch-owner=true: the gateway has no owners to tell.
//
// With encoding-type=url, Key, Prefix, Delimiter, StartAfter, Marker,
// NextMarker and each common prefix are percent-encoded with AWS's rules
// ('/' kept, a space as %20, '+' as %2B). That is what MinIO sends; AWS is
// documented only as URL-encoding, and its SDKs decode with unquote_plus or
// url.QueryUnescape, which read %20 and %2B correctly, while a '+' for a
// space would be misread by decoders that follow RFC 3986. Continuation
// tokens are base64url and need no encoding. Without encoding-type, keys
// with characters XML 1.0 cannot carry reach the client as U+FFFD.
func WriteListObjects(w http.ResponseWriter, r *http.Request, bucket string, q ListQuery, page ListPage, requestID string) {
	enc := func(s string) string {
		if q.EncodingType == "url" {
			return awsEncode(s, true)
		}
		return s
	}
	contents := make([]Object, len(page.Objects))
	for i, o := range page.Objects {
		contents[i] = Object{
			Key:          enc(o.Key),
			LastModified: formatTime(o.LastModified),
			ETag:         quoteETag(o.ETag),
			Size:         o.Size,
			StorageClass: "STANDARD",
		}
	}
	prefixes := make([]CommonPrefix, len(page.CommonPrefixes))
	for i, p := range page.CommonPrefixes {
		prefixes[i] = CommonPrefix{Prefix: enc(p)}
	}
	if !q.V2 {
		res := ListBucketResult{
			Name:           bucket,
			Prefix:         enc(q.Prefix),
			Marker:         enc(q.Marker),
			MaxKeys:        q.MaxKeys,
			Delimiter:      enc(q.Delimiter),
			IsTruncated:    page.IsTruncated,
			EncodingType:   q.EncodingType,
			Contents:       contents,
			CommonPrefixes: prefixes,
		}
		if page.IsTruncated && page.NextMarker != "" {
			// Sent with or without a delimiter: a page of the gateway
			// may end short (models hidden from the requester passed
			// over), and its NextMarker, not its last key, is where the
			// next one starts. Clients prefer NextMarker when present.
			res.NextMarker = enc(page.NextMarker)
		}
		writeXML(w, r, res, requestID)
		return
	}
	writeXML(w, r, ListBucketResultV2{
		Name:                  bucket,
		Prefix:                enc(q.Prefix),
		Delimiter:             enc(q.Delimiter),
		MaxKeys:               q.MaxKeys,
		KeyCount:              len(contents) + len(prefixes),
		IsTruncated:           page.IsTruncated,
		ContinuationToken:     q.ContinuationToken,
		NextContinuationToken: page.NextContinuationToken,
		StartAfter:            enc(q.StartAfter),
		EncodingType:          q.EncodingType,
		Contents:              contents,
		CommonPrefixes:        prefixes,
	}, requestID)
}

// writeXML writes v with status 200 and x-amz-request-id.
func writeXML(w http.ResponseWriter, r *http.Request, v any, requestID string) {
	w.Header().Set("x-amz-request-id", requestID)
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeXMLBody(w, http.StatusOK, "application/xml", v)
}

// writeXMLBody encodes v before writing anything, so that an encoding
// failure is still a clean 500 rather than a truncated document.
func writeXMLBody(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func formatTime(t time.Time) string {
	return t.UTC().Format(timeFormat)
}

// quoteETag returns etag in double quotes, as S3 sends it.
func quoteETag(etag string) string {
	if len(etag) >= 2 && strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

// newRequestID returns 16 upper-case hex digits, the shape of S3's ids.
func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
