package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// pruneChunk is how many tasks one prune transaction deletes. With their
// events that holds the write lock for tens of milliseconds; one
// transaction for a million tasks held it for six seconds, stalling every
// runner, and for ten million it would outlast their 30s busy timeout.
const pruneChunk = 10_000

// Prune deletes finished tasks (and, by cascade, their events), pruneChunk
// tasks per transaction. Between transactions it pauses as long as the
// last one held the lock (at least 10ms, at most 100ms, SQLite's longest
// busy-wait step), so waiting writers get their turn. A prune that fails
// part way has deleted whole chunks only; it returns how many with the
// error.
func (s *SQLite) Prune(ctx context.Context, f PruneFilter, dryRun bool) (int64, error) {
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = []Status{StatusCompleted, StatusFailed, StatusCancelled}
	}
	for _, st := range statuses {
		if !st.Finished() {
			return 0, fmt.Errorf("prune: %s tasks are not finished", st)
		}
	}
	where, args := inList([]string{"finished_at < ?"}, []any{ms(f.FinishedBefore)}, "status", statuses)
	cond := strings.Join(where, " AND ")
	var n int64
	if dryRun {
		err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE `+cond, args...).Scan(&n)
		return n, s.classify(err)
	}
	args = append(args, pruneChunk)
	for {
		var deleted int64
		start := time.Now()
		err := s.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE `+cond+` LIMIT ?)`, args...)
			if err != nil {
				return err
			}
			deleted, err = res.RowsAffected()
			return err
		})
		n += deleted
		if err != nil || deleted < pruneChunk {
			return n, err
		}
		t := time.NewTimer(min(max(time.Since(start), 10*time.Millisecond), 100*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return n, ctx.Err()
		case <-t.C:
		}
	}
}
