package s3api

import (
	"net/url"
	"strings"
)

// queryPair is one decoded name=value of a query string.
type queryPair struct{ key, value string }

// queryPairs is a decoded query string, in the order it came.
type queryPairs []queryPair

// parseQuery decodes a raw query string. It is the one parser behind
// signature verification, routing and listing, so that what is signed and
// what is obeyed cannot differ: pairs are separated by '&' only, '+' is a
// space, and a bad escape or a literal ';' (which some parsers treat as a
// separator and net/url drops) is an InvalidArgument error rather than
// something to skip.
func parseQuery(raw string) (queryPairs, *Error) {
	var out queryPairs
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		if strings.Contains(seg, ";") {
			return nil, errInvalidArgument("The query string is malformed: it contains a literal ';'.")
		}
		k, v, _ := strings.Cut(seg, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, errInvalidArgument("The query string is malformed: it contains an invalid escape.")
		}
		out = append(out, queryPair{key, value})
	}
	return out, nil
}

func (q queryPairs) has(key string) bool {
	for _, p := range q {
		if p.key == key {
			return true
		}
	}
	return false
}

// values returns every value of key, in order.
func (q queryPairs) values(key string) []string {
	var vs []string
	for _, p := range q {
		if p.key == key {
			vs = append(vs, p.value)
		}
	}
	return vs
}
