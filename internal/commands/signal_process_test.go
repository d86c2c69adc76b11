package commands_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A second SIGINT stops a running task at once, with no grace, puts it
// back to pending with its attempt not counted (not running, not failed,
// not left to lease expiry), and the runner exits 130.
func TestSecondSignalReleasesTasks(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--max-attempts", "3", "--", "sh", "-c", "echo $$ > pid; exec sleep 60")
	r, errb := p.startRunner("--workers", "1", "--grace", "30s")
	pid := readPID(t, filepath.Join(p.dir, "pid"))
	require.NoError(t, r.Process.Signal(syscall.SIGINT))
	eventually(t, 10*time.Second, "the first signal to be noted", func() bool {
		return strings.Contains(errb.String(), "stopping: waiting up to 30s for 1 task(s)")
	})
	require.Equal(t, "running", p.show(id).Status, "the grace keeps the task running")
	start := time.Now()
	require.NoError(t, r.Process.Signal(syscall.SIGINT))
	require.Equal(t, 130, waitExit(t, r, 15*time.Second), errb.String())
	took := time.Since(start)
	t.Logf("second signal to exit: %s", took)
	require.Less(t, took, 10*time.Second, errb.String())

	tk := p.show(id)
	require.Equal(t, "pending", tk.Status, errb.String())
	require.Equal(t, 0, tk.Attempts, "the attempt is not counted")
	require.Empty(t, tk.Error)
	require.False(t, alive(pid), "the command was stopped")
	log := errb.String()
	require.Contains(t, log, "opsctl: second signal: stopping running tasks now and putting them back to pending\n")
	require.Regexp(t, `(?m)^task 1 stopped after \S+: runner stopping; back to pending, attempt not counted$`, log)
	require.NotContains(t, log, "could not put")
	require.Contains(t, p.ok("logs", strconv.FormatInt(id, 10)), "runner shut down")

	// The runner unregistered on its way out.
	var st struct {
		Runners []json.RawMessage `json:"runners"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.ok("status", "--all", "-o", "json")), &st))
	require.Empty(t, st.Runners)
}

// SIGHUP does not kill a runner: it is noted (the config is not reloaded)
// and the runner goes on; the start says so too.
func TestSIGHUPIsIgnored(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	r, errb := p.startRunner("--workers", "1")
	eventually(t, 10*time.Second, "the runner to start", func() bool {
		return strings.Contains(errb.String(), "SIGHUP does not reload it")
	})
	require.Regexp(t, `(?m)^opsctl: config read once at start \(no config file\); SIGHUP does not reload it: restart the runner to apply a change$`, errb.String())
	require.NoError(t, r.Process.Signal(syscall.SIGHUP))
	eventually(t, 10*time.Second, "the SIGHUP note", func() bool {
		return strings.Contains(errb.String(), "opsctl: SIGHUP: config is not reloaded; restart the runner to apply changes\n")
	})
	id := p.submit("--", "true")
	_, _, code := p.run("wait", "--timeout", "20s", strconv.FormatInt(id, 10))
	require.Equal(t, 0, code, "the runner still runs tasks after SIGHUP:\n%s", errb.String())
	require.Equal(t, "completed", p.show(id).Status)
	require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, r, 15*time.Second), errb.String())
}

// A running runner is listed by status, with its pid and a fresh
// heartbeat; a graceful exit removes it.
func TestRunnerShowsInStatus(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.ok("migrate") // status never creates the database; the runner may not have yet
	r, errb := p.startRunner("--workers", "3", "--queue", "a", "--queue", "b")
	type runnerRow struct {
		ID          string    `json:"id"`
		PID         int       `json:"pid"`
		Workers     int       `json:"workers"`
		Queues      []string  `json:"queues"`
		HeartbeatAt time.Time `json:"heartbeat_at"`
		Live        bool      `json:"live"`
	}
	var st struct {
		Runners []runnerRow `json:"runners"`
	}
	eventually(t, 10*time.Second, "the runner to register", func() bool {
		st.Runners = nil
		return json.Unmarshal([]byte(p.ok("status", "-o", "json")), &st) == nil && len(st.Runners) == 1
	})
	me := st.Runners[0]
	require.Equal(t, r.Process.Pid, me.PID)
	require.Equal(t, 3, me.Workers)
	require.Equal(t, []string{"a", "b"}, me.Queues)
	require.True(t, me.Live)
	require.Regexp(t, regexp.QuoteMeta(me.ID), errb.String(), "the start line names the same worker id")
	piped := p.ok("status")
	require.Regexp(t, `(?m)^runner\t`+regexp.QuoteMeta(me.ID)+`\t\S+\t\d+\t3\ta,b\t\S+Z\t\S+Z\t\S+$`, piped)

	require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, r, 15*time.Second), errb.String())
	_, stderr, code := p.run("status", "--all")
	require.Equal(t, 0, code)
	require.Equal(t, "opsctl: no runner is live (start one with 'opsctl run')\n", stderr)
}

// After a second signal the runner exits within a bound even when it
// cannot write the release (another process holds the write lock): it says
// so and exits 130, and the task goes back when its lease expires.
func TestSecondSignalBoundedWhenDatabaseLocked(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	id := p.submit("--", "sh", "-c", "echo $$ > pid; exec sleep 60")
	r, errb := p.startRunner("--workers", "1", "--grace", "30s")
	pid := readPID(t, filepath.Join(p.dir, "pid"))
	require.NoError(t, r.Process.Signal(syscall.SIGINT))
	eventually(t, 10*time.Second, "the first signal to be noted", func() bool {
		return strings.Contains(errb.String(), "stopping: waiting up to 30s")
	})

	release := p.holdWriteLock()

	start := time.Now()
	require.NoError(t, r.Process.Signal(syscall.SIGINT))
	code := waitExit(t, r, 20*time.Second)
	took := time.Since(start)
	release()
	require.Equal(t, 130, code, errb.String())
	t.Logf("second signal to exit with the database locked: %s", took)
	require.Regexp(t, `(?m)^opsctl: could not put 1 task\(s\) back to pending: .+; they go back when their leases expire$`, errb.String())
	require.Equal(t, "running", p.show(id).Status, "left to lease expiry")
	eventually(t, 10*time.Second, "the command to die with its runner", func() bool { return !alive(pid) })
}
