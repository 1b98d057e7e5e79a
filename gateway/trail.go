package gateway

import (
	"context"

	"github.com/weightgate/weightgate/audit"
)

// Trail is the AuditLog over the hash-chained, group-committed audit.Log:
// each AuditRecord becomes the record of one chained line of its kind
// (decision or transfer).
type Trail struct{ Log *audit.Log }

var _ AuditLog = Trail{}

// Record appends rec and returns once it is on disk. A transfer record,
// which nobody waits on, may wait a few milliseconds for the next record to
// share its fsync (audit.Log.AppendLater).
func (t Trail) Record(ctx context.Context, rec *AuditRecord) error {
	if rec.Type == RecordTransfer {
		return t.Log.AppendLater(ctx, rec.Type, rec)
	}
	return t.Log.Append(ctx, rec.Type, rec)
}

// Healthy reports whether the trail can be written now.
func (t Trail) Healthy(ctx context.Context) error { return t.Log.Healthy(ctx) }
