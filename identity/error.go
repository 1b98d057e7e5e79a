package identity

import "fmt"

// CodeInvalidToken is the Code of every *Error this package returns. It is the
// RFC 6750 error code; the gateway answers it with 401 Unauthorized and
// `WWW-Authenticate: Bearer error="invalid_token"`.
const CodeInvalidToken = "invalid_token"

// Reasons refine CodeInvalidToken. They are stable, machine-readable and safe
// to show to clients, to count in metrics and to write to the audit log.
const (
	// ReasonMalformedAuthorization: the Authorization header is present but is
	// not "Bearer <token>" (other scheme, empty or ill-formed token).
	ReasonMalformedAuthorization = "malformed_authorization"
	// ReasonMalformedToken: the token is not a well-formed JWS compact JWT.
	ReasonMalformedToken = "malformed_token"
	// ReasonUnknownIssuer: the iss claim is missing or names no configured issuer.
	ReasonUnknownIssuer = "unknown_issuer"
	// ReasonAlgorithmNotAllowed: the header alg is not in the issuer's
	// configured algorithms (this covers "none" and every HS* algorithm).
	ReasonAlgorithmNotAllowed = "algorithm_not_allowed"
	// ReasonUnknownKey: the header kid matches no key of the issuer, or no key
	// could be found for the token at all.
	ReasonUnknownKey = "unknown_key"
	// ReasonBadSignature: no trusted key verifies the signature.
	ReasonBadSignature = "bad_signature"
	// ReasonMissingExp: the token has no exp claim.
	ReasonMissingExp = "missing_exp"
	// ReasonTokenExpired: exp is in the past, beyond the leeway.
	ReasonTokenExpired = "token_expired"
	// ReasonTokenNotYetValid: nbf or iat is in the future, beyond the leeway.
	ReasonTokenNotYetValid = "token_not_yet_valid"
	// ReasonBadAudience: aud is missing or does not contain the issuer's audience.
	ReasonBadAudience = "bad_audience"
	// ReasonMissingSubject: the subject claim is missing, empty or not a string.
	ReasonMissingSubject = "missing_subject"
	// ReasonMalformedClaims: a registered claim has the wrong JSON type
	// (for example exp as a string).
	ReasonMalformedClaims = "malformed_claims"
	// ReasonKeyNotTrusted: what was derived from a token (S3 credentials)
	// names a key its issuer no longer offers (see Verifier.CheckBinding).
	ReasonKeyNotTrusted = "key_not_trusted"
	// ReasonHubToken: the token starts with hf_ but what follows is not a
	// JWT: most likely a huggingface.co token, not one for this gateway.
	ReasonHubToken = "hub_token"
)

// messages are the client-facing texts for each reason. They never contain
// anything taken from the token or the request.
var messages = map[string]string{
	ReasonMalformedAuthorization: `The Authorization header must have the form "Bearer <token>".`,
	ReasonMalformedToken:         "The bearer token is not a well-formed JWT.",
	ReasonUnknownIssuer:          "The token's issuer is not trusted.",
	ReasonAlgorithmNotAllowed:    "The token's signing algorithm is not allowed.",
	ReasonUnknownKey:             "The token's signing key is not known.",
	ReasonBadSignature:           "The token's signature is invalid.",
	ReasonMissingExp:             "The token has no expiration time.",
	ReasonTokenExpired:           "The token has expired.",
	ReasonTokenNotYetValid:       "The token is not valid yet.",
	ReasonBadAudience:            "The token is not intended for this service.",
	ReasonMissingSubject:         "The token has no subject.",
	ReasonMalformedClaims:        "The token's claims are malformed.",
	ReasonKeyNotTrusted:          "The key that signed the token is no longer trusted.",
	ReasonHubToken:               "This looks like a huggingface.co token; this gateway needs one of its own (hf_ followed by a token of a trusted issuer).",
}

// Error is an authentication failure. Code is always CodeInvalidToken; Reason
// is one of the Reason* constants; Message is a human-readable sentence that is
// safe to return to clients. The wrapped cause (see Unwrap) is for operator
// logs only: it may contain library error text, but never the token itself.
type Error struct {
	Code    string
	Reason  string
	Message string
	err     error
}

// newError returns an *Error for reason, wrapping cause (which may be nil).
func newError(reason string, cause error) *Error {
	return &Error{Code: CodeInvalidToken, Reason: reason, Message: messages[reason], err: cause}
}

// Error returns "identity: <code> (<reason>): <cause>", meant for logs.
func (e *Error) Error() string {
	if e.err == nil {
		return fmt.Sprintf("identity: %s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("identity: %s (%s): %v", e.Code, e.Reason, e.err)
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.err }
