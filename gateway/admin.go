package gateway

import (
	"net/http"
	"strings"
)

// AdminHandler returns the operator listener's handler: /healthz, /readyz
// and, when Options.MetricsHandler is set, /metrics, and when Options.Console
// is set, the console at /console/ (which authenticates and records its own
// requests); every other path is the
// same 404 as on the Hub API. The metrics name models and their byte counts,
// so they are kept off the public listeners: whoever can reach this one is
// trusted with them, and it listens on loopback unless configured otherwise.
// Nothing here is authenticated, rate limited or audited (not even the 404:
// the trail records requests for model data, and none is served here).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, true) })
	if s.opts.MetricsHandler != nil {
		mux.Handle("GET /metrics", s.opts.MetricsHandler)
	}
	if s.opts.Console != nil {
		mux.Handle("/console/", s.opts.Console)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.logger, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such endpoint."})
	})
	return requestScope(s.accessLogAs(mux, func(r *http.Request) string { return adminAPIOf(r.URL.Path) }))
}

// adminAPIOf names an admin request's API for the access log and metrics;
// anything but the three endpoints is "other", keeping the label bounded.
func adminAPIOf(p string) string {
	switch p {
	case "/healthz", "/readyz", "/metrics":
		return p[1:]
	}
	if strings.HasPrefix(p, "/console/") {
		return "console"
	}
	return "other"
}

// AdminURL is the base URL of the operator listener, "" when it is not
// served.
func (s *Server) AdminURL() string {
	if s.adminln == nil {
		return ""
	}
	return s.scheme() + s.adminln.Addr().String()
}
