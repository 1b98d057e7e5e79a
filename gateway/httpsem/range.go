// Package httpsem holds the parts of HTTP semantics (RFC 9110) that both of
// the gateway's frontends, the Hub API and the S3 API, apply to a download:
// single byte ranges and conditional requests. It knows nothing of either
// protocol's answers; each frontend renders the outcome its own way.
package httpsem

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Range is one satisfiable range of an object: Length bytes from Start.
type Range struct {
	Start, Length int64
}

// ContentRange renders the Content-Range value of r within an object of size.
func (r Range) ContentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.Start, r.Start+r.Length-1, size)
}

// The kinds of Range header ParseRange refuses.
var (
	ErrRangeMalformed     = errors.New("malformed range")
	ErrRangeMultiple      = errors.New("more than one range")
	ErrRangeUnsatisfiable = errors.New("range not satisfiable")
)

// A RangeError is a Range header ParseRange refuses: Kind is one of the
// ErrRange values, and the message says what was wrong, for the requester.
type RangeError struct {
	Kind    error
	Message string
}

func (e *RangeError) Error() string { return e.Message }
func (e *RangeError) Unwrap() error { return e.Kind }

func rangeError(kind error, format string, args ...any) *RangeError {
	return &RangeError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ParseRange interprets a Range header against an object of size bytes.
//
// It returns ok=false with a nil error when the header is absent or names a
// unit other than bytes (RFC 9110 §14.2: such a header is ignored and the
// whole object is sent). It returns a *RangeError when the header is
// malformed (ErrRangeMalformed), asks for more than one range
// (ErrRangeMultiple: multipart/byteranges is not supported, clients that
// download model files ask for one range at a time), or cannot be satisfied
// (ErrRangeUnsatisfiable).
func ParseRange(header string, size int64) (r Range, ok bool, err error) {
	if header == "" {
		return Range{}, false, nil
	}
	unit, spec, found := strings.Cut(header, "=")
	if !found {
		return Range{}, false, rangeError(ErrRangeMalformed, "malformed Range header %q", header)
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return Range{}, false, nil
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return Range{}, false, rangeError(ErrRangeMultiple, "only one byte range per request is supported, got %q", header)
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return Range{}, false, rangeError(ErrRangeMalformed, "malformed Range header %q", header)
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "" && last == "":
		return Range{}, false, rangeError(ErrRangeMalformed, "malformed Range header %q", header)
	case first == "": // suffix: the last n bytes
		n, err := parseRangeInt(last)
		if err != nil {
			return Range{}, false, rangeError(ErrRangeMalformed, "malformed Range header %q", header)
		}
		if n == 0 || size == 0 {
			return Range{}, false, rangeError(ErrRangeUnsatisfiable, "range %q cannot be satisfied for an object of %d bytes", header, size)
		}
		n = min(n, size)
		return Range{Start: size - n, Length: n}, true, nil
	default:
		start, err := parseRangeInt(first)
		if err != nil {
			return Range{}, false, rangeError(ErrRangeMalformed, "malformed Range header %q", header)
		}
		end := size - 1
		if last != "" {
			e, err := parseRangeInt(last)
			if err != nil || e < start {
				return Range{}, false, rangeError(ErrRangeMalformed, "malformed Range header %q", header)
			}
			end = min(e, size-1)
		}
		if start >= size {
			return Range{}, false, rangeError(ErrRangeUnsatisfiable, "range %q starts beyond the object's %d bytes", header, size)
		}
		return Range{Start: start, Length: end - start + 1}, true, nil
	}
}

// parseRangeInt accepts only non-negative decimal digits (no sign, no spaces).
func parseRangeInt(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a byte position: %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}
