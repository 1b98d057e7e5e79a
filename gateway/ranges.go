package gateway

import (
	"errors"

	"github.com/weightgate/weightgate/gateway/httpsem"
)

// parseRange is httpsem.ParseRange with its refusals as the 416 *Error the
// requester gets, under this API's codes.
func parseRange(header string, size int64) (httpsem.Range, bool, error) {
	r, ok, err := httpsem.ParseRange(header, size)
	if err == nil {
		return r, ok, nil
	}
	code := CodeInvalidRange
	switch {
	case errors.Is(err, httpsem.ErrRangeMultiple):
		code = CodeMultipleRanges
	case errors.Is(err, httpsem.ErrRangeUnsatisfiable):
		code = CodeRangeNotSatisfiable
	}
	return httpsem.Range{}, false, &Error{Status: 416, Code: code, Message: err.Error()}
}
