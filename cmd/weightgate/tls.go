package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weightgate/weightgate/tlsconf"
)

// startTLS loads the tls section for serve: nil when it is off. A pair that
// does not load stops serve, its error naming the file. Otherwise the files
// are watched for changes until stop (or ctx's end), and the gauge
// weightgate_tls_certificate_not_after_seconds follows the certificate in
// force, so that operators can alert before it expires.
func startTLS(ctx context.Context, c tlsconf.Config, logger *slog.Logger, reg prometheus.Registerer) (r *tlsconf.Reloader, stop func(), err error) {
	if !c.Enabled() {
		return nil, func() {}, nil
	}
	if r, err = tlsconf.Load(c, logger); err != nil {
		return nil, nil, err
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "weightgate", Name: "tls_certificate_not_after_seconds",
		Help: "When the TLS certificate in force expires (Unix seconds).",
	}, func() float64 { return float64(r.Leaf().NotAfter.Unix()) }))
	ctx, stop = context.WithCancel(ctx)
	go r.Watch(ctx)
	return r, stop, nil
}
