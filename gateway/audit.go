package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// AuditLog receives the gateway's audit records. Record must not return until
// the record is durable (or has failed): the gateway streams nothing for a
// request whose decision record could not be written.
type AuditLog interface {
	Record(ctx context.Context, rec *AuditRecord) error
	// Healthy returns nil when the log can currently be written.
	Healthy() error
}

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

// AuditRecord is one line of the audit log: a decision (one per request, on
// every path) or a transfer (one per streamed response, when it ends).
// It never holds a token.
type AuditRecord struct {
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Method     string    `json:"method,omitempty"`
	API        string    `json:"api,omitempty"`

	Subject     string   `json:"subject,omitempty"`
	Anonymous   bool     `json:"anonymous"`
	Country     string   `json:"country,omitempty"`
	Nationality []string `json:"nationality,omitempty"`
	Entity      string   `json:"entity,omitempty"`
	EntityID    string   `json:"entity_id,omitempty"`
	EntityHQ    string   `json:"entity_hq,omitempty"`
	ParentHQ    string   `json:"parent_hq,omitempty"`

	Model         string  `json:"model,omitempty"`
	ModelRevision string  `json:"model_revision,omitempty"`
	Classified    *bool   `json:"classified,omitempty"` // decision records only
	Weights       string  `json:"weights,omitempty"`
	ComputeFLOP   float64 `json:"training_compute_flop,omitempty"`
	ModelError    string  `json:"model_error,omitempty"` // why the model is unclassified
	Object        string  `json:"object,omitempty"`
	Kind          string  `json:"kind,omitempty"`
	Size          int64   `json:"size,omitempty"`
	Range         string  `json:"range,omitempty"`

	// Decision is "allow" when bytes may flow, else "deny"; Code, Reason and
	// Basis come from the policy, or name the refusal that came before it
	// (repo_not_found, storage_unavailable, ...).
	Decision string `json:"decision,omitempty"`
	Status   int    `json:"status,omitempty"`
	Code     string `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Basis    string `json:"basis,omitempty"`
	// PolicyCode is the policy's code when the request was refused after
	// the policy had answered (404, 416): Code then names the refusal.
	PolicyCode     string `json:"policy_code,omitempty"`
	PolicyBundle   string `json:"policy_bundle,omitempty"`
	PolicyRevision string `json:"policy_revision,omitempty"`

	// Transfer records only.
	Bytes      int64   `json:"bytes,omitempty"`
	Expected   int64   `json:"expected_bytes,omitempty"`
	Outcome    string  `json:"outcome,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// FileAudit appends JSON lines to a file and fsyncs each one before Record
// returns. It is the minimal, correct sink: one fsync per record, serialised.
type FileAudit struct {
	mu      sync.Mutex
	w       io.Writer
	f       *os.File // nil for a writer that cannot be synced (stdout)
	lastErr error
}

// OpenFileAudit opens (creating, appending) the audit file at path; "-"
// writes to standard output instead.
func OpenFileAudit(path string) (*FileAudit, error) {
	if path == "-" {
		return &FileAudit{w: os.Stdout}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &FileAudit{w: f, f: f}, nil
}

// Record writes rec as one line and syncs it to disk.
func (a *FileAudit) Record(_ context.Context, rec *AuditRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: encode: %w", err)
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err = a.w.Write(b); err == nil && a.f != nil {
		err = a.f.Sync()
	}
	if err != nil {
		a.lastErr = fmt.Errorf("audit: %w", err)
		return a.lastErr
	}
	a.lastErr = nil
	return nil
}

// Healthy returns the error of the last failed write, if the last write failed.
func (a *FileAudit) Healthy() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastErr
}

// Close closes the file.
func (a *FileAudit) Close() error {
	if a.f == nil {
		return nil
	}
	return errors.Join(a.f.Sync(), a.f.Close())
}
