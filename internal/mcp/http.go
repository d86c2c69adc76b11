package mcp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// httpCloseLimit bounds how long Close waits for an HTTP server to answer
// the request that ends the session. That request is a courtesy (the server
// expires idle sessions anyway), so a slow server must not hold up a runner.
const httpCloseLimit = 2 * time.Second

// headerTransport adds the configured headers to every request the SDK
// sends, which is how tokens reach servers that want an Authorization or
// API-key header.
type headerTransport struct {
	base    http.RoundTripper
	headers http.Header
}

// RoundTrip implements http.RoundTripper. The request is cloned because a
// RoundTripper must not change the request it is given.
func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, vs := range t.headers {
		req.Header[k] = slices.Clone(vs)
	}
	return t.base.RoundTrip(req)
}

// startHTTP connects to a streamable HTTP server and performs the
// handshake within StartTimeout.
func (s *Session) startHTTP(ctx context.Context, client *sdk.Client) error {
	headers := http.Header{}
	for k, v := range s.cfg.Headers {
		headers.Set(k, v)
	}
	// Each session has its own connection pool, so that Close can drop its
	// idle connections without touching anyone else's.
	base := http.DefaultTransport.(*http.Transport).Clone()
	s.httpc = &http.Client{Transport: &headerTransport{base: base, headers: headers}}
	transport := &sdk.StreamableClientTransport{
		Endpoint:   s.cfg.URL,
		HTTPClient: s.httpc,
		// opsctl only sends requests and reads their answers; it handles
		// no server-initiated messages, so the standing GET stream would
		// be an idle connection to keep alive for nothing.
		DisableStandaloneSSE: true,
	}
	timeout := s.cfg.StartTimeout
	startCtx, cancel := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("no MCP handshake within %s: %w", timeout, context.DeadlineExceeded))
	defer cancel()
	cs, err := client.Connect(startCtx, transport, nil)
	if err != nil {
		base.CloseIdleConnections()
		if startCtx.Err() != nil {
			return context.Cause(startCtx)
		}
		return err
	}
	s.cs = cs
	return nil
}

// closeHTTP ends the session with the server, waiting at most
// httpCloseLimit for it to answer. Its error is not reported: the remote
// session is the server's to expire, and nothing of it runs on this machine.
func (s *Session) closeHTTP() error {
	done := make(chan struct{})
	go func() {
		_ = s.cs.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(httpCloseLimit):
	}
	s.httpc.CloseIdleConnections()
	return nil
}
