//go:build unix

package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
	"github.com/opsctl/opsctl/internal/mcp"
)

// A server's tools list in the config is all the model is offered of it,
// over either transport: a tool left out is not in the request, and a call
// to it is an unknown tool, even when the task names it.
func TestMCPToolsAllowList(t *testing.T) {
	t.Parallel()
	for _, tr := range mcpTransports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			cfg, _ := tr.server(t)
			cfg.Tools = []string{"echo", "add"}
			srv := llmtest.NewOpenAI(t)
			srv.Reply(
				llmtest.ToolCalls(llmtest.Call("c1", "mcptest__fail", `{"message":"should not run"}`)),
				llmtest.Text("done"),
			)
			h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, mcpEnv())
			rec := &recorder{}
			// The task asks for fail by name; the config's list wins.
			raw, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p","tools":["mcptest__echo","mcptest__add","mcptest__fail"]}`), rec)
			require.NoError(t, err)
			require.Equal(t, "done", runResult(t, raw).Answer)

			reqs := srv.Requests()
			require.Len(t, reqs, 2)
			var names []string
			for _, tool := range reqs[0].Tools() {
				names = append(names, dig(tool, "function", "name"))
			}
			require.ElementsMatch(t, []string{"mcptest__echo", "mcptest__add"}, names)
			ev := resultEvents(t, rec)["c1"]
			require.True(t, ev.IsError)
			require.Equal(t, `error: unknown tool "mcptest__fail" (available tools: mcptest__add, mcptest__echo)`, ev.Content)
			// The handler says that a tool the task named was not offered.
			require.Equal(t, []string{`tool "mcptest__fail" is allowed but no tool source offered it`}, warnings(t, rec))
		})
	}
}

// A listed tool the server does not have is a warning naming the tools it
// has; the listed tools it has are offered.
func TestMCPToolsAllowListUnknownTool(t *testing.T) {
	t.Parallel()
	cfg := stdioServer(nil)
	cfg.Tools = []string{"echo", "write_file"}
	srv := llmtest.NewOpenAI(t)
	srv.Reply(llmtest.Text("ok"))
	h := mcpHandler(srv, map[string]mcp.ServerConfig{testServer: cfg}, mcpEnv())
	rec := &recorder{}
	_, err := h.Run(t.Context(), json.RawMessage(`{"prompt":"p","tools":[]}`), rec)
	require.NoError(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	require.Len(t, reqs[0].Tools(), 1)
	toolSpec(t, reqs[0], "mcptest__echo")
	ws := warnings(t, rec)
	require.Len(t, ws, 1)
	require.True(t, strings.HasPrefix(ws[0], `mcp server "mcptest": tools lists "write_file", which the server does not offer (its tools: add, crash, echo, env, fail, image, sleep`), ws[0])
}

// BuiltinTools describes every built-in tool with the bounds the config
// sets.
func TestBuiltinTools(t *testing.T) {
	t.Parallel()
	got := BuiltinTools(Config{Tools: []string{ToolCurrentTime}, ReadFileDirs: []string{"/var/log"}, HTTPAllowHosts: []string{"a.example"}})
	require.Len(t, got, len(builtinToolNames()))
	byName := map[string]BuiltinTool{}
	for _, bt := range got {
		require.NotEmpty(t, bt.Spec.Description, bt.Spec.Name)
		byName[bt.Spec.Name] = bt
	}
	require.True(t, byName[ToolCurrentTime].Default)
	require.False(t, byName[ToolReadFile].Default)
	require.Equal(t, "files under /var/log; 64 KiB", byName[ToolReadFile].Bounds)
	require.Equal(t, "64 KiB, 10s; hosts a.example", byName[ToolHTTPGet].Bounds)
	require.Equal(t, "nothing: agent.run_command_allow is empty", byName[ToolRunCommand].Bounds)
}
