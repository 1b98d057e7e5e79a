package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/weightgate/weightgate/policy"
)

// Error codes sent to clients in the JSON body's "code". They are stable:
// clients and dashboards key on them.
const (
	CodeAuthenticationRequired = "authentication_required"
	CodeInvalidToken           = "invalid_token"
	CodeRepoNotFound           = "repo_not_found"
	CodeEntryNotFound          = "entry_not_found"
	CodeRevisionNotFound       = "revision_not_found"
	CodeInvalidPath            = "invalid_path"
	CodeInvalidRange           = "invalid_range"
	CodeMultipleRanges         = "multiple_ranges"
	CodeRangeNotSatisfiable    = "range_not_satisfiable"
	CodePreconditionFailed     = "precondition_failed"
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidCursor          = "invalid_cursor"
	CodeXetNotSupported        = "xet_not_supported"
	CodeStorageUnavailable     = "storage_unavailable"
	CodeAuditUnavailable       = "audit_unavailable"
	CodeAuditAnchorUnavailable = "audit_anchor_unavailable"
	// CodeLicenceCountUnavailable: the release would be under a capped
	// licence whose count could not be recorded.
	CodeLicenceCountUnavailable = "licence_count_unavailable"
	CodePolicyUnavailable       = "policy_unavailable"
	CodeMethodNotAllowed        = "method_not_allowed"
	CodeNotFound                = "not_found"
	CodeInternal                = "internal"
)

// Hugging Face Hub error codes, sent in X-Error-Code; huggingface_hub turns
// them into its typed exceptions (RepositoryNotFoundError, GatedRepoError, ...).
const (
	HubRepoNotFound     = "RepoNotFound"
	HubEntryNotFound    = "EntryNotFound"
	HubRevisionNotFound = "RevisionNotFound"
	HubGatedRepo        = "GatedRepo"
)

// Error is an error with everything needed to answer a client: status, a
// stable code, a message safe to show, and the Hub's code. Err, the internal
// cause, goes to the operator's log and never to the client.
type Error struct {
	Status  int
	Code    string
	Message string
	HubCode string
	// Policy is the decision behind a policy denial: its basis and regime
	// go to the client with the reason.
	Policy *policy.Decision
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
	Err        error
	// hidden is why the policy hides the model from the requester, for
	// the record only: the answer is a missing model's, and nothing of the
	// decision reaches the client.
	hidden *hiding
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	// For a policy denial: the rule relied on, and the regime that decided
	// (bundle name and version).
	Basis  string `json:"basis,omitempty"`
	Regime string `json:"regime,omitempty"`
}

// asError returns err as an *Error; any other error becomes a 500 whose
// details stay in the log ("Internal error." to the client).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "Internal error.", Err: err}
}

// writeError is the one place that turns an error into an HTTP response.
//
// For a policy denial (e.Policy set), X-Error-Message is the policy's reason
// followed by the request id, which keys the decision record: a HEAD has no
// body, and huggingface_hub builds its GatedRepoError from that header, so the
// user's terminal shows why, and which audit record to ask about. The JSON
// "error" stays the reason alone (the body has request_id apart), which is
// what @huggingface/hub shows, followed by its own "Request ID: ...".
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	e := asError(err)
	id := RequestID(r.Context())
	msg := e.Message
	if e.Policy != nil && id != "" {
		msg = fmt.Sprintf("%s (decision %s)", strings.TrimRight(msg, ". "), id)
	}
	if e.Status >= 500 {
		logger.Error("request failed", "request_id", id, "code", e.Code, "status", e.Status, "err", err)
	} else if e.Err != nil {
		logger.Info("request refused", "request_id", id, "code", e.Code, "status", e.Status, "err", e.Err)
	}
	h := w.Header()
	if r.Method == http.MethodHead {
		// A HEAD answer has no body, so it must not claim a JSON one:
		// @huggingface/hub parses any application/json error body and
		// throws SyntaxError on the empty one instead of its HubApiError.
		// The reason travels in X-Error-Message.
		h.Del("Content-Type")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Error-Code", cmp.Or(e.HubCode, e.Code))
	h.Set("X-Error-Message", headerSafe(msg))
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Accept-Ranges")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	body := errorBody{Error: e.Message, Code: e.Code, RequestID: id}
	if d := e.Policy; d != nil {
		body.Basis, body.Regime = d.Basis, strings.TrimSpace(d.Bundle+" "+d.Version)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// headerSafe keeps a message to one line of printable ASCII so it can travel
// in a header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
}
