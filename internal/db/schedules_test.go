package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/schedule"
)

// everySchedule is an interval schedule of an exec task, its first slot
// the first after now.
func everySchedule(name string, every time.Duration, now time.Time) db.Schedule {
	sp, err := schedule.Every(every)
	if err != nil {
		panic(err)
	}
	return db.Schedule{Name: name, Every: every, NextRunAt: sp.Next(now),
		Task: db.NewTask{Type: "exec", Name: name, Queue: "ops", Priority: 3, MaxAttempts: 2, Timeout: time.Minute,
			Input: json.RawMessage(`{"command":["true"],"dir":"/"}`)}}
}

func TestSchedulesCRUD(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		scs, err := s.Schedules(ctx)
		require.NoError(t, err)
		require.Empty(t, scs)

		sc := everySchedule("tick", time.Minute, c.Now())
		require.NoError(t, s.CreateSchedule(ctx, sc))
		cronSc := db.Schedule{Name: "nightly", Cron: "0 2 * * *", TZ: "Europe/Paris", SkipIfRunning: true,
			NextRunAt: time.Date(2026, 1, 3, 1, 0, 0, 0, time.UTC), Task: db.NewTask{Type: "agent", Input: json.RawMessage(`{"prompt":"hi"}`)}}
		require.NoError(t, s.CreateSchedule(ctx, cronSc))

		err = s.CreateSchedule(ctx, everySchedule("tick", time.Hour, c.Now()))
		require.ErrorIs(t, err, db.ErrScheduleExists)
		require.Contains(t, err.Error(), `"tick"`)
		for _, bad := range []db.Schedule{
			{Name: "", Every: time.Second, NextRunAt: c.Now(), Task: db.NewTask{Type: "exec"}},
			{Name: "both", Every: time.Second, Cron: "* * * * *", NextRunAt: c.Now(), Task: db.NewTask{Type: "exec"}},
			{Name: "neither", NextRunAt: c.Now(), Task: db.NewTask{Type: "exec"}},
			{Name: "fraction", Every: 1500 * time.Millisecond, NextRunAt: c.Now(), Task: db.NewTask{Type: "exec"}},
			{Name: "nonext", Every: time.Second, Task: db.NewTask{Type: "exec"}},
		} {
			require.Error(t, s.CreateSchedule(ctx, bad), "%+v", bad)
		}

		got, err := s.GetSchedule(ctx, "tick")
		require.NoError(t, err)
		want := sc
		want.CreatedAt, want.UpdatedAt = c.Now(), c.Now()
		require.Equal(t, want, got)

		got, err = s.GetSchedule(ctx, "nightly")
		require.NoError(t, err)
		require.Equal(t, "default", got.Task.Queue, "defaults filled as submit fills them")
		require.Equal(t, 1, got.Task.MaxAttempts)
		require.True(t, got.SkipIfRunning)
		require.Equal(t, "Europe/Paris", got.TZ)

		scs, err = s.Schedules(ctx)
		require.NoError(t, err)
		require.Len(t, scs, 2)
		require.Equal(t, []string{"nightly", "tick"}, []string{scs[0].Name, scs[1].Name}, "by name")

		var nf *db.ScheduleNotFoundError
		_, err = s.GetSchedule(ctx, "nope")
		require.ErrorAs(t, err, &nf)
		require.ErrorIs(t, err, db.ErrNotFound)
		_, err = s.PauseSchedule(ctx, "nope")
		require.ErrorAs(t, err, &nf)
		_, err = s.ResumeSchedule(ctx, "nope", c.Now())
		require.ErrorAs(t, err, &nf)
		require.ErrorAs(t, s.DeleteSchedule(ctx, "nope"), &nf)

		changed, err := s.PauseSchedule(ctx, "tick")
		require.NoError(t, err)
		require.True(t, changed)
		changed, err = s.PauseSchedule(ctx, "tick")
		require.NoError(t, err)
		require.False(t, changed, "paused already")
		got, _ = s.GetSchedule(ctx, "tick")
		require.True(t, got.Paused)

		next := c.Now().Add(time.Hour).Truncate(time.Second)
		changed, err = s.ResumeSchedule(ctx, "tick", next)
		require.NoError(t, err)
		require.True(t, changed)
		changed, err = s.ResumeSchedule(ctx, "tick", next.Add(time.Hour))
		require.NoError(t, err)
		require.False(t, changed, "not paused")
		got, _ = s.GetSchedule(ctx, "tick")
		require.False(t, got.Paused)
		require.Equal(t, next, got.NextRunAt)

		require.NoError(t, s.DeleteSchedule(ctx, "tick"))
		_, err = s.GetSchedule(ctx, "tick")
		require.ErrorAs(t, err, &nf)
	})
}

func TestEnqueueDue(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		// Nothing to do without schedules.
		res, err := s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Empty(t, res.Occurrences)
		require.True(t, res.Next.IsZero())

		sc := everySchedule("tick", 10*time.Second, c.Now()) // now 03:04:05, first slot 03:04:10
		require.Equal(t, time.Date(2026, 1, 2, 3, 4, 10, 0, time.UTC), sc.NextRunAt)
		require.NoError(t, s.CreateSchedule(ctx, sc))

		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Empty(t, res.Occurrences, "not due yet")
		require.Equal(t, sc.NextRunAt, res.Next)
		require.Equal(t, c.Now(), res.Now)
		require.Zero(t, count(t, s))

		c.Add(5 * time.Second) // 03:04:10: the slot has come
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Len(t, res.Occurrences, 1)
		occ := res.Occurrences[0]
		require.Equal(t, db.Occurrence{Schedule: "tick", Slot: sc.NextRunAt, TaskID: occ.TaskID}, occ)
		require.Equal(t, sc.NextRunAt.Add(10*time.Second), res.Next)
		task, err := s.Get(ctx, occ.TaskID)
		require.NoError(t, err)
		require.Equal(t, "schedule:tick:2026-01-02T03:04:10Z", task.Key)
		require.Equal(t, sc.NextRunAt, task.RunAfter)
		require.Equal(t, db.StatusPending, task.Status)
		require.Equal(t, []any{"exec", "tick", "ops", 3, 2, time.Minute}, []any{task.Type, task.Name, task.Queue, task.Priority, task.MaxAttempts, task.Timeout})
		require.JSONEq(t, string(sc.Task.Input), string(task.Input))

		// Asked again at the same time: the slot is done.
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Empty(t, res.Occurrences)
		require.Equal(t, int64(1), count(t, s))
		got, _ := s.GetSchedule(ctx, "tick")
		require.Equal(t, occ.TaskID, got.LastTaskID)
		require.Equal(t, sc.NextRunAt, got.LastRunAt)
		require.Equal(t, db.StatusPending, got.LastStatus)

		// Downtime: 95 s later nine slots have passed; only the latest is
		// enqueued, and the next is after now.
		c.Add(95 * time.Second) // 03:05:45
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Len(t, res.Occurrences, 1)
		require.Equal(t, time.Date(2026, 1, 2, 3, 5, 40, 0, time.UTC), res.Occurrences[0].Slot)
		require.Equal(t, time.Date(2026, 1, 2, 3, 5, 50, 0, time.UTC), res.Next)
		require.Equal(t, int64(2), count(t, s))

		// Paused: nothing, however long.
		_, err = s.PauseSchedule(ctx, "tick")
		require.NoError(t, err)
		c.Add(time.Minute)
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Empty(t, res.Occurrences)
		require.True(t, res.Next.IsZero(), "no active schedule")
		require.Equal(t, int64(2), count(t, s))

		// Removed: its tasks stay. Added again under the same name, a slot
		// that already has a task is not enqueued twice.
		require.NoError(t, s.DeleteSchedule(ctx, "tick"))
		require.Equal(t, int64(2), count(t, s))
		again := everySchedule("tick", 10*time.Second, c.Now())
		again.NextRunAt = time.Date(2026, 1, 2, 3, 5, 40, 0, time.UTC)
		c.Add(again.NextRunAt.Sub(c.Now())) // back to that slot
		require.NoError(t, s.CreateSchedule(ctx, again))
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Len(t, res.Occurrences, 1)
		require.True(t, res.Occurrences[0].Existed)
		require.Equal(t, int64(2), count(t, s))
	})
}

func TestEnqueueDueSkipIfRunning(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		sc := everySchedule("sync", time.Second, c.Now())
		sc.SkipIfRunning = true
		require.NoError(t, s.CreateSchedule(ctx, sc))

		c.Add(time.Second)
		res, err := s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Len(t, res.Occurrences, 1)
		first := res.Occurrences[0].TaskID

		// Pending, then running: the next slots are skipped and counted.
		c.Add(time.Second)
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Equal(t, []db.Occurrence{{Schedule: "sync", Slot: c.Now(), TaskID: first, Skipped: true}}, res.Occurrences)
		claimed, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		c.Add(time.Second)
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.True(t, res.Occurrences[0].Skipped)
		got, _ := s.GetSchedule(ctx, "sync")
		require.Equal(t, int64(2), got.Skipped)
		require.Equal(t, c.Now(), got.LastSkippedAt)
		require.Equal(t, first, got.LastTaskID)
		require.Equal(t, db.StatusRunning, got.LastStatus)
		require.Equal(t, int64(1), count(t, s))

		// Finished: the next slot is enqueued.
		_, err = s.Finish(ctx, nil, []db.Outcome{{ID: first, Worker: "w", Attempt: 1, Status: db.StatusCompleted}})
		require.NoError(t, err)
		c.Add(time.Second)
		res, err = s.EnqueueDue(ctx, schedule.Plan)
		require.NoError(t, err)
		require.Len(t, res.Occurrences, 1)
		require.False(t, res.Occurrences[0].Skipped)
		require.NotEqual(t, first, res.Occurrences[0].TaskID)
		require.Equal(t, int64(2), count(t, s))
	})
}

func TestEnqueueDueConcurrent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		for _, name := range []string{"a", "b", "c"} {
			require.NoError(t, s.CreateSchedule(ctx, everySchedule(name, time.Second, c.Now())))
		}
		// Eight callers at each of five slots: each slot of each schedule
		// becomes one task.
		for range 5 {
			c.Add(time.Second)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() {
					_, err := s.EnqueueDue(ctx, schedule.Plan)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
		}
		ts, err := s.List(ctx, db.Filter{})
		require.NoError(t, err)
		require.Len(t, ts, 15)
		keys := map[string]bool{}
		for _, task := range ts {
			require.False(t, keys[task.Key], "key %s twice", task.Key)
			keys[task.Key] = true
		}
	})
}

func TestEnqueueDuePlanError(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		require.NoError(t, s.CreateSchedule(ctx, everySchedule("bad", time.Second, c.Now())))
		require.NoError(t, s.CreateSchedule(ctx, everySchedule("good", time.Second, c.Now())))
		c.Add(time.Second)
		plan := func(sc db.Schedule, now time.Time) (time.Time, time.Time, error) {
			if sc.Name == "bad" {
				return time.Time{}, time.Time{}, errors.New("cannot plan")
			}
			return schedule.Plan(sc, now)
		}
		res, err := s.EnqueueDue(ctx, plan)
		require.ErrorContains(t, err, `schedule "bad": cannot plan`)
		require.Len(t, res.Occurrences, 1)
		require.Equal(t, "good", res.Occurrences[0].Schedule)
		require.Equal(t, c.Now(), res.Next, "the bad one is still due")

		// A plan that breaks the contract is refused, not stored.
		_, err = s.EnqueueDue(ctx, func(sc db.Schedule, now time.Time) (time.Time, time.Time, error) {
			return now, now, nil
		})
		require.ErrorContains(t, err, "planned slot")
		require.Equal(t, int64(1), count(t, s))
	})
}

func count(t *testing.T, s db.Store) int64 {
	t.Helper()
	n, err := s.Count(context.Background())
	require.NoError(t, err)
	return n
}
