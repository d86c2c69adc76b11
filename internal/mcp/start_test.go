//go:build unix

package mcp

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/mcp/mcptest"
)

// TestSessionEnvironmentIsolation cannot run in parallel: it sets a
// variable in this process's environment with t.Setenv.
func TestSessionEnvironmentIsolation(t *testing.T) {
	t.Setenv("OPSCTL_MCP_TEST_CANARY", "leaked-secret")
	t.Setenv("OPSCTL_MCP_TEST_FROM_PARENT", "parent-value")
	cfg := stdioConfig(map[string]string{
		"DECLARED": "declared-value",
		"EXPANDED": "${OPSCTL_MCP_TEST_FROM_PARENT}",
	})
	cfg, err := cfg.Expand("isolated", nil)
	require.NoError(t, err)
	s := start(t, "isolated", cfg, Options{})

	get := func(name string) string {
		res, err := s.Call(t.Context(), "env", args(t, map[string]any{"name": name}))
		require.NoError(t, err)
		require.False(t, res.IsError)
		return res.Text
	}
	require.Equal(t, mcptest.Unset, get("OPSCTL_MCP_TEST_CANARY"))
	require.Equal(t, mcptest.Unset, get("OPSCTL_MCP_TEST_FROM_PARENT"))
	require.Equal(t, "declared-value", get("DECLARED"))
	require.Equal(t, "parent-value", get("EXPANDED"))
	require.Equal(t, os.Getenv("PATH"), get("PATH"))
}

func TestSessionBaseEnvOption(t *testing.T) {
	t.Parallel()
	s := start(t, "based", stdioConfig(map[string]string{"OVERRIDE": "declared"}), Options{
		BaseEnv: func() []string { return []string{"FROM_BASE=base", "OVERRIDE=base"} },
	})
	for name, want := range map[string]string{"FROM_BASE": "base", "OVERRIDE": "declared", "HOME": mcptest.Unset} {
		res, err := s.Call(t.Context(), "env", args(t, map[string]any{"name": name}))
		require.NoError(t, err)
		require.Equal(t, want, res.Text, name)
	}
}

func TestSessionStderrLines(t *testing.T) {
	t.Parallel()
	var rec lineRecorder
	stderr := NewTailBuffer(4096).OnLine(rec.add)
	s := start(t, "chatty", stdioConfig(nil), Options{Stderr: stderr})
	require.Eventually(t, func() bool {
		lines := rec.get()
		return len(lines) > 0 && lines[0] == mcptest.StartedLine
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, s.Close())
	require.Contains(t, stderr.String(), mcptest.StartedLine)
}

func TestSessionStartContextEndsOnlyTheStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	s, err := Start(ctx, "detached", stdioConfig(nil), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	cancel()
	res, err := s.Call(t.Context(), "echo", args(t, map[string]any{"text": "alive"}))
	require.NoError(t, err)
	require.Equal(t, "alive", res.Text)
}

func TestStartTimeout(t *testing.T) {
	t.Parallel()
	// A command that never speaks MCP; the shell writes its pid first and
	// then becomes `sleep`, so the pid is that of the process Start ran.
	pidFile := t.TempDir() + "/pid"
	cfg := ServerConfig{
		Command:      "/bin/sh",
		Args:         []string{"-c", `echo $$ > "$1"; exec sleep 30`, "sh", pidFile},
		StartTimeout: 500 * time.Millisecond,
	}
	began := time.Now()
	s, err := Start(t.Context(), "mute", cfg, Options{})
	took := time.Since(began)
	require.Nil(t, s)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, `mcp server "mute": start: no MCP handshake within 500ms`)
	require.Less(t, took, 5*time.Second)

	raw, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "process %d still exists", pid)
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     ServerConfig
		wantErr []string
	}{
		{
			name:    "invalid config",
			cfg:     ServerConfig{},
			wantErr: []string{`mcp server "broken": neither command nor url is set`},
		},
		{
			name:    "command not found",
			cfg:     ServerConfig{Command: "/nonexistent/opsctl-mcp-server"},
			wantErr: []string{`mcp server "broken": start: `, "no such file"},
		},
		{
			name:    "server exits at once",
			cfg:     ServerConfig{Command: "/bin/sh", Args: []string{"-c", "echo 'fatal: no token configured' >&2; exit 1"}},
			wantErr: []string{`mcp server "broken": start: `, "(stderr: fatal: no token configured)"},
		},
		{
			name:    "http server not listening",
			cfg:     ServerConfig{URL: "http://127.0.0.1:1/mcp", StartTimeout: 5 * time.Second},
			wantErr: []string{`mcp server "broken": start: `},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Start(t.Context(), "broken", tt.cfg, Options{})
			require.Nil(t, s)
			for _, want := range tt.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

func TestHTTPHeadersAreSent(t *testing.T) {
	t.Parallel()
	ts := mcptest.NewHTTPServer(t, mcptest.RequireHeader("Authorization", "Bearer s3cret"))

	s := start(t, "authed", ServerConfig{URL: ts.URL, Headers: map[string]string{"Authorization": "Bearer s3cret"}}, Options{})
	res, err := s.Call(t.Context(), "echo", args(t, map[string]any{"text": "authorized"}))
	require.NoError(t, err)
	require.Equal(t, "authorized", res.Text)

	// Without the header the server refuses the handshake.
	s2, err := Start(t.Context(), "anonymous", ServerConfig{URL: ts.URL}, Options{})
	require.Nil(t, s2)
	require.ErrorContains(t, err, `mcp server "anonymous": start: `)
	require.ErrorContains(t, err, "Unauthorized")
}
