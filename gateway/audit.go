package gateway

import (
	"context"

	"github.com/weightgate/weightgate/audit"
)

// AuditLog receives the gateway's audit records. Record must not return until
// the record is durable (or has failed): the gateway streams nothing for a
// request whose decision record could not be written. *audit.Log implements
// it over the hash-chained trail.
type AuditLog interface {
	Record(ctx context.Context, rec *audit.Record) error
	// Healthy returns nil when the log can currently be written.
	Healthy(ctx context.Context) error
}

var _ AuditLog = (*audit.Log)(nil)
