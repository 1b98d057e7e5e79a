package s3api

import "net/http"

// S3 and STS error codes this package returns. They are AWS's codes, so
// that SDKs recognise them (minio-go, for example, retries in the region an
// AuthorizationHeaderMalformed error names).
const (
	CodeAccessDenied                      = "AccessDenied"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeExpiredToken                      = "ExpiredToken"
	CodeInvalidToken                      = "InvalidToken"
	CodeMissingSecurityHeader             = "MissingSecurityHeader"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
	CodeNotImplemented                    = "NotImplemented"
	CodeMethodNotAllowed                  = "MethodNotAllowed"
	CodeInvalidBucketName                 = "InvalidBucketName"
	CodeKeyTooLong                        = "KeyTooLongError"
	CodeInvalidURI                        = "InvalidURI"

	// STS codes (AssumeRoleWithWebIdentity).
	CodeInvalidIdentityToken  = "InvalidIdentityToken"
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeMissingParameter      = "MissingParameter"
	CodeInvalidAction         = "InvalidAction"
)

// Error is an S3 or STS protocol error: the HTTP status, AWS's error code and
// a message that is safe to send to the client. Every error Verify,
// Issuer.Lookup, Classify and ParseListQuery return is an *Error.
//
// Region is set on region mismatches: WriteError sends it as <Region> and
// x-amz-bucket-region so that clients can re-sign for the right region. Err
// is the internal cause, for the operator's log only; it never reaches the
// client.
type Error struct {
	Status  int
	Code    string
	Message string
	Region  string
	Err     error
}

// Error returns "s3api: <code>: <message>", followed by the cause if any. It
// is meant for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return "s3api: " + e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return "s3api: " + e.Code + ": " + e.Message
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.Err }

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func errAccessDenied(msg string) *Error {
	return newError(http.StatusForbidden, CodeAccessDenied, msg)
}

func errInvalidArgument(msg string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidArgument, msg)
}

func errNotImplemented(msg string) *Error {
	return newError(http.StatusNotImplemented, CodeNotImplemented, msg)
}

func errInvalidToken(msg string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidToken, msg)
}
