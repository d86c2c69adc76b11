package db

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// pruneRows is the most rows one prune transaction deletes, events and
// tasks together: some tens of milliseconds of holding the write lock
// (BenchmarkPruneManyEvents). Bounding the tasks instead was not enough: a
// transaction of 3,000 tasks with 2,000 events each held the lock for
// 7.9 s, and other runners' leases expired behind it.
const pruneRows = 10_000

// pruneBatch is how many candidate task ids Prune reads at a time, and so
// the most tasks one transaction deletes; a task row, with its indexes,
// costs several times an event row.
const pruneBatch = 1_000

// Prune deletes finished tasks and their events, at most pruneRows rows per
// write transaction. It walks the matching tasks in id order, pruneBatch
// ids at a time read without the lock, and re-checks the filter under the
// lock, so a task retried meanwhile is left alone. A task goes in one
// transaction with all its events whenever they fit in one; a task with
// more events loses them pruneRows at a time, oldest first, and its row
// goes with the last of them. Such a task, retried while that happens,
// keeps its row and the events not yet deleted.
//
// Between transactions it pauses as long as the last one held the lock (at
// least 10ms, at most 100ms, SQLite's longest busy-wait step), so waiting
// writers get their turn. It returns how many tasks it deleted, also when
// it fails or ctx ends part way.
func (s *SQLite) Prune(ctx context.Context, f PruneFilter, dryRun bool) (int64, error) {
	statuses, err := f.statuses()
	if err != nil {
		return 0, err
	}
	where, args := inList([]string{"finished_at < ?"}, []any{ms(f.FinishedBefore)}, "status", statuses)
	// Clipped: each query appends its own arguments to a copy.
	p := pruner{s: s, cond: strings.Join(where, " AND "), args: slices.Clip(args)}
	p.hook, _ = ctx.Value(pruneHookKey{}).(*pruneHook)
	if dryRun {
		var n int64
		err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE `+p.cond, args...).Scan(&n)
		return n, s.classify(err)
	}
	return p.run(ctx)
}

// pruner is one Prune's walk over the matching tasks.
type pruner struct {
	s    *SQLite
	cond string // the filter, on table tasks
	args []any  // cond's arguments
	hook *pruneHook

	deleted int64         // tasks deleted so far
	held    time.Duration // how long the last transaction held the lock; 0 before the first
}

func (p *pruner) run(ctx context.Context) (int64, error) {
	var cursor int64
	for {
		ids, err := p.candidates(ctx, cursor)
		if err != nil || len(ids) == 0 {
			return p.deleted, err
		}
		cursor = ids[len(ids)-1]
		last := len(ids) < pruneBatch // the read reached the end of the table
		for len(ids) > 0 {
			if err := p.pause(ctx); err != nil {
				return p.deleted, err
			}
			if ids, err = p.step(ctx, ids); err != nil {
				return p.deleted, err
			}
		}
		if last {
			return p.deleted, nil
		}
	}
}

// candidates reads the next ids after cursor that match the filter, from
// the reader pool: no lock is held while looking. NOT INDEXED makes it walk
// the rowid from the cursor; through tasks_status, with several statuses,
// SQLite sorted every remaining match for each batch.
func (p *pruner) candidates(ctx context.Context, cursor int64) ([]int64, error) {
	rows, err := p.s.r.QueryContext(ctx, `SELECT id FROM tasks NOT INDEXED WHERE id > ? AND `+p.cond+` ORDER BY id LIMIT ?`,
		append(append([]any{cursor}, p.args...), pruneBatch)...)
	if err != nil {
		return nil, p.s.classify(err)
	}
	ids, err := scanIDs(rows)
	return ids, p.s.classify(err)
}

// pause waits between two transactions as long as the last one held the
// lock, within [10ms, 100ms], so that waiting writers get their turn.
func (p *pruner) pause(ctx context.Context) error {
	if p.held == 0 {
		return nil
	}
	t := time.NewTimer(min(max(p.held, 10*time.Millisecond), 100*time.Millisecond))
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	if p.hook != nil && p.hook.between != nil {
		p.hook.between()
	}
	return ctx.Err()
}

// step runs one write transaction over ids, the candidates in id order,
// deleting at most pruneRows rows. Under the lock it keeps the ids that
// still match the filter, and deletes from the front of them whole tasks
// with their events while they fit; if not even the first fits, it deletes
// pruneRows of that task's events instead. It returns the ids still to do.
func (p *pruner) step(ctx context.Context, ids []int64) ([]int64, error) {
	var start time.Time
	var rest []int64
	var tasks, changed int64
	err := p.s.tx(ctx, func(tx *sql.Tx) error {
		start = time.Now() // the lock is ours from here
		var before int64
		if p.hook != nil {
			if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
				return err
			}
		}
		live, err := p.recheck(ctx, tx, ids)
		if err != nil {
			return err
		}
		whole, err := p.fit(ctx, tx, live)
		if err != nil {
			return err
		}
		rest = live[len(whole):]
		switch {
		case len(whole) > 0:
			where, args := inList([]string{p.cond}, p.args, "id", whole)
			res, err := tx.ExecContext(ctx, `DELETE FROM tasks NOT INDEXED WHERE `+strings.Join(where, " AND "), args...)
			if err != nil {
				return err
			}
			if tasks, err = res.RowsAffected(); err != nil {
				return err
			}
		case len(live) > 0:
			// The first task has more events than one transaction deletes:
			// take its oldest, and the task itself in a later transaction.
			if _, err := tx.ExecContext(ctx, `DELETE FROM task_events WHERE id IN
				(SELECT id FROM task_events WHERE task_id = ? ORDER BY id LIMIT ?)`, live[0], pruneRows); err != nil {
				return err
			}
		}
		if p.hook != nil {
			if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&changed); err != nil {
				return err
			}
			changed -= before
		}
		return nil
	})
	if start.IsZero() {
		start = time.Now()
	}
	p.held = max(time.Since(start), time.Nanosecond)
	if err != nil {
		return nil, err
	}
	p.deleted += tasks
	if p.hook != nil && p.hook.afterTx != nil {
		p.hook.afterTx(changed, p.held)
	}
	return rest, nil
}

// recheck returns those of ids that match the filter now, in id order.
// NOT INDEXED here and in the delete: one rowid lookup per id, where
// tasks_status would be searched once per status and id.
func (p *pruner) recheck(ctx context.Context, tx *sql.Tx, ids []int64) ([]int64, error) {
	where, args := inList([]string{p.cond}, p.args, "id", ids)
	rows, err := tx.QueryContext(ctx, `SELECT id FROM tasks NOT INDEXED WHERE `+strings.Join(where, " AND ")+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// fit returns the longest prefix of ids, in id order, whose tasks and
// events together are at most pruneRows rows. It counts their events with
// one read of at most pruneRows index entries: a task past the last one
// that read counted in full does not fit.
func (p *pruner) fit(ctx context.Context, tx *sql.Tx, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	where, args := inList(nil, nil, "task_id", ids)
	rows, err := tx.QueryContext(ctx, `SELECT task_id FROM task_events WHERE `+where[0]+` ORDER BY task_id LIMIT ?`,
		append(args, pruneRows)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := make(map[int64]int64)
	var read, last int64
	for rows.Next() {
		if err := rows.Scan(&last); err != nil {
			return nil, err
		}
		counts[last]++
		read++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	left := int64(pruneRows)
	for i, id := range ids {
		n := counts[id]
		if read == pruneRows && id >= last || n+1 > left { // not counted in full, or too many
			return ids[:i], nil
		}
		left -= n + 1
	}
	return ids, nil
}

// pruneHook lets a test watch a Prune; it travels in the context, so tests
// running at once do not share it. Nil fields are skipped.
type pruneHook struct {
	afterTx func(rows int64, held time.Duration) // after each write transaction commits: rows changed, cascades included
	between func()                               // in the pause between two transactions
}

type pruneHookKey struct{}

// statuses are the statuses f prunes (every finished one when it names
// none); a status that is not final is refused.
func (f PruneFilter) statuses() ([]Status, error) {
	if len(f.Statuses) == 0 {
		return []Status{StatusCompleted, StatusFailed, StatusCancelled}, nil
	}
	for _, st := range f.Statuses {
		if !st.Finished() {
			return nil, fmt.Errorf("prune: %s tasks are not finished", st)
		}
	}
	return f.Statuses, nil
}
