package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
)

// notPausedSQL leaves out the tasks of queues paused in the database. The
// claim and the idle poll carry it on the fast path: the subquery is read
// once per statement from a table of a few rows (none, usually).
const notPausedSQL = "queue NOT IN (SELECT name FROM queues WHERE paused = 1)"

// PauseQueue marks the queue paused, making its row if there is none.
func (s *SQLite) PauseQueue(ctx context.Context, name string) (bool, error) {
	return s.setPaused(ctx, name, true)
}

// ResumeQueue clears the queue's pause.
func (s *SQLite) ResumeQueue(ctx context.Context, name string) (bool, error) {
	return s.setPaused(ctx, name, false)
}

func (s *SQLite) setPaused(ctx context.Context, name string, paused bool) (bool, error) {
	changed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var was bool
		err := tx.QueryRowContext(ctx, `SELECT paused FROM queues WHERE name = ?`, name).Scan(&was)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if !paused {
				return nil // never paused: nothing to write
			}
		case err != nil:
			return err
		case was == paused:
			return nil
		}
		changed = true
		_, err = tx.ExecContext(ctx, `INSERT INTO queues (name, paused, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at`,
			name, paused, ms(s.now()))
		return err
	})
	return changed, err
}

// Queues lists the queues that have tasks or a row, by name.
func (s *SQLite) Queues(ctx context.Context) ([]QueueInfo, error) {
	counts, err := s.CountByQueue(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT name, paused, updated_at FROM queues`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	var states []QueueInfo
	for rows.Next() {
		var q QueueInfo
		var at int64
		if err := rows.Scan(&q.Name, &q.Paused, &at); err != nil {
			return nil, s.classify(err)
		}
		if q.Paused {
			q.PausedAt = fromMS(at)
		}
		states = append(states, q)
	}
	if err := rows.Err(); err != nil {
		return nil, s.classify(err)
	}
	return mergeQueues(counts, states), nil
}

// claimLimited is Claim for a request that carries queue limits or
// config pauses. Inside one write transaction, so that its counts are
// exact, it reads the paused queues and the running counts of the limited
// ones, then claims in rounds: each round reads the next ready tasks
// outside the excluded queues, takes those whose queue has room, and, if
// it passed one over (its queue just became full), goes again without
// that queue. Each such round excludes one more queue, so there are at
// most as many rounds as limited queues, plus one.
func (s *SQLite) claimLimited(ctx context.Context, r ClaimRequest) ([]Task, error) {
	where, filter := []string{"status = 'pending'", "scheduled = 0", "run_after <= ?",
		"queue NOT IN (SELECT value FROM json_each(?))"}, []any{nil, nil}
	where, filter = inList(where, filter, "queue", r.Queues)
	where, filter = inList(where, filter, "type", r.Types)
	pick, pdone, err := s.stmts.get(ctx, s.w, `SELECT id, queue FROM tasks INDEXED BY tasks_ready WHERE `+
		strings.Join(where, " AND ")+` ORDER BY priority DESC, id LIMIT ?`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer pdone()
	claim, cdone, err := s.stmts.get(ctx, s.w, `UPDATE tasks SET status = 'running', attempts = attempts + 1,
		lease_worker = ?, lease_expires_at = ?, rescue_after = NULL, started_at = ?, updated_at = ?
		WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'
		RETURNING `+taskColumns)
	if err != nil {
		return nil, s.classify(err)
	}
	defer cdone()
	promote, prdone, err := s.stmts.get(ctx, s.w, promoteDue)
	if err != nil {
		return nil, s.classify(err)
	}
	defer prdone()
	var ts []Task
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ts = ts[:0]
		now := s.now()
		if _, err := tx.StmtContext(ctx, promote).ExecContext(ctx, ms(now), max(promoteChunk, 4*r.Limit)); err != nil {
			return err
		}
		plan, err := s.queuePlan(ctx, tx, r)
		if err != nil || plan.nothing(r) {
			return err
		}
		pickSt, claimSt := tx.StmtContext(ctx, pick), tx.StmtContext(ctx, claim)
		probe := s.queueProbe(ctx, tx, ms(now))
		for need := r.Limit; need > 0; {
			ok, err := plan.readyOutside(r, probe)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			asked := need
			filter[0], filter[1] = ms(now), jsonList(plan.excluded)
			cs, err := scanCandidates(pickSt.QueryContext(ctx, append(filter, need)...))
			if err != nil {
				return err
			}
			ids, skipped := plan.pick(cs)
			if len(ids) > 0 {
				rows, err := claimSt.QueryContext(ctx, r.Worker, ms(now.Add(r.Lease)), ms(now), ms(now), jsonList(ids))
				if err != nil {
					return err
				}
				got, err := scanTasks(rows)
				if err != nil {
					return err
				}
				ts = append(ts, got...)
			}
			need -= len(ids)
			// Fewer rows than asked for: there are no more, whatever is
			// excluded next.
			if !skipped || len(cs) < asked {
				break
			}
		}
		data := statusData(StatusPending, StatusRunning, "claimed by "+r.Worker)
		changes := make([]statusChange, len(ts))
		for i, t := range ts {
			changes[i] = statusChange{id: t.ID, data: data}
		}
		return writeStatusEvents(ctx, tx, now, changes)
	})
	if err != nil {
		return nil, err
	}
	sortClaimed(ts)
	return ts, nil
}

// sqliteQuerier is what queuePlan reads through: a transaction (the
// claim, exact) or the read pool (the idle poll, a hint).
type sqliteQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// queuePlan reads the paused queues and the running counts of r's limited
// queues.
func (s *SQLite) queuePlan(ctx context.Context, q sqliteQuerier, r ClaimRequest) (queuePlan, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM queues WHERE paused = 1`)
	if err != nil {
		return queuePlan{}, err
	}
	var paused []string
	pausedSet := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return queuePlan{}, err
		}
		paused, pausedSet[n] = append(paused, n), true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return queuePlan{}, err
	}
	lq := limitedQueues(r, pausedSet)
	running := map[string]int64{}
	if len(lq) > 0 {
		// tasks_status_queue (status, queue, id) holds the count.
		rows, err := q.QueryContext(ctx, `SELECT queue, count(*) FROM tasks
			WHERE status = 'running' AND queue IN (SELECT value FROM json_each(?)) GROUP BY queue`, jsonList(lq))
		if err != nil {
			return queuePlan{}, err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			var c int64
			if err := rows.Scan(&n, &c); err != nil {
				return queuePlan{}, err
			}
			running[n] = c
		}
		if err := rows.Err(); err != nil {
			return queuePlan{}, err
		}
	}
	return newQueuePlan(r, paused, lq, running), nil
}

// ReadyLimited reports whether a claim with r's limits could find a task.
func (s *SQLite) ReadyLimited(ctx context.Context, r ClaimRequest) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	plan, err := s.queuePlan(ctx, s.r, r)
	if err != nil {
		return false, s.classify(err)
	}
	if plan.nothing(r) {
		return false, nil
	}
	if ok, err := plan.readyOutside(r, s.queueProbe(ctx, s.r, ms(s.now()))); !ok || err != nil {
		return false, s.classify(err)
	}
	const notExcluded = "queue NOT IN (SELECT value FROM json_each(?))"
	excluded := jsonList(plan.excluded)
	due, dueArgs := inList([]string{"status = 'pending'", "scheduled = 0", notExcluded}, []any{excluded}, "queue", r.Queues)
	due, dueArgs = inList(due, dueArgs, "type", r.Types)
	later, laterArgs := inList([]string{"status = 'pending'", "scheduled = 1", "run_after <= ?", notExcluded},
		[]any{ms(s.now()), excluded}, "queue", r.Queues)
	later, laterArgs = inList(later, laterArgs, "type", r.Types)
	st, done, err := s.stmts.get(ctx, s.r, `SELECT EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_ready WHERE `+strings.Join(due, " AND ")+`)
		OR EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_scheduled WHERE `+strings.Join(later, " AND ")+`)`)
	if err != nil {
		return false, s.classify(err)
	}
	defer done()
	var ready bool
	err = st.QueryRowContext(ctx, append(dueArgs, laterArgs...)...).Scan(&ready)
	return ready, s.classify(err)
}

// jsonList encodes vs as a JSON array for json_each (never null).
func jsonList[T any](vs []T) string {
	if len(vs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(vs)
	return string(b)
}

// scanCandidates reads (id, queue) rows and closes them.
func scanCandidates(rows *sql.Rows, err error) ([]candidate, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.queue); err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// scanTasks reads task rows and closes them.
func scanTasks(rows *sql.Rows) ([]Task, error) {
	defer rows.Close()
	var ts []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// queueProbe reads the queues with pending tasks through tasks_status_queue
// (status, queue, id): the next queue name is one seek, and a queue's
// first ready task is found among its pending ones.
func (s *SQLite) queueProbe(ctx context.Context, q sqliteQuerier, now int64) queueProbe {
	row := func(query string, args ...any) (*sql.Rows, error) { return q.QueryContext(ctx, query, args...) }
	return queueProbe{
		next: func(after string) (string, bool, error) {
			rows, err := row(`SELECT queue FROM tasks INDEXED BY tasks_status_queue
				WHERE status = 'pending' AND queue > ? ORDER BY queue LIMIT 1`, after)
			if err != nil {
				return "", false, err
			}
			defer rows.Close()
			if !rows.Next() {
				return "", false, rows.Err()
			}
			var name string
			err = rows.Scan(&name)
			return name, err == nil, err
		},
		ready: func(queue string) (bool, error) {
			rows, err := row(`SELECT 1 FROM tasks INDEXED BY tasks_status_queue
				WHERE status = 'pending' AND queue = ? AND (scheduled = 0 OR run_after <= ?) LIMIT 1`, queue, now)
			if err != nil {
				return false, err
			}
			defer rows.Close()
			return rows.Next(), rows.Err()
		},
	}
}
