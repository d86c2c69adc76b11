package commands_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A task reads its supervisor's and its runner's environment from /proc,
// as a hostile task would: the runner's keys are in neither, and nothing
// stores them. As root the files are readable (root can read anything);
// as another user they are not: either way no key.
func TestTaskCannotReadRunnerKeys(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	const secret = "sk-runner-secret-4471"
	p.env = append(p.env, "OPENAI_API_KEY="+secret, "ANTHROPIC_API_KEY="+secret+"-a")
	id := p.submit("--type", "exec", "--input", `{"shell":"tr '\\0' '\\n' < /proc/$PPID/environ; R=$(awk '{print $4}' /proc/$PPID/stat); echo runner=$R; tr '\\0' '\\n' < /proc/$R/environ; grep -c . /proc/$R/mem; ps eww -p $R; true"}`)
	p.ok("run", "--once")
	require.Equal(t, "completed", p.show(id).Status)
	logs := p.ok("logs", strconv.FormatInt(id, 10))
	require.NotContains(t, logs, secret)
	require.Contains(t, logs, "runner=")
	if os.Geteuid() == 0 {
		require.Contains(t, logs, "OPSCTL_DB=", "root reads the runner's environment, which holds no key")
	} else {
		require.Contains(t, logs, "Permission denied")
	}
	raw, err := os.ReadFile(filepath.Join(p.dir, "opsctl.db"))
	require.NoError(t, err)
	require.NotContains(t, string(raw), secret)
}

// A daemon that detaches (setsid) and keeps stdout open neither holds the
// task open nor outlives it: the task completes when its command exits,
// and the daemon is gone.
func TestDetachedDaemonNeitherHangsNorSurvives(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	pidFile := filepath.Join(p.dir, "daemon.pid")
	id := p.submit("--timeout", "20s", "--type", "exec", "--input",
		`{"shell":"setsid sh -c 'echo $$ > `+pidFile+`; exec sleep 3082' & sleep 0.3; echo main-done"}`)
	cmd, out := p.startRunner("--once")
	require.Equal(t, 0, waitExit(t, cmd, 30*time.Second), out.String())
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status, tk.Error)
	require.Contains(t, string(tk.Result), "main-done")
	pid := readPID(t, pidFile)
	eventually(t, 5*time.Second, "daemon ended", func() bool { return !alive(pid) })
}

// A detached daemon dies with its task when the runner is killed -9.
func TestKilledRunnerTakesDetachedDaemon(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.submit("--type", "exec", "--input",
		`{"shell":"setsid sh -c 'echo $$ > pid; exec sleep 3061' >/dev/null 2>&1 </dev/null & sleep 60"}`)
	p.killRunnerExpectGone("the detached daemon to die with the runner")
}

// A runner paused (SIGSTOP) past its lease loses the task to another
// runner; when it continues, its late output is not stored after the
// other runner's outcome.
func TestPausedRunnerLateOutputIsFenced(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	mark := filepath.Join(p.dir, "first")
	id := p.submit("--max-attempts", "2", "--type", "exec", "--input",
		`{"shell":"if mkdir `+mark+` 2>/dev/null; then sleep 1; echo from-first; else echo from-second; fi"}`)
	a, aOut := p.startRunner("--lease", "1s", "--workers", "1")
	eventually(t, 10*time.Second, "task running", func() bool { return p.show(id).Status == "running" })
	require.NoError(t, a.Process.Signal(syscall.SIGSTOP))
	b, bOut := p.startRunner("--lease", "1s", "--workers", "1")
	eventually(t, 20*time.Second, "task completed by the second runner", func() bool { return p.show(id).Status == "completed" })
	require.NoError(t, a.Process.Signal(syscall.SIGCONT))
	eventually(t, 10*time.Second, "first runner notices", func() bool {
		return strings.Contains(aOut.String(), "lease lost") || strings.Contains(aOut.String(), "no longer holds")
	})
	for _, c := range []interface{ Signal(os.Signal) error }{a.Process, b.Process} {
		c.Signal(syscall.SIGTERM)
	}
	waitExit(t, a, 20*time.Second)
	waitExit(t, b, 20*time.Second)
	logs := p.ok("logs", strconv.FormatInt(id, 10))
	require.Contains(t, logs, "from-second", bOut.String())
	require.NotContains(t, logs, "from-first", aOut.String())
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status)
	require.Equal(t, 2, tk.Attempts)
}

// A write transaction that holds the lock longer than a lease makes the
// owner's renewal wait; the other runner must not rescue the task when
// the lock comes free (it did, and the task ran twice).
func TestLongTransactionDoesNotRescueLiveTask(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--max-attempts", "3", "--", "sleep", "6")
	a, aOut := p.startRunner("--lease", "1s", "--workers", "1")
	eventually(t, 10*time.Second, "task running", func() bool { return p.show(id).Status == "running" })
	// Rescuers: several, so that one of them likely gets the lock before
	// the owner's renewal once it comes free.
	var others []*syncBuffer
	for range 3 {
		_, out := p.startRunner("--lease", "1s", "--workers", "1")
		others = append(others, out)
	}

	release := p.holdWriteLock()
	time.Sleep(3 * time.Second)
	release()

	eventually(t, 30*time.Second, "task finished", func() bool { return p.show(id).Status == "completed" })
	a.Process.Signal(syscall.SIGTERM)
	waitExit(t, a, 20*time.Second)
	tk := p.show(id)
	for _, o := range others {
		require.NotContains(t, o.String(), "rescued", "runner a:\n%s", aOut.String())
	}
	require.Equal(t, 1, tk.Attempts, "runner a:\n%s", aOut.String())
}

// A runner started from a terminal gives its tasks no controlling
// terminal: a task cannot open /dev/tty to type into the operator's shell
// (TIOCSTI) or repaint the screen. script(1) gives the runner a terminal.
func TestTaskHasNoControllingTerminal(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--type", "exec", "--input", `{"shell":"if (: < /dev/tty) 2>/dev/null; then echo TTY-OPEN; else echo TTY-CLOSED; fi"}`)
	cmd := exec.Command("script", "-qec", "opsctl run --once", "/dev/null")
	cmd.Env, cmd.Dir = p.env, p.dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	logs := p.ok("logs", strconv.FormatInt(id, 10))
	require.Contains(t, logs, "TTY-CLOSED")
	require.NotContains(t, logs, "TTY-OPEN")
}
