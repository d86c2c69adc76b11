package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// On PostgreSQL a pending task still waiting for a dependency has
// scheduled NULL (see migration 10): `NOT scheduled` and `scheduled` are
// both NULL for it, so it is in neither claim index.

// pgCancelDependants cancels, in one statement, the blocked dependants of
// the tasks seed selects that failed or were cancelled, then theirs, down
// the chain, each with the error "dependency N failed" (or cancelled)
// naming the dependency it waited for (the lowest such id), and writes
// their status events. The UPDATE re-checks each row once it holds its
// lock, so a task another transaction cancelled meanwhile is left alone.
func pgCancelDependants(seed string) string {
	return pgSQL(`WITH RECURSIVE gone AS (
		SELECT id, status FROM tasks WHERE ` + seed + ` AND status IN ('failed', 'cancelled')),
	chain (id, dep, why) AS (
		SELECT d.task_id, d.depends_on, g.status FROM task_deps d JOIN gone g ON g.id = d.depends_on
			JOIN tasks t ON t.id = d.task_id WHERE t.status = 'pending' AND t.scheduled IS NULL
		UNION
		SELECT d.task_id, d.depends_on, 'cancelled' FROM task_deps d JOIN chain c ON c.id = d.depends_on
			JOIN tasks t ON t.id = d.task_id WHERE t.status = 'pending' AND t.scheduled IS NULL),
	pick AS (SELECT DISTINCT ON (id) id, dep, why FROM chain ORDER BY id, dep),
	changed AS (UPDATE tasks t SET status = 'cancelled', error = 'dependency ' || p.dep || ' ' || p.why,
			finished_at = NOW, scheduled = false, updated_at = NOW
		FROM pick p WHERE t.id = p.id AND t.status = 'pending' AND t.scheduled IS NULL
		RETURNING t.id, t.error)
	INSERT INTO task_events (task_id, at, kind, data)
	SELECT id, NOW, '` + EventStatus + `', ('{"from":"pending","to":"cancelled","reason":' || to_json(error)::text || '}')::json
	FROM changed`)
}

// pgLockDependants locks the blocked dependants of $1 in id order, before
// pgUnblock reads their dependencies in a statement of its own (a new
// snapshot, in READ COMMITTED). Without the lock, two transactions that
// complete a task's last two dependencies at once would each see the
// other's still running, and the task would wait for ever; with it the
// second waits for the first to commit and then sees both completed.
const pgLockDependants = `SELECT t.id FROM tasks t
	WHERE t.id IN (SELECT task_id FROM task_deps WHERE depends_on = ANY($1))
		AND t.status = 'pending' AND t.scheduled IS NULL
	ORDER BY t.id FOR UPDATE`

// pgUnblock makes ready the blocked dependants of $2 whose dependencies
// have all completed (scheduled true when their run_after is still ahead:
// the claim promotes them when it comes), and wakes runners once if it
// made any.
var pgUnblock = pgSQL(`WITH ready AS (
		UPDATE tasks t SET scheduled = t.run_after > NOW, updated_at = NOW
		WHERE t.id IN (SELECT task_id FROM task_deps WHERE depends_on = ANY($2))
			AND t.status = 'pending' AND t.scheduled IS NULL
			AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks x ON x.id = d.depends_on
				WHERE d.task_id = t.id AND x.status <> 'completed')
		RETURNING t.id)
	SELECT pg_notify('` + readyChannel + `', '') FROM (SELECT 1 FROM ready LIMIT 1) AS one`)

// pgCancelDependantsOf cancels the blocked dependants of the tasks $2.
var pgCancelDependantsOf = pgCancelDependants(`id = ANY($2)`)

// pgCancelDependantsOfEnded cancels the blocked dependants of the tasks
// this transaction failed or cancelled, for Rescue and Release, whose ids
// the batch does not know: those that finished at NOW (the transaction's
// time), read from tasks_finished. Another transaction's tasks that
// finished at the same instant are found too, which is harmless.
var pgCancelDependantsOfEnded = pgCancelDependants(`finished_at = NOW`)

// queueSettle is Finish's hook: after the outcomes, the batch makes ready
// the dependants of tasks that completed and cancels those of tasks that
// failed or were cancelled. The statements read the tasks' statuses, so an
// outcome found lost changes nothing here either.
func (s *Postgres) queueSettle(b *pgx.Batch, outs []Outcome) {
	completed, gone := settled(outs, nil)
	if len(completed) > 0 {
		b.Queue(pgLockDependants, completed)
		b.Queue(pgUnblock, s.clock(), completed)
	}
	if len(gone) > 0 {
		b.Queue(pgCancelDependantsOf, s.clock(), gone)
	}
}

// queueCancelDependantsOfEnded is the hook of Rescue and Release.
func (s *Postgres) queueCancelDependantsOfEnded(b *pgx.Batch) {
	b.Queue(pgCancelDependantsOfEnded, s.clock())
}

// addDependencies writes the dependencies of a batch's new tasks inside its
// transaction, after their rows (see the SQLite store's). The dependencies
// are read FOR SHARE: a transaction that completes or fails one of them
// meanwhile waits for this one to commit, and then finds the new edges.
func (s *Postgres) addDependencies(ctx context.Context, tx pgx.Tx, ts []NewTask, out []SubmitResult) error {
	if !hasDependencies(ts) {
		return nil
	}
	p, err := planDependencies(ts, out, func(ids []int64) (map[int64]Status, error) {
		rows, err := tx.Query(ctx, `SELECT id, status FROM tasks WHERE id = ANY($1) ORDER BY id FOR SHARE`, ids)
		if err != nil {
			return nil, err
		}
		st := make(map[int64]Status, len(ids))
		var id int64
		var status Status
		_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error {
			st[id] = status
			return nil
		})
		return st, err
	})
	if err != nil {
		return err
	}
	if len(p.task) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO task_deps (task_id, depends_on) SELECT * FROM unnest($1::bigint[], $2::bigint[])
		ON CONFLICT DO NOTHING`, p.task, p.dep)
	if len(p.blocked) > 0 {
		b.Queue(`UPDATE tasks SET scheduled = NULL WHERE id = ANY($1)`, p.blocked)
	}
	if len(p.cancelled) > 0 {
		reasons := make([]string, len(p.reasons))
		for i, r := range p.reasons {
			reasons[i] = pgText(r)
		}
		b.Queue(pgSQL(`WITH changed AS (UPDATE tasks t SET status = 'cancelled', error = c.reason,
				finished_at = NOW, scheduled = false, updated_at = NOW
			FROM unnest($2::bigint[], $3::text[]) AS c(id, reason) WHERE t.id = c.id
			RETURNING t.id, t.error)
			INSERT INTO task_events (task_id, at, kind, data)
			SELECT id, NOW, '`+EventStatus+`', ('{"from":"pending","to":"cancelled","reason":' || to_json(error)::text || '}')::json
			FROM changed`), s.clock(), p.cancelled, reasons)
	}
	return tx.SendBatch(ctx, b).Close()
}

// transitionDependencies is the hook of a single task's transition (see
// the SQLite store's). A retried task's dependencies are read FOR SHARE,
// so one completing meanwhile waits, and then finds the task blocked.
func (s *Postgres) transitionDependencies(ctx context.Context, tx pgx.Tx, id int64, from, to Status) error {
	switch {
	case to == StatusCancelled || to == StatusFailed:
		_, err := tx.Exec(ctx, pgCancelDependantsOf, s.clock(), []int64{id})
		return err
	case to == StatusPending && (from == StatusFailed || from == StatusCancelled):
		rows, err := tx.Query(ctx, `SELECT x.id, x.status FROM task_deps d JOIN tasks x ON x.id = d.depends_on
			WHERE d.task_id = $1 ORDER BY x.id FOR SHARE OF x`, id)
		if err != nil {
			return err
		}
		refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TaskRef])
		if err != nil {
			return err
		}
		blocked, err := retryBlocked(id, refs)
		if err != nil || !blocked {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tasks SET scheduled = NULL WHERE id = $1`, id)
		return err
	}
	return nil
}

// Dependencies returns what task id runs after and what runs after it.
func (s *Postgres) Dependencies(ctx context.Context, id int64) (Dependencies, error) {
	d := Dependencies{After: []TaskRef{}, Dependants: []TaskRef{}}
	b := &pgx.Batch{}
	b.Queue(`SELECT x.id, x.status FROM task_deps d JOIN tasks x ON x.id = d.depends_on WHERE d.task_id = $1 ORDER BY x.id`, id)
	b.Queue(`SELECT x.id, x.status FROM task_deps d JOIN tasks x ON x.id = d.task_id WHERE d.depends_on = $1 ORDER BY x.id`, id)
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		for _, dst := range []*[]TaskRef{&d.After, &d.Dependants} {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			if *dst, err = pgx.AppendRows(*dst, rows, pgx.RowToStructByPos[TaskRef]); err != nil {
				return err
			}
		}
		return nil
	})
	return d, err
}

// BlockedBy returns the dependencies not yet completed of those of ids
// that are blocked.
func (s *Postgres) BlockedBy(ctx context.Context, ids []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT d.task_id, d.depends_on FROM task_deps d
		JOIN tasks t ON t.id = d.task_id JOIN tasks x ON x.id = d.depends_on
		WHERE d.task_id = ANY($1) AND t.status = 'pending' AND t.scheduled IS NULL AND x.status <> 'completed'
		ORDER BY d.task_id, d.depends_on`, ids)
	if err != nil {
		return nil, s.classify(err)
	}
	var id, dep int64
	_, err = pgx.ForEachRow(rows, []any{&id, &dep}, func() error {
		out[id] = append(out[id], dep)
		return nil
	})
	return out, s.classify(err)
}
