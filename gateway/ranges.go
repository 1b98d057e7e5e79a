package gateway

import (
	"fmt"
	"strconv"
	"strings"
)

// byteRange is one satisfiable range of an object: Length bytes from Start.
type byteRange struct {
	Start, Length int64
}

// contentRange renders the Content-Range value of r within an object of size.
func (r byteRange) contentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.Start, r.Start+r.Length-1, size)
}

// parseRange interprets a Range header against an object of size bytes.
//
// It returns ok=false with a nil error when the header is absent or names a
// unit other than bytes (RFC 9110 §14.2: such a header is ignored and the
// whole object is sent). It returns an *Error with status 416 when the header
// is malformed, asks for more than one range (multipart/byteranges is not
// supported: clients that download model files ask for one range at a time),
// or cannot be satisfied.
func parseRange(header string, size int64) (r byteRange, ok bool, err error) {
	if header == "" {
		return byteRange{}, false, nil
	}
	unit, spec, found := strings.Cut(header, "=")
	if !found {
		return byteRange{}, false, rangeError(CodeInvalidRange, "malformed Range header %q", header)
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return byteRange{}, false, nil
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return byteRange{}, false, rangeError(CodeMultipleRanges, "only one byte range per request is supported, got %q", header)
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return byteRange{}, false, rangeError(CodeInvalidRange, "malformed Range header %q", header)
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "" && last == "":
		return byteRange{}, false, rangeError(CodeInvalidRange, "malformed Range header %q", header)
	case first == "": // suffix: the last n bytes
		n, err := parseRangeInt(last)
		if err != nil {
			return byteRange{}, false, rangeError(CodeInvalidRange, "malformed Range header %q", header)
		}
		if n == 0 || size == 0 {
			return byteRange{}, false, rangeError(CodeRangeNotSatisfiable, "range %q cannot be satisfied for an object of %d bytes", header, size)
		}
		n = min(n, size)
		return byteRange{Start: size - n, Length: n}, true, nil
	default:
		start, err := parseRangeInt(first)
		if err != nil {
			return byteRange{}, false, rangeError(CodeInvalidRange, "malformed Range header %q", header)
		}
		end := size - 1
		if last != "" {
			e, err := parseRangeInt(last)
			if err != nil || e < start {
				return byteRange{}, false, rangeError(CodeInvalidRange, "malformed Range header %q", header)
			}
			end = min(e, size-1)
		}
		if start >= size {
			return byteRange{}, false, rangeError(CodeRangeNotSatisfiable, "range %q starts beyond the object's %d bytes", header, size)
		}
		return byteRange{Start: start, Length: end - start + 1}, true, nil
	}
}

// parseRangeInt accepts only non-negative decimal digits (no sign, no spaces).
func parseRangeInt(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a byte position: %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

func rangeError(code, format string, args ...any) *Error {
	return &Error{Status: 416, Code: code, Message: fmt.Sprintf(format, args...)}
}
