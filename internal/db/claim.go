package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Claim moves up to r.Limit ready tasks (pending, run_after passed) to
// running under a lease for r.Worker, highest priority first, then oldest.
// The select and the update are one statement inside one write transaction,
// so two runners can never claim the same task.
//
// Tasks scheduled for later are not in the claim index (see migration 4):
// the transaction first clears the mark of up to promoteChunk tasks that
// have become due, oldest first, then claims from the due ones.
func (s *SQLite) Claim(ctx context.Context, r ClaimRequest) ([]Task, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	if limited(r.QueueLimits) {
		return s.claimLimited(ctx, r) // sqlite_queues.go
	}
	// The text depends only on how many queues and types there are, so the
	// statement is prepared once and kept. INDEXED BY holds the planner to
	// the due-pending index in run order: left to itself it picks
	// tasks_status (status = ?) and sorts every pending row on each claim,
	// which made a claim cost O(backlog) (4k tasks/s at 100k pending).
	where, filter := []string{"status = 'pending'", "scheduled = 0", "run_after <= ?", notPausedSQL}, []any{nil}
	where, filter = inList(where, filter, "queue", r.Queues)
	where, filter = inList(where, filter, "type", r.Types)
	claim, done, err := s.stmts.get(ctx, s.w, `UPDATE tasks SET status = 'running', attempts = attempts + 1,
		lease_worker = ?, lease_expires_at = ?, rescue_after = NULL, started_at = ?, updated_at = ?
		WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_ready WHERE `+strings.Join(where, " AND ")+`
			ORDER BY priority DESC, id LIMIT ?)
		RETURNING `+taskColumns)
	if err != nil {
		return nil, s.classify(err)
	}
	defer done()
	promote, pdone, err := s.stmts.get(ctx, s.w, promoteDue)
	if err != nil {
		return nil, s.classify(err)
	}
	defer pdone()
	var ts []Task
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ts = ts[:0]
		now := s.now()
		if _, err := tx.StmtContext(ctx, promote).ExecContext(ctx, ms(now), max(promoteChunk, 4*r.Limit)); err != nil {
			return err
		}
		filter[0] = ms(now)
		args := append([]any{r.Worker, ms(now.Add(r.Lease)), ms(now), ms(now)}, filter...)
		rows, err := tx.StmtContext(ctx, claim).QueryContext(ctx, append(args, r.Limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTask(rows)
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		data := statusData(StatusPending, StatusRunning, "claimed by "+r.Worker)
		cs := make([]statusChange, len(ts))
		for i, t := range ts {
			cs[i] = statusChange{id: t.ID, data: data}
		}
		return writeStatusEvents(ctx, tx, now, cs)
	})
	if err != nil {
		return nil, err
	}
	sortClaimed(ts)
	return ts, nil
}

// sortClaimed puts claimed tasks in claim order: highest priority first,
// then oldest.
func sortClaimed(ts []Task) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Priority != ts[j].Priority {
			return ts[i].Priority > ts[j].Priority
		}
		return ts[i].ID < ts[j].ID
	})
}

// promoteDue clears the scheduled mark of tasks that have become due,
// oldest run_after first, a bounded number per claim so that a claim stays
// short even when many tasks fall due at once (the next claims take the
// rest; among tasks due at once, priority orders what has been promoted).
const promoteDue = `UPDATE tasks SET scheduled = 0 WHERE id IN (
	SELECT id FROM tasks INDEXED BY tasks_scheduled
	WHERE status = 'pending' AND scheduled = 1 AND run_after <= ?
	ORDER BY run_after LIMIT ?)`

// promoteChunk is the least number of due tasks a claim promotes.
const promoteChunk = 1000

// Renew extends the leases a worker holds and reports tasks it lost and
// tasks whose cancel was requested.
func (s *SQLite) Renew(ctx context.Context, worker string, ids []int64, lease time.Duration) (Heartbeat, error) {
	var hb Heartbeat
	if len(ids) == 0 {
		return hb, nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		hb = Heartbeat{}
		now := s.now()
		where, args := inList([]string{"status = 'running'", "lease_worker = ?"}, []any{worker}, "id", ids)
		rows, err := tx.QueryContext(ctx, `UPDATE tasks SET lease_expires_at = ?, rescue_after = NULL, updated_at = ?
			WHERE `+strings.Join(where, " AND ")+` RETURNING id, cancel_requested`,
			append([]any{ms(now.Add(lease)), ms(now)}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		held := make(map[int64]bool, len(ids))
		for rows.Next() {
			var id int64
			var cancel bool
			if err := rows.Scan(&id, &cancel); err != nil {
				return err
			}
			held[id] = true
			if cancel {
				hb.Cancel = append(hb.Cancel, id)
			}
		}
		for _, id := range ids {
			if !held[id] {
				hb.Lost = append(hb.Lost, id)
			}
		}
		return rows.Err()
	})
	return hb, err
}

// Finish records the outcomes of running tasks in one transaction, after
// their events. An outcome whose task is no longer running under that
// worker and attempt (its lease expired and another runner rescued it)
// changes nothing; its id is returned in Lost.
func (s *SQLite) Finish(ctx context.Context, evs []NewEvent, outs []Outcome) (FinishResult, error) {
	if err := checkOutcomes(outs); err != nil {
		return FinishResult{}, err
	}
	finish, done, err := s.stmts.get(ctx, s.w, `UPDATE tasks SET status = ?, result = ?, error = ?,
		run_after = ?, scheduled = ?, finished_at = ?, lease_worker = NULL, lease_expires_at = NULL,
		rescue_after = NULL, cancel_requested = 0, updated_at = ?
		WHERE id = ? AND status = 'running' AND lease_worker = ? AND attempts = ?`)
	if err != nil {
		return FinishResult{}, s.classify(err)
	}
	defer done()
	var fr FinishResult
	err = s.tx(ctx, func(tx *sql.Tx) error {
		fr = FinishResult{}
		now := s.now()
		var err error
		if fr.DroppedEvents, err = appendEvents(ctx, tx, now, evs); err != nil {
			return err
		}
		if len(outs) == 0 {
			return nil
		}
		st := tx.StmtContext(ctx, finish)
		defer st.Close()
		cs := make([]statusChange, 0, len(outs))
		for _, o := range outs {
			runAfter, finished := ms(o.RunAfter), any(ms(now))
			if o.RunAfter.IsZero() {
				runAfter = ms(now.Add(o.RetryIn))
			}
			if o.Status == StatusPending {
				finished = nil
			} else {
				runAfter = ms(now)
			}
			res, err := st.ExecContext(ctx, o.Status, nullJSON(o.Result), o.Error, runAfter,
				scheduled(fromMS(runAfter), now), finished, ms(now), o.ID, o.Worker, o.Attempt)
			if err != nil {
				return fmt.Errorf("finish task %d: %w", o.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				fr.Lost = append(fr.Lost, o.ID)
				continue
			}
			cs = append(cs, statusChange{id: o.ID, data: statusData(StatusRunning, o.Status, o.Error)})
		}
		if err := writeStatusEvents(ctx, tx, now, cs); err != nil {
			return err
		}
		return s.settleOutcomes(ctx, tx, now, outs, fr.Lost)
	})
	return fr, err
}

// Release puts tasks a worker holds back to pending without counting the
// attempt, for a graceful shutdown. A task whose cancel was requested is
// cancelled instead.
func (s *SQLite) Release(ctx context.Context, worker string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		where, args := inList([]string{"status = 'running'", "lease_worker = ?"}, []any{worker}, "id", ids)
		rows, err := tx.QueryContext(ctx, `UPDATE tasks SET
			status = CASE cancel_requested WHEN 1 THEN 'cancelled' ELSE 'pending' END,
			error = CASE cancel_requested WHEN 1 THEN 'cancelled' ELSE error END,
			finished_at = CASE cancel_requested WHEN 1 THEN ? ELSE NULL END,
			attempts = max(attempts - 1, 0), run_after = ?, scheduled = 0, cancel_requested = 0,
			lease_worker = NULL, lease_expires_at = NULL, rescue_after = NULL, updated_at = ?
			WHERE `+strings.Join(where, " AND ")+` RETURNING id, status`,
			append([]any{ms(now), ms(now), ms(now)}, args...)...)
		if err != nil {
			return err
		}
		if _, err = eachStatusEvent(ctx, tx, rows, now, "runner shut down"); err != nil {
			return err
		}
		return cancelDependantsOfEnded(ctx, tx, now)
	})
}

// eachStatusEvent writes a status event from running for every (id, status)
// row, closes rows, and returns how many rows there were.
func eachStatusEvent(ctx context.Context, tx *sql.Tx, rows *sql.Rows, now time.Time, reason string) (int, error) {
	type change struct {
		id int64
		to Status
	}
	var cs []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.id, &c.to); err != nil {
			rows.Close()
			return 0, err
		}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	sc := make([]statusChange, len(cs))
	for i, c := range cs {
		sc[i] = statusChange{id: c.id, data: statusData(StatusRunning, c.to, reason)}
	}
	return len(cs), writeStatusEvents(ctx, tx, now, sc)
}

// RescueBackoffBase is the first retry delay after a lost worker; it doubles
// with each attempt up to 2^10 times the base.
const RescueBackoffBase = time.Second

// Rescue handles running tasks whose lease has expired: their runner died
// or lost the database. Each goes back to pending with the attempt counted
// and a backoff, or to failed ("worker lost") when no attempts are left. A
// task whose cancel was requested is cancelled.
//
// It is two-phase. A lease found expired is first marked (rescue_after =
// now + r.Grace) and taken only by a later call, if it is still expired
// then: a lease can expire only because its owner waited for the write
// lock behind a long transaction, and the owner's renewal, waiting too,
// gets the lock right after the mark is written. Leases of r.Worker are
// never taken. A read comes first so that the usual case, nothing expired,
// takes no write lock; both use the lease index, which the planner
// otherwise passes over for tasks_status.
func (s *SQLite) Rescue(ctx context.Context, r RescueRequest) (int, error) {
	st, done, err := s.stmts.get(ctx, s.r,
		`SELECT 1 FROM tasks INDEXED BY tasks_lease WHERE status = 'running' AND lease_expires_at < ? AND lease_worker <> ? LIMIT 1`)
	if err != nil {
		return 0, s.classify(err)
	}
	defer done()
	var one int
	err = st.QueryRowContext(context.WithoutCancel(ctx), ms(s.now()), r.Worker).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.classify(err)
	}
	n := 0
	err = s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		rows, err := tx.QueryContext(ctx, `UPDATE tasks INDEXED BY tasks_lease SET
			status = CASE WHEN cancel_requested = 1 THEN 'cancelled'
				WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
			error = CASE WHEN cancel_requested = 1 THEN 'cancelled'
				ELSE 'worker lost: lease of ' || lease_worker || ' expired' END,
			finished_at = CASE WHEN cancel_requested = 1 OR attempts >= max_attempts THEN ?1 ELSE NULL END,
			run_after = ?1 + (?2 << min(max(attempts - 1, 0), 10)), scheduled = 1,
			cancel_requested = 0, lease_worker = NULL, lease_expires_at = NULL, rescue_after = NULL, updated_at = ?1
			WHERE status = 'running' AND lease_expires_at < ?1 AND lease_worker <> ?3
				AND rescue_after IS NOT NULL AND rescue_after < ?1
			RETURNING id, status`,
			ms(now), RescueBackoffBase.Milliseconds(), r.Worker)
		if err != nil {
			return err
		}
		if n, err = eachStatusEvent(ctx, tx, rows, now, "lease expired"); err != nil {
			return err
		}
		if err := cancelDependantsOfEnded(ctx, tx, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE tasks INDEXED BY tasks_lease SET rescue_after = ?
			WHERE status = 'running' AND lease_expires_at < ? AND lease_worker <> ? AND rescue_after IS NULL`,
			ms(now.Add(r.Grace)), ms(now), r.Worker)
		return err
	})
	return n, err
}

// Ready reports whether a task is ready for a claim with these filters:
// a due task in the claim index, or a scheduled one whose time has come.
// It is a read on the pending-only indexes, so an idle runner can poll it
// often without taking the write lock.
func (s *SQLite) Ready(ctx context.Context, queues, types []string) (bool, error) {
	// The read takes microseconds; with a context that can be cancelled,
	// the driver would start a goroutine per statement to interrupt it.
	ctx = context.WithoutCancel(ctx)
	due, dueArgs := inList([]string{"status = 'pending'", "scheduled = 0", notPausedSQL}, nil, "queue", queues)
	due, dueArgs = inList(due, dueArgs, "type", types)
	later, laterArgs := inList([]string{"status = 'pending'", "scheduled = 1", "run_after <= ?", notPausedSQL}, []any{ms(s.now())}, "queue", queues)
	later, laterArgs = inList(later, laterArgs, "type", types)
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

// CancelRequested lists the worker's running tasks flagged for cancel.
func (s *SQLite) CancelRequested(ctx context.Context, worker string) ([]int64, error) {
	st, done, err := s.stmts.get(ctx, s.r, `SELECT id FROM tasks
		WHERE status = 'running' AND cancel_requested = 1 AND lease_worker = ?`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer done()
	rows, err := st.QueryContext(context.WithoutCancel(ctx), worker)
	if err != nil {
		return nil, s.classify(err)
	}
	ids, err := scanIDs(rows)
	return ids, s.classify(err)
}

// scanIDs reads a column of ids and closes rows.
func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
