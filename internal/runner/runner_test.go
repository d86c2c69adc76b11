package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
	"github.com/opsctl/opsctl/internal/runner"
)

// TestMain lets this test binary serve as the exec supervisor.
func TestMain(m *testing.M) {
	if runner.IsSupervisor() {
		os.Exit(runner.Supervise())
	}
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}

// funcHandler adapts a function to runner.Handler.
type funcHandler func(ctx context.Context, input json.RawMessage, ev runner.Events) (json.RawMessage, error)

func (funcHandler) Validate(json.RawMessage) error { return nil }

func (f funcHandler) Run(ctx context.Context, in json.RawMessage, ev runner.Events) (json.RawMessage, error) {
	return f(ctx, in, ev)
}

func setup(t *testing.T, reg runner.Registry, mod func(*runner.Options)) (*db.SQLite, *runner.Runner) {
	t.Helper()
	s := dbtest.New(t)
	opts := runner.Options{Store: s, Registry: reg, Workers: 2, Lease: 3 * time.Second, Poll: 5 * time.Millisecond,
		Grace: time.Second, CancelPoll: 20 * time.Millisecond, Once: true,
		Backoff: func(int) time.Duration { return 0 }}
	if mod != nil {
		mod(&opts)
	}
	r, err := runner.New(opts)
	require.NoError(t, err)
	return s, r
}

func submit(t *testing.T, s db.Store, typ string, maxAttempts int) int64 {
	t.Helper()
	r, err := s.Submit(context.Background(), db.NewTask{Type: typ, MaxAttempts: maxAttempts})
	require.NoError(t, err)
	return r.ID
}

func get(t *testing.T, s db.Store, id int64) db.Task {
	t.Helper()
	tk, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	return tk
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	var flaky atomic.Int32
	reg := runner.Registry{
		"ok": funcHandler(func(_ context.Context, _ json.RawMessage, ev runner.Events) (json.RawMessage, error) {
			ev.Emit("stdout", map[string]string{"text": "hello\n"})
			return json.RawMessage(`{"answer":42}`), nil
		}),
		"panics": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
			panic("handler bug")
		}),
		"permanent": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
			return json.RawMessage(`{"partial":true}`), runner.Permanent(errors.New("401 bad key"))
		}),
		"flaky": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
			if flaky.Add(1) < 3 {
				return nil, errors.New("try again")
			}
			return json.RawMessage(`{}`), nil
		}),
		"slow": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}),
	}
	s, r := setup(t, reg, nil)
	ctx := context.Background()
	ok := submit(t, s, "ok", 1)
	pan := submit(t, s, "panics", 3)
	perm := submit(t, s, "permanent", 3)
	fl := submit(t, s, "flaky", 3)
	tr, err := s.Submit(ctx, db.NewTask{Type: "slow", Timeout: 100 * time.Millisecond, MaxAttempts: 1})
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))

	task := get(t, s, ok)
	require.Equal(t, db.StatusCompleted, task.Status)
	require.JSONEq(t, `{"answer":42}`, string(task.Result))
	evs, err := s.Events(ctx, ok, 0, 0)
	require.NoError(t, err)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"status", "stdout", "status"}, kinds, "output is stored before the final status")

	task = get(t, s, pan)
	require.Equal(t, db.StatusFailed, task.Status)
	require.Equal(t, "panic: handler bug", task.Error)
	require.Equal(t, 1, task.Attempts, "a panic is not retried")

	task = get(t, s, perm)
	require.Equal(t, db.StatusFailed, task.Status)
	require.Equal(t, 1, task.Attempts)
	require.JSONEq(t, `{"partial":true}`, string(task.Result), "partial data is kept on failure")

	task = get(t, s, fl)
	require.Equal(t, db.StatusCompleted, task.Status)
	require.Equal(t, 3, task.Attempts)

	task = get(t, s, tr.ID)
	require.Equal(t, db.StatusFailed, task.Status)
	require.Equal(t, "timed out after 100ms", task.Error)
}

func TestCancelStopsHandler(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	reg := runner.Registry{"slow": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})}
	s, r := setup(t, reg, nil)
	id := submit(t, s, "slow", 3)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-started
	_, err := s.Cancel(context.Background(), id)
	require.NoError(t, err)
	require.NoError(t, <-done)
	task := get(t, s, id)
	require.Equal(t, db.StatusCancelled, task.Status)
	require.Equal(t, 1, task.Attempts)
}

func TestShutdownReleasesWithoutCountingAttempt(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 2)
	reg := runner.Registry{
		"slow": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}),
		"quick": funcHandler(func(ctx context.Context, _ json.RawMessage, _ runner.Events) (json.RawMessage, error) {
			started <- struct{}{}
			time.Sleep(50 * time.Millisecond)
			return json.RawMessage(`{}`), nil
		}),
	}
	s, r := setup(t, reg, func(o *runner.Options) { o.Once = false; o.Grace = 300 * time.Millisecond })
	slow := submit(t, s, "slow", 1)
	quick := submit(t, s, "quick", 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-started
	<-started
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, db.StatusCompleted, get(t, s, quick).Status, "finished within the grace")
	task := get(t, s, slow)
	require.Equal(t, db.StatusPending, task.Status)
	require.Equal(t, 0, task.Attempts)
}

func TestMaxTasksAndQueues(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	reg := runner.Registry{"ok": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
		n.Add(1)
		return nil, nil
	})}
	s, r := setup(t, reg, func(o *runner.Options) { o.Once = false; o.MaxTasks = 3; o.Queues = []string{"a"} })
	ctx := context.Background()
	for range 5 {
		_, err := s.Submit(ctx, db.NewTask{Type: "ok", Queue: "a"})
		require.NoError(t, err)
	}
	other, err := s.Submit(ctx, db.NewTask{Type: "ok", Queue: "b"})
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	require.EqualValues(t, 3, n.Load())
	require.Equal(t, db.StatusPending, get(t, s, other.ID).Status)
}

func TestExecHandler(t *testing.T) {
	t.Parallel()
	e := &runner.Exec{OutputTail: 16, EventBytes: 10}
	var evs recorder
	res, err := e.Run(context.Background(), json.RawMessage(`{"shell":"echo 0123456789abcdefXYZ; echo oops >&2; exit 4","env":{"A":"b"}}`), &evs)
	require.EqualError(t, err, "exit code 4: oops")
	var r runner.ExecResult
	require.NoError(t, json.Unmarshal(res, &r))
	require.Equal(t, 4, r.ExitCode)
	require.Equal(t, "…456789abcdefXYZ\n", r.Stdout, "the last 16 bytes, marked as cut")
	require.Equal(t, "oops\n", r.Stderr)
	require.Contains(t, evs.kinds(), "warning", "output over the event cap is noted")

	res, err = e.Run(context.Background(), json.RawMessage(`{"command":["sh","-c","echo $A; pwd"],"env":{"A":"from-env"},"dir":"/"}`), &evs)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(res, &r))
	require.Equal(t, "from-env\n/\n", r.Stdout)

	for _, bad := range []string{`{}`, `{"command":[]}`, `{"shell":"x","command":["y"]}`, `{"command":"ls"}`, `{"comand":["ls"]}`, `{"command":[""]}`} {
		require.Error(t, e.Validate(json.RawMessage(bad)), bad)
	}
}

// recorder collects emitted events; handlers may emit from several goroutines.
type recorder struct {
	mu  sync.Mutex
	evs []string
}

func (r *recorder) Emit(kind string, _ any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, kind)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.evs...)
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 12; n++ {
		d := runner.Backoff(n)
		base := time.Second << (n - 1)
		if base > 10*time.Minute {
			base = 10 * time.Minute
		}
		require.GreaterOrEqual(t, d, base/2, "n=%d", n)
		require.LessOrEqual(t, d, base, "n=%d", n)
	}
}
