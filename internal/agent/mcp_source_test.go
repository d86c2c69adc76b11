//go:build unix

package agent

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
	"github.com/opsctl/opsctl/internal/mcp"
	"github.com/opsctl/opsctl/internal/mcp/mcptest"
)

// These tests run agent tasks against the MCP test server, over stdio (a
// real child process) and over streamable HTTP, with the model faked by
// llmtest behind the real OpenAI SDK, so what they check is what a provider
// would receive.

func TestMCPToolCall(t *testing.T) {
	t.Parallel()
	for _, tr := range mcpTransports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			cfg, pids := tr.server(t)
			srv := llmtest.NewOpenAI(t)
			srv.Reply(
				llmtest.ToolCalls(llmtest.Call("c1", "mcptest__echo", `{"text":"hello from mcp"}`)),
				llmtest.Text("The server said hello."),
			)
			h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, mcpEnv())
			rec := &recorder{}
			raw, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"say hello","tools":[]}`), rec)
			require.NoError(t, err)
			require.Equal(t, "The server said hello.", runResult(t, raw).Answer)

			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			// Every tool of the server is offered under SERVER__TOOL, with
			// the server's description and JSON Schema.
			require.Len(t, reqs[0].Tools(), 7)
			echo := toolSpec(t, reqs[0], "mcptest__echo")
			require.Equal(t, "Returns its text.", echo["description"])
			params := echo["parameters"].(map[string]any)
			require.Equal(t, "object", params["type"])
			require.Equal(t, "string", dig(params, "properties", "text", "type"))
			require.Equal(t, []any{"text"}, params["required"])
			toolSpec(t, reqs[0], "mcptest__add")

			require.Equal(t, map[string]string{"c1": "hello from mcp"}, toolMessages(reqs[1]))
			ev := resultEvents(t, rec)["c1"]
			require.Equal(t, "mcptest__echo", ev.Name)
			require.Equal(t, "hello from mcp", ev.Content)
			require.False(t, ev.IsError)
			require.Empty(t, warnings(t, rec))

			if pids != nil {
				requireGone(t, pids())
				require.Contains(t, stderrLines(t, rec, testServer), mcptest.StartedLine)
			}
			for _, e := range rec.all() {
				require.NotContains(t, string(e.Data), httpToken)
			}
		})
	}
}

func TestMCPToolErrors(t *testing.T) {
	t.Parallel()
	for _, tr := range mcpTransports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			cfg, _ := tr.server(t)
			srv := llmtest.NewOpenAI(t)
			srv.Reply(
				llmtest.ToolCalls(
					llmtest.Call("c1", "mcptest__fail", `{"message":"disk full"}`),
					llmtest.Call("c2", "mcptest__nope", `{}`),
					llmtest.Call("c3", "mcptest__add", `{"a":"two","b":1}`),
					llmtest.Call("c4", "mcptest__image", `{}`),
					llmtest.Call("c5", "mcptest__add", `{"a":2,"b":3}`),
				),
				llmtest.Text("done"),
			)
			h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, mcpEnv())
			rec := &recorder{}
			_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), rec)
			require.NoError(t, err)

			// One result per call id, in the wire format the model reads;
			// OpenAI's tool messages have no error flag, so the adapter
			// marks failed results in the text.
			msgs := toolMessages(srv.Requests()[1])
			require.Len(t, msgs, 5)
			require.Equal(t, "ERROR: error: disk full", msgs["c1"], "an isError result is an error result")
			require.Contains(t, msgs["c2"], `ERROR: error: unknown tool "mcptest__nope" (available tools: `)
			require.Contains(t, msgs["c2"], "mcptest__echo")
			require.Contains(t, msgs["c3"], "ERROR: error: invalid arguments: ", "arguments are checked against the server's schema")
			require.Regexp(t, `^\[image image/png, \d+ bytes\]$`, msgs["c4"], "other content is summarised")
			require.Equal(t, "5", msgs["c5"])

			evs := resultEvents(t, rec)
			for id, want := range map[string]bool{"c1": true, "c2": true, "c3": true, "c4": false, "c5": false} {
				require.Equal(t, want, evs[id].IsError, id)
			}
			require.Empty(t, warnings(t, rec), "mistakes of the model are not warnings")
		})
	}
}

func TestMCPToolErrorAnthropic(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewAnthropic(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "mcptest__fail", `{"message":"disk full"}`)), llmtest.Text("done"))
	h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: stdioServer(nil)}, nil)
	_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), &recorder{})
	require.NoError(t, err)
	// Anthropic's wire has the flag itself.
	msgs := srv.Requests()[1].Messages()
	result := msgs[len(msgs)-1]["content"].([]any)[0].(map[string]any)
	require.Equal(t, "tool_result", result["type"])
	require.Equal(t, true, result["is_error"])
	require.Contains(t, string(srv.Requests()[1].Raw), "error: disk full")
}

// TestMCPServerCrashMidCall documents the choice for a server that dies
// during a call: the call becomes an error result naming the server and the
// tool, with a warning event, and the run goes on; later calls to the dead
// server fail the same way, and the model decides what to do.
func TestMCPServerCrashMidCall(t *testing.T) {
	t.Parallel()
	for _, tr := range mcpTransports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			cfg, pids := tr.server(t)
			srv := llmtest.NewOpenAI(t)
			srv.Reply(
				llmtest.ToolCalls(llmtest.Call("c1", "mcptest__crash", `{}`)),
				llmtest.ToolCalls(llmtest.Call("c2", "mcptest__echo", `{"text":"still there?"}`)),
				llmtest.Text("The server is gone."),
			)
			h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, mcpEnv())
			rec := &recorder{}
			raw, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), rec)
			require.NoError(t, err)
			require.Equal(t, "The server is gone.", runResult(t, raw).Answer)

			reqs := srv.Requests()
			require.Len(t, reqs, 3)
			crash := toolMessages(reqs[1])["c1"]
			require.True(t, strings.HasPrefix(crash, `ERROR: error: mcp server "mcptest": tool "crash": `), crash)
			again := toolMessages(reqs[2])["c2"]
			require.True(t, strings.HasPrefix(again, `ERROR: error: mcp server "mcptest": tool "echo": `), again)

			warns := warnings(t, rec)
			require.Len(t, warns, 2)
			require.Contains(t, warns[0], `tool mcptest__crash failed: mcp server "mcptest": tool "crash": `)
			if pids != nil {
				requireGone(t, pids())
			}
		})
	}
}

func TestMCPStubbornServerGoneAfterRun(t *testing.T) {
	t.Parallel()
	cfg, pids := pidServer(t, map[string]string{mcptest.EnvStubborn: "1"}, "")
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "mcptest__echo", `{"text":"hi"}`)), llmtest.Text("ok"))
	h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, nil)
	began := time.Now()
	_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), &recorder{})
	require.NoError(t, err)
	// The server ignores the end of its input and SIGTERM; only the SIGKILL
	// after two close graces ends it. Allow plenty for a loaded machine.
	require.Less(t, time.Since(began), 10*time.Second)
	requireGone(t, pids())
}

func TestMCPExpansion(t *testing.T) {
	t.Parallel()
	t.Run("variables expand with the runner's environment", func(t *testing.T) {
		t.Parallel()
		const token = "tok-abcdef-0123456789"
		cfg := stdioServer(map[string]string{
			"GREETING":  "${AGENT_TEST_GREETING}",
			"DEFAULTED": "${AGENT_TEST_UNSET:-fallback}",
			"API_TOKEN": "${AGENT_TEST_TOKEN}",
			"LITERAL":   "plain",
		})
		srv := llmtest.NewOpenAI(t)
		srv.Reply(
			llmtest.ToolCalls(
				llmtest.Call("c1", "mcptest__env", `{"name":"GREETING"}`),
				llmtest.Call("c2", "mcptest__env", `{"name":"DEFAULTED"}`),
				llmtest.Call("c3", "mcptest__env", `{"name":"API_TOKEN"}`),
				llmtest.Call("c4", "mcptest__env", `{"name":"LITERAL"}`),
			),
			llmtest.Text("ok"),
		)
		h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg},
			map[string]string{"AGENT_TEST_GREETING": "hello there", "AGENT_TEST_TOKEN": token})
		rec := &recorder{}
		_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), rec)
		require.NoError(t, err)
		require.Equal(t, map[string]string{
			"c1": "hello there",
			"c2": "fallback",
			// A secret-looking variable reaches the server, but what the
			// server says about it never reaches the model or the events.
			"c3": "[redacted]",
			"c4": "plain",
		}, toolMessages(srv.Requests()[1]))
		for _, e := range rec.all() {
			require.NotContains(t, string(e.Data), token)
		}
	})
	t.Run("a missing variable fails the run naming server and variable", func(t *testing.T) {
		t.Parallel()
		cfg, _ := pidServer(t, map[string]string{"TOKEN": "${AGENT_TEST_MISSING}"}, "")
		srv := llmtest.NewOpenAI(t)
		h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, nil)
		raw, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), &recorder{})
		require.EqualError(t, err, `tools: mcp server "mcptest": variable AGENT_TEST_MISSING is not set`)
		require.Equal(t, StopSetupError, runResult(t, raw).StopReason)
		require.Empty(t, srv.Requests(), "no model call is made")
	})
}

// TestMCPChildEnvironment cannot run in parallel: it puts canaries in this
// process's environment with t.Setenv. The handler uses the real
// environment here (LookupEnv nil), as the runner does.
func TestMCPChildEnvironment(t *testing.T) {
	const canary = "sk-secret-canary-value"
	t.Setenv("OPENAI_API_KEY", canary)
	t.Setenv("AGENT_TEST_CANARY", canary)
	t.Setenv("AGENT_TEST_PASSED", "passed-on-purpose")
	cfg := stdioServer(map[string]string{"DECLARED": "${AGENT_TEST_PASSED}"})
	srv := llmtest.NewOpenAI(t)
	srv.Reply(
		llmtest.ToolCalls(
			llmtest.Call("c1", "mcptest__env", `{"name":"OPENAI_API_KEY"}`),
			llmtest.Call("c2", "mcptest__env", `{"name":"AGENT_TEST_CANARY"}`),
			llmtest.Call("c3", "mcptest__env", `{"name":"DECLARED"}`),
			llmtest.Call("c4", "mcptest__env", `{"name":"PATH"}`),
		),
		llmtest.Text("ok"),
	)
	h := &Handler{
		Config:     Config{Model: "model-mcp", BaseURL: srv.URL(), MCPServers: []string{testServer}},
		MCPServers: map[string]mcp.ServerConfig{testServer: cfg},
	}
	_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), &recorder{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"c1": mcptest.Unset,
		"c2": mcptest.Unset,
		"c3": "passed-on-purpose",
		"c4": os.Getenv("PATH"),
	}, toolMessages(srv.Requests()[1]))
	require.Equal(t, "Bearer "+canary, srv.Requests()[0].Header.Get("Authorization"), "the model's key comes from the environment")
}

func TestMCPServerFailsToStart(t *testing.T) {
	t.Parallel()
	missing := mcp.ServerConfig{Command: "/nonexistent/mcp-server"}
	flaky := mcp.ServerConfig{Command: "/bin/sh", Args: []string{"-c", "echo 'cannot open database' >&2; exit 3"}, Optional: true}
	t.Run("an optional server is a warning and the run goes on", func(t *testing.T) {
		t.Parallel()
		cfg, pids := pidServer(t, nil, "")
		srv := llmtest.NewOpenAI(t)
		srv.Reply(llmtest.Text("ok"))
		h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg, "flaky": flaky}, nil)
		rec := &recorder{}
		raw, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p","mcp_servers":["flaky","mcptest"],"tools":[]}`), rec)
		require.NoError(t, err)
		require.Equal(t, "ok", runResult(t, raw).Answer)
		warns := warnings(t, rec)
		require.Len(t, warns, 1)
		require.Contains(t, warns[0], `optional mcp server "flaky": start: `)
		require.Contains(t, warns[0], "cannot open database")
		require.True(t, strings.HasSuffix(warns[0], "; going on without its tools"), warns[0])
		tools := srv.Requests()[0].Tools()
		require.Len(t, tools, 7, "only the tools of the server that started")
		toolSpec(t, srv.Requests()[0], "mcptest__echo")
		requireGone(t, pids())
	})
	tests := []struct {
		name string
		cfg  func(pidFile string) mcp.ServerConfig
		// started is whether the other server has surely started when
		// this one fails.
		started bool
		wantErr []string
	}{
		{"a required server that is not found fails the run", func(string) mcp.ServerConfig { return missing }, false,
			[]string{`tools: mcp server "broken": start: `, "/nonexistent/mcp-server"}},
		{"a required server that exits fails the run", func(pidFile string) mcp.ServerConfig {
			// It fails once the other server has started, so that the
			// test sees that one closed too.
			return mcp.ServerConfig{Command: "/bin/sh", Args: []string{"-c",
				`while [ ! -s "$1" ]; do sleep 0.01; done; echo 'cannot open database' >&2; exit 3`, "sh", pidFile}}
		}, true, []string{`tools: mcp server "broken": start: `, "(stderr: cannot open database)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, pids := pidServer(t, nil, "")
			srv := llmtest.NewOpenAI(t)
			broken := tt.cfg(cfg.Args[3])
			h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg, "broken": broken}, nil)
			raw, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p","mcp_servers":["mcptest","broken"]}`), &recorder{})
			require.Error(t, err)
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
			require.Equal(t, StopSetupError, runResult(t, raw).StopReason)
			require.Empty(t, srv.Requests(), "no model call is made")
			// A server that started, or was starting, is closed too.
			if tt.started {
				requireGone(t, pids())
			} else {
				requireNoneLeft(t, pids())
			}
		})
	}
	t.Run("a disabled server is a warning", func(t *testing.T) {
		t.Parallel()
		off := false
		disabled := stdioServer(nil)
		disabled.Enabled = &off
		srv := llmtest.NewOpenAI(t)
		srv.Reply(llmtest.Text("ok"))
		h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: disabled}, nil)
		rec := &recorder{}
		_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p","tools":[]}`), rec)
		require.NoError(t, err)
		require.Equal(t, []string{`mcp server "mcptest" is disabled in the config (enabled: false); going on without its tools`}, warnings(t, rec))
		require.Empty(t, srv.Requests()[0].Tools())
	})
}

func TestMCPUnknownServer(t *testing.T) {
	t.Parallel()
	servers := map[string]mcp.ServerConfig{testServer: stdioServer(nil), "github": {Command: "github-mcp-server"}}
	h := &Handler{Config: Config{Model: "m"}, MCPServers: servers}
	require.NoError(t, h.Validate(json.RawMessage(`{"prompt":"p","mcp_servers":["mcptest","github"]}`)))
	require.EqualError(t, h.Validate(json.RawMessage(`{"prompt":"p","mcp_servers":["mcptest","gitlab"]}`)),
		`unknown MCP server "gitlab" in "mcp_servers" (configured servers: github, mcptest)`)

	h.Config.MCPServers = []string{"jira"}
	require.EqualError(t, h.Validate(json.RawMessage(`{"prompt":"p"}`)),
		`unknown MCP server "jira" in agent.mcp_servers of the config (configured servers: github, mcptest)`)
	require.NoError(t, h.Validate(json.RawMessage(`{"prompt":"p","mcp_servers":[]}`)))

	none := &Handler{Config: Config{Model: "m"}, MCPServers: map[string]mcp.ServerConfig{}}
	require.EqualError(t, none.Validate(json.RawMessage(`{"prompt":"p","mcp_servers":["x"]}`)),
		`unknown MCP server "x" in "mcp_servers" (configured servers: none)`)
	// Without a server map the handler cannot know; the runner decides.
	require.NoError(t, (&Handler{Config: Config{Model: "m"}}).Validate(json.RawMessage(`{"prompt":"p","mcp_servers":["x"]}`)))

	// A task stored by a runner with another config fails when it runs.
	srv := llmtest.NewOpenAI(t)
	raw, err := mcpHandler(srv, servers, nil).Run(t.Context(), json.RawMessage(`{"prompt":"p","mcp_servers":["gitlab"]}`), &recorder{})
	require.EqualError(t, err, `tools: unknown MCP server "gitlab" in "mcp_servers" (configured servers: github, mcptest)`)
	require.Equal(t, StopSetupError, runResult(t, raw).StopReason)
	require.Empty(t, srv.Requests())
}

func TestMCPStderrBounded(t *testing.T) {
	t.Parallel()
	// The shell writes 1100 lines before it becomes the server.
	cfg, pids := pidServer(t, nil, `i=0; while [ $i -lt 1100 ]; do echo "noise $i" >&2; i=$((i+1)); done; `)
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.Text("ok"))
	h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, nil)
	rec := &recorder{}
	_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p"}`), rec)
	require.NoError(t, err)
	lines := stderrLines(t, rec, testServer)
	require.Len(t, lines, maxStderrLines)
	require.Equal(t, "noise 0", lines[0])
	require.Equal(t, "noise 999", lines[maxStderrLines-1])
	require.Equal(t, []string{`mcp server "mcptest" wrote more than 1000 lines to stderr; the rest is not logged`}, warnings(t, rec))
	requireGone(t, pids())
}

// TestMCPNoServerOutlivesRun ends runs every way a run can end and checks
// that the server processes are gone when Run returns. The servers are
// stubborn, so only the escalation to SIGKILL ends them.
func TestMCPNoServerOutlivesRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		script func(srv *llmtest.Server)
		// cancel, when set, cancels the run's context once the model has
		// been asked.
		cancel     bool
		wantReason string
		wantErr    string
	}{
		{"completed", `{"prompt":"p"}`, func(srv *llmtest.Server) {
			srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "mcptest__echo", `{"text":"x"}`)), llmtest.Text("ok"))
		}, false, StopAnswer, ""},
		{"failed", `{"prompt":"p"}`, func(srv *llmtest.Server) {
			srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "mcptest__echo", `{"text":"x"}`)))
			srv.Fail(401, "Incorrect API key")
		}, false, StopProviderError, "openai: 401 Incorrect API key"},
		{"cancelled", `{"prompt":"p"}`, func(srv *llmtest.Server) { srv.Hang() },
			true, StopCancelled, "cancelled: context canceled"},
		{"timed out in a tool call", `{"prompt":"p","timeout":"1s"}`, func(srv *llmtest.Server) {
			srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "mcptest__sleep", `{"ms":60000}`)))
		}, false, StopTimeout, "timed out: the run's timeout of 1s passed: context deadline exceeded"},
		{"too many steps", `{"prompt":"p","max_steps":1}`, func(srv *llmtest.Server) {
			srv.Reply(llmtest.ToolCalls(llmtest.Call("c1", "mcptest__echo", `{"text":"x"}`)))
		}, false, StopMaxSteps, "max_steps reached (1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stubborn := map[string]string{mcptest.EnvStubborn: "1"}
			first, firstPids := pidServer(t, stubborn, "")
			second, secondPids := pidServer(t, stubborn, "")
			srv := llmtest.NewOpenAI(t)
			tt.script(srv)
			h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: first, "other": second}, nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				go func() {
					for len(srv.Requests()) == 0 && ctx.Err() == nil {
						time.Sleep(5 * time.Millisecond)
					}
					cancel()
				}()
			}
			input := strings.Replace(tt.input, `{"prompt":"p"`, `{"prompt":"p","mcp_servers":["mcptest","other"]`, 1)
			raw, err := h.Run(ctx, json.RawMessage(input), &recorder{})
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tt.wantErr)
			}
			require.Equal(t, tt.wantReason, runResult(t, raw).StopReason)
			requireGone(t, firstPids())
			requireGone(t, secondPids())
		})
	}
}
