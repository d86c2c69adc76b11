package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

func TestRunnerRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		start := c.Now()

		rs, err := s.Runners(ctx)
		require.NoError(t, err)
		require.Empty(t, rs)

		a := db.RunnerInfo{ID: "h1:10:aaaaaa", Host: "h1", PID: 10, Workers: 4, Version: "v1.2.3"}
		require.NoError(t, s.RegisterRunner(ctx, a))
		c.Add(time.Second)
		b := db.RunnerInfo{ID: "h2:20:bbbbbb", Host: "h2", PID: 20, Workers: 1, Queues: []string{"nightly", "ops"}}
		require.NoError(t, s.RegisterRunner(ctx, b))

		rs, err = s.Runners(ctx)
		require.NoError(t, err)
		require.Equal(t, []db.RunnerInfo{
			{ID: a.ID, Host: "h1", PID: 10, Workers: 4, StartedAt: start, HeartbeatAt: start, Version: "v1.2.3"},
			{ID: b.ID, Host: "h2", PID: 20, Workers: 1, Queues: []string{"nightly", "ops"},
				StartedAt: start.Add(time.Second), HeartbeatAt: start.Add(time.Second)},
		}, rs)

		// A heartbeat moves heartbeat_at only.
		c.Add(5 * time.Second)
		require.NoError(t, s.RunnerHeartbeat(ctx, a.ID))
		rs, err = s.Runners(ctx)
		require.NoError(t, err)
		require.Equal(t, start, rs[0].StartedAt)
		require.Equal(t, start.Add(6*time.Second), rs[0].HeartbeatAt)
		require.True(t, rs[0].Live(c.Now()))
		require.True(t, rs[1].Live(c.Now()))

		// Two minutes without a beat: gone, but still listed.
		c.Add(db.RunnerGoneAfter - 5*time.Second)
		rs, err = s.Runners(ctx)
		require.NoError(t, err)
		require.Len(t, rs, 2)
		require.True(t, rs[0].Live(c.Now()), "a beat 1m55s ago is live")
		require.False(t, rs[1].Live(c.Now()), "no beat for 2m: gone")

		// A graceful exit deletes the row; a second delete is no error.
		require.NoError(t, s.UnregisterRunner(ctx, a.ID))
		require.NoError(t, s.UnregisterRunner(ctx, a.ID))
		require.ErrorIs(t, s.RunnerHeartbeat(ctx, a.ID), db.ErrRunnerNotRegistered)
		rs, err = s.Runners(ctx)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.Equal(t, b.ID, rs[0].ID)
	})
}

// Registering again (after the row was lost) keeps the given start time;
// a runner that starts forgets rows whose heartbeat is over a day old.
func TestRegisterRunnerForgetsOldRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		start := c.Now()
		old := db.RunnerInfo{ID: "old:1:000000", Host: "old", PID: 1, Workers: 1}
		require.NoError(t, s.RegisterRunner(ctx, old))
		c.Add(db.RunnerForgetAfter - time.Minute)
		kept := db.RunnerInfo{ID: "kept:2:000000", Host: "kept", PID: 2, Workers: 1}
		require.NoError(t, s.RegisterRunner(ctx, kept))
		rs, err := s.Runners(ctx)
		require.NoError(t, err)
		require.Len(t, rs, 2, "a day has not passed yet")

		c.Add(2 * time.Minute)
		again := db.RunnerInfo{ID: kept.ID, Host: "kept", PID: 2, Workers: 3, StartedAt: start}
		require.NoError(t, s.RegisterRunner(ctx, again))
		rs, err = s.Runners(ctx)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.Equal(t, kept.ID, rs[0].ID)
		require.Equal(t, 3, rs[0].Workers)
		require.Equal(t, start, rs[0].StartedAt)
		require.Equal(t, c.Now(), rs[0].HeartbeatAt)
	})
}

func TestCountByQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		cs, err := s.CountByQueue(ctx)
		require.NoError(t, err)
		require.Empty(t, cs)

		for range 3 {
			submit(t, s, db.NewTask{})
		}
		submit(t, s, db.NewTask{Queue: "nightly"})
		cancelled := submit(t, s, db.NewTask{Queue: "nightly"})
		_, err = s.Cancel(ctx, cancelled)
		require.NoError(t, err)
		claimed, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{"default"}, Limit: 2, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 2)
		_, err = s.Finish(ctx, nil, []db.Outcome{{ID: claimed[0].ID, Worker: "w", Attempt: 1, Status: db.StatusCompleted}})
		require.NoError(t, err)

		cs, err = s.CountByQueue(ctx)
		require.NoError(t, err)
		require.Equal(t, []db.QueueCount{
			{Queue: "default", Status: db.StatusCompleted, Count: 1},
			{Queue: "default", Status: db.StatusPending, Count: 1},
			{Queue: "default", Status: db.StatusRunning, Count: 1},
			{Queue: "nightly", Status: db.StatusCancelled, Count: 1},
			{Queue: "nightly", Status: db.StatusPending, Count: 1},
		}, cs)
	})
}
