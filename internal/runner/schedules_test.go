package runner_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
	"github.com/opsctl/opsctl/internal/schedule"
)

// addSchedule stores a 1 s schedule of a task of type typ whose next run
// is at next.
func addSchedule(t *testing.T, s db.Store, name, typ string, next time.Time) {
	t.Helper()
	require.NoError(t, s.CreateSchedule(context.Background(), db.Schedule{Name: name, Every: time.Second,
		NextRunAt: next, Task: db.NewTask{Type: typ, Name: name}}))
}

func countingRegistry(n *atomic.Int32) runner.Registry {
	return runner.Registry{"ok": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
		n.Add(1)
		return nil, nil
	})}
}

// run --once enqueues what is due when it starts, the latest missed slot
// only, runs it, and returns.
func TestOnceEnqueuesDueSchedules(t *testing.T) {
	t.Parallel()
	var ran atomic.Int32
	var log strings.Builder
	s, r := setup(t, countingRegistry(&ran), func(o *runner.Options) {
		o.Schedules = schedule.Plan
		o.Log = &log
	})
	// Missed for ten seconds (no runner was up).
	addSchedule(t, s, "tick", "ok", time.Now().Add(-10*time.Second).Truncate(time.Second))
	require.NoError(t, r.Run(context.Background()))
	require.Equal(t, int32(1), ran.Load())
	ts, err := s.List(context.Background(), db.Filter{})
	require.NoError(t, err)
	require.Len(t, ts, 1)
	require.Equal(t, db.StatusCompleted, ts[0].Status)
	require.True(t, strings.HasPrefix(ts[0].Key, "schedule:tick:"), ts[0].Key)
	require.Contains(t, log.String(), "schedule tick: task 1 enqueued for ")
}

// A long-running runner enqueues each slot as it comes, and stops doing
// so when it stops.
func TestRunnerEnqueuesSlots(t *testing.T) {
	t.Parallel()
	var ran atomic.Int32
	s, r := setup(t, countingRegistry(&ran), func(o *runner.Options) {
		o.Schedules = schedule.Plan
		o.Once = false
		o.Poll = time.Hour // slots must not wait for the poll
	})
	addSchedule(t, s, "tick", "ok", time.Now().Truncate(time.Second).Add(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for ran.Load() < 3 {
		require.True(t, time.Now().Before(deadline), "three slots run within 20s")
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	n, err := s.Count(context.Background())
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond)
	after, err := s.Count(context.Background())
	require.NoError(t, err)
	require.Equal(t, n, after, "nothing enqueued once stopped")
}

// A runner without Options.Schedules (bench's) never enqueues.
func TestRunnerWithoutSchedules(t *testing.T) {
	t.Parallel()
	var ran atomic.Int32
	s, r := setup(t, countingRegistry(&ran), nil)
	addSchedule(t, s, "tick", "ok", time.Now().Add(-10*time.Second).Truncate(time.Second))
	require.NoError(t, r.Run(context.Background()))
	n, err := s.Count(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Zero(t, ran.Load())
}
