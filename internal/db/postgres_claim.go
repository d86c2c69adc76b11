package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgPromoteDue clears the scheduled mark of tasks that have become due, as
// promoteDue does on SQLite; rows another claim is promoting are skipped.
const pgPromoteDue = `UPDATE tasks SET scheduled = false WHERE id IN (
	SELECT id FROM tasks WHERE status = 'pending' AND scheduled AND run_after <= NOW
	ORDER BY run_after LIMIT $2 FOR UPDATE SKIP LOCKED)`

// Claim moves up to r.Limit ready tasks to running under a lease for
// r.Worker, highest priority first, then oldest, and writes their status
// events: one statement, sent with the promotion of due scheduled tasks in
// one round trip and one transaction. The rows are picked in a
// MATERIALIZED CTE with FOR UPDATE SKIP LOCKED, so concurrent claims from
// any number of hosts take disjoint tasks and never wait for each other.
func (s *Postgres) Claim(ctx context.Context, r ClaimRequest) ([]Task, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	if limited(r.QueueLimits) {
		return s.claimLimited(ctx, r) // postgres_queues.go
	}
	w := pgWhere{args: []any{s.clock(), r.Worker, r.Lease.Milliseconds(), r.Limit,
		statusData(StatusPending, StatusRunning, "claimed by "+r.Worker)}}
	pgAny(&w, "queue", r.Queues)
	pgAny(&w, "type", r.Types)
	cond := ""
	for _, c := range w.conds {
		cond += " AND " + c
	}
	claim := pgSQL(`WITH picked AS MATERIALIZED (
		SELECT id FROM tasks WHERE status = 'pending' AND NOT scheduled AND run_after <= NOW AND ` + pgNotPaused + cond + `
		ORDER BY priority DESC, id LIMIT $4 FOR UPDATE SKIP LOCKED),
	claimed AS (
		UPDATE tasks t SET status = 'running', attempts = t.attempts + 1, lease_worker = $2,
			lease_expires_at = NOW + $3 * interval '1 millisecond', rescue_after = NULL,
			started_at = NOW, updated_at = NOW
		FROM picked WHERE t.id = picked.id
		RETURNING ` + pgTaskColumns("t") + `),
	ev AS (INSERT INTO task_events (task_id, at, kind, data) SELECT id, NOW, '` + EventStatus + `', $5::json FROM claimed)
	SELECT * FROM claimed`)
	b := &pgx.Batch{}
	b.Queue(pgSQL(pgPromoteDue), s.clock(), max(promoteChunk, 4*r.Limit))
	b.Queue(claim, w.args...)
	var ts []Task
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		ts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scanPGTask(r) })
		return err
	})
	if err != nil {
		return nil, err
	}
	sortClaimed(ts)
	return ts, nil
}

// Renew extends the leases a worker holds and reports tasks it lost and
// tasks whose cancel was requested. lease_expires_at is in no index, so a
// renewal is a HOT update.
func (s *Postgres) Renew(ctx context.Context, worker string, ids []int64, lease time.Duration) (Heartbeat, error) {
	var hb Heartbeat
	if len(ids) == 0 {
		return hb, nil
	}
	rows, err := s.pool.Query(ctx, pgSQL(`UPDATE tasks SET lease_expires_at = NOW + $2 * interval '1 millisecond',
		rescue_after = NULL, updated_at = NOW
		WHERE id = ANY($3) AND status = 'running' AND lease_worker = $4 RETURNING id, cancel_requested`),
		s.clock(), lease.Milliseconds(), ids, worker)
	if err != nil {
		return hb, s.classify(err)
	}
	held := make(map[int64]bool, len(ids))
	var id int64
	var cancel bool
	_, err = pgx.ForEachRow(rows, []any{&id, &cancel}, func() error {
		held[id] = true
		if cancel {
			hb.Cancel = append(hb.Cancel, id)
		}
		return nil
	})
	if err != nil {
		return Heartbeat{}, s.classify(err)
	}
	for _, id := range ids {
		if !held[id] {
			hb.Lost = append(hb.Lost, id)
		}
	}
	return hb, nil
}

// pgInsertEvents appends events from arrays, in order, each only if its
// task exists and, for a fenced event (worker set), still runs under that
// worker and attempt.
const pgInsertEvents = `INSERT INTO task_events (task_id, at, kind, data)
	SELECT e.task_id, NOW, e.kind, e.data::json
	FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[])
		WITH ORDINALITY AS e(task_id, kind, data, worker, attempt, ord)
	JOIN tasks t ON t.id = e.task_id
	WHERE e.worker = '' OR (t.status = 'running' AND t.lease_worker = e.worker AND t.attempts = e.attempt)
	ORDER BY e.ord`

// queueEvents adds the insert of evs to b; the count of rows it wrote is
// read with br.Exec.
func (s *Postgres) queueEvents(b *pgx.Batch, evs []NewEvent) {
	ids := make([]int64, len(evs))
	kinds, data, workers := make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
	attempts := make([]int32, len(evs))
	for i, e := range evs {
		ids[i], kinds[i], workers[i], attempts[i] = e.TaskID, pgText(e.Kind), e.Worker, int32(e.Attempt)
		data[i] = string(e.Data)
		if data[i] == "" {
			data[i] = "{}"
		}
	}
	b.Queue(pgSQL(pgInsertEvents), s.clock(), ids, kinds, data, workers, attempts)
}

// AppendEvents appends events in one statement, skipping those whose task
// is gone or, when fenced, no longer held by the event's worker.
func (s *Postgres) AppendEvents(ctx context.Context, evs []NewEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	b := &pgx.Batch{}
	s.queueEvents(b, evs)
	var dropped int
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		dropped = len(evs) - int(tag.RowsAffected())
		return err
	})
	return dropped, err
}

// pgFinish stores outcomes from arrays, each fenced by worker and attempt,
// and writes a status event for each one stored; it returns the ordinals
// (from 1) of the outcomes stored.
const pgFinish = `WITH o AS (
		SELECT * FROM unnest($2::bigint[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::bigint[], $10::text[]) WITH ORDINALITY
		AS o(id, worker, attempt, status, result, error, run_after, retry_ms, data, ord)),
	done AS (
		UPDATE tasks t SET status = o.status, result = o.result::json, error = o.error,
			run_after = CASE WHEN o.status = 'pending'
				THEN coalesce(o.run_after, NOW + o.retry_ms * interval '1 millisecond') ELSE NOW END,
			scheduled = o.status = 'pending'
				AND coalesce(o.run_after, NOW + o.retry_ms * interval '1 millisecond') > NOW,
			finished_at = CASE WHEN o.status = 'pending' THEN NULL ELSE NOW END,
			lease_worker = NULL, lease_expires_at = NULL, rescue_after = NULL, cancel_requested = false,
			updated_at = NOW
		FROM o WHERE t.id = o.id AND t.status = 'running' AND t.lease_worker = o.worker AND t.attempts = o.attempt
		RETURNING t.id, o.data, o.ord),
	ev AS (INSERT INTO task_events (task_id, at, kind, data)
		SELECT id, NOW, '` + EventStatus + `', data::json FROM done)
	SELECT ord FROM done`

// Finish appends events, then records outcomes, in one round trip and one
// transaction. An outcome whose task no longer runs under that worker and
// attempt changes nothing; its id is returned in Lost. Retries are
// scheduled from the server's clock (Outcome.RetryIn).
func (s *Postgres) Finish(ctx context.Context, evs []NewEvent, outs []Outcome) (FinishResult, error) {
	if err := checkOutcomes(outs); err != nil {
		return FinishResult{}, err
	}
	b := &pgx.Batch{}
	if len(evs) > 0 {
		s.queueEvents(b, evs)
	}
	if len(outs) > 0 {
		n := len(outs)
		ids, attempts, retry := make([]int64, n), make([]int32, n), make([]int64, n)
		workers, statuses, errs, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		results, runAfter := make([]*string, n), make([]*time.Time, n)
		for i, o := range outs {
			ids[i], workers[i], attempts[i], statuses[i], errs[i] = o.ID, o.Worker, int32(o.Attempt), string(o.Status), pgText(o.Error)
			if len(o.Result) > 0 {
				r := string(o.Result)
				results[i] = &r
			}
			if !o.RunAfter.IsZero() {
				ra := o.RunAfter
				runAfter[i] = &ra
			}
			retry[i] = o.RetryIn.Milliseconds()
			data[i] = statusData(StatusRunning, o.Status, o.Error)
		}
		b.Queue(pgSQL(pgFinish), s.clock(), ids, workers, attempts, statuses, results, errs, runAfter, retry, data)
		s.queueSettle(b, outs)
	}
	if len(b.QueuedQueries) == 0 {
		return FinishResult{}, nil
	}
	var fr FinishResult
	err := s.batch(ctx, b, func(br pgx.BatchResults) error {
		if len(evs) > 0 {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			fr.DroppedEvents = len(evs) - int(tag.RowsAffected())
		}
		if len(outs) == 0 {
			return nil
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		done := make([]bool, len(outs))
		for _, ord := range stored {
			done[ord-1] = true
		}
		for i, o := range outs {
			if !done[i] {
				fr.Lost = append(fr.Lost, o.ID)
			}
		}
		return nil
	})
	if err != nil {
		return FinishResult{}, err
	}
	return fr, nil
}

// checkOutcomes refuses outcomes no runner may report.
func checkOutcomes(outs []Outcome) error {
	for _, o := range outs {
		switch o.Status {
		case StatusCompleted, StatusFailed, StatusCancelled, StatusPending:
		default:
			return &TransitionError{ID: o.ID, From: StatusRunning, To: o.Status}
		}
		if o.Attempt < 1 {
			return fmt.Errorf("finish task %d: no attempt given", o.ID)
		}
	}
	return nil
}

// pgStatusEventsFrom writes, for each (id, status) row a CTE named
// changed returns, a status event from running with a fixed reason ($2).
// The JSON is built as statusData builds it, compact, in the same key
// order.
const pgStatusEventsFrom = `INSERT INTO task_events (task_id, at, kind, data)
	SELECT id, NOW, '` + EventStatus + `', ('{"from":"running","to":"' || status || '","reason":' || to_json($2::text)::text || '}')::json
	FROM changed RETURNING task_id`

// Release puts tasks a worker holds back to pending without counting the
// attempt, for a graceful shutdown. A task whose cancel was requested is
// cancelled instead.
func (s *Postgres) Release(ctx context.Context, worker string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(pgSQL(`WITH changed AS (UPDATE tasks SET
			status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'pending' END,
			error = CASE WHEN cancel_requested THEN 'cancelled' ELSE error END,
			finished_at = CASE WHEN cancel_requested THEN NOW ELSE NULL END,
			attempts = greatest(attempts - 1, 0), run_after = NOW, scheduled = false, cancel_requested = false,
			lease_worker = NULL, lease_expires_at = NULL, rescue_after = NULL, updated_at = NOW
			WHERE id = ANY($3) AND status = 'running' AND lease_worker = $4 RETURNING id, status)
		`+pgStatusEventsFrom), s.clock(), "runner shut down", ids, worker)
	b.Queue(notifyReady)
	s.queueCancelDependantsOfEnded(b)
	return s.batch(ctx, b, nil)
}

// Rescue handles running tasks whose lease has expired, as the SQLite
// store does: two-phase (mark, then take on a later pass), never the
// rescuer's own leases, each taken task back to pending with a backoff
// or failed when no attempts are left. A read comes first, so the usual
// case, nothing expired, writes nothing.
func (s *Postgres) Rescue(ctx context.Context, r RescueRequest) (int, error) {
	var one int
	err := s.pool.QueryRow(ctx, pgSQL(`SELECT 1 FROM tasks WHERE status = 'running' AND lease_expires_at < NOW
		AND lease_worker <> $2 ORDER BY lease_worker LIMIT 1`), s.clock(), r.Worker).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.classify(err)
	}
	b := &pgx.Batch{}
	b.Queue(pgSQL(`WITH changed AS (UPDATE tasks SET
			status = CASE WHEN cancel_requested THEN 'cancelled'
				WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
			error = CASE WHEN cancel_requested THEN 'cancelled'
				ELSE 'worker lost: lease of ' || lease_worker || ' expired' END,
			finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN NOW ELSE NULL END,
			run_after = NOW + ($3::bigint << least(greatest(attempts - 1, 0), 10)) * interval '1 millisecond',
			scheduled = true, cancel_requested = false, lease_worker = NULL, lease_expires_at = NULL,
			rescue_after = NULL, updated_at = NOW
			WHERE status = 'running' AND lease_expires_at < NOW AND lease_worker <> $4
				AND rescue_after IS NOT NULL AND rescue_after < NOW
			RETURNING id, status)
		`+pgStatusEventsFrom), s.clock(), "lease expired", RescueBackoffBase.Milliseconds(), r.Worker)
	b.Queue(pgSQL(`UPDATE tasks SET rescue_after = NOW + $2 * interval '1 millisecond'
		WHERE status = 'running' AND lease_expires_at < NOW AND lease_worker <> $3 AND rescue_after IS NULL`),
		s.clock(), r.Grace.Milliseconds(), r.Worker)
	s.queueCancelDependantsOfEnded(b)
	n := 0
	err = s.batch(ctx, b, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		taken, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		n = len(taken)
		if err != nil {
			return err
		}
		_, err = br.Exec()
		return err
	})
	return n, err
}

// Ready reports whether a task is ready for a claim with these filters,
// reading the pending-only indexes.
func (s *Postgres) Ready(ctx context.Context, queues, types []string) (bool, error) {
	w := pgWhere{args: []any{s.clock()}}
	pgAny(&w, "queue", queues)
	pgAny(&w, "type", types)
	cond := ""
	for _, c := range w.conds {
		cond += " AND " + c
	}
	var ready bool
	// Each probe is ordered as its index is: with statistics that lag a
	// queue's churn (100k rows pending a minute ago), the planner would
	// otherwise scan the table to find the first row.
	// (EXISTS would drop the ORDER BY.)
	cond += " AND " + pgNotPaused
	err := s.pool.QueryRow(ctx, pgSQL(`SELECT (SELECT true FROM tasks WHERE status = 'pending' AND NOT scheduled`+cond+`
			ORDER BY priority DESC, id LIMIT 1) IS NOT NULL
		OR (SELECT true FROM tasks WHERE status = 'pending' AND scheduled AND run_after <= NOW`+cond+`
			ORDER BY run_after LIMIT 1) IS NOT NULL`),
		w.args...).Scan(&ready)
	return ready, s.classify(err)
}

// CancelRequested lists the worker's running tasks flagged for cancel.
func (s *Postgres) CancelRequested(ctx context.Context, worker string) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM tasks WHERE status = 'running' AND cancel_requested AND lease_worker = $1`, worker)
	if err != nil {
		return nil, s.classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, s.classify(err)
}
