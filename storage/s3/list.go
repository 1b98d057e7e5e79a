package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/orisano/gosax"
)

// A page of the store's listing without a delimiter (what every listing of
// the gateway's and warming read) is one ListObjectsV2 request made here,
// signed with minio-go's signer and sent through the store's transport, and
// its answer read with gosax rather than by minio-go. minio-go decodes a
// listing with encoding/xml, by reflection: 7 to 10 ms of CPU for a page of
// 1,000 keys, as long as VersityGW takes to list them, and in series with
// it. gosax reads the same page in under 1 ms (BenchmarkParseList). The
// request is minio-go's own for such a page, less the owners (fetch-owner:
// nothing reads them, and VersityGW takes a third longer with them), and
// it takes ctx. An answer that is not a well-formed listing is an error,
// never a shorter page.

// listedObject is one Contents entry of a listing, as sent.
type listedObject struct {
	key, etag, lastModified, size string
}

// listResult is what a ListObjectsV2 answer says that a page needs.
type listResult struct {
	objects      []listedObject
	truncated    string
	encodingType string
}

// maxListBody bounds the answer to one page: 1,000 entries of keys of at
// most 1,024 bytes (3 times that URL-encoded), and their other fields.
const maxListBody = 8 << 20

// listDirect lists a page of at most limit objects below prefix (the
// store's own prefix included) after startAfter. A request that fails for
// want of an answer, or with a server error or SlowDown, is sent again, up
// to the store's attempts, as minio-go does with its own.
func (s *Store) listDirect(ctx context.Context, prefix, startAfter string, limit int) ([]minio.ObjectInfo, bool, error) {
	q := url.Values{"list-type": {"2"}, "encoding-type": {"url"}, "prefix": {prefix}, "max-keys": {strconv.Itoa(limit)}}
	if startAfter != "" {
		q.Set("start-after", startAfter)
	}
	for attempt := 1; ; attempt++ {
		objs, truncated, err := s.listOnce(ctx, q)
		var resp minio.ErrorResponse
		retry := err != nil && ctx.Err() == nil && attempt < s.attempts &&
			(!errors.As(err, &resp) || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests)
		if !retry {
			return objs, truncated, err
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

// listOnce sends one ListObjectsV2 request with query q and reads its
// answer.
func (s *Store) listOnce(ctx context.Context, q url.Values) ([]minio.ObjectInfo, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := *s.c.EndpointURL()
	u.Path, u.RawPath = "/"+s.bucket+"/", "" // a bucket name needs no escaping
	u.RawQuery = s3utils.QueryEncode(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, err
	}
	if req, err = s.sign(req); err != nil {
		return nil, false, err
	}
	resp, err := (&http.Client{Transport: s.tr}).Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false, errorResponse(resp)
	}
	res, err := parseList(io.LimitReader(resp.Body, maxListBody))
	if err != nil {
		return nil, false, fmt.Errorf("the server's listing: %w", err)
	}
	objs, truncated, err := res.decode()
	if err != nil {
		return nil, false, fmt.Errorf("the server's listing: %w", err)
	}
	// Drain what is left, so that the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return objs, truncated, nil
}

// parseList reads a ListObjectsV2 answer: the root's Contents (Key, ETag,
// Size, LastModified), IsTruncated and EncodingType; other elements are
// passed over. Tags must nest and match, and nothing but space, comments
// and processing instructions may stand outside the one root element.
func parseList(r io.Reader) (listResult, error) {
	var (
		res   listResult
		path  []string // open elements, the root first
		done  bool     // the root has ended
		text  []byte   // the text of the field open
		field string   // the field open: "Contents/Key", "IsTruncated", ...
		obj   listedObject
	)
	rd := gosax.NewReaderSize(r, 64<<10)
	rd.EmitSelfClosingTag = true // <Key/>: a start and an end
	for {
		e, err := rd.Event()
		if err != nil {
			return listResult{}, err
		}
		switch e.Type() {
		case gosax.EventEOF:
			if !done {
				return listResult{}, errors.New("the answer ends before its ListBucketResult does")
			}
			return res, nil
		case gosax.EventStart:
			name, _ := gosax.Name(e.Bytes)
			switch {
			case done:
				return listResult{}, fmt.Errorf("<%s> after the root element", name)
			case len(path) == 0 && string(name) != "ListBucketResult":
				return listResult{}, fmt.Errorf("the answer is a %s, not a ListBucketResult", name)
			case len(path) == 1 && string(name) == "Contents":
				obj = listedObject{}
			}
			path = append(path, string(name))
			field = fieldOf(path)
			text = text[:0]
		case gosax.EventText:
			if len(path) == 0 {
				if len(strings.TrimSpace(string(e.Bytes))) > 0 {
					return listResult{}, errors.New("text outside the root element")
				}
				continue
			}
			if field != "" {
				b, err := gosax.Unescape(e.Bytes)
				if err != nil {
					return listResult{}, err
				}
				text = append(text, b...)
			}
		case gosax.EventCData:
			if len(path) == 0 {
				return listResult{}, errors.New("CDATA outside the root element")
			}
			if field != "" {
				text = append(text, e.Bytes[len("<![CDATA["):len(e.Bytes)-len("]]>")]...)
			}
		case gosax.EventEnd:
			name, _ := gosax.Name(e.Bytes)
			if len(path) == 0 || string(name) != path[len(path)-1] {
				return listResult{}, fmt.Errorf("</%s> closes no element open", name)
			}
			switch v := string(text); field {
			case "Contents/Key":
				obj.key = v
			case "Contents/ETag":
				obj.etag = v
			case "Contents/Size":
				obj.size = v
			case "Contents/LastModified":
				obj.lastModified = v
			case "IsTruncated":
				res.truncated = v
			case "EncodingType":
				res.encodingType = v
			}
			if len(path) == 2 && path[1] == "Contents" {
				res.objects = append(res.objects, obj)
			}
			path = path[:len(path)-1]
			field, text = "", text[:0]
			done = len(path) == 0
		case gosax.EventDocType:
			return listResult{}, errors.New("a DOCTYPE in the answer")
		}
	}
}

// fieldOf names the field path (the root first) is, or "" for an element
// parseList passes over.
func fieldOf(path []string) string {
	switch len(path) {
	case 2:
		if f := path[1]; f == "IsTruncated" || f == "EncodingType" {
			return f
		}
	case 3:
		if path[1] == "Contents" {
			switch f := path[2]; f {
			case "Key", "ETag", "Size", "LastModified":
				return "Contents/" + f
			}
		}
	}
	return ""
}

// decode turns a listing's fields into objects, as minio-go does: keys
// URL-decoded when the server says it encoded them, ETags unquoted later
// (Store.info), sizes and times parsed; and whether it is truncated.
func (res listResult) decode() ([]minio.ObjectInfo, bool, error) {
	var truncated bool
	switch strings.TrimSpace(res.truncated) {
	case "true":
		truncated = true
	case "false", "":
	default:
		return nil, false, fmt.Errorf("IsTruncated is %q", res.truncated)
	}
	objs := make([]minio.ObjectInfo, 0, len(res.objects))
	for _, o := range res.objects {
		key := o.key
		if res.encodingType == "url" {
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				return nil, false, fmt.Errorf("key %q: %w", o.key, err)
			}
		}
		size, err := strconv.ParseInt(strings.TrimSpace(o.size), 10, 64)
		if err != nil || size < 0 {
			return nil, false, fmt.Errorf("key %q: size %q", key, o.size)
		}
		var mod time.Time
		if lm := strings.TrimSpace(o.lastModified); lm != "" {
			if mod, err = time.Parse(time.RFC3339Nano, lm); err != nil {
				return nil, false, fmt.Errorf("key %q: LastModified %q", key, o.lastModified)
			}
		}
		objs = append(objs, minio.ObjectInfo{Key: key, ETag: o.etag, Size: size, LastModified: mod})
	}
	return objs, truncated, nil
}
