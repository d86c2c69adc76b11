package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
)

// lockedBuffer is a buffer written by the runner's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logOpts makes a runner log task lines in format to buf.
func logOpts(t *testing.T, buf *lockedBuffer, format string) func(*runner.Options) {
	return func(o *runner.Options) {
		l, err := runner.NewLogger(buf, format)
		require.NoError(t, err)
		o.Logger, o.TaskLog = l, true
		o.Workers = 1
	}
}

// outcomeRegistry has one handler per way a task ends.
func outcomeRegistry() runner.Registry {
	return runner.Registry{
		"exec": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
			return json.RawMessage(`{"exit_code":0}`), nil
		}),
		"fails": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
			return json.RawMessage(`{"exit_code":2}`), errors.New("exit code 2: no\x1b[31m space")
		}),
		"slow": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}),
	}
}

func TestTaskLinesText(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	s, r := setup(t, outcomeRegistry(), logOpts(t, &buf, runner.LogText))
	ctx := context.Background()
	_, err := s.Submit(ctx, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["./sync.sh","a b"]}`)})
	require.NoError(t, err)
	_, err = s.Submit(ctx, db.NewTask{Type: "exec", Name: "disk", Input: json.RawMessage(`{"shell":"df -h\n| tail"}`)})
	require.NoError(t, err)
	submit(t, s, "fails", 2)
	_, err = s.Submit(ctx, db.NewTask{Type: "slow", Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		`^task 1 started \(exec: \./sync\.sh "a b"\)$`,
		`^task 1 completed in \d+(\.\d+)?(ms|s|µs|ns) \(exit 0\)$`,
		`^task 2 started: disk \(exec: df -h \| tail\)$`,
		`^task 2 completed in \S+ \(exit 0\)$`,
		`^task 3 started \(fails\)$`,
		`^task 3 failed \(attempt 1 of 2, retrying in 0s\): exit code 2: no\\x1b\[31m space$`,
		`^task 4 started \(slow\)$`,
		`^task 4 timed out after 100ms$`,
		`^task 3 started \(fails; attempt 2 of 2\)$`,
		`^task 3 failed after 2 attempts: exit code 2: no\\x1b\[31m space$`,
	}
	require.Len(t, lines, len(want), buf.String())
	// Tasks run one at a time (one worker), but a task's end line comes
	// when its outcome is stored, which may follow the next start.
	for _, w := range want {
		found := false
		for _, l := range lines {
			if regexp.MustCompile(w).MatchString(l) {
				found = true
			}
		}
		require.True(t, found, "no line matches %s in:\n%s", w, buf.String())
	}
}

func TestTaskLinesJSON(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	s, r := setup(t, outcomeRegistry(), logOpts(t, &buf, runner.LogJSON))
	ctx := context.Background()
	ok := submit(t, s, "exec", 1)
	bad := submit(t, s, "fails", 1)
	require.NoError(t, r.Run(ctx))

	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		recs = append(recs, m)
	}
	require.Len(t, recs, 4, buf.String())
	for _, m := range recs {
		ts, err := time.Parse(time.RFC3339Nano, m["time"].(string))
		require.NoError(t, err)
		require.Equal(t, time.UTC, ts.Location())
	}
	var started, completed, failed map[string]any
	for _, m := range recs {
		switch m["event"] {
		case "started":
			if m["task"] == float64(ok) {
				started = m
			}
		case "completed":
			completed = m
		case "failed":
			failed = m
		}
	}
	require.NotNil(t, started, buf.String())
	require.Equal(t, "INFO", started["level"])
	require.Equal(t, "running", started["status"])
	require.Equal(t, float64(1), started["attempt"])
	require.Equal(t, "default", started["queue"])

	require.NotNil(t, completed, buf.String())
	require.Equal(t, "completed", completed["status"])
	require.Equal(t, float64(ok), completed["task"])
	require.Contains(t, completed, "duration_ms")
	require.Equal(t, float64(0), completed["exit_code"])
	require.NotContains(t, completed, "error")

	require.NotNil(t, failed, buf.String())
	require.Equal(t, "ERROR", failed["level"])
	require.Equal(t, float64(bad), failed["task"])
	require.Equal(t, "failed", failed["status"])
	require.Equal(t, "exit code 2: no\x1b[31m space", failed["error"], "JSON keeps the error as it is")
	require.Regexp(t, `^task \d+ failed after \S+: exit code 2`, failed["msg"])
}

// Notes that are not about one task go through the same logger.
func TestNotesGoThroughLogger(t *testing.T) {
	t.Parallel()
	var text, js lockedBuffer
	tl, err := runner.NewLogger(&text, runner.LogText)
	require.NoError(t, err)
	jl, err := runner.NewLogger(&js, runner.LogJSON)
	require.NoError(t, err)
	tl.Warn("rescued 2 task(s) whose runner was lost")
	jl.Warn("rescued 2 task(s) whose runner was lost")
	require.Equal(t, "opsctl: rescued 2 task(s) whose runner was lost\n", text.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(js.String()), &m))
	require.Equal(t, "WARN", m["level"])
	require.Equal(t, "rescued 2 task(s) whose runner was lost", m["msg"])

	_, err = runner.NewLogger(&text, "yaml")
	require.EqualError(t, err, `unknown log format "yaml" (want text or json)`)
}

// stealingStore makes every outcome arrive after the lease was lost.
type stealingStore struct{ db.Store }

func (s stealingStore) Finish(ctx context.Context, evs []db.NewEvent, outs []db.Outcome) (db.FinishResult, error) {
	for i := range outs {
		outs[i].Attempt += 100 // not the attempt the task runs under
	}
	return s.Store.Finish(ctx, evs, outs)
}

// An outcome found lost when it is stored gets no end line and no
// OnFinish, only a note that the lease was lost.
func TestLostOutcomeIsNotLoggedAsEnded(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	var finished int
	s, r := setup(t, outcomeRegistry(), func(o *runner.Options) {
		logOpts(t, &buf, runner.LogText)(o)
		o.Store = stealingStore{o.Store}
		o.OnFinish = func(db.Outcome) { finished++ }
	})
	id := submit(t, s, "exec", 1)
	require.NoError(t, r.Run(context.Background()))
	require.Equal(t, "task 1 started (exec)\ntask 1: lease lost before its outcome was stored; another runner has it\n", buf.String())
	require.Zero(t, finished)
	require.Equal(t, db.StatusRunning, get(t, s, id).Status)
}

// A runner registers itself, beats while it runs (with or without tasks),
// and unregisters when it ends.
func TestRunnerRegistersAndBeats(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	reg := runner.Registry{"hold": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
		close(started)
		<-release
		return nil, nil
	})}
	s, r := setup(t, reg, func(o *runner.Options) {
		o.Queues, o.Version, o.Workers = []string{"q1"}, "v9", 3
	})
	ctx := context.Background()
	_, err := s.Submit(ctx, db.NewTask{Type: "hold", Queue: "q1"})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-started

	rs, err := s.Runners(ctx)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	me := rs[0]
	require.Equal(t, r.Worker(), me.ID)
	require.Equal(t, []string{"q1"}, me.Queues)
	require.Equal(t, 3, me.Workers)
	require.Equal(t, "v9", me.Version)
	require.NotZero(t, me.PID)
	// The lease is 3s: the runner beats every second.
	require.Eventually(t, func() bool {
		rs, err := s.Runners(ctx)
		return err == nil && len(rs) == 1 && rs[0].HeartbeatAt.After(me.HeartbeatAt)
	}, 5*time.Second, 50*time.Millisecond, "heartbeat_at never moved")

	close(release)
	require.NoError(t, <-done)
	rs, err = s.Runners(ctx)
	require.NoError(t, err)
	require.Empty(t, rs, "a runner that ends unregisters")
}

// Abort cancels running tasks without grace and puts them back to
// pending, the attempt not counted; Run then returns.
func TestAbortReleasesAtOnce(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	started := make(chan struct{}, 2)
	reg := runner.Registry{"slow": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})}
	s, r := setup(t, reg, func(o *runner.Options) {
		logOpts(t, &buf, runner.LogText)(o)
		o.Workers, o.Once, o.Grace = 2, false, time.Hour
	})
	a := submit(t, s, "slow", 3)
	b := submit(t, s, "slow", 3)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-started
	<-started
	stop() // the first signal: a graceful stop with an hour of grace
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), "stopping: waiting up to 1h0m0s for 2 task(s)") },
		5*time.Second, 10*time.Millisecond)
	begin := time.Now()
	r.Abort()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Abort")
	}
	t.Logf("abort took %s", time.Since(begin))
	for _, id := range []int64{a, b} {
		task := get(t, s, id)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, 0, task.Attempts)
	}
	require.Regexp(t, `(?m)^task 1 stopped after \S+: runner stopping; back to pending, attempt not counted$`, buf.String())
	require.Empty(t, r.Held())
}

// A task cancelled while it runs says so, with how long it ran.
func TestCancelledTaskLine(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	started := make(chan struct{})
	reg := runner.Registry{"slow": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})}
	s, r := setup(t, reg, logOpts(t, &buf, runner.LogText))
	id := submit(t, s, "slow", 3)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-started
	_, err := s.Cancel(context.Background(), id)
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.Regexp(t, `\Atask 1 started \(slow\)\ntask 1 cancelled after \d+(\.\d+)?(ms|s)\n\z`, buf.String())
}
