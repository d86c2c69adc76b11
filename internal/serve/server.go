// Package serve is `opsctl serve`: the task store over HTTP on one port.
// It holds the REST API under /api/v1 (JSON, problem+json errors, Server-
// Sent Events), the gRPC service (Connect, gRPC and gRPC-Web through
// connectrpc.com/connect), Prometheus metrics, and the web dashboard.
// It is a second front door beside the commands: it never imports them,
// and validates tasks with the same code (internal/taskio).
package serve

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// Options configure a Server.
type Options struct {
	Store db.Store
	// Validator checks a submitted task's input for its type: the same
	// registry `opsctl submit` uses.
	Validator taskio.Validator
	Log       *slog.Logger     // nil: discard
	Now       func() time.Time // nil: time.Now
	Version   string
	// Tick is how often live streams look for new events: one query per
	// tick, however many streams are open. 0 means 100ms.
	Tick time.Duration
	// AllowedHosts is the Host allow-list (host names, with or without a
	// port); requests naming another host are refused, which stops DNS
	// rebinding. Empty means the loopback names and the bound address.
	AllowedHosts []string
}

// Server serves the API and the dashboard.
type Server struct {
	store     db.Store
	validator taskio.Validator
	log       *slog.Logger
	now       func() time.Time
	version   string
	tick      time.Duration
	hosts     hostList

	used    lastUse
	counts  countCache
	hub     *hub
	submits *submitter
	metrics *metrics
	handler http.Handler
}

// New builds a server. Run must be running for live streams and submits.
func New(o Options) *Server {
	s := &Server{store: o.Store, validator: o.Validator, log: o.Log, now: o.Now, version: o.Version, tick: o.Tick}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tick <= 0 {
		s.tick = 100 * time.Millisecond
	}
	s.hosts = newHostList(o.AllowedHosts)
	s.hub = newHub(o.Store, s.tick, s.log)
	s.submits = newSubmitter(o.Store)
	s.metrics = newMetrics(s)
	s.handler = s.routes()
	return s
}

// Handler is the server's whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Run runs the background work (the event hub, the submit batcher) until
// ctx ends.
func (s *Server) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.submits.run(ctx); close(done) }()
	s.hub.run(ctx)
	<-done
}

// routes builds the mux. Every API route needs a token; the dashboard
// asks for one at its login page.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.restRoutes(mux)
	s.grpcRoutes(mux)
	s.dashboardRoutes(mux)
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /healthz", s.health)
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", s.metrics.handler())

	var h http.Handler = mux
	h = s.metrics.instrument(mux, h)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.crossOrigin))
	h = cop.Handler(h)
	h = s.hosts.check(h)
	return writeDeadline(securityHeaders(h))
}

// securityHeaders sets the headers every response carries.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// crossOrigin answers a write a browser sent from another site.
func (s *Server) crossOrigin(w http.ResponseWriter, r *http.Request) {
	const detail = "cross-origin request refused: writes must come from this server's own pages"
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.writeProblem(w, r, errorf(KindForbidden, detail))
		return
	}
	http.Error(w, detail, http.StatusForbidden)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

// ready pings the database.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.LastEventID(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		s.writeProblem(w, r, errorf(KindUnavailable, "the database does not answer"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
