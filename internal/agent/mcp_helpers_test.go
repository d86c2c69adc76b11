//go:build unix

package agent

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
	"github.com/opsctl/opsctl/internal/mcp"
	"github.com/opsctl/opsctl/internal/mcp/mcptest"
)

// testServer is the name the MCP test server is configured under, so its
// tools are offered as mcptest__echo and so on.
const testServer = "mcptest"

// testCloseGrace keeps the shutdown of a stubborn server short.
const testCloseGrace = 200 * time.Millisecond

// stdioServer configures the stdio test server: this test binary, re-run
// in serving mode (see TestMain), with extra declared variables. GORACE
// keeps a race-built child from sleeping a second at exit.
func stdioServer(env map[string]string) mcp.ServerConfig {
	all := map[string]string{mcptest.EnvServe: "stdio", "GORACE": "atexit_sleep_ms=0"}
	maps.Copy(all, env)
	return mcp.ServerConfig{Command: os.Args[0], Env: all}
}

// pidServer configures the stdio test server behind a shell that appends
// its pid to a file and then execs the server (keeping the pid), so that a
// test can check that every server process of a run is gone. before runs in
// the shell first. It returns the config and a func reading the pids.
func pidServer(t *testing.T, env map[string]string, before string) (mcp.ServerConfig, func() []int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pids")
	cfg := stdioServer(env)
	cfg.Command = "/bin/sh"
	cfg.Args = []string{"-c", before + `echo $$ >> "$1"; exec "$2"`, "sh", pidFile, os.Args[0]}
	return cfg, func() []int {
		raw, err := os.ReadFile(pidFile)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		require.NoError(t, err)
		var pids []int
		for _, f := range strings.Fields(string(raw)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, pid)
		}
		return pids
	}
}

// requireGone fails unless every pid is gone. A zombie counts as gone: it
// has exited. There is no waiting here: the processes must be gone by the
// time the run has returned.
func requireGone(t *testing.T, pids []int) {
	t.Helper()
	require.NotEmpty(t, pids, "the server never started")
	requireNoneLeft(t, pids)
}

// requireNoneLeft is requireGone for servers that may not have started.
func requireNoneLeft(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			continue
		}
		stat, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if rerr == nil {
			rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
			if strings.HasPrefix(strings.TrimSpace(rest), "Z") {
				continue
			}
		}
		t.Fatalf("server process %d outlived the run (kill -0: %v)", pid, err)
	}
}

// mcpHandler returns a handler that reaches srv through the real adapter and
// knows the given MCP servers; env is both its Getenv and its LookupEnv.
func mcpHandler(srv *llmtest.Server, servers map[string]mcp.ServerConfig, env map[string]string) *Handler {
	all := map[string]string{"OPENAI_API_KEY": testKey, "ANTHROPIC_API_KEY": testKey}
	maps.Copy(all, env)
	provider := "openai"
	if srv.Wire() == llmtest.Anthropic {
		provider = "anthropic"
	}
	return &Handler{
		Config:     Config{Provider: provider, Model: "model-mcp", BaseURL: srv.URL(), MCPServers: []string{testServer}},
		Getenv:     func(name string) string { return all[name] },
		LookupEnv:  func(name string) (string, bool) { v, ok := all[name]; return v, ok },
		Now:        func() time.Time { return fixedNow },
		MCPServers: servers,

		mcpCloseGrace: testCloseGrace,
	}
}

// mcpTransport is the test server over one transport, configured under
// testServer.
type mcpTransport struct {
	name string
	// server returns the config; for stdio also a func reading the pids
	// of the server processes started (nil for HTTP).
	server func(t *testing.T) (mcp.ServerConfig, func() []int)
}

// mcpTransports lists the stdio and HTTP test servers. The HTTP one wants
// an Authorization header, configured through a ${VAR} reference that
// mcpHandler's env (with httpToken) satisfies.
func mcpTransports() []mcpTransport {
	return []mcpTransport{
		{name: "stdio", server: func(t *testing.T) (mcp.ServerConfig, func() []int) {
			return pidServer(t, nil, "")
		}},
		{name: "http", server: func(t *testing.T) (mcp.ServerConfig, func() []int) {
			ts := mcptest.NewHTTPServer(t, mcptest.RequireHeader("Authorization", "Bearer "+httpToken))
			return mcp.ServerConfig{URL: ts.URL, Headers: map[string]string{"Authorization": "Bearer ${AGENT_TEST_HTTP_TOKEN}"}}, nil
		}},
	}
}

// httpToken is the value of AGENT_TEST_HTTP_TOKEN in mcpEnv.
const httpToken = "http-token-0123456789"

// mcpEnv is the environment the MCP tests give the handler.
func mcpEnv() map[string]string {
	return map[string]string{"AGENT_TEST_HTTP_TOKEN": httpToken}
}

// runResult decodes a run's result.
func runResult(t *testing.T, raw json.RawMessage) Result {
	t.Helper()
	require.NotNil(t, raw)
	var res Result
	require.NoError(t, json.Unmarshal(raw, &res))
	return res
}

// toolSpec finds the OpenAI tool spec named name in a recorded request.
func toolSpec(t *testing.T, req llmtest.Request, name string) map[string]any {
	t.Helper()
	var names []string
	for _, tool := range req.Tools() {
		if dig(tool, "function", "name") == name {
			return tool["function"].(map[string]any)
		}
		names = append(names, dig(tool, "function", "name"))
	}
	t.Fatalf("no tool %q in the request (tools: %v)", name, names)
	return nil
}

// toolMessages returns the contents of the "tool" messages at the end of an
// OpenAI request, by call id.
func toolMessages(req llmtest.Request) map[string]string {
	out := map[string]string{}
	for _, m := range req.Messages() {
		if m["role"] == "tool" {
			id, _ := m["tool_call_id"].(string)
			content, _ := m["content"].(string)
			out[id] = content
		}
	}
	return out
}

// resultEvents decodes the tool_result events.
func resultEvents(t *testing.T, rec *recorder) map[string]ToolResultEvent {
	t.Helper()
	out := map[string]ToolResultEvent{}
	for _, raw := range rec.ofKind(EventToolResult) {
		var e ToolResultEvent
		require.NoError(t, json.Unmarshal(raw, &e))
		out[e.ID] = e
	}
	return out
}

// warnings returns the messages of the warning events.
func warnings(t *testing.T, rec *recorder) []string {
	t.Helper()
	var out []string
	for _, raw := range rec.ofKind(EventWarning) {
		var w WarningEvent
		require.NoError(t, json.Unmarshal(raw, &w))
		out = append(out, w.Message)
	}
	return out
}

// stderrLines returns the lines of the mcp_stderr events of one server.
func stderrLines(t *testing.T, rec *recorder, server string) []string {
	t.Helper()
	var out []string
	for _, raw := range rec.ofKind(EventMCPStderr) {
		var e MCPStderrEvent
		require.NoError(t, json.Unmarshal(raw, &e))
		if e.Server == server {
			out = append(out, e.Line)
		}
	}
	return out
}
