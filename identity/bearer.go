package identity

import (
	"errors"
	"strings"
)

// ParseBearer extracts the token from an Authorization header value.
//
// An empty header means no credentials: present is false and err is nil (the
// request is anonymous). Otherwise the header must be "Bearer <token>", with
// the scheme matched case-insensitively, one or more spaces, and a token68
// (RFC 7235) token; anything else (another scheme, a missing or empty token,
// spaces inside the token) is an *Error with ReasonMalformedAuthorization
// and present true. A malformed Authorization header is never anonymous.
func ParseBearer(header string) (token string, present bool, err error) {
	if header == "" {
		return "", false, nil
	}
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true, newError(ReasonMalformedAuthorization, errors.New("authorization scheme is not Bearer"))
	}
	token = strings.TrimLeft(rest, " ")
	if !isToken68(token) {
		return "", true, newError(ReasonMalformedAuthorization, errors.New("bearer token is empty or not token68"))
	}
	return token, true, nil
}

// isToken68 reports whether s matches RFC 7235 token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
