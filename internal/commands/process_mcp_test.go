package commands_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An MCP stdio server runs under the supervisor: when opsctl is killed -9
// mid-call, the server and the children it started go too (an npx launcher
// and its node process, say).
func TestKilledOpsctlTakesMCPServerChildren(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	cfgDir := filepath.Join(p.dir, "config", "opsctl")
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	pidFile := filepath.Join(p.dir, "bgpid")
	cfg := `mcp_servers:
  srv:
    command: sh
    args: ["-c", "sleep 60 & echo $! > ` + pidFile + `; exec mcptest-server"]
    env:
      GORACE: atexit_sleep_ms=0
`
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "config.yaml"), []byte(cfg), 0o600))
	call := p.command("mcp", "call", "srv", "sleep", "--args", `{"ms":60000}`)
	require.NoError(t, call.Start())
	t.Cleanup(func() { call.Process.Kill(); call.Wait() })
	bg := readPID(t, pidFile)
	require.True(t, alive(bg))
	require.NoError(t, call.Process.Signal(syscall.SIGKILL))
	call.Wait()
	eventually(t, 10*time.Second, "the MCP server's child to die with opsctl", func() bool { return !alive(bg) })
}
