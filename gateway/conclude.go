package gateway

import (
	"context"
	"net/http"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway/s3api"
)

// A verdict is how a request ends, as its decision record states it: allowed
// (answered; bytes may flow) or refused, with the status sent and the code
// and reason behind it.
type verdict struct {
	allow  bool
	status int
	code   string
	reason string
	// hidden: the requester was answered as for a missing model, and code
	// and reason are the policy's real ones.
	hidden bool
}

// allowed is the verdict of an answered request.
func allowed(status int, code, reason string) verdict {
	return verdict{allow: true, status: status, code: code, reason: reason}
}

// refused is the verdict of a request refused with e. A model hidden from
// the requester is recorded with the policy's code and reason, whatever the
// requester was told.
func refused(e *Error) verdict {
	if h := e.hidden; h != nil {
		return verdict{status: e.Status, code: h.d.Code, reason: h.d.Reason, hidden: true}
	}
	return verdict{status: e.Status, code: e.Code, reason: e.Message}
}

// settle completes rec with v and writes it to the audit trail, counting the
// decision. It is the one place a decision record is written: every request
// on either API gets exactly one, through here, before its answer.
func (s *Server) settle(ctx context.Context, rec *audit.Record, v verdict) error {
	rec.Decision = "deny"
	if v.allow {
		rec.Decision = "allow"
	}
	rec.Status, rec.Code, rec.Reason, rec.Hidden = v.status, v.code, v.reason, v.hidden
	return s.record(ctx, rec)
}

// conclude settles the request and only then answers it: answer writes the
// response (an error, a listing, a file) once the record is durable. A record
// that cannot be written makes the answer the API's audit-unavailable error
// instead, so that no request is answered unrecorded.
func (s *Server) conclude(w http.ResponseWriter, r *http.Request, rec *audit.Record, v verdict, api frontend, answer func()) {
	if err := s.settle(r.Context(), rec, v); err != nil {
		api.auditUnavailable(w, r, rec, err)
		return
	}
	answer()
}

// A frontend renders the answers whose form differs between the APIs.
type frontend interface {
	// auditUnavailable answers a request whose decision record could not
	// be written.
	auditUnavailable(w http.ResponseWriter, r *http.Request, rec *audit.Record, err error)
}

// hubAPI answers in the Hub API's JSON errors.
type hubAPI struct{ s *Server }

func (h hubAPI) auditUnavailable(w http.ResponseWriter, r *http.Request, _ *audit.Record, err error) {
	writeError(w, r, h.s.logger, auditUnavailable(err))
}

// s3API answers in S3's XML errors, naming resource.
type s3API struct{ resource string }

func (p s3API) auditUnavailable(w http.ResponseWriter, r *http.Request, rec *audit.Record, _ error) {
	s3WriteError(w, r, s3AuditUnavailable(), p.resource, rec.RequestID)
}

func s3AuditUnavailable() *s3api.Error {
	return &s3api.Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable",
		Message: "The audit log cannot be written, so nothing is served; try again later."}
}
