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

func (f *flakyStore) Finish(ctx context.Context, evs []db.NewEvent, outs []db.Outcome) ([]int64, error) {
	if f.fail(f.calls.Add(1), evs) {
		return nil, errors.New("disk I/O error")
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
