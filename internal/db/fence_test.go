package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// A runner that lost its lease (paused past it, say) must not append output
// after another runner took the task over, and one orphan event (its task
// pruned) must not sink the other rows of the batch.
func TestFencedEvents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		id := submit(t, s, db.NewTask{MaxAttempts: 2})
		gone := submit(t, s, db.NewTask{})
		_, err := s.Cancel(ctx, gone)
		require.NoError(t, err)
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "a", Limit: 1, Lease: time.Second})
		require.NoError(t, err)
		require.Len(t, got, 1)

		ev := func(worker string, attempt int, text string) db.NewEvent {
			return db.NewEvent{TaskID: id, Kind: "stdout", Worker: worker, Attempt: attempt, Data: json.RawMessage(`{"text":"` + text + `"}`)}
		}
		fr, err := s.Finish(ctx, []db.NewEvent{ev("a", 1, "one"), ev("b", 1, "not b's"), ev("a", 2, "not attempt 2")}, nil)
		require.NoError(t, err)
		require.Equal(t, 2, fr.DroppedEvents)

		// a's lease expires and b takes the task over.
		c.Add(2 * time.Second)
		rr := db.RescueRequest{Worker: "b", Grace: time.Second}
		_, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		c.Add(2 * time.Second)
		n, err := s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		c.Add(time.Hour)
		got, err = s.Claim(ctx, db.ClaimRequest{Worker: "b", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 1)
		_, err = s.Prune(ctx, db.PruneFilter{FinishedBefore: c.Now()}, false)
		require.NoError(t, err)

		// a wakes up: its output, an orphan event and b's output share a batch.
		orphan := db.NewEvent{TaskID: gone, Kind: "stdout", Data: json.RawMessage(`{"text":"orphan"}`)}
		fr, err = s.Finish(ctx, []db.NewEvent{ev("a", 1, "late"), orphan, ev("b", 2, "two")},
			[]db.Outcome{{ID: id, Worker: "a", Attempt: 1, Status: db.StatusCompleted}, {ID: id, Worker: "b", Attempt: 2, Status: db.StatusCompleted}})
		require.NoError(t, err)
		require.Equal(t, 2, fr.DroppedEvents)
		require.Equal(t, []int64{id}, fr.Lost)

		evs, err := s.Events(ctx, id, 0, 0)
		require.NoError(t, err)
		var texts []string
		for _, e := range evs {
			if e.Kind == "stdout" {
				var d struct{ Text string }
				require.NoError(t, json.Unmarshal(e.Data, &d))
				texts = append(texts, d.Text)
			}
		}
		require.Equal(t, []string{"one", "two"}, texts)
		task, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, db.StatusCompleted, task.Status)

		dropped, err := s.AppendEvents(ctx, []db.NewEvent{orphan})
		require.NoError(t, err)
		require.Equal(t, 1, dropped)
	})
}

// A rescuer never takes leases of its own worker, and a lease renewed
// between the two passes is not taken.
func TestRescueSparesOwnAndRenewed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		own := submit(t, s, db.NewTask{})
		other := submit(t, s, db.NewTask{})
		_, err := s.Claim(ctx, db.ClaimRequest{Worker: "me", Limit: 1, Lease: time.Second})
		require.NoError(t, err)
		_, err = s.Claim(ctx, db.ClaimRequest{Worker: "slow", Limit: 1, Lease: time.Second})
		require.NoError(t, err)

		c.Add(5 * time.Second)
		rr := db.RescueRequest{Worker: "me", Grace: time.Second}
		n, err := s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Zero(t, n)
		// The slow owner gets the lock and renews before the second pass.
		hb, err := s.Renew(ctx, "slow", []int64{other}, time.Second)
		require.NoError(t, err)
		require.Empty(t, hb.Lost)
		c.Add(1500 * time.Millisecond)
		n, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Zero(t, n, "a renewed lease gets a fresh grace")
		n, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Zero(t, n)
		c.Add(1500 * time.Millisecond)
		n, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		for id, want := range map[int64]db.Status{own: db.StatusRunning, other: db.StatusFailed} {
			task, err := s.Get(ctx, id)
			require.NoError(t, err)
			require.Equal(t, want, task.Status, "task %d", id)
		}
	})
}

// Tasks scheduled for later, of a higher priority, are not in the way of
// ready ones, and are claimed in priority order once due.
func TestScheduledTasksStayOutOfClaims(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		var later []int64
		for range 5 {
			later = append(later, submit(t, s, db.NewTask{Priority: 9, RunAfter: c.Now().Add(time.Hour)}))
		}
		now := submit(t, s, db.NewTask{Priority: 1})
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, now, got[0].ID)

		c.Add(time.Hour)
		low := submit(t, s, db.NewTask{Priority: 0})
		got, err = s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 2, Lease: time.Minute})
		require.NoError(t, err)
		require.Equal(t, []int64{later[0], later[1]}, []int64{got[0].ID, got[1].ID})
		got, err = s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 4)
		require.Equal(t, low, got[3].ID)
	})
}
