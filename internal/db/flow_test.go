package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// flowClaim claims every ready task as worker w and returns their ids.
func flowClaim(t *testing.T, s db.Store, w string) []int64 {
	t.Helper()
	ts, err := s.Claim(context.Background(), db.ClaimRequest{Worker: w, Limit: 100, Lease: time.Minute})
	require.NoError(t, err)
	ids := []int64{}
	for _, task := range ts {
		ids = append(ids, task.ID)
	}
	return ids
}

// flowFinish stores the outcome st for task id, claimed by w.
func flowFinish(t *testing.T, s db.Store, id int64, w string, st db.Status) {
	t.Helper()
	task, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	fr, err := s.Finish(context.Background(), nil, []db.Outcome{{ID: id, Worker: w, Attempt: task.Attempts, Status: st, Error: string(st)}})
	require.NoError(t, err)
	require.Empty(t, fr.Lost)
}

// flowState is a task's status and error.
func flowState(t *testing.T, s db.Store, id int64) string {
	t.Helper()
	task, err := s.Get(context.Background(), id)
	require.NoError(t, err)
	return fmt.Sprintf("%s %s", task.Status, task.Error)
}

// statusEvents are a task's status events' data.
func statusEvents(t *testing.T, s db.Store, id int64) []string {
	t.Helper()
	evs, err := s.Events(context.Background(), id, 0, 0)
	require.NoError(t, err)
	out := []string{}
	for _, e := range evs {
		if e.Kind == db.EventStatus {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func TestFlowOrder(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		a := submit(t, s, db.NewTask{Name: "a"})
		b := submit(t, s, db.NewTask{Name: "b"})
		d := submit(t, s, db.NewTask{Name: "d", After: []int64{a, b, a}, Priority: 10})

		ready, err := s.Ready(ctx, nil, nil)
		require.NoError(t, err)
		require.True(t, ready)
		blocked, err := s.BlockedBy(ctx, []int64{a, b, d})
		require.NoError(t, err)
		require.Equal(t, map[int64][]int64{d: {a, b}}, blocked)
		deps, err := s.Dependencies(ctx, d)
		require.NoError(t, err)
		require.Equal(t, []db.TaskRef{{ID: a, Status: db.StatusPending}, {ID: b, Status: db.StatusPending}}, deps.After)
		require.Empty(t, deps.Dependants)
		deps, err = s.Dependencies(ctx, a)
		require.NoError(t, err)
		require.Equal(t, []db.TaskRef{{ID: d, Status: db.StatusPending}}, deps.Dependants)

		require.Equal(t, []int64{a, b}, flowClaim(t, s, "w"), "the dependant, though of a higher priority, is not claimed")
		flowFinish(t, s, a, "w", db.StatusCompleted)
		require.Empty(t, flowClaim(t, s, "w"), "one dependency is still running")
		ready, err = s.Ready(ctx, nil, nil)
		require.NoError(t, err)
		require.False(t, ready)
		blocked, err = s.BlockedBy(ctx, []int64{d})
		require.NoError(t, err)
		require.Equal(t, map[int64][]int64{d: {b}}, blocked)

		flowFinish(t, s, b, "w", db.StatusCompleted)
		blocked, err = s.BlockedBy(ctx, []int64{d})
		require.NoError(t, err)
		require.Empty(t, blocked)
		require.Equal(t, []int64{d}, flowClaim(t, s, "w"))
		require.Equal(t, []string{`{"from":"pending","to":"running","reason":"claimed by w"}`}, statusEvents(t, s, d),
			"becoming ready is no status change")

		// A dependency that has completed already holds nothing up.
		e := submit(t, s, db.NewTask{Name: "e", After: []int64{a}})
		require.Equal(t, []int64{e}, flowClaim(t, s, "w"))
	})
}

func TestFlowRunAfterKept(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		a := submit(t, s, db.NewTask{})
		d := submit(t, s, db.NewTask{After: []int64{a}, RunAfter: c.Now().Add(time.Hour)})
		require.Equal(t, []int64{a}, flowClaim(t, s, "w"))
		flowFinish(t, s, a, "w", db.StatusCompleted)
		require.Empty(t, flowClaim(t, s, "w"), "ready, but not before its time")
		c.Add(time.Hour)
		require.Equal(t, []int64{d}, flowClaim(t, s, "w"), "the claim promotes it when its time comes")
	})
}

func TestFlowFailureChain(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		a := submit(t, s, db.NewTask{MaxAttempts: 2})
		b := submit(t, s, db.NewTask{After: []int64{a}})
		cc := submit(t, s, db.NewTask{After: []int64{b}})
		other := submit(t, s, db.NewTask{})
		require.Equal(t, []int64{a, other}, flowClaim(t, s, "w"))

		// A failure with an attempt left is a retry: nothing is cancelled.
		task, err := s.Get(ctx, a)
		require.NoError(t, err)
		_, err = s.Finish(ctx, nil, []db.Outcome{{ID: a, Worker: "w", Attempt: task.Attempts, Status: db.StatusPending, Error: "boom", RetryIn: time.Second}})
		require.NoError(t, err)
		require.Equal(t, "pending ", flowState(t, s, b))

		c.Add(time.Second)
		require.Equal(t, []int64{a}, flowClaim(t, s, "w"))
		flowFinish(t, s, a, "w", db.StatusFailed)
		require.Equal(t, "cancelled dependency "+fmt.Sprint(a)+" failed", flowState(t, s, b))
		require.Equal(t, "cancelled dependency "+fmt.Sprint(b)+" cancelled", flowState(t, s, cc))
		require.Equal(t, "running ", flowState(t, s, other))
		require.Equal(t, []string{`{"from":"pending","to":"cancelled","reason":"dependency ` + fmt.Sprint(b) + ` cancelled"}`},
			statusEvents(t, s, cc))
		task, err = s.Get(ctx, cc)
		require.NoError(t, err)
		require.Equal(t, c.Now(), task.FinishedAt)
		blocked, err := s.BlockedBy(ctx, []int64{b, cc})
		require.NoError(t, err)
		require.Empty(t, blocked, "cancelled tasks wait for nothing")

		// Retrying the dependant first is refused; the dependency first
		// makes it wait again.
		_, err = s.Retry(ctx, b)
		var dfe *db.DependencyFailedError
		require.ErrorAs(t, err, &dfe)
		require.Equal(t, db.DependencyFailedError{ID: b, Dependency: a, Status: db.StatusFailed}, *dfe)
		require.Equal(t, "cancelled dependency "+fmt.Sprint(a)+" failed", flowState(t, s, b), "a refused retry changes nothing")
		_, err = s.Retry(ctx, a)
		require.NoError(t, err)
		_, err = s.Retry(ctx, b)
		require.NoError(t, err)
		_, err = s.Retry(ctx, cc)
		require.NoError(t, err)
		blocked, err = s.BlockedBy(ctx, []int64{b, cc})
		require.NoError(t, err)
		require.Equal(t, map[int64][]int64{b: {a}, cc: {b}}, blocked)
		require.Equal(t, []int64{a}, flowClaim(t, s, "w"))
		flowFinish(t, s, a, "w", db.StatusCompleted)
		require.Equal(t, []int64{b}, flowClaim(t, s, "w"))
		flowFinish(t, s, b, "w", db.StatusCompleted)
		require.Equal(t, []int64{cc}, flowClaim(t, s, "w"))
	})
}

func TestFlowCancelPropagates(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		a := submit(t, s, db.NewTask{})
		b := submit(t, s, db.NewTask{After: []int64{a}})
		cc := submit(t, s, db.NewTask{After: []int64{b}})
		d := submit(t, s, db.NewTask{After: []int64{a}})

		// Cancelling a blocked task cancels what waits for it, not what it waits for.
		_, err := s.Cancel(ctx, b)
		require.NoError(t, err)
		require.Equal(t, "cancelled cancelled", flowState(t, s, b))
		require.Equal(t, "cancelled dependency "+fmt.Sprint(b)+" cancelled", flowState(t, s, cc))
		require.Equal(t, "pending ", flowState(t, s, a))
		require.Equal(t, "pending ", flowState(t, s, d))

		_, err = s.Cancel(ctx, a)
		require.NoError(t, err)
		require.Equal(t, "cancelled dependency "+fmt.Sprint(a)+" cancelled", flowState(t, s, d))
		require.Equal(t, "cancelled dependency "+fmt.Sprint(b)+" cancelled", flowState(t, s, cc), "cancelled once")

		// A running dependency cancelled by its runner (Finish cancelled),
		// and one released after a cancel request.
		e := submit(t, s, db.NewTask{})
		f := submit(t, s, db.NewTask{})
		ed := submit(t, s, db.NewTask{After: []int64{e}})
		fd := submit(t, s, db.NewTask{After: []int64{f}})
		require.Equal(t, []int64{e, f}, flowClaim(t, s, "w"))
		flowFinish(t, s, e, "w", db.StatusCancelled)
		require.Equal(t, "cancelled dependency "+fmt.Sprint(e)+" cancelled", flowState(t, s, ed))
		_, err = s.Cancel(ctx, f)
		require.NoError(t, err)
		require.Equal(t, "pending ", flowState(t, s, fd), "only a cancel request so far")
		require.NoError(t, s.Release(ctx, "w", []int64{f}))
		require.Equal(t, "cancelled cancelled", flowState(t, s, f))
		require.Equal(t, "cancelled dependency "+fmt.Sprint(f)+" cancelled", flowState(t, s, fd))
	})
}

func TestFlowRescueFails(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		a := submit(t, s, db.NewTask{})
		retried := submit(t, s, db.NewTask{MaxAttempts: 2})
		b := submit(t, s, db.NewTask{After: []int64{a}})
		rb := submit(t, s, db.NewTask{After: []int64{retried}})
		require.Equal(t, []int64{a, retried}, flowClaim(t, s, "dead"))
		rr := db.RescueRequest{Worker: "rescuer", Grace: time.Second}
		c.Add(2 * time.Minute)
		_, err := s.Rescue(ctx, rr)
		require.NoError(t, err)
		c.Add(2 * time.Second)
		n, err := s.Rescue(ctx, rr)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Equal(t, "failed worker lost: lease of dead expired", flowState(t, s, a))
		require.Equal(t, "cancelled dependency "+fmt.Sprint(a)+" failed", flowState(t, s, b))
		require.Equal(t, "pending ", flowState(t, s, rb), "its dependency will be tried again")
	})
}

func TestFlowBatch(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		failed := submit(t, s, db.NewTask{})
		require.Equal(t, []int64{failed}, flowClaim(t, s, "w"))
		flowFinish(t, s, failed, "w", db.StatusFailed)
		keyed := submit(t, s, db.NewTask{Key: "k"})

		rs, err := s.SubmitBatch(ctx, []db.NewTask{
			{Type: "exec", Name: "first"},
			{Type: "exec", Name: "second", AfterIndex: []int{0}},
			{Type: "exec", Name: "doomed", After: []int64{failed}},
			{Type: "exec", Name: "after doomed", AfterIndex: []int{2, 1}},
			{Type: "exec", Key: "k", After: []int64{failed}},
			{Type: "exec", Name: "after key", AfterIndex: []int{4}},
		})
		require.NoError(t, err)
		require.Equal(t, db.SubmitResult{ID: keyed, Existed: true}, rs[4])
		require.Equal(t, "pending ", flowState(t, s, keyed), "a key that matched writes nothing, dependencies neither")
		require.Equal(t, "cancelled dependency "+fmt.Sprint(failed)+" failed", flowState(t, s, rs[2].ID))
		require.Equal(t, []string{`{"from":"pending","to":"cancelled","reason":"dependency ` + fmt.Sprint(failed) + ` failed"}`},
			statusEvents(t, s, rs[2].ID))
		require.Equal(t, "cancelled dependency "+fmt.Sprint(rs[2].ID)+" cancelled", flowState(t, s, rs[3].ID))
		deps, err := s.Dependencies(ctx, rs[3].ID)
		require.NoError(t, err)
		require.Equal(t, []db.TaskRef{{ID: rs[1].ID, Status: db.StatusPending}, {ID: rs[2].ID, Status: db.StatusCancelled}}, deps.After)
		blocked, err := s.BlockedBy(ctx, []int64{rs[0].ID, rs[1].ID, rs[5].ID})
		require.NoError(t, err)
		require.Equal(t, map[int64][]int64{rs[1].ID: {rs[0].ID}, rs[5].ID: {keyed}}, blocked)
		require.Equal(t, []int64{keyed, rs[0].ID}, flowClaim(t, s, "w"))
	})
}

func TestFlowBadDependencies(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		a := submit(t, s, db.NewTask{})
		for name, ts := range map[string][]db.NewTask{
			"missing":        {{Type: "exec"}, {Type: "exec", After: []int64{a, a + 100}}},
			"itself":         {{Type: "exec", After: []int64{a + 1}}},
			"a later line":   {{Type: "exec", After: []int64{a + 2}}, {Type: "exec"}},
			"forward index":  {{Type: "exec", AfterIndex: []int{1}}, {Type: "exec"}},
			"own index":      {{Type: "exec"}, {Type: "exec", AfterIndex: []int{1}}},
			"negative index": {{Type: "exec", AfterIndex: []int{-1}}},
		} {
			_, err := s.SubmitBatch(ctx, ts)
			require.Error(t, err, name)
			var be *db.BatchError
			require.ErrorAs(t, err, &be, name)
			if name != "forward index" && name != "own index" && name != "negative index" {
				require.ErrorIs(t, err, db.ErrNotFound, name)
			}
			n, err := s.Count(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 1, n, "%s: nothing was written", name)
		}
		_, err := s.Submit(ctx, db.NewTask{Type: "exec", After: []int64{999}})
		var nf *db.DependencyNotFoundError
		require.ErrorAs(t, err, &nf)
		require.EqualValues(t, 999, nf.ID)
		require.Equal(t, []int64{a}, flowClaim(t, s, "w"))
	})
}

// Two runners completing a task's last two dependencies at the same moment
// must not each see the other's still running.
func TestFlowConcurrentCompletions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		for round := range 20 {
			a := submit(t, s, db.NewTask{})
			b := submit(t, s, db.NewTask{})
			d := submit(t, s, db.NewTask{After: []int64{a, b}})
			ta, err := s.Claim(ctx, db.ClaimRequest{Worker: "wa", Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			tb, err := s.Claim(ctx, db.ClaimRequest{Worker: "wb", Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			var wg sync.WaitGroup
			for _, task := range []db.Task{ta[0], tb[0]} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Finish(ctx, nil, []db.Outcome{{ID: task.ID, Worker: task.LeaseWorker, Attempt: task.Attempts, Status: db.StatusCompleted}})
					require.NoError(t, err)
				}()
			}
			wg.Wait()
			require.Equal(t, []int64{d}, flowClaim(t, s, "w"), "round %d", round)
			flowFinish(t, s, d, "w", db.StatusCompleted)
		}
	})
}
