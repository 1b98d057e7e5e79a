package audit

import (
	"context"
	"time"

	"github.com/weightgate/weightgate/policy"
)

// Audit record types.
const (
	RecordDecision = "decision"
	RecordTransfer = "transfer"
)

// Transfer outcomes.
const (
	OutcomeComplete = "complete"
	OutcomeAborted  = "aborted" // the client went away
	OutcomeError    = "error"   // storage failed mid-transfer
)

// Record is one record of the audit trail: a decision (one per request,
// on every path) or a transfer (one per streamed response, when it ends). A
// decision carries the full policy input and output, so that any past
// decision can be evaluated again under another policy. It never holds a
// token.
type Record struct {
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	API        string    `json:"api"` // resolve, raw, model_info, tree, paths_info, catalog, other
	Method     string    `json:"method,omitempty"`
	Path       string    `json:"path,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`

	// Who and what, on both kinds of record, so that queries need no joins.
	Subject   string `json:"subject,omitempty"`
	Anonymous bool   `json:"anonymous"`
	Entity    string `json:"entity,omitempty"`
	EntityID  string `json:"entity_id,omitempty"`
	Country   string `json:"country,omitempty"`
	Model     string `json:"model,omitempty"`
	Object    string `json:"object,omitempty"`
	// Where the request came from and how its requester screened, on
	// decision records (the details are in Input): the client address, the
	// country of that address ("" when unknown) and the screening status.
	ClientIP  string `json:"client_ip,omitempty"`
	IPCountry string `json:"ip_country,omitempty"`
	Screening string `json:"screening,omitempty"`

	// Decision records. Decision is "allow" when the request is answered
	// (bytes may flow), else "deny"; Status, Code and Reason are those of the
	// answer sent. Input is the policy input, as complete as the request got
	// (a request refused before the model was read has no model metadata);
	// Policy is the policy's output, present when the policy was asked.
	Decision   string           `json:"decision,omitempty"`
	Status     int              `json:"status,omitempty"`
	Code       string           `json:"code,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	Input      *policy.Input    `json:"input,omitempty"`
	Policy     *policy.Decision `json:"policy,omitempty"`
	ModelError string           `json:"model_error,omitempty"` // why the model is unclassified
	// Hidden is set when the requester was answered as if the model did
	// not exist, because the policy hides it from them (policy.visible
	// false); Code and Reason are then the policy's, Status the not-found
	// answer's.
	Hidden bool `json:"hidden,omitempty"`
	// Suppressed, on a refusal of the per-address rate limit, counts the
	// refusals of the same client address answered since its previous
	// recorded one without a record of their own (at most one such
	// refusal per address and second is recorded).
	Suppressed int64 `json:"suppressed,omitempty"`

	// Transfer records.
	Bytes      int64   `json:"bytes,omitempty"`
	Expected   int64   `json:"expected_bytes,omitempty"`
	Outcome    string  `json:"outcome,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	Error      string  `json:"error,omitempty"`

	// Truncated lists the fields cut to keep the record within
	// MaxRecordBytes (each string a request can make long has a bound of
	// its own), with their lengths before; absent when nothing was cut.
	// Record sets it; callers leave it empty.
	Truncated []Truncation `json:"truncated,omitempty"`
}

// Record appends rec as one chained line of its type and returns once it is
// on disk. A transfer record, which nobody waits on, may wait a few
// milliseconds for the next record to share its fsync (AppendLater). The
// line holds rec within MaxRecordBytes: fields over their bounds are cut
// and listed in its "truncated" (rec itself is not changed).
func (l *Log) Record(ctx context.Context, rec *Record) error {
	b, err := bound(rec)
	if err != nil {
		return err
	}
	return l.appendJSON(ctx, rec.Type, b, rec.Type == RecordTransfer)
}
