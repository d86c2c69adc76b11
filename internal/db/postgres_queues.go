package db

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgNotPaused leaves out the tasks of queues paused in the database (see
// notPausedSQL): the paused queues are read once per statement (an
// InitPlan, through the partial index queues_paused) and each row is
// compared with that array. A NOT IN subplan cost twice as much per claim,
// and without the index, opsctl's sessions (enable_seqscan off) priced the
// read as a scan and claims took 300 ms.
const pgNotPaused = "queue <> ALL (ARRAY(SELECT name FROM queues WHERE paused))"

// PauseQueue marks the queue paused, making its row if there is none.
func (s *Postgres) PauseQueue(ctx context.Context, name string) (bool, error) {
	return s.setPaused(ctx, name, true)
}

// ResumeQueue clears the queue's pause and wakes listening runners.
func (s *Postgres) ResumeQueue(ctx context.Context, name string) (bool, error) {
	return s.setPaused(ctx, name, false)
}

func (s *Postgres) setPaused(ctx context.Context, name string, paused bool) (bool, error) {
	changed := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The row lock orders two pauses or resumes of one queue.
		var was bool
		err := tx.QueryRow(ctx, `SELECT paused FROM queues WHERE name = $1 FOR UPDATE`, name).Scan(&was)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if !paused {
				return nil
			}
		case err != nil:
			return err
		case was == paused:
			return nil
		}
		changed = true
		if _, err := tx.Exec(ctx, pgSQL(`INSERT INTO queues (name, paused, updated_at) VALUES ($2, $3, NOW)
			ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at`),
			s.clock(), name, paused); err != nil {
			return err
		}
		if paused {
			return nil
		}
		_, err = tx.Exec(ctx, notifyReady)
		return err
	})
	return changed, err
}

// Queues lists the queues that have tasks or a row, by name.
func (s *Postgres) Queues(ctx context.Context) ([]QueueInfo, error) {
	counts, err := s.CountByQueue(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT name, paused, updated_at FROM queues`)
	if err != nil {
		return nil, s.classify(err)
	}
	states, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (QueueInfo, error) {
		var q QueueInfo
		err := row.Scan(&q.Name, &q.Paused, &q.PausedAt)
		if q.Paused {
			q.PausedAt = q.PausedAt.UTC().Truncate(time.Millisecond) // as SQLite keeps it
		} else {
			q.PausedAt = time.Time{}
		}
		return q, err
	})
	if err != nil {
		return nil, s.classify(err)
	}
	return mergeQueues(counts, states), nil
}

// pgQueuer is what queuePlan reads through: a transaction (the claim,
// under the queues' locks) or the pool (the idle poll).
type pgQueuer interface {
	Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
}

// queuePlan reads the paused queues, locks r's limited queues if lock is
// set, and counts their running tasks.
//
// Claims on PostgreSQL run at once from many hosts and skip each other's
// rows, so counting alone would let two claims each see room for the last
// slot. A claim of a limited queue first takes a transaction-scoped
// advisory lock keyed by the queue's name (in name order, so two claims
// never wait for each other in a circle), and counts after it has the
// lock: under READ COMMITTED each statement sees what was committed before
// it started, so the count includes every task claimed by the claims that
// held the lock before.
func (s *Postgres) queuePlan(ctx context.Context, q pgQueuer, r ClaimRequest, lock bool) (queuePlan, error) {
	rows, err := q.Query(ctx, `SELECT name FROM queues WHERE paused ORDER BY name`)
	if err != nil {
		return queuePlan{}, err
	}
	paused, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return queuePlan{}, err
	}
	pausedSet := map[string]bool{}
	for _, p := range paused {
		pausedSet[p] = true
	}
	lq := limitedQueues(r, pausedSet)
	running := map[string]int64{}
	if len(lq) > 0 {
		if lock {
			// unnest yields the names in the order given (sorted), and
			// the function scan locks them one row at a time.
			rows, err := q.Query(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('opsctl queue ' || name, 0))
				FROM unnest($1::text[]) AS u(name)`, lq)
			if err != nil {
				return queuePlan{}, err
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return queuePlan{}, err
			}
		}
		rows, err := q.Query(ctx, `SELECT queue, count(*) FROM tasks
			WHERE status = 'running' AND queue = ANY($1) GROUP BY queue`, lq)
		if err != nil {
			return queuePlan{}, err
		}
		var name string
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error {
			running[name] = n
			return nil
		}); err != nil {
			return queuePlan{}, err
		}
	}
	return newQueuePlan(r, paused, lq, running), nil
}

// claimLimited is Claim for a request that carries queue limits or config
// pauses, in one transaction: the plan (locks, counts), then rounds as on
// SQLite (see SQLite.claimLimited). Candidates are read FOR UPDATE SKIP
// LOCKED, so other claims skip them; those passed over stay locked until
// the commit, a few milliseconds.
func (s *Postgres) claimLimited(ctx context.Context, r ClaimRequest) ([]Task, error) {
	w := pgWhere{args: []any{s.clock(), nil, 0}}
	pgAny(&w, "queue", r.Queues)
	pgAny(&w, "type", r.Types)
	cond := ""
	for _, c := range w.conds {
		cond += " AND " + c
	}
	pick := pgSQL(`SELECT id, queue FROM tasks WHERE status = 'pending' AND NOT scheduled AND run_after <= NOW
		AND NOT (queue = ANY($2))` + cond + `
		ORDER BY priority DESC, id LIMIT $3 FOR UPDATE SKIP LOCKED`)
	claim := pgSQL(`WITH claimed AS (
		UPDATE tasks t SET status = 'running', attempts = t.attempts + 1, lease_worker = $2,
			lease_expires_at = NOW + $3 * interval '1 millisecond', rescue_after = NULL,
			started_at = NOW, updated_at = NOW
		WHERE t.id = ANY($4) AND t.status = 'pending'
		RETURNING ` + pgTaskColumns("t") + `),
	ev AS (INSERT INTO task_events (task_id, at, kind, data) SELECT id, NOW, '` + EventStatus + `', $5::json FROM claimed)
	SELECT * FROM claimed`)
	data := statusData(StatusPending, StatusRunning, "claimed by "+r.Worker)
	var ts []Task
	err := s.tx(ctx, func(tx pgx.Tx) error {
		ts = ts[:0]
		if _, err := tx.Exec(ctx, pgSQL(pgPromoteDue), s.clock(), max(promoteChunk, 4*r.Limit)); err != nil {
			return err
		}
		plan, err := s.queuePlan(ctx, tx, r, true)
		if err != nil || plan.nothing(r) {
			return err
		}
		probe := s.queueProbe(ctx, tx)
		for need := r.Limit; need > 0; {
			ok, err := plan.readyOutside(r, probe)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			asked := need
			w.args[1], w.args[2] = nonNil(plan.excluded), need
			rows, err := tx.Query(ctx, pick, w.args...)
			if err != nil {
				return err
			}
			cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (candidate, error) {
				var c candidate
				return c, row.Scan(&c.id, &c.queue)
			})
			if err != nil {
				return err
			}
			ids, skipped := plan.pick(cs)
			if len(ids) > 0 {
				rows, err := tx.Query(ctx, claim, s.clock(), r.Worker, r.Lease.Milliseconds(), ids, data)
				if err != nil {
					return err
				}
				got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scanPGTask(r) })
				if err != nil {
					return err
				}
				ts = append(ts, got...)
			}
			need -= len(ids)
			if !skipped || len(cs) < asked {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortClaimed(ts)
	return ts, nil
}

// ReadyLimited reports whether a claim with r's limits could find a task.
func (s *Postgres) ReadyLimited(ctx context.Context, r ClaimRequest) (bool, error) {
	plan, err := s.queuePlan(ctx, s.pool, r, false)
	if err != nil {
		return false, s.classify(err)
	}
	if plan.nothing(r) {
		return false, nil
	}
	if ok, err := plan.readyOutside(r, s.queueProbe(ctx, s.pool)); !ok || err != nil {
		return false, s.classify(err)
	}
	w := pgWhere{args: []any{s.clock(), nonNil(plan.excluded)}}
	pgAny(&w, "queue", r.Queues)
	pgAny(&w, "type", r.Types)
	cond := " AND NOT (queue = ANY($2))"
	for _, c := range w.conds {
		cond += " AND " + c
	}
	var ready bool
	err = s.pool.QueryRow(ctx, pgSQL(`SELECT (SELECT true FROM tasks WHERE status = 'pending' AND NOT scheduled`+cond+`
			ORDER BY priority DESC, id LIMIT 1) IS NOT NULL
		OR (SELECT true FROM tasks WHERE status = 'pending' AND scheduled AND run_after <= NOW`+cond+`
			ORDER BY run_after LIMIT 1) IS NOT NULL`),
		w.args...).Scan(&ready)
	return ready, s.classify(err)
}

// nonNil makes a nil slice empty: pgx sends a nil slice as NULL, and
// NOT (queue = ANY(NULL)) is NULL, which would match no task.
func nonNil(vs []string) []string {
	if vs == nil {
		return []string{}
	}
	return vs
}

// queueProbe reads the queues with pending tasks through tasks_status_queue
// (status, queue, id), as SQLite's does.
func (s *Postgres) queueProbe(ctx context.Context, q pgQueuer) queueProbe {
	one := func(query string, args ...any) (string, bool, error) {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return "", false, err
		}
		defer rows.Close()
		if !rows.Next() {
			return "", false, rows.Err()
		}
		var v string
		err = rows.Scan(&v)
		return v, err == nil, err
	}
	return queueProbe{
		next: func(after string) (string, bool, error) {
			return one(`SELECT queue FROM tasks WHERE status = 'pending' AND queue > $1
				ORDER BY status, queue LIMIT 1`, after)
		},
		ready: func(queue string) (bool, error) {
			_, ok, err := one(pgSQL(`SELECT queue FROM tasks WHERE status = 'pending' AND queue = $2
				AND (NOT scheduled OR run_after <= NOW) ORDER BY status, queue, id LIMIT 1`), s.clock(), queue)
			return ok, err
		},
	}
}
