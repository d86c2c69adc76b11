package commands_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Four runner processes drain 2,000 tasks that each append their own token
// to one file: every token must be there exactly once.
func TestExactlyOnceAcrossRunnerProcesses(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	const n = 2000
	out := filepath.Join(p.dir, "tokens")
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, `{"type":"exec","input":{"command":["sh","-c","echo tok-%d >> %s"]}}`+"\n", i, out)
	}
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, "batch.jsonl"), []byte(batch.String()), 0o600))
	p.ok("submit", "-q", "--batch", "batch.jsonl")

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range 4 {
		wg.Go(func() {
			_, stderr, code := p.run("run", "--once", "--workers", "4")
			errs[i] = fmt.Sprintf("exit %d: %s", code, stderr)
		})
	}
	wg.Wait()
	t.Logf("4 runners drained %d exec tasks in %s", n, time.Since(start))
	for _, e := range errs {
		require.True(t, strings.HasPrefix(e, "exit 0: "), e)
		require.NotContains(t, e, "locked")
	}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	lines := strings.Fields(string(b))
	require.Len(t, lines, n)
	seen := map[string]bool{}
	for _, l := range lines {
		require.False(t, seen[l], "token %s twice", l)
		seen[l] = true
	}
	listed := p.ok("list", "--all", "--status", "completed", "-o", "jsonl")
	require.Equal(t, n, strings.Count(listed, "\n"))
}

// A runner killed with SIGKILL mid-task takes its child with it, and another
// runner rescues the task once the lease expires.
func TestKilledRunnerTaskIsRescued(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	script := `if [ -f second ]; then echo finished; else touch second; echo $$ > pid; exec sleep 60; fi`
	id := p.submit("--max-attempts", "2", "--input", fmt.Sprintf(`{"shell":%q}`, script), "--type", "exec")

	victim, _ := p.startRunner("--lease", "2s", "--workers", "1")
	pid := readPID(t, filepath.Join(p.dir, "pid"))
	require.True(t, alive(pid))
	require.NoError(t, victim.Process.Signal(syscall.SIGKILL))
	victim.Wait()
	eventually(t, 10*time.Second, "the task's command to die with its runner", func() bool { return !alive(pid) })
	require.Equal(t, "running", p.show(id).Status)

	p.startRunner("--lease", "2s", "--workers", "1")
	_, _, code := p.run("wait", "--timeout", "30s", strconv.FormatInt(id, 10))
	require.Equal(t, 0, code)
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status)
	require.Equal(t, 2, tk.Attempts)
	require.Contains(t, p.ok("logs", strconv.FormatInt(id, 10)), "lease expired")
}

// A task that runs for several lease periods is never rescued while its
// runner's heartbeat lives, even with another runner watching.
func TestHeartbeatKeepsLongTask(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "sleep", "4")
	p.startRunner("--lease", "1s", "--workers", "1")
	eventually(t, 10*time.Second, "task to start", func() bool { return p.show(id).Status == "running" })
	p.startRunner("--lease", "1s", "--workers", "1")
	_, _, code := p.run("wait", "--timeout", "30s", strconv.FormatInt(id, 10))
	require.Equal(t, 0, code)
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status)
	require.Equal(t, 1, tk.Attempts)
}

// SIGTERM: a task that finishes within the grace completes; one that does
// not goes back to pending without the attempt counted; exit 0.
func TestSigtermGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	short := p.submit("--", "sh", "-c", "echo $$ > short.pid; sleep 1")
	long := p.submit("--", "sh", "-c", "echo $$ > long.pid; exec sleep 60")
	r, errb := p.startRunner("--workers", "2", "--grace", "2s")
	readPID(t, filepath.Join(p.dir, "short.pid"))
	longPID := readPID(t, filepath.Join(p.dir, "long.pid"))
	require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, r, 15*time.Second), errb.String())
	require.Equal(t, "completed", p.show(short).Status)
	tk := p.show(long)
	require.Equal(t, "pending", tk.Status)
	require.Equal(t, 0, tk.Attempts)
	require.False(t, alive(longPID))
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	// The shell's child (sleep) is a grandchild of the supervisor: the
	// whole group must go.
	id := p.submit("--timeout", "1s", "--", "sh", "-c", "sleep 60 & echo $! > pid; wait")
	p.ok("run", "--once")
	tk := p.show(id)
	require.Equal(t, "failed", tk.Status)
	require.Equal(t, "timed out after 1s", tk.Error)
	require.False(t, alive(readPID(t, filepath.Join(p.dir, "pid"))))
}

func TestCancelRunningTask(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "sh", "-c", "sleep 60 & echo $! > pid; wait")
	p.startRunner("--workers", "1")
	pid := readPID(t, filepath.Join(p.dir, "pid"))
	start := time.Now()
	require.Contains(t, p.ok("cancel", strconv.FormatInt(id, 10)), "cancel requested")
	_, _, code := p.run("wait", "--timeout", "20s", strconv.FormatInt(id, 10))
	require.Equal(t, 5, code)
	t.Logf("cancel took %s", time.Since(start))
	require.Equal(t, "cancelled", p.show(id).Status)
	eventually(t, 10*time.Second, "the cancelled command to die", func() bool { return !alive(pid) })
}

// A command that fails twice, then succeeds, is retried with backoff.
func TestRetryWithBackoff(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	script := `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; date +%s.%N >> times; [ $n -ge 3 ]`
	id := p.submit("--max-attempts", "3", "--type", "exec", "--input", fmt.Sprintf(`{"shell":%q}`, script))
	p.startRunner("--workers", "1")
	_, _, code := p.run("wait", "--timeout", "30s", strconv.FormatInt(id, 10))
	require.Equal(t, 0, code)
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status)
	require.Equal(t, 3, tk.Attempts)
	b, err := os.ReadFile(filepath.Join(p.dir, "times"))
	require.NoError(t, err)
	var ts []float64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseFloat(f, 64)
		require.NoError(t, err)
		ts = append(ts, v)
	}
	require.Len(t, ts, 3)
	// Backoff(1) is 0.5-1s and Backoff(2) 1-2s (jittered).
	require.GreaterOrEqual(t, ts[1]-ts[0], 0.45)
	require.GreaterOrEqual(t, ts[2]-ts[1], 0.95)
}

// Eight processes submit while four run: nobody sees "database is locked".
func TestConcurrentSubmitWhileRunning(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	var runners []*exec.Cmd
	var outs []*syncBuffer
	for range 4 {
		r, b := p.startRunner("--workers", "2", "--poll", "10ms")
		runners = append(runners, r)
		outs = append(outs, b)
	}
	var wg sync.WaitGroup
	results := make(chan string, 8*25)
	for i := range 8 {
		wg.Go(func() {
			for j := range 25 {
				out, stderr, code := p.run("submit", "-q", "--", "true", fmt.Sprint(i), fmt.Sprint(j))
				results <- fmt.Sprintf("%d|%s|%s", code, strings.TrimSpace(out), stderr)
			}
		})
	}
	wg.Wait()
	close(results)
	var ids []int64
	for r := range results {
		parts := strings.SplitN(r, "|", 3)
		require.Equal(t, "0", parts[0], r)
		require.NotContains(t, r, "locked")
		id, err := strconv.ParseInt(parts[1], 10, 64)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	args := []string{"wait", "-q", "--timeout", "60s"}
	for _, id := range ids {
		args = append(args, strconv.FormatInt(id, 10))
	}
	_, _, code := p.run(args...)
	require.Equal(t, 0, code)
	for i, r := range runners {
		require.NoError(t, r.Process.Signal(syscall.SIGTERM))
		require.Equal(t, 0, waitExit(t, r, 15*time.Second))
		// The runners' own notes: a start line, nothing about failed
		// claims, heartbeats or writes.
		log := outs[i].String()
		require.NotContains(t, log, "locked")
		require.NotContains(t, log, "heartbeat:")
		require.NotContains(t, log, "write results")
		require.NotContains(t, log, "trying again")
	}
}

func TestWaitExitCodes(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	ok := p.submit("--", "true")
	bad := p.submit("--", "false")
	cancelled := p.submit("--", "true")
	pending := p.submit("--in", "1h", "--", "true")
	p.ok("cancel", strconv.FormatInt(cancelled, 10))
	p.ok("run", "--once")
	id := func(v int64) string { return strconv.FormatInt(v, 10) }
	tests := []struct {
		args []string
		code int
	}{
		{[]string{id(ok)}, 0},
		{[]string{id(bad)}, 1},
		{[]string{id(cancelled)}, 5},
		{[]string{id(ok), id(bad), id(cancelled)}, 5},
		{[]string{"--timeout", "200ms", id(pending)}, 124},
		{[]string{"--timeout", "200ms", id(pending), id(cancelled)}, 124},
		{[]string{"999"}, 3},
	}
	for _, tt := range tests {
		_, _, code := p.run(append([]string{"wait"}, tt.args...)...)
		require.Equal(t, tt.code, code, "wait %v", tt.args)
	}
}

// logs -f shows output while the task is still running.
func TestLogsFollowStreams(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "sh", "-c", "echo first; while [ ! -f go-on ]; do sleep 0.05; done; echo second")
	p.startRunner("--workers", "1")
	follow := p.command("logs", "-f", strconv.FormatInt(id, 10))
	stdout, err := follow.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, follow.Start())
	sc := bufio.NewScanner(stdout)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
		if sc.Text() == "first" {
			// The task cannot finish until this file exists, so "first"
			// arrived while it was running.
			require.Equal(t, "running", p.show(id).Status)
			require.NoError(t, os.WriteFile(filepath.Join(p.dir, "go-on"), nil, 0o600))
		}
	}
	require.Equal(t, 0, waitExit(t, follow, 20*time.Second))
	joined := strings.Join(got, "\n")
	require.Contains(t, joined, "first\nsecond")
	require.Contains(t, joined, "running -> completed")
}

// A second SIGTERM ends the runner at once (130): its task is stopped with
// no grace and put back to pending, the attempt not counted, and its
// command dies. (TestSecondSignalReleasesTasks does the same with SIGINT.)
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "sh", "-c", "echo $$ > pid; exec sleep 60")
	r, errb := p.startRunner("--workers", "1", "--grace", "30s")
	pid := readPID(t, filepath.Join(p.dir, "pid"))
	require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	eventually(t, 10*time.Second, "the first signal to be noted", func() bool {
		return strings.Contains(errb.String(), "stopping")
	})
	start := time.Now()
	require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 130, waitExit(t, r, 5*time.Second))
	require.Less(t, time.Since(start), 5*time.Second)
	tk := p.show(id)
	require.Equal(t, "pending", tk.Status, "put back, not left for rescue")
	require.Equal(t, 0, tk.Attempts)
	eventually(t, 10*time.Second, "the command to die with its runner", func() bool { return !alive(pid) })
}

// On a terminal, wait and run --once draw progress on stderr; on a pipe
// they do not. script(1) gives the command a pseudo-terminal.
func TestProgressOnlyOnTerminal(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := strconv.FormatInt(p.submit("--", "sleep", "0.5"), 10)
	later := strconv.FormatInt(p.submit("--in", "1h", "--", "true"), 10)
	tty := func(args string) string {
		cmd := exec.Command("script", "-qc", "opsctl "+args, "/dev/null")
		cmd.Env, cmd.Dir = p.env, p.dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	require.Regexp(t, `\d+ done \(`, tty("run --once"))
	require.Regexp(t, `1/2 done \(`, tty("wait --timeout 300ms "+id+" "+later))
	_, stderr, code := p.run("wait", id)
	require.Equal(t, 0, code)
	require.Empty(t, stderr, "no progress on a pipe")
}

// A command's background children end with it: they neither hold the task
// open nor outlive it.
func TestBackgroundChildrenEndWithTask(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "sh", "-c", "sleep 60 & echo $! > pid; echo started")
	start := time.Now()
	p.ok("run", "--once")
	require.Less(t, time.Since(start), 30*time.Second, "the task did not wait for its background child")
	require.Equal(t, "completed", p.show(id).Status)
	eventually(t, 5*time.Second, "the background child to die", func() bool {
		return !alive(readPID(t, filepath.Join(p.dir, "pid")))
	})
}

// kill -9 of the runner takes a command's background children too.
func TestKilledRunnerTakesBackgroundChildren(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.submit("--", "sh", "-c", "sleep 60 & echo $! > pid; sleep 60")
	p.killRunnerExpectGone("the background child to die with the runner")
}

// A runner that is PID 1 (a container without an init) runs exec tasks.
func TestRunnerAsPIDOne(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "echo", "hello")
	cmd := exec.Command("unshare", "--fork", "--pid", "--mount-proc", "opsctl", "run", "--once")
	cmd.Env, cmd.Dir = p.env, p.dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "unshare needs root, as CI runs: %s", out)
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status, tk.Error)
}
