package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// A finished task with more events than one prune transaction deletes goes
// whole in the end, with many small tasks around it, on both backends; a
// task retried before the prune is kept with its events.
func TestPruneLargeTaskAndRetried(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		nts := make([]db.NewTask, 1100)
		for i := range nts {
			nts[i] = db.NewTask{Type: "exec"}
		}
		rs, err := s.SubmitBatch(ctx, nts)
		require.NoError(t, err)
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		big, kept := ids[700], ids[701]
		evs := make([]db.NewEvent, 0, 12_000)
		for range 12_000 {
			evs = append(evs, db.NewEvent{TaskID: big, Kind: "stdout", Data: json.RawMessage(`{"text":"x"}`)})
		}
		for i := 0; i < len(evs); i += 4000 {
			_, err := s.AppendEvents(ctx, evs[i:i+4000])
			require.NoError(t, err)
		}
		_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: kept, Kind: "stdout", Data: json.RawMessage(`{"text":"mine"}`)}})
		require.NoError(t, err)
		claimed, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: len(ids), Lease: time.Minute})
		require.NoError(t, err)
		outs := make([]db.Outcome, len(claimed))
		for i, task := range claimed {
			outs[i] = db.Outcome{ID: task.ID, Worker: "w", Attempt: 1, Status: db.StatusFailed, Error: "boom"}
		}
		_, err = s.Finish(ctx, nil, outs)
		require.NoError(t, err)
		_, err = s.Retry(ctx, kept)
		require.NoError(t, err)

		n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: c.Now().Add(time.Millisecond)}, false)
		require.NoError(t, err)
		require.EqualValues(t, len(ids)-1, n)
		left, err := s.Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, left)
		got, err := s.Events(ctx, big, 0, 0)
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = s.Events(ctx, kept, 0, 0)
		require.NoError(t, err)
		require.NotEmpty(t, got)
	})
}
