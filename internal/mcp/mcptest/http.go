package mcptest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPOption configures NewHTTPServer.
type HTTPOption func(*httpOptions)

type httpOptions struct {
	header, value string
}

// RequireHeader makes the server answer 401 to any request whose header
// name is not exactly value, to test that configured headers are sent.
func RequireHeader(name, value string) HTTPOption {
	return func(o *httpOptions) { o.header, o.value = name, value }
}

// NewHTTPServer starts the test server over streamable HTTP on a loopback
// address; its URL is the MCP endpoint. The crash tool simulates a dead
// server: it stops accepting connections and drops every open one, the
// call's included. The server is closed when the test ends.
func NewHTTPServer(t testing.TB, opts ...HTTPOption) *httptest.Server {
	t.Helper()
	var o httpOptions
	for _, opt := range opts {
		opt(&o)
	}
	// Unstarted, so that the crash closure sees ts before any request can
	// run it.
	ts := httptest.NewUnstartedServer(nil)
	server := NewServer(func() {
		_ = ts.Listener.Close()
		ts.CloseClientConnections()
	})
	mcpHandler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.header != "" && r.Header.Get(o.header) != o.value {
			http.Error(w, "missing or wrong "+o.header+" header", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(func() {
		// Drop open connections first: Close waits for active requests,
		// and a session the test left open would keep one forever.
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}
