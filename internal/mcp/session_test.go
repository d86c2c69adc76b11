//go:build unix

package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/mcp/mcptest"
)

// start starts a server and closes it when the test ends.
func start(t *testing.T, name string, cfg ServerConfig, opts Options) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, name, cfg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// transportCase starts the test server over one transport.
type transportCase struct {
	name  string
	start func(t *testing.T) *Session
}

// transports lists the test server over stdio and over HTTP, for the tests
// that must behave the same on both.
func transports() []transportCase {
	return []transportCase{
		{name: "stdio", start: func(t *testing.T) *Session {
			return start(t, "local", stdioConfig(nil), Options{})
		}},
		{name: "http", start: func(t *testing.T) *Session {
			ts := mcptest.NewHTTPServer(t)
			return start(t, "remote", ServerConfig{URL: ts.URL}, Options{})
		}},
	}
}

// args encodes tool arguments.
func args(t *testing.T, v map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// processGone reports whether pid no longer exists. A zombie counts as
// gone: it has exited, and only its parent (for a grandchild, whatever
// adopted it) can reap it.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

func TestSessionListTools(t *testing.T) {
	t.Parallel()
	for _, tc := range transports() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			tools, err := s.Tools(t.Context())
			require.NoError(t, err)
			// The server pages by 3, so seven tools take three pages.
			var names []string
			for _, tool := range tools {
				names = append(names, tool.Name)
				require.Equal(t, s.Name(), tool.Server)
				require.NotEmpty(t, tool.Description, tool.Name)
				var schema map[string]any
				require.NoError(t, json.Unmarshal(tool.InputSchema, &schema), tool.Name)
				require.Equal(t, "object", schema["type"], tool.Name)
			}
			require.ElementsMatch(t, []string{"echo", "add", "fail", "crash", "env", "image", "sleep"}, names)
			for _, tool := range tools {
				if tool.Name == "add" {
					require.Contains(t, string(tool.InputSchema), `"a"`)
					require.Contains(t, string(tool.InputSchema), `"b"`)
				}
			}
		})
	}
}

func TestSessionCall(t *testing.T) {
	t.Parallel()
	for _, tc := range transports() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			ctx := t.Context()

			res, err := s.Call(ctx, "echo", args(t, map[string]any{"text": "hello"}))
			require.NoError(t, err)
			require.Equal(t, Result{Text: "hello"}, res)

			res, err = s.Call(ctx, "add", args(t, map[string]any{"a": 2, "b": 3.5}))
			require.NoError(t, err)
			require.Equal(t, Result{Text: "5.5"}, res)

			// A tool that failed is a result the model can read, not a Go error.
			res, err = s.Call(ctx, "fail", args(t, map[string]any{"message": "disk full"}))
			require.NoError(t, err)
			require.Equal(t, Result{Text: "disk full", IsError: true}, res)

			// Arguments that break the tool's schema are a tool error too.
			res, err = s.Call(ctx, "add", args(t, map[string]any{"a": "two"}))
			require.NoError(t, err)
			require.True(t, res.IsError)

			res, err = s.Call(ctx, "image", nil)
			require.NoError(t, err)
			require.Regexp(t, regexp.MustCompile(`^\[image image/png, [1-9][0-9]* bytes\]$`), res.Text)
			require.False(t, res.IsError)

			// An unknown tool is a protocol error, reported as a Go error.
			_, err = s.Call(ctx, "nope", nil)
			require.ErrorContains(t, err, `mcp server "`+s.Name()+`": tool "nope": `)
			require.ErrorContains(t, err, "unknown tool")

			_, err = s.Call(ctx, "echo", json.RawMessage(`[1]`))
			require.ErrorContains(t, err, "arguments must be a JSON object")

			// The session is still usable after all those errors.
			res, err = s.Call(ctx, "echo", args(t, map[string]any{"text": "still here"}))
			require.NoError(t, err)
			require.Equal(t, "still here", res.Text)
		})
	}
}

func TestSessionCrashMidCall(t *testing.T) {
	t.Parallel()
	for _, tc := range transports() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			pid := s.PID()
			_, err := s.Call(t.Context(), "crash", nil)
			require.ErrorContains(t, err, `mcp server "`+s.Name()+`": tool "crash": `)

			// Later calls fail too, quickly, instead of hanging.
			_, err = s.Call(t.Context(), "echo", args(t, map[string]any{"text": "x"}))
			require.Error(t, err)

			began := time.Now()
			require.NoError(t, s.Close())
			require.Less(t, time.Since(began), 5*time.Second)
			if pid != 0 {
				require.True(t, processGone(pid), "server process %d still exists", pid)
			}
		})
	}
}

func TestSessionCallTimeout(t *testing.T) {
	t.Parallel()
	cfg := stdioConfig(nil)
	cfg.Timeout = 300 * time.Millisecond
	s := start(t, "slow", cfg, Options{})

	_, err := s.Call(t.Context(), "sleep", args(t, map[string]any{"ms": 10000}))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, `mcp server "slow": tool "sleep": no answer within 300ms`)

	res, err := s.Call(t.Context(), "echo", args(t, map[string]any{"text": "after"}))
	require.NoError(t, err)
	require.Equal(t, "after", res.Text)
}

func TestSessionCloseDuringCall(t *testing.T) {
	t.Parallel()
	s := start(t, "busy", stdioConfig(nil), Options{CloseGrace: 200 * time.Millisecond})
	pid := s.PID()
	require.NotZero(t, pid)

	callErr := make(chan error, 1)
	go func() {
		_, err := s.Call(context.Background(), "sleep", json.RawMessage(`{"ms": 20000}`))
		callErr <- err
	}()
	// Let the call reach the server before closing.
	time.Sleep(200 * time.Millisecond)

	// Concurrent Closes all return once the process is gone.
	closed := make(chan error, 2)
	go func() { closed <- s.Close() }()
	go func() { closed <- s.Close() }()
	for range 2 {
		select {
		case err := <-closed:
			require.NoError(t, err)
			require.True(t, processGone(pid), "server process %d still exists", pid)
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return")
		}
	}
	select {
	case err := <-callErr:
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorContains(t, err, `mcp server "busy": tool "sleep": session closed`)
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight call did not end")
	}

	require.NoError(t, s.Close())
	_, err := s.Call(t.Context(), "echo", nil)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Tools(t.Context())
	require.ErrorIs(t, err, ErrClosed)
}

func TestSessionCloseStubbornServer(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	s := start(t, "stubborn", stdioConfig(map[string]string{mcptest.EnvStubborn: "1"}), Options{CloseGrace: grace})
	pid := s.PID()
	res, err := s.Call(t.Context(), "echo", args(t, map[string]any{"text": "hi"}))
	require.NoError(t, err)
	require.Equal(t, "hi", res.Text)

	began := time.Now()
	require.NoError(t, s.Close())
	took := time.Since(began)
	// The server ignores the end of its input and SIGTERM, so only the
	// SIGKILL after two graces ends it; allow plenty for a loaded machine.
	require.Less(t, took, 5*time.Second)
	require.GreaterOrEqual(t, took, grace, "a server ignoring its input cannot be gone before the first grace")
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "server process %d still exists", pid)
}

func TestSessionCloseKillsProcessGroup(t *testing.T) {
	t.Parallel()
	// The server starts a child of its own (sleep) and then becomes the
	// test server; Close must end the child too.
	pidFile := t.TempDir() + "/child.pid"
	cfg := stdioConfig(nil)
	cfg.Command = "/bin/sh"
	cfg.Args = []string{"-c", `sleep 60 & echo $! > "$1"; exec "$2"`, "sh", pidFile, os.Args[0]}
	s := start(t, "parent", cfg, Options{CloseGrace: 200 * time.Millisecond})
	raw, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	require.False(t, processGone(child))

	require.NoError(t, s.Close())
	require.Eventually(t, func() bool { return processGone(child) }, 5*time.Second, 20*time.Millisecond,
		"child process %d of the server still exists", child)
}

func TestSessionConcurrentCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range transports() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			errs := make(chan error, 8)
			for i := range 8 {
				go func() {
					text := "call " + strconv.Itoa(i)
					res, err := s.Call(t.Context(), "echo", json.RawMessage(`{"text":"`+text+`"}`))
					if err == nil && res.Text != text {
						err = errors.New("got " + res.Text + ", want " + text)
					}
					errs <- err
				}()
			}
			for range 8 {
				require.NoError(t, <-errs)
			}
		})
	}
}
