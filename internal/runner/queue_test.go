package runner_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
)

// A runner with a queue limit runs at most that many of the queue's tasks
// at once, and --once works the queue to the end: a claim that finds the
// queue full while this runner's own outcomes are being stored must not
// end the run (it did, leaving 43% of a bench's limited tasks pending).
func TestOnceDrainsLimitedQueue(t *testing.T) {
	t.Parallel()
	var now, most atomic.Int32
	reg := runner.Registry{"ok": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		now.Add(-1)
		return json.RawMessage(`{}`), nil
	})}
	s, r := setup(t, reg, func(o *runner.Options) {
		o.Workers = 8
		o.QueueLimits = map[string]db.QueueLimit{"deploy": {Concurrency: 2}}
	})
	ctx := context.Background()
	ts := make([]db.NewTask, 400)
	for i := range ts {
		ts[i] = db.NewTask{Type: "ok", Queue: "deploy"}
	}
	_, err := s.SubmitBatch(ctx, ts)
	require.NoError(t, err)
	require.NoError(t, r.Run(ctx))
	qs, err := s.Queues(ctx)
	require.NoError(t, err)
	require.Len(t, qs, 1)
	require.Equal(t, int64(len(ts)), qs[0].Counts[db.StatusCompleted], "every task ran: %v", qs[0].Counts)
	require.LessOrEqual(t, most.Load(), int32(2))
}
