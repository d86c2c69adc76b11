package serve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// The connection limits of Serve.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute // a whole request, body included
	idleTimeout       = 2 * time.Minute
	// writeTimeout bounds the writing of a response; streams set their own
	// deadline per write instead (sseWriteTimeout).
	writeTimeout   = time.Minute
	maxHeaderBytes = 64 << 10
	// shutdownGrace is how long a graceful shutdown waits for requests in
	// flight; live streams are ended at once.
	shutdownGrace = 10 * time.Second
)

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, ends live streams, and lets requests in flight finish (for
// at most shutdownGrace). It speaks HTTP/1.1 and HTTP/2 without TLS (h2c,
// which gRPC clients use); put a TLS proxy in front for other machines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.RegisterOnShutdown(s.hub.close)

	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(runCtx); close(ran) }()
	defer func() { stopRun(); <-ran }()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown: requests still running after the grace period; closing them", "grace", shutdownGrace)
		err = srv.Close()
	}
	if e := <-served; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// streaming reports whether a request is answered with a stream that
// lives as long as the client wants (it sets write deadlines per write).
func streaming(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/events/stream") || strings.HasSuffix(r.URL.Path, "/WatchTask")
}

// writeDeadline bounds the writing of every response but streams'.
func writeDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !streaming(r) {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
		}
		h.ServeHTTP(w, r)
	})
}
