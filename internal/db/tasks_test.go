package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T) (*db.SQLite, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return dbtest.Open(t, db.Options{Path: t.TempDir() + "/t.db", Now: c.Now}), c
}

func submit(t *testing.T, s db.Store, nt db.NewTask) int64 {
	t.Helper()
	if nt.Type == "" {
		nt.Type = "exec"
	}
	r, err := s.Submit(context.Background(), nt)
	require.NoError(t, err)
	return r.ID
}

func TestSubmitDefaultsAndKey(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		id := submit(t, s, db.NewTask{Name: "a", Input: json.RawMessage(`{"shell":"true"}`), Key: "k1"})
		task, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, "default", task.Queue)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, 1, task.MaxAttempts)
		require.Equal(t, c.Now(), task.CreatedAt)
		require.Equal(t, c.Now(), task.RunAfter)

		again, err := s.Submit(ctx, db.NewTask{Type: "exec", Key: "k1"})
		require.NoError(t, err)
		require.True(t, again.Existed)
		require.Equal(t, id, again.ID)
		n, err := s.Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)

		_, err = s.Get(ctx, 999)
		require.ErrorIs(t, err, db.ErrNotFound)
	})
}

func TestSubmitBatchKeys(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		first := submit(t, s, db.NewTask{Key: "old"})
		rs, err := s.SubmitBatch(ctx, []db.NewTask{{Type: "exec", Key: "new"}, {Type: "exec", Key: "old"}, {Type: "exec", Key: "new"}, {Type: "exec"}})
		require.NoError(t, err)
		require.Len(t, rs, 4)
		require.False(t, rs[0].Existed)
		require.Equal(t, db.SubmitResult{ID: first, Existed: true}, rs[1])
		require.Equal(t, db.SubmitResult{ID: rs[0].ID, Existed: true}, rs[2])
		require.False(t, rs[3].Existed)
		n, err := s.Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
	})
}

func TestListFiltersNewestFirst(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		a := submit(t, s, db.NewTask{Queue: "q1"})
		c.Add(time.Minute)
		b := submit(t, s, db.NewTask{Type: "agent", Queue: "q2"})
		cID := submit(t, s, db.NewTask{Queue: "q2"})
		_, err := s.Cancel(ctx, cID)
		require.NoError(t, err)

		ids := func(f db.Filter) []int64 {
			ts, err := s.List(ctx, f)
			require.NoError(t, err)
			var out []int64
			for _, t := range ts {
				out = append(out, t.ID)
			}
			return out
		}
		require.Equal(t, []int64{cID, b, a}, ids(db.Filter{}))
		require.Equal(t, []int64{cID, b}, ids(db.Filter{Limit: 2}))
		require.Equal(t, []int64{cID}, ids(db.Filter{Statuses: []db.Status{db.StatusCancelled}}))
		require.Equal(t, []int64{b}, ids(db.Filter{Types: []string{"agent"}}))
		require.Equal(t, []int64{cID, b}, ids(db.Filter{Queues: []string{"q2"}}))
		require.Equal(t, []int64{cID, b}, ids(db.Filter{Since: c.Now()}))
		require.Empty(t, ids(db.Filter{Statuses: []db.Status{db.StatusRunning}}))
	})
}

func TestStateMachine(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		id := submit(t, s, db.NewTask{})

		// Retry of a pending task is not a transition the machine has.
		_, err := s.Retry(ctx, id)
		var te *db.TransitionError
		require.ErrorAs(t, err, &te)
		require.Equal(t, db.StatusPending, te.From)
		require.Equal(t, db.StatusPending, te.To)
		require.ErrorContains(t, err, "is pending: cannot move it to pending")

		claimed, err := s.Claim(ctx, db.ClaimRequest{Worker: "w1", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.Equal(t, db.StatusRunning, claimed[0].Status)
		require.Equal(t, 1, claimed[0].Attempts)
		require.Equal(t, "w1", claimed[0].LeaseWorker)

		// Cancel of a running task is a request the runner acts on.
		task, err := s.Cancel(ctx, id)
		require.NoError(t, err)
		require.Equal(t, db.StatusRunning, task.Status)
		require.True(t, task.CancelRequested)
		hb, err := s.Renew(ctx, "w1", []int64{id}, time.Minute)
		require.NoError(t, err)
		require.Equal(t, []int64{id}, hb.Cancel)

		// Another worker cannot finish it.
		fr, err := s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w2", Attempt: 1, Status: db.StatusCompleted}})
		require.NoError(t, err)
		require.Equal(t, []int64{id}, fr.Lost)
		// Nor can the same worker with another attempt's outcome.
		fr, err = s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w1", Attempt: 2, Status: db.StatusCompleted}})
		require.NoError(t, err)
		require.Equal(t, []int64{id}, fr.Lost)

		fr, err = s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w1", Attempt: 1, Status: db.StatusCancelled, Error: "cancelled"}})
		require.NoError(t, err)
		require.Empty(t, fr.Lost)
		task, err = s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, db.StatusCancelled, task.Status)
		require.Equal(t, c.Now(), task.FinishedAt)

		_, err = s.Cancel(ctx, id)
		require.ErrorAs(t, err, &te)

		task, err = s.Retry(ctx, id)
		require.NoError(t, err)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, 0, task.Attempts)
		require.True(t, task.FinishedAt.IsZero())

		evs, err := s.Events(ctx, id, 0, 0)
		require.NoError(t, err)
		var kinds []string
		for _, e := range evs {
			var d struct{ From, To string }
			require.NoError(t, json.Unmarshal(e.Data, &d))
			kinds = append(kinds, d.From+">"+d.To)
		}
		require.Equal(t, []string{"pending>running", "running>cancelled", "cancelled>pending"}, kinds)
	})
}

func TestClaimOrderQueuesAndRunAfter(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		low := submit(t, s, db.NewTask{})
		high := submit(t, s, db.NewTask{Priority: 5})
		later := submit(t, s, db.NewTask{Priority: 9, RunAfter: c.Now().Add(time.Hour)})
		other := submit(t, s, db.NewTask{Queue: "other", Priority: 9})
		agent := submit(t, s, db.NewTask{Type: "agent", Priority: 9})

		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{"default"}, Types: []string{"exec"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, high, got[0].ID)
		require.Equal(t, low, got[1].ID)

		ready, err := s.Ready(ctx, []string{"default"}, []string{"exec"})
		require.NoError(t, err)
		require.False(t, ready, "the rest of default is scheduled later")
		ready, err = s.Ready(ctx, []string{"other"}, nil)
		require.NoError(t, err)
		require.True(t, ready)

		c.Add(time.Hour)
		got, err = s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.ElementsMatch(t, []int64{later, other, agent}, []int64{got[0].ID, got[1].ID, got[2].ID})
	})
}

func TestRescueAndRelease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		retry := submit(t, s, db.NewTask{MaxAttempts: 3})
		last := submit(t, s, db.NewTask{MaxAttempts: 1})
		_, err := s.Claim(ctx, db.ClaimRequest{Worker: "dead", Limit: 2, Lease: 10 * time.Second})
		require.NoError(t, err)

		rr := db.RescueRequest{Worker: "rescuer", Grace: 2 * time.Second}
		n, err := s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Zero(t, n, "a live lease is not rescued")

		c.Add(11 * time.Second)
		n, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Zero(t, n, "the first pass only marks expired leases")
		c.Add(time.Second)
		n, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Zero(t, n, "within the grace the owner may still renew")
		c.Add(1500 * time.Millisecond)
		n, err = s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Equal(t, 2, n)

		task, err := s.Get(ctx, retry)
		require.NoError(t, err)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, 1, task.Attempts)
		require.Equal(t, c.Now().Add(db.RescueBackoffBase), task.RunAfter)
		ready, err := s.Ready(ctx, nil, nil)
		require.NoError(t, err)
		require.False(t, ready, "a rescued task waits for its backoff")
		require.Contains(t, task.Error, "worker lost")

		task, err = s.Get(ctx, last)
		require.NoError(t, err)
		require.Equal(t, db.StatusFailed, task.Status)
		require.Contains(t, task.Error, "worker lost")

		// The dead worker's late outcome is dropped.
		fr, err := s.Finish(ctx, nil, []db.Outcome{{ID: retry, Worker: "dead", Attempt: 1, Status: db.StatusCompleted}})
		require.NoError(t, err)
		require.Equal(t, []int64{retry}, fr.Lost)

		// Release does not count the attempt.
		c.Add(time.Minute)
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w2", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Equal(t, 2, got[0].Attempts)
		require.NoError(t, s.Release(ctx, "w2", []int64{retry}))
		task, err = s.Get(ctx, retry)
		require.NoError(t, err)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, 1, task.Attempts)
	})
}

func TestFinishRetryKeepsAttempt(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		id := submit(t, s, db.NewTask{MaxAttempts: 3})
		_, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		at := c.Now().Add(5 * time.Second)
		_, err = s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w", Attempt: 1, Status: db.StatusPending, Error: "boom", RunAfter: at}})
		require.NoError(t, err)
		task, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, 1, task.Attempts)
		require.Equal(t, at, task.RunAfter)
		require.Equal(t, "boom", task.Error)

		ready, err := s.Ready(ctx, nil, nil)
		require.NoError(t, err)
		require.False(t, ready, "the retry waits for its backoff")
		c.Add(5 * time.Second)
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 1, "the retry is claimed once due")
		require.Equal(t, 2, got[0].Attempts)

		_, err = s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w", Attempt: 2, Status: db.StatusRunning}})
		var te *db.TransitionError
		require.ErrorAs(t, err, &te)
	})
}

func TestPrune(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		old := submit(t, s, db.NewTask{})
		_, err := s.Cancel(ctx, old)
		require.NoError(t, err)
		pending := submit(t, s, db.NewTask{})
		c.Add(48 * time.Hour)
		fresh := submit(t, s, db.NewTask{})
		_, err = s.Cancel(ctx, fresh)
		require.NoError(t, err)

		cut := c.Now().Add(-24 * time.Hour)
		n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: cut}, true)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = s.Get(ctx, old)
		require.NoError(t, err, "dry run deletes nothing")

		n, err = s.Prune(ctx, db.PruneFilter{FinishedBefore: cut, Statuses: []db.Status{db.StatusFailed}}, false)
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = s.Prune(ctx, db.PruneFilter{FinishedBefore: cut}, false)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		_, err = s.Get(ctx, old)
		require.ErrorIs(t, err, db.ErrNotFound)
		evs, err := s.Events(ctx, old, 0, 0)
		require.NoError(t, err)
		require.Empty(t, evs)
		for _, id := range []int64{pending, fresh} {
			_, err = s.Get(ctx, id)
			require.NoError(t, err)
		}
		_, err = s.Prune(ctx, db.PruneFilter{FinishedBefore: cut, Statuses: []db.Status{db.StatusRunning}}, false)
		require.Error(t, err)
	})
}

func TestLastEvents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		id := submit(t, s, db.NewTask{})
		other := submit(t, s, db.NewTask{})
		var evs []db.NewEvent
		for i := range 5 {
			evs = append(evs, db.NewEvent{TaskID: id, Kind: "stdout", Data: json.RawMessage(fmt.Sprintf(`{"text":"%d"}`, i))})
		}
		_, err := s.AppendEvents(ctx, append(evs, db.NewEvent{TaskID: other, Kind: "stdout"}))
		require.NoError(t, err)
		last, total, err := s.LastEvents(ctx, id, 2)
		require.NoError(t, err)
		require.EqualValues(t, 5, total)
		require.Len(t, last, 2)
		require.JSONEq(t, `{"text":"3"}`, string(last[0].Data), "oldest first")
		require.JSONEq(t, `{"text":"4"}`, string(last[1].Data))
	})
}
