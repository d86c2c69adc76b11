package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Prune deletes finished tasks and their events, at most pruneRows event
// rows per transaction, as the SQLite store does. Each transaction locks up
// to pruneBatch matching tasks (FOR UPDATE: a retry of one of them waits,
// and a task retried before is no longer matched), deletes up to pruneRows
// of their events, and, when that took all their events, the tasks too.
// A task with more events loses them pruneRows at a time, and its row goes
// with the last of them. It returns how many tasks it deleted, also when it
// fails or ctx ends part way.
func (s *Postgres) Prune(ctx context.Context, f PruneFilter, dryRun bool) (int64, error) {
	statuses, err := f.statuses()
	if err != nil {
		return 0, err
	}
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	const cond = `finished_at < $1 AND status = ANY($2)`
	if dryRun {
		var n int64
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE `+cond, f.FinishedBefore, names).Scan(&n)
		return n, s.classify(err)
	}
	var deleted, cursor int64
	for {
		var n, events int64
		var last int64
		done := false
		start := time.Now()
		err := s.tx(ctx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id FROM tasks WHERE `+cond+` AND id > $3 ORDER BY id LIMIT $4 FOR UPDATE`,
				f.FinishedBefore, names, cursor, pruneBatch)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				done = true
				return nil
			}
			last = ids[len(ids)-1]
			tag, err := tx.Exec(ctx, `DELETE FROM task_events WHERE id IN (
				SELECT id FROM task_events WHERE task_id = ANY($1) ORDER BY task_id, id LIMIT $2)`, ids, pruneRows)
			if err != nil {
				return err
			}
			if events = tag.RowsAffected(); events == pruneRows {
				return nil // more may be left: the tasks go in a later transaction
			}
			tag, err = tx.Exec(ctx, `DELETE FROM tasks WHERE id = ANY($1)`, ids)
			n = tag.RowsAffected()
			return err
		})
		if err != nil || done {
			return deleted, err
		}
		deleted += n
		if events < pruneRows {
			cursor = last
		}
		// Pause as long as the transaction took (10 to 100 ms), so that
		// runners' writes to the same rows get their turn.
		t := time.NewTimer(min(max(time.Since(start), 10*time.Millisecond), 100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return deleted, ctx.Err()
		case <-t.C:
		}
	}
}
