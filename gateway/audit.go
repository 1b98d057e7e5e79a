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

// AnchoredAuditLog is an AuditLog whose checkpoints are anchored off the host
// (*audit.Log with an anchor). The gateway asks it only when the AuditLog
// implements it.
type AnchoredAuditLog interface {
	// Anchored reports whether there is an anchor at all.
	Anchored() bool
	// AnchorHealthy returns nil while the anchor takes every checkpoint in
	// time (and always without an anchor).
	AnchorHealthy(ctx context.Context) error
	// AnchorRequired reports that downloads must stop while the anchor is
	// not healthy.
	AnchorRequired() bool
}

var _ AnchoredAuditLog = (*audit.Log)(nil)
