package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgApprovalColumns = `id, task_id, call_id, tool, arguments::text, step, requested_at, expires_at,
	decision, reason, decided_by, decided_at`

func scanPGApproval(r rowScanner) (Approval, error) {
	var a Approval
	var args string
	var decision *string
	var decided *time.Time
	err := r.Scan(&a.ID, &a.TaskID, &a.CallID, &a.Tool, &args, &a.Step, &a.RequestedAt, &a.ExpiresAt,
		&decision, &a.Reason, &a.DecidedBy, &decided)
	a.Arguments = []byte(args)
	a.RequestedAt, a.ExpiresAt, a.DecidedAt = pgTime(a.RequestedAt), pgTime(a.ExpiresAt), pgNullTime(decided)
	if decision != nil {
		a.Decision = Decision(*decision)
	}
	return a, err
}

// Park moves a running task to waiting and opens its approval request.
func (s *Postgres) Park(ctx context.Context, p Park) (Approval, bool, error) {
	var a Approval
	var parked bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		a, parked = Approval{}, false
		var status Status
		err := tx.QueryRow(ctx, pgSQL(`UPDATE tasks SET
			status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'waiting' END,
			error = CASE WHEN cancel_requested THEN 'cancelled' ELSE error END,
			finished_at = CASE WHEN cancel_requested THEN NOW ELSE NULL END,
			attempts = greatest(attempts - 1, 0), cancel_requested = false,
			lease_worker = NULL, lease_expires_at = NULL, rescue_after = NULL, updated_at = NOW
			WHERE id = $2 AND status = 'running' AND lease_worker = $3 AND attempts = $4
			RETURNING status`), s.clock(), p.TaskID, p.Worker, p.Attempt).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if status == StatusCancelled {
			_, err := tx.Exec(ctx, pgSQL(pgStatusEvent), s.clock(), p.TaskID,
				statusData(StatusRunning, StatusCancelled, "cancelled while running"))
			if err == nil {
				_, err = tx.Exec(ctx, pgCancelDependantsOf, s.clock(), []int64{p.TaskID}) // postgres_flow.go
			}
			return err
		}
		a = Approval{TaskID: p.TaskID, ApprovalRequest: p.Request}
		a.Arguments = argumentsJSON(a.Arguments)
		if err := tx.QueryRow(ctx, pgSQL(`INSERT INTO approvals
			(task_id, call_id, tool, arguments, step, requested_at, expires_at)
			VALUES ($2, $3, $4, $5::json, $6, NOW, NOW + $7 * interval '1 millisecond')
			RETURNING id, requested_at, expires_at`), s.clock(), a.TaskID, pgText(a.CallID), pgText(a.Tool),
			string(a.Arguments), a.Step, p.Timeout.Milliseconds()).Scan(&a.ID, &a.RequestedAt, &a.ExpiresAt); err != nil {
			return err
		}
		a.RequestedAt, a.ExpiresAt = pgTime(a.RequestedAt), pgTime(a.ExpiresAt)
		parked = true
		return pgWriteEvents(ctx, tx, s.clock(), p.TaskID,
			[2]string{EventStatus, statusData(StatusRunning, StatusWaiting, "approval requested for "+a.Tool)},
			[2]string{EventApprovalRequested, approvalRequestedData(a)})
	})
	return a, parked, err
}

// pgWriteEvents appends events of one task, each a kind and its data.
func pgWriteEvents(ctx context.Context, tx pgx.Tx, clock any, taskID int64, evs ...[2]string) error {
	for _, e := range evs {
		if _, err := tx.Exec(ctx, pgSQL(`INSERT INTO task_events (task_id, at, kind, data) VALUES ($2, NOW, $3, $4::json)`),
			clock, taskID, e[0], e[1]); err != nil {
			return err
		}
	}
	return nil
}

// Approvals lists the open requests of waiting tasks, oldest first.
func (s *Postgres) Approvals(ctx context.Context) ([]Approval, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgApprovalColumns+` FROM approvals
		WHERE decision IS NULL AND task_id IN (SELECT id FROM tasks WHERE status = 'waiting')
		ORDER BY id`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	as := []Approval{}
	for rows.Next() {
		a, err := scanPGApproval(rows)
		if err != nil {
			return nil, s.classify(err)
		}
		as = append(as, a)
	}
	return as, s.classify(rows.Err())
}

// Decide records a decision and puts the task back to pending.
func (s *Postgres) Decide(ctx context.Context, d Decide) (Approval, error) {
	if err := checkDecide(d); err != nil {
		return Approval{}, err
	}
	var a Approval
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var status Status
		err := tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1 FOR UPDATE`, d.TaskID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return &NotFoundError{ID: d.TaskID}
		}
		if err != nil {
			return err
		}
		if status != StatusWaiting {
			return &NotWaitingError{ID: d.TaskID, Status: status}
		}
		var expires time.Time
		var expired bool
		err = tx.QueryRow(ctx, pgSQL(`SELECT expires_at, expires_at <= NOW FROM approvals
			WHERE task_id = $2 AND decision IS NULL ORDER BY id DESC LIMIT 1`), s.clock(), d.TaskID).Scan(&expires, &expired)
		if err == nil && expired {
			return &ExpiredError{ID: d.TaskID, ExpiresAt: pgTime(expires)}
		}
		a, err = s.decide(ctx, tx, d)
		return err
	})
	return a, err
}

// decide closes the open request of a waiting task, locked by the caller,
// and makes the task pending.
func (s *Postgres) decide(ctx context.Context, tx pgx.Tx, d Decide) (Approval, error) {
	a, err := scanPGApproval(tx.QueryRow(ctx, pgSQL(`UPDATE approvals SET decision = $2, reason = $3,
		decided_by = $4, decided_at = NOW
		WHERE id = (SELECT max(id) FROM approvals WHERE task_id = $5 AND decision IS NULL)
		RETURNING `+pgApprovalColumns), s.clock(), string(d.Decision), pgText(d.Reason), pgText(d.By), d.TaskID))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("task %d is waiting without an open approval request", d.TaskID)
	}
	if err != nil {
		return a, err
	}
	if _, err := tx.Exec(ctx, pgSQL(`UPDATE tasks SET status = 'pending', run_after = NOW, scheduled = false,
		updated_at = NOW WHERE id = $2 AND status = 'waiting'`), s.clock(), d.TaskID); err != nil {
		return a, err
	}
	if err := pgWriteEvents(ctx, tx, s.clock(), d.TaskID,
		[2]string{EventApprovalDecided, approvalDecidedData(a)},
		[2]string{EventStatus, statusData(StatusWaiting, StatusPending, decidedStatusReason(a.Decision, a.Tool))}); err != nil {
		return a, err
	}
	_, err = tx.Exec(ctx, notifyReady)
	return a, err
}

// ExpireApprovals denies the open requests whose time has passed.
func (s *Postgres) ExpireApprovals(ctx context.Context) (int, error) {
	var due bool
	if err := s.pool.QueryRow(ctx, pgSQL(`SELECT EXISTS (SELECT 1 FROM approvals
		WHERE decision IS NULL AND expires_at <= NOW)`), s.clock()).Scan(&due); err != nil || !due {
		return 0, s.classify(err)
	}
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, pgSQL(`SELECT t.id, (extract(epoch FROM a.expires_at - a.requested_at) * 1000)::bigint FROM approvals a
			JOIN tasks t ON t.id = a.task_id
			WHERE a.decision IS NULL AND a.expires_at <= NOW AND t.status = 'waiting'
			ORDER BY a.id FOR UPDATE OF t SKIP LOCKED`), s.clock())
		if err != nil {
			return err
		}
		type open struct {
			task     int64
			waitedMS int64
		}
		opens, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (open, error) {
			var o open
			return o, r.Scan(&o.task, &o.waitedMS)
		})
		if err != nil {
			return err
		}
		for _, o := range opens {
			d := Decide{TaskID: o.task, Decision: DecisionDenied, Reason: expiredReason(time.Duration(o.waitedMS) * time.Millisecond), By: ExpiredBy}
			if _, err := s.decide(ctx, tx, d); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// LastApproval returns the newest request of a task.
func (s *Postgres) LastApproval(ctx context.Context, taskID int64) (Approval, bool, error) {
	a, err := scanPGApproval(s.pool.QueryRow(ctx, `SELECT `+pgApprovalColumns+` FROM approvals
		WHERE task_id = $1 ORDER BY id DESC LIMIT 1`, taskID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Approval{}, false, nil
	}
	return a, err == nil, s.classify(err)
}

// SaveCheckpoint replaces a task's checkpoint while the worker holds it.
func (s *Postgres) SaveCheckpoint(ctx context.Context, c Checkpoint) (bool, error) {
	tag, err := s.pool.Exec(ctx, pgSQL(`INSERT INTO task_checkpoints (task_id, attempt, data, updated_at)
		SELECT id, attempts, $2::json, NOW FROM tasks
		WHERE id = $3 AND status = 'running' AND lease_worker = $4 AND attempts = $5
		ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, data = excluded.data,
		updated_at = excluded.updated_at`), s.clock(), string(c.Data), c.TaskID, c.Worker, c.Attempt)
	if err != nil {
		return false, s.classify(err)
	}
	return tag.RowsAffected() > 0, nil
}

// LoadCheckpoint returns a task's checkpoint.
func (s *Postgres) LoadCheckpoint(ctx context.Context, taskID int64) (Checkpoint, bool, error) {
	c := Checkpoint{TaskID: taskID}
	var data string
	err := s.pool.QueryRow(ctx, `SELECT attempt, data::text, updated_at FROM task_checkpoints WHERE task_id = $1`,
		taskID).Scan(&c.Attempt, &data, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, s.classify(err)
	}
	c.Data, c.UpdatedAt = []byte(data), pgTime(c.UpdatedAt)
	return c, true, nil
}
