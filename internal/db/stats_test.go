package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// Stats counts finished tasks per bucket by final status (empty buckets
// included) and sums up run times per type over the tasks that finished
// at or after since.
func TestStats(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
		at := func(h, m, sec int) { // moves the clock forward to h:m:s
			t.Helper()
			to := day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second)
			require.False(t, to.Before(c.Now()))
			c.Add(to.Sub(c.Now()))
		}
		// run submits a task of type typ, claims it, lets it run for d and
		// records status (pending: a retry, an hour later).
		run := func(typ string, d time.Duration, status db.Status) {
			t.Helper()
			submit(t, s, db.NewTask{Type: typ})
			got, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Types: []string{typ}, Limit: 1, Lease: time.Hour})
			require.NoError(t, err)
			require.Len(t, got, 1)
			c.Add(d)
			out := db.Outcome{ID: got[0].ID, Worker: "w", Attempt: got[0].Attempts, Status: status}
			switch status {
			case db.StatusFailed, db.StatusCancelled:
				out.Error = "no"
			case db.StatusPending:
				out.Error, out.RetryIn = "again", time.Hour
			}
			fr, err := s.Finish(ctx, nil, []db.Outcome{out})
			require.NoError(t, err)
			require.Empty(t, fr.Lost)
		}

		empty, err := s.Stats(ctx, c.Now().Add(-2*time.Hour), time.Hour)
		require.NoError(t, err)
		require.Equal(t, db.Stats{Buckets: []db.StatsBucket{{Start: day.Add(time.Hour)}, {Start: day.Add(2 * time.Hour)},
			{Start: day.Add(3 * time.Hour)}}, Durations: []db.TypeDuration{}}, empty)

		at(3, 4, 5)
		run("exec", 10*time.Second, db.StatusCompleted) // 03:04:15, before since
		at(3, 40, 0)
		run("exec", 20*time.Second, db.StatusFailed) // 03:40:20
		at(3, 50, 0)
		never := submit(t, s, db.NewTask{Type: "agent"})
		_, err = s.Cancel(ctx, never) // 03:50:00, never started
		require.NoError(t, err)
		at(4, 10, 0)
		run("exec", 40*time.Second, db.StatusCompleted)         // 04:10:40
		run("agent", 1500*time.Millisecond, db.StatusCompleted) // 04:10:41.5
		run("exec", time.Minute, db.StatusPending)              // a retry: not finished
		submit(t, s, db.NewTask{Type: "exec"})                  // never finishes
		at(6, 20, 0)
		run("agent", 3*time.Second, db.StatusCancelled)  // 06:20:03
		run("exec", 100*time.Second, db.StatusCompleted) // 06:21:43, now

		st, err := s.Stats(ctx, day.Add(3*time.Hour+30*time.Minute), time.Hour)
		require.NoError(t, err)
		require.Equal(t, []db.StatsBucket{
			{Start: day.Add(3 * time.Hour), Completed: 1, Failed: 1, Cancelled: 1},
			{Start: day.Add(4 * time.Hour), Completed: 2},
			{Start: day.Add(5 * time.Hour)},
			{Start: day.Add(6 * time.Hour), Completed: 1, Cancelled: 1},
		}, st.Buckets)
		require.Equal(t, []db.TypeDuration{
			{Type: "agent", Count: 2, Avg: 2250 * time.Millisecond, P50: 2250 * time.Millisecond, Max: 3 * time.Second},
			{Type: "exec", Count: 3, Failed: 1, Avg: 160 * time.Second / 3, P50: 40 * time.Second, Max: 100 * time.Second},
		}, st.Durations)

		// Shorter buckets; since on a bucket boundary starts there.
		st, err = s.Stats(ctx, day.Add(6*time.Hour+15*time.Minute), 5*time.Minute)
		require.NoError(t, err)
		require.Len(t, st.Buckets, 2)
		require.Equal(t, db.StatsBucket{Start: day.Add(6*time.Hour + 15*time.Minute)}, st.Buckets[0])
		require.Equal(t, db.StatsBucket{Start: day.Add(6*time.Hour + 20*time.Minute), Completed: 1, Cancelled: 1}, st.Buckets[1])
		require.Equal(t, []db.TypeDuration{
			{Type: "agent", Count: 1, Avg: 3 * time.Second, P50: 3 * time.Second, Max: 3 * time.Second},
			{Type: "exec", Count: 1, Avg: 100 * time.Second, P50: 100 * time.Second, Max: 100 * time.Second},
		}, st.Durations)

		// Since ahead of now: nothing.
		st, err = s.Stats(ctx, c.Now().Add(2*time.Hour), time.Hour)
		require.NoError(t, err)
		require.Empty(t, st.Buckets)
		require.Empty(t, st.Durations)

		// Buckets the store will not make.
		for _, bad := range []struct {
			since  time.Time
			bucket time.Duration
		}{
			{day, 0},
			{day, -time.Hour},
			{day, 1500 * time.Microsecond},
			{day.AddDate(-10, 0, 0), time.Minute},
			{time.Time{}, time.Hour},
		} {
			_, err := s.Stats(ctx, bad.since, bad.bucket)
			require.Error(t, err, "%s %s", bad.since, bad.bucket)
		}
	})
}
