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

// Concurrent claims take disjoint tasks: 8 claimers drain 2,000 tasks and
// each task is claimed exactly once, on both backends.
func TestConcurrentClaimsAreDisjoint(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, _ *clock) {
		ctx := context.Background()
		const n = 2000
		ts := make([]db.NewTask, n)
		for i := range ts {
			ts[i] = db.NewTask{Type: "exec", Priority: i % 3}
		}
		_, err := s.SubmitBatch(ctx, ts)
		require.NoError(t, err)
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			worker := fmt.Sprintf("w%d", w)
			wg.Go(func() {
				for {
					got, err := s.Claim(ctx, db.ClaimRequest{Worker: worker, Limit: 7, Lease: time.Minute})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					outs := make([]db.Outcome, len(got))
					mu.Lock()
					for i, task := range got {
						if prev, ok := seen[task.ID]; ok {
							errs <- fmt.Errorf("task %d claimed by %s and %s", task.ID, prev, worker)
						}
						seen[task.ID] = worker
						outs[i] = db.Outcome{ID: task.ID, Worker: worker, Attempt: task.Attempts, Status: db.StatusCompleted}
					}
					mu.Unlock()
					fr, err := s.Finish(ctx, nil, outs)
					if err != nil || len(fr.Lost) > 0 {
						errs <- fmt.Errorf("finish: %v, lost %v", err, fr.Lost)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, seen, n)
		done, err := s.List(ctx, db.Filter{Statuses: []db.Status{db.StatusCompleted}})
		require.NoError(t, err)
		require.Len(t, done, n)
	})
}

// Submitters racing with one key store one task, and all of them get its id.
func TestConcurrentKeyedSubmits(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, _ *clock) {
		ctx := context.Background()
		ids := make(chan int64, 16)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				r, err := s.Submit(ctx, db.NewTask{Type: "exec", Key: "deploy-42"})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- r.ID
			})
		}
		wg.Wait()
		close(ids)
		var first int64
		for id := range ids {
			if first == 0 {
				first = id
			}
			require.Equal(t, first, id)
		}
		n, err := s.Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}
