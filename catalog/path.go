package catalog

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// A PathError is a file path refused by CheckFilePath. Its message is what a
// requester is told.
type PathError struct {
	Path string
	Why  string // "empty", "relative path segment", ...
}

func (e *PathError) Error() string { return fmt.Sprintf("Invalid file path %q: %s.", e.Path, e.Why) }

func pathError(p, why string) *PathError { return &PathError{Path: p, Why: why} }

// CheckFilePath refuses, with a *PathError, a file path of a model that is
// empty, absolute, or could escape the model's prefix or confuse a storage
// backend. Requests and export.yaml's files list are checked alike.
func CheckFilePath(p string) error {
	if p == "" {
		return pathError(p, "empty")
	}
	if len(p) > 1024 {
		return pathError(p, "longer than 1024 bytes")
	}
	if strings.ContainsAny(p, "\\\x00") {
		return pathError(p, "backslash or NUL")
	}
	// Keys are UTF-8 (S3 refuses others, which read as storage down, 503);
	// an invalid sequence such as overlong "%c0%ae" is a bad path, never
	// decoded further (found by the attack suite).
	if !utf8.ValidString(p) {
		return pathError(p, "not UTF-8")
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return pathError(p, "empty path segment")
		case ".", "..":
			return pathError(p, "relative path segment")
		}
		for _, c := range seg {
			if c < 0x20 || c == 0x7f {
				return pathError(p, "control character")
			}
		}
	}
	return nil
}
