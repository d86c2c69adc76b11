package agent

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunCommand(t *testing.T) {
	t.Parallel()
	allow := []string{"echo", "false", "seq", "sleep"}
	tests := []struct {
		name    string
		allow   []string
		argv    []string
		timeout time.Duration
		want    string
		wantErr string
	}{
		{"allowed", allow, []string{"echo", "hello"}, time.Second * 10, "exit code: 0\nhello\n", ""},
		{"no shell", allow, []string{"echo", "$HOME;", "`id`", "a b"}, time.Second * 10, "exit code: 0\n$HOME; `id` a b\n", ""},
		{"non-zero exit is a result", allow, []string{"false"}, time.Second * 10, "exit code: 1\n", ""},
		{"not allowed", allow, []string{"rm", "-rf", "/tmp/x"}, time.Second * 10, "",
			`program "rm" is not allowed (allowed: echo, false, seq, sleep)`},
		{"a path is not the allowed name", allow, []string{"/usr/bin/echo", "x"}, time.Second * 10, "",
			`program "/usr/bin/echo" is not allowed`},
		{"nothing allowed", nil, []string{"echo"}, time.Second * 10, "",
			"run_command is not configured with any allowed program"},
		{"empty program", allow, []string{""}, time.Second * 10, "", "command is empty"},
		{"timeout", allow, []string{"sleep", "5"}, 100 * time.Millisecond, "", "sleep: timed out after 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := runAllowedCommand(context.Background(), tt.allow, nil, tt.argv, tt.timeout)
			if tt.wantErr != "" {
				var terr *ToolError
				require.ErrorAs(t, err, &terr)
				require.Contains(t, terr.Message, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
		})
	}

	t.Run("output is bounded", func(t *testing.T) {
		t.Parallel()
		out, err := runAllowedCommand(context.Background(), allow, nil, []string{"seq", "1", "20000"}, 10*time.Second)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(out, "exit code: 0\n1\n2\n"))
		require.Contains(t, out, "[truncated: only the first 16384 of 108894 bytes of output are shown]")
		require.Less(t, len(out), runCommandMaxOutput+200)
	})
	t.Run("through the tool and its schema", func(t *testing.T) {
		t.Parallel()
		ts := newToolset()
		require.NoError(t, ts.add(newRunCommandTool(allow, nil)))
		out := ts.call(context.Background(), call("c", ToolRunCommand, `{"command":["echo","hi"]}`))
		require.False(t, out.isError)
		require.Equal(t, "exit code: 0\nhi\n", out.content)
		out = ts.call(context.Background(), call("c", ToolRunCommand, `{"command":[]}`))
		require.True(t, out.isError)
		require.Contains(t, out.content, "error: invalid arguments: validating /properties/command: minItems: array length 0 is less than 1")
		out = ts.call(context.Background(), call("c", ToolRunCommand, `{"command":"echo hi"}`))
		require.True(t, out.isError)
		require.Contains(t, out.content, `has type "string", want "array"`)
	})
}

func TestChildEnvironHidesSecrets(t *testing.T) {
	t.Parallel()
	// PATH and HOME stand in for the key's variable and a redacted one:
	// they are set in every test environment.
	require.NotEmpty(t, os.Getenv("PATH"))
	env := childEnviron("PATH", []string{"HOME"})
	for _, kv := range env {
		require.False(t, strings.HasPrefix(kv, "PATH="), "the key's variable is left out")
		require.False(t, strings.HasPrefix(kv, "HOME="), "redacted variables are left out")
	}
	require.Len(t, env, len(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=")
	})))

	envPath, err := exec.LookPath("env")
	require.NoError(t, err)
	args, err := json.Marshal(map[string][]string{"command": {envPath}})
	require.NoError(t, err)
	out, err := newRunCommandTool([]string{envPath}, []string{"VISIBLE=1"}).Call(context.Background(), args)
	require.NoError(t, err)
	require.Equal(t, "exit code: 0\nVISIBLE=1\n", out)
}

func TestCurrentTime(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("CET", 3600)
	tool := newCurrentTimeTool(func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, zone) })
	out, err := tool.Call(context.Background(), json.RawMessage(`{}`))
	require.NoError(t, err)
	require.Equal(t, "2025-01-02T03:04:05+01:00 CET", out)

	ts := newToolset()
	require.NoError(t, ts.add(tool))
	res := ts.call(context.Background(), call("c", ToolCurrentTime, `{"zone":"UTC"}`))
	require.True(t, res.isError, "current_time takes no arguments")
}

// Every provider's key variable is left out, not only the running
// provider's: an openai run's run_command must not see ANTHROPIC_API_KEY.
func TestChildEnvironHidesEveryProviderKey(t *testing.T) {
	for _, name := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY"} {
		t.Setenv(name, "sk-canary")
	}
	for _, kv := range childEnviron("OPENAI_API_KEY", nil) {
		require.NotContains(t, kv, "sk-canary")
	}
}
