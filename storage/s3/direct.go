package s3

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/weightgate/weightgate/storage"
)

// DirectMin is the smallest read Open makes on a connection of its own
// (openDirect) rather than through minio-go: large enough that the extra
// connection set-up is noise next to the transfer.
const DirectMin = 4 << 20

// emptySHA256 is the payload hash of a request without a body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// openDirect GETs a range of an object over plain HTTP/1.1 on a connection
// of its own, signed with SigV4 (minio-go's signer), and returns a body that
// hands that connection to the gateway (storage.KernelBody): the kernel then
// moves the bytes from the storage socket to the client's (splice(2))
// without copying them through the gateway (a prototype proxy spent about
// half the CPU per GiB so). minio-go's GetObject cannot offer this: net/http's
// client hides the connection behind a buffered body reader. It is used for
// plain http endpoints only (TLS bytes must be decrypted in user space) and
// for reads of at least DirectMin bytes.
//
// Like minio-go's path it sends If-Match, so an object rewritten since Stat
// is storage.ErrObjectChanged, and it fails before returning when the object
// is missing or the storage does not answer within the store's timeout.
// Cancelling ctx closes the connection.
func (s *Store) openDirect(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	u, err := url.Parse("http://" + s.endpoint + s3utils.EncodePath("/"+s.bucket+"/"+s.prefix+key))
	if err != nil {
		return nil, fmt.Errorf("s3store: %s: %w", key, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("s3store: %s: %w", key, err)
	}
	req.Close = true // one response per connection: the body is spliced away
	req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-"+strconv.FormatInt(offset+length-1, 10))
	if etag != "" {
		req.Header.Set("If-Match", strconv.Quote(etag))
	}
	if req, err = s.sign(req); err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}

	d := net.Dialer{Timeout: s.timeout}
	c, err := d.DialContext(ctx, "tcp", s.endpoint)
	if err != nil {
		return nil, fmt.Errorf("s3store: %s: %w", key, err)
	}
	conn, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("s3store: %s: storage connection is a %T, not TCP", key, c)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (io.ReadCloser, error) {
		stop()
		conn.Close()
		return nil, err
	}
	// The request and the response head must come within the timeout; the
	// body's pace is the gateway's to bound (per chunk).
	if err := conn.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		return fail(fmt.Errorf("s3store: %s: %w", key, err))
	}
	if err := req.Write(conn); err != nil {
		return fail(fmt.Errorf("s3store: %s: send: %w", key, err))
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(fmt.Errorf("s3store: %s: read response: %w", key, err))
	}
	if err := directStatus(key, resp, offset, length); err != nil {
		return fail(err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(fmt.Errorf("s3store: %s: %w", key, err))
	}
	// Whatever of the body came in with the head is sent first, from memory.
	head := make([]byte, min(int64(br.Buffered()), length))
	if _, err := io.ReadFull(br, head); err != nil {
		return fail(fmt.Errorf("s3store: %s: %w", key, err))
	}
	return &directBody{head: head, conn: conn, rest: io.LimitReader(conn, length-int64(len(head))), stop: stop}, nil
}

// directStatus checks that resp carries exactly the requested range, or
// maps the storage's refusal with mapErr, as minio-go's path does.
func directStatus(key string, resp *http.Response, offset, length int64) error {
	switch {
	case resp.StatusCode == http.StatusPartialContent,
		resp.StatusCode == http.StatusOK && offset == 0:
		if resp.ContentLength != length || len(resp.TransferEncoding) > 0 {
			return fmt.Errorf("s3store: %s: storage sent %d bytes (%v), want %d", key, resp.ContentLength, resp.TransferEncoding, length)
		}
		return nil
	}
	return mapErr(key, errorResponse(resp))
}

// sign signs req, a request without a body, with SigV4 (minio-go's
// signer) and the store's credentials; anonymous credentials leave it
// unsigned.
func (s *Store) sign(req *http.Request) (*http.Request, error) {
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	v, err := s.creds.Get()
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if v.AccessKeyID != "" && !v.SignerType.IsAnonymous() {
		req = signer.SignV4(*req, v.AccessKeyID, v.SecretAccessKey, v.SessionToken, s.region)
	}
	return req, nil
}

// errorResponse is the storage's refusal, read as minio-go reads one, so
// that mapErr maps it exactly as on minio-go's path.
func errorResponse(resp *http.Response) minio.ErrorResponse {
	var e struct{ Code, Message string }
	_ = xml.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	return minio.ErrorResponse{StatusCode: resp.StatusCode, Code: e.Code,
		Message: fmt.Sprintf("storage answered %s (%s: %s)", resp.Status, e.Code, e.Message)}
}

// directBody is the body of an openDirect read.
type directBody struct {
	head []byte // body bytes that came in with the response head
	conn *net.TCPConn
	rest io.Reader // the connection, limited to the rest of the body
	stop func() bool
}

var _ storage.KernelBody = (*directBody)(nil)

// Read serves the body through user space, for a client connection that
// cannot take the socket (TLS, HTTP/2).
func (b *directBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	return b.rest.Read(p)
}

// KernelSource implements storage.KernelBody.
func (b *directBody) KernelSource() ([]byte, io.Reader) {
	head := b.head
	b.head = nil
	return head, b.conn
}

func (b *directBody) Close() error {
	b.stop()
	return b.conn.Close()
}
