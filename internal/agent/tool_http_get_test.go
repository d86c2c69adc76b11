package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHTTPGet(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello from the server"))
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such page", http.StatusNotFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("a", 100)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	// localhost reaches the same server under a host name the allow list
	// does not hold.
	otherHost := "http://localhost:" + u.Port()
	mux.HandleFunc("/redirect-out", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherHost+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-in", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})

	tests := []struct {
		name     string
		allow    []string
		maxBytes int
		url      string
		want     string
		wantErr  string
	}{
		{"ok", nil, 0, srv.URL + "/ok", "status: 200 OK\ncontent-type: text/plain\n\nhello from the server", ""},
		{"404 is a result, not an error", nil, 0, srv.URL + "/missing", "status: 404 Not Found", ""},
		{"allowed host", []string{"127.0.0.1"}, 0, srv.URL + "/ok", "hello from the server", ""},
		{"allowed host and port", []string{u.Host}, 0, srv.URL + "/ok", "hello from the server", ""},
		{"host not allowed", []string{"example.com"}, 0, srv.URL + "/ok", "",
			`host "` + u.Host + `" is not allowed (allowed hosts: example.com)`},
		{"redirect inside the allow list", []string{"127.0.0.1"}, 0, srv.URL + "/redirect-in", "hello from the server", ""},
		{"redirect out of the allow list", []string{"127.0.0.1"}, 0, srv.URL + "/redirect-out", "",
			`host "localhost:` + u.Port() + `" is not allowed`},
		{"truncated", nil, 10, srv.URL + "/big", "aaaaaaaaaa\n[truncated: only the first 10 bytes of the body are shown]", ""},
		{"file scheme", nil, 0, "file:///etc/passwd", "", `only http and https URLs may be fetched, not "file:///etc/passwd"`},
		{"ftp scheme", nil, 0, "ftp://example.com/x", "", "only http and https URLs may be fetched"},
		{"no host", nil, 0, "http:///path", "", `url "http:///path" has no host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tool := newHTTPGetTool(tt.allow, tt.maxBytes, 5*time.Second, nil)
			args, err := json.Marshal(map[string]string{"url": tt.url})
			require.NoError(t, err)
			out, err := tool.Call(context.Background(), args)
			if tt.wantErr != "" {
				var terr *ToolError
				require.ErrorAs(t, err, &terr, "refusals are tool errors the model reads")
				require.Contains(t, terr.Message, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Contains(t, out, tt.want)
		})
	}

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		tool := newHTTPGetTool(nil, 0, 50*time.Millisecond, nil)
		_, err := tool.Call(context.Background(), json.RawMessage(`{"url":"`+srv.URL+`/slow"}`))
		var terr *ToolError
		require.ErrorAs(t, err, &terr)
		require.Contains(t, terr.Message, "no answer within 50ms")
	})
	t.Run("schema", func(t *testing.T) {
		t.Parallel()
		ts := newToolset()
		require.NoError(t, ts.add(newHTTPGetTool(nil, 0, time.Second, nil)))
		out := ts.call(context.Background(), call("c", ToolHTTPGet, `{"url":"http://x","method":"POST"}`))
		require.True(t, out.isError)
		require.Contains(t, out.content, `error: invalid arguments: unexpected additional properties ["method"]`)
	})
}
