package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
	"github.com/opsctl/opsctl/internal/runner"
)

// flakyStore fails Finish while fail says so.
type flakyStore struct {
	db.Store
	calls atomic.Int32
	fail  func(call int32, evs []db.NewEvent) bool
}

func (f *flakyStore) Finish(ctx context.Context, evs []db.NewEvent, outs []db.Outcome) (db.FinishResult, error) {
	if f.fail(f.calls.Add(1), evs) {
		return db.FinishResult{}, errors.New("disk I/O error")
	}
	return f.Store.Finish(ctx, evs, outs)
}

func runWith(t *testing.T, fail func(int32, []db.NewEvent) bool) (db.Store, int64) {
	t.Helper()
	s := dbtest.New(t)
	store := &flakyStore{Store: s, fail: fail}
	reg := runner.Registry{"ok": funcHandler(func(_ context.Context, _ json.RawMessage, ev runner.Events) (json.RawMessage, error) {
		ev.Emit("stdout", map[string]string{"text": "hi\n"})
		return json.RawMessage(`{}`), nil
	})}
	id := submit(t, s, "ok", 1)
	r, err := runner.New(runner.Options{Store: store, Registry: reg, Lease: 3 * time.Second, Poll: 5 * time.Millisecond, Once: true})
	require.NoError(t, err)
	require.NoError(t, r.Run(context.Background()))
	return s, id
}

func TestWriterRetriesFailedWrites(t *testing.T) {
	t.Parallel()
	s, id := runWith(t, func(call int32, _ []db.NewEvent) bool { return call <= 2 })
	require.Equal(t, db.StatusCompleted, get(t, s, id).Status)
	evs, err := s.Events(context.Background(), id, 0, 0)
	require.NoError(t, err)
	require.Len(t, evs, 3, "claim, output, completion")
}

func TestWriterKeepsOutcomesWhenEventsCannotBeWritten(t *testing.T) {
	t.Parallel()
	s, id := runWith(t, func(_ int32, evs []db.NewEvent) bool { return len(evs) > 0 })
	require.Equal(t, db.StatusCompleted, get(t, s, id).Status)
}

// A finished task whose outcome takes longer than its lease to store (the
// write is retried) keeps its lease: a rescuer in another runner never
// takes it, so it is neither run again nor failed as "worker lost".
func TestLeaseRenewedUntilOutcomeStored(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	// Four failed tries span 0.1+0.2+0.4+0.8 s, longer than the lease.
	store := &flakyStore{Store: s, fail: func(call int32, _ []db.NewEvent) bool { return call <= 4 }}
	var runs atomic.Int32
	reg := runner.Registry{"ok": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
		runs.Add(1)
		return json.RawMessage(`{}`), nil
	})}
	id := submit(t, s, "ok", 3)
	ctx, stop := context.WithCancel(context.Background())
	rescues := make(chan int, 1)
	go func() {
		n := 0
		for ctx.Err() == nil {
			k, err := s.Rescue(ctx, db.RescueRequest{Worker: "other", Grace: 100 * time.Millisecond})
			if err == nil {
				n += k
			}
			time.Sleep(50 * time.Millisecond)
		}
		rescues <- n
	}()
	r, err := runner.New(runner.Options{Store: store, Registry: reg, Lease: time.Second, Poll: 5 * time.Millisecond, Once: true})
	require.NoError(t, err)
	require.NoError(t, r.Run(context.Background()))
	stop()
	require.Zero(t, <-rescues, "the finished task's lease was rescued")
	task := get(t, s, id)
	require.Equal(t, db.StatusCompleted, task.Status)
	require.Equal(t, 1, task.Attempts)
	require.EqualValues(t, 1, runs.Load())
}
