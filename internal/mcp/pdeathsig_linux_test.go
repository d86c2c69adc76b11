package mcp

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServerDiesWithRunner kills a runner with SIGKILL, which gives it no
// chance to close anything, and checks that the kernel takes its stdio
// server down with it (Pdeathsig).
func TestServerDiesWithRunner(t *testing.T) {
	t.Parallel()
	runner := exec.Command(os.Args[0])
	runner.Env = append(os.Environ(), envRunner+"=1", "GORACE=atexit_sleep_ms=0")
	stdout, err := runner.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, runner.Start())
	t.Cleanup(func() {
		_ = runner.Process.Kill()
		_ = runner.Wait()
	})

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	require.False(t, processGone(pid))
	// Should the test fail, do not leave the stubborn server behind.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	require.NoError(t, runner.Process.Kill())
	_ = runner.Wait()
	require.Eventually(t, func() bool { return processGone(pid) }, 5*time.Second, 20*time.Millisecond,
		"server process %d outlived its runner", pid)
}
