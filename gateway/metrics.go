package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weightgate/weightgate/audit"
)

// Metrics are the gateway's Prometheus metrics, under the weightgate_
// namespace. Labels are bounded: decisions and codes, models (as many as the
// catalog has), outcomes, APIs, storage operations; never a subject, object
// or request id. A nil *Metrics records nothing.
type Metrics struct {
	decisions       *prometheus.CounterVec
	bytes           *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	policyDuration  prometheus.Histogram
	auditWrite      prometheus.Histogram
	auditSync       prometheus.Histogram
	auditBatch      prometheus.Histogram
	auditErrors     prometheus.Counter
	storageErrors   *prometheus.CounterVec
	reg             prometheus.Registerer
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "weightgate"
	latency := prometheus.ExponentialBuckets(0.0001, 2, 16) // 100µs .. ~3.3s
	m := &Metrics{
		reg: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "decisions_total",
			Help: "Decision records written, by decision (allow|deny) and code.",
		}, []string{"decision", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "bytes_sent_total",
			Help: "File bytes sent to clients, by model and transfer outcome (complete|aborted|error).",
		}, []string{"model", "outcome"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "http_request_duration_seconds",
			Help:    "Time to answer a request, to the end of the body, by API and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 20), // 0.5ms .. ~4.4min
		}, []string{"api", "code"}),
		policyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "policy_evaluation_duration_seconds",
			Help: "Time to evaluate the policy for one request.", Buckets: latency,
		}),
		auditWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "audit", Name: "write_duration_seconds",
			Help: "Time to write one batch of audit records.", Buckets: latency,
		}),
		auditSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "audit", Name: "fsync_duration_seconds",
			Help: "Time to fsync one batch of audit records.", Buckets: latency,
		}),
		auditBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "audit", Name: "batch_records",
			Help: "Records per audit batch (one fsync each).", Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "audit", Name: "errors_total",
			Help: "Audit batches that could not be written; their requests were refused.",
		}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "storage_errors_total",
			Help: "Storage operations that failed (not counting missing objects), by operation.",
		}, []string{"op"}),
	}
	reg.MustRegister(m.decisions, m.bytes, m.requestDuration, m.policyDuration,
		m.auditWrite, m.auditSync, m.auditBatch, m.auditErrors, m.storageErrors)
	return m
}

func (m *Metrics) decided(decision, code string) {
	if m != nil {
		m.decisions.WithLabelValues(decision, code).Inc()
	}
}

func (m *Metrics) transferred(model, outcome string, n int64) {
	if m != nil {
		m.bytes.WithLabelValues(model, outcome).Add(float64(n))
	}
}

func (m *Metrics) requestDone(api string, status int, d time.Duration) {
	if m != nil {
		m.requestDuration.WithLabelValues(api, strconv.Itoa(status)).Observe(d.Seconds())
	}
}

func (m *Metrics) policyEvaluated(d time.Duration) {
	if m != nil {
		m.policyDuration.Observe(d.Seconds())
	}
}

func (m *Metrics) storageError(op string) {
	if m != nil {
		m.storageErrors.WithLabelValues(op).Inc()
	}
}

// AuditBatch records one audit batch: how many records, how long the write
// and the fsync took, and whether it failed. The audit log calls it.
// AuditAnchor exports the audit anchor's progress: checkpoints and sealed
// files anchored, and the backlog waiting for the anchor.
func (m *Metrics) AuditAnchor(stats func() audit.AnchorStats) {
	if m == nil {
		return
	}
	const ns, sub = "weightgate", "audit_anchor"
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "checkpoints_total",
			Help: "Signed checkpoints written to the anchor."}, func() float64 { return float64(stats().Checkpoints) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "files_total",
			Help: "Sealed audit files written to the anchor."}, func() float64 { return float64(stats().Files) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "backlog",
			Help: "Checkpoints and sealed files waiting for the anchor."}, func() float64 { return float64(stats().Backlog) }),
	)
}

// CatalogWarming exports the catalog's warming (catalog.StartWarming):
// export.yaml files seen by the pass under way or last, and whether it
// has read the whole catalog.
func (m *Metrics) CatalogWarming(progress func() (models int, done bool)) {
	if m == nil {
		return
	}
	const ns, sub = "weightgate", "catalog_warming"
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "models",
			Help: "Models whose export.yaml the catalog's warming has read or found remembered, in the pass under way or the last."},
			func() float64 { n, _ := progress(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "done",
			Help: "1 once the catalog's warming has read the whole catalog (until SIGHUP starts it again), else 0."},
			func() float64 {
				if _, done := progress(); done {
					return 1
				}
				return 0
			}),
	)
}

func (m *Metrics) AuditBatch(records int, write, sync time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.auditErrors.Inc()
		return
	}
	m.auditBatch.Observe(float64(records))
	m.auditWrite.Observe(write.Seconds())
	m.auditSync.Observe(sync.Seconds())
}
