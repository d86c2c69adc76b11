package mcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestServerConfigTransport(t *testing.T) {
	t.Parallel()
	require.Equal(t, TransportStdio, ServerConfig{Command: "x"}.Transport())
	require.Equal(t, TransportHTTP, ServerConfig{URL: "https://h/mcp"}.Transport())
	require.Empty(t, ServerConfig{}.Transport())
	require.Empty(t, ServerConfig{Command: "x", URL: "https://h"}.Transport())
}

func TestServerConfigIsEnabled(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	require.True(t, ServerConfig{}.IsEnabled())
	require.True(t, ServerConfig{Enabled: &yes}.IsEnabled())
	require.False(t, ServerConfig{Enabled: &no}.IsEnabled())
}

func TestServerConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		server  string
		cfg     ServerConfig
		wantErr string // empty: valid
	}{
		{name: "stdio", server: "github", cfg: ServerConfig{Command: "gh-mcp", Args: []string{"serve"}, Env: map[string]string{"TOKEN": "x"}}},
		{name: "http", server: "web-1", cfg: ServerConfig{URL: "https://mcp.example.com/mcp", Headers: map[string]string{"Authorization": "Bearer x"}}},
		{name: "http with unexpanded variable", server: "web", cfg: ServerConfig{URL: "https://${HOST}/mcp"}},
		{name: "both", server: "x", cfg: ServerConfig{Command: "a", URL: "http://h"}, wantErr: `mcp server "x": both command and url are set; a server is either stdio (command) or http (url)`},
		{name: "neither", server: "x", cfg: ServerConfig{}, wantErr: `mcp server "x": neither command nor url is set`},
		{name: "bad name separator", server: "a__b", cfg: ServerConfig{Command: "a"}, wantErr: `mcp server "a__b": invalid name`},
		{name: "bad name trailing underscore", server: "a_", cfg: ServerConfig{Command: "a"}, wantErr: `invalid name`},
		{name: "bad name dot", server: "a.b", cfg: ServerConfig{Command: "a"}, wantErr: `invalid name`},
		{name: "empty name", server: "", cfg: ServerConfig{Command: "a"}, wantErr: `invalid name`},
		{name: "negative timeout", server: "x", cfg: ServerConfig{Command: "a", Timeout: -time.Second}, wantErr: "timeout must not be negative"},
		{name: "negative start timeout", server: "x", cfg: ServerConfig{Command: "a", StartTimeout: -1}, wantErr: "start_timeout must not be negative"},
		{name: "ftp url", server: "x", cfg: ServerConfig{URL: "ftp://h/x"}, wantErr: "url must be an http:// or https:// URL with a host"},
		{name: "url without host", server: "x", cfg: ServerConfig{URL: "http:///x"}, wantErr: "url must be"},
		{name: "env on http", server: "x", cfg: ServerConfig{URL: "http://h", Env: map[string]string{"A": "b"}}, wantErr: "apply only to stdio servers"},
		{name: "headers on stdio", server: "x", cfg: ServerConfig{Command: "a", Headers: map[string]string{"A": "b"}}, wantErr: "headers apply only to http servers"},
		{name: "bad env name", server: "x", cfg: ServerConfig{Command: "a", Env: map[string]string{"A=B": "c"}}, wantErr: `invalid environment variable name "A=B"`},
		{name: "bad header name", server: "x", cfg: ServerConfig{URL: "http://h", Headers: map[string]string{"X Y": "c"}}, wantErr: `invalid header name "X Y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate(tt.server)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestServerConfigValidateDoesNotQuoteURL(t *testing.T) {
	t.Parallel()
	err := ServerConfig{URL: "ftp://user:hunter2@h/x"}.Validate("x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestServerConfigRedacted(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig{
		Command: "srv",
		Args:    []string{"--verbose"},
		Env:     map[string]string{"TOKEN": "secret-1"},
		Headers: map[string]string{"Authorization": "Bearer secret-2"},
		URL:     "https://user:secret-3@h/mcp",
	}
	red := cfg.Redacted()
	require.Equal(t, map[string]string{"TOKEN": "[redacted]"}, red.Env)
	require.Equal(t, map[string]string{"Authorization": "[redacted]"}, red.Headers)
	require.NotContains(t, red.URL, "secret-3")
	require.Equal(t, []string{"--verbose"}, red.Args)
	// The original is untouched.
	require.Equal(t, "secret-1", cfg.Env["TOKEN"])
	require.Equal(t, "Bearer secret-2", cfg.Headers["Authorization"])
}

func TestServerConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig{Command: "x"}.withDefaults()
	require.Equal(t, DefaultTimeout, cfg.Timeout)
	require.Equal(t, DefaultStartTimeout, cfg.StartTimeout)
	cfg = ServerConfig{Command: "x", Timeout: time.Second, StartTimeout: 2 * time.Second}.withDefaults()
	require.Equal(t, time.Second, cfg.Timeout)
	require.Equal(t, 2*time.Second, cfg.StartTimeout)
}

func TestToolName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "github__create_issue", ToolName("github", "create_issue"))
	tests := []struct {
		in           string
		server, tool string
		ok           bool
	}{
		{"github__create_issue", "github", "create_issue", true},
		{"my-srv__a__b", "my-srv", "a__b", true},
		{"my_srv__x", "my_srv", "x", true},
		{"noseparator", "", "", false},
		{"__tool", "", "", false},
		{"server__", "", "", false},
	}
	for _, tt := range tests {
		server, tool, ok := SplitToolName(tt.in)
		require.Equal(t, tt.ok, ok, tt.in)
		require.Equal(t, tt.server, server, tt.in)
		require.Equal(t, tt.tool, tool, tt.in)
		if ok {
			require.Equal(t, tt.in, ToolName(server, tool))
		}
	}
}

func TestServerConfigToolsAllowList(t *testing.T) {
	t.Parallel()
	// No list: every tool.
	require.True(t, ServerConfig{Command: "x"}.AllowsTool("write_file"))
	cfg := ServerConfig{Command: "x", Tools: []string{"read_file", "list_dir"}}
	require.NoError(t, cfg.Validate("fs"))
	require.True(t, cfg.AllowsTool("read_file"))
	require.True(t, cfg.AllowsTool("list_dir"))
	require.False(t, cfg.AllowsTool("write_file"))
	require.False(t, cfg.AllowsTool(""))

	tests := []struct {
		name    string
		tools   []string
		wantErr string
	}{
		{"empty list", []string{}, `mcp server "fs": tools is empty: list the tools to offer, or leave tools out to offer them all`},
		{"empty name", []string{"read_file", " "}, `mcp server "fs": tools must not contain an empty name`},
		{"prefixed", []string{"fs__read_file"}, `mcp server "fs": tools lists "fs__read_file": name the server's own tools, without the fs__ prefix`},
		{"twice", []string{"a", "b", "a"}, `mcp server "fs": tools lists "a" twice`},
	}
	for _, tt := range tests {
		err := ServerConfig{Command: "x", Tools: tt.tools}.Validate("fs")
		require.EqualError(t, err, tt.wantErr, tt.name)
	}
	// A tool whose own name has "__" can be listed.
	require.NoError(t, ServerConfig{Command: "x", Tools: []string{"a__b"}}.Validate("fs"))
}

func TestServerConfigToolsCopied(t *testing.T) {
	t.Parallel()
	cfg := ServerConfig{Command: "x", Tools: []string{"read_file"}}
	exp, err := cfg.Expand("fs", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.Equal(t, []string{"read_file"}, exp.Tools)
	exp.Tools[0] = "changed"
	red := cfg.Redacted()
	red.Tools[0] = "changed too"
	require.Equal(t, []string{"read_file"}, cfg.Tools, "copies do not share the list")
}
