package identity

import (
	"errors"
	"testing"
)

// TestErrorText: an *Error logs its cause when it has one and its
// client-facing message otherwise, and unwraps to that cause.
func TestErrorText(t *testing.T) {
	t.Parallel()
	cause := errors.New("ed25519: verification error")
	tests := []struct {
		name  string
		err   *Error
		want  string
		cause error
	}{
		{"without cause", newError(ReasonMissingSubject, nil), "identity: invalid_token (missing_subject): The token has no subject.", nil},
		{"with cause", newError(ReasonBadSignature, cause), "identity: invalid_token (bad_signature): ed25519: verification error", cause},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, want := tt.err.Error(), tt.want; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			if got, want := errors.Unwrap(tt.err), tt.cause; got != want {
				t.Errorf("Unwrap() = %v, want %v", got, want)
			}
		})
	}
}

// TestErrorMessages: every reason has a client-facing message, so no
// refusal reaches a client with an empty explanation.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{
		ReasonMalformedAuthorization, ReasonMalformedToken, ReasonUnknownIssuer,
		ReasonAlgorithmNotAllowed, ReasonUnknownKey, ReasonBadSignature,
		ReasonMissingExp, ReasonTokenExpired, ReasonTokenNotYetValid,
		ReasonBadAudience, ReasonMissingSubject, ReasonMalformedClaims,
		ReasonHubToken,
	} {
		t.Run(reason, func(t *testing.T) {
			t.Parallel()
			e := newError(reason, nil)
			if got, want := e.Code, CodeInvalidToken; got != want {
				t.Errorf("Code = %q, want %q", got, want)
			}
			if e.Message == "" {
				t.Errorf("Message is empty")
			}
		})
	}
}
