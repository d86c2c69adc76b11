package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const approvalColumns = `id, task_id, call_id, tool, arguments, step, requested_at, expires_at,
	decision, reason, decided_by, decided_at`

func scanApproval(r rowScanner) (Approval, error) {
	var a Approval
	var args string
	var requested, expires int64
	var decision sql.NullString
	var decided sql.NullInt64
	err := r.Scan(&a.ID, &a.TaskID, &a.CallID, &a.Tool, &args, &a.Step, &requested, &expires,
		&decision, &a.Reason, &a.DecidedBy, &decided)
	a.Arguments = []byte(args)
	a.RequestedAt, a.ExpiresAt, a.DecidedAt = fromMS(requested), fromMS(expires), fromNullMS(decided)
	a.Decision = Decision(decision.String)
	return a, err
}

// Park moves a running task to waiting and opens its approval request.
func (s *SQLite) Park(ctx context.Context, p Park) (Approval, bool, error) {
	var a Approval
	var parked bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		a, parked = Approval{}, false
		now := s.now()
		var status Status
		err := tx.QueryRowContext(ctx, `UPDATE tasks SET
			status = CASE cancel_requested WHEN 1 THEN 'cancelled' ELSE 'waiting' END,
			error = CASE cancel_requested WHEN 1 THEN 'cancelled' ELSE error END,
			finished_at = CASE cancel_requested WHEN 1 THEN ? ELSE NULL END,
			attempts = max(attempts - 1, 0), cancel_requested = 0,
			lease_worker = NULL, lease_expires_at = NULL, rescue_after = NULL, updated_at = ?
			WHERE id = ? AND status = 'running' AND lease_worker = ? AND attempts = ?
			RETURNING status`, ms(now), ms(now), p.TaskID, p.Worker, p.Attempt).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if status == StatusCancelled {
			if err := statusEvent(ctx, tx, p.TaskID, now, StatusRunning, StatusCancelled, "cancelled while running"); err != nil {
				return err
			}
			return cancelDependants(ctx, tx, now, []int64{p.TaskID}) // sqlite_flow.go
		}
		a = Approval{TaskID: p.TaskID, ApprovalRequest: p.Request, RequestedAt: fromMS(ms(now)),
			ExpiresAt: fromMS(ms(now.Add(p.Timeout)))}
		a.Arguments = argumentsJSON(a.Arguments)
		if err := tx.QueryRowContext(ctx, `INSERT INTO approvals
			(task_id, call_id, tool, arguments, step, requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			RETURNING id`, a.TaskID, a.CallID, a.Tool, string(a.Arguments), a.Step,
			ms(a.RequestedAt), ms(a.ExpiresAt)).Scan(&a.ID); err != nil {
			return err
		}
		parked = true
		return writeEvents(ctx, tx, now, p.TaskID,
			[2]string{EventStatus, statusData(StatusRunning, StatusWaiting, "approval requested for "+a.Tool)},
			[2]string{EventApprovalRequested, approvalRequestedData(a)})
	})
	return a, parked, err
}

// writeEvents appends events of one task, each a kind and its data.
func writeEvents(ctx context.Context, tx *sql.Tx, at time.Time, taskID int64, evs ...[2]string) error {
	for _, e := range evs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO task_events (task_id, at, kind, data) VALUES (?, ?, ?, ?)`,
			taskID, ms(at), e[0], e[1]); err != nil {
			return err
		}
	}
	return nil
}

// Approvals lists the open requests of waiting tasks, oldest first.
func (s *SQLite) Approvals(ctx context.Context) ([]Approval, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE decision IS NULL AND task_id IN (SELECT id FROM tasks WHERE status = 'waiting')
		ORDER BY id`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	as := []Approval{}
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, s.classify(err)
		}
		as = append(as, a)
	}
	return as, s.classify(rows.Err())
}

// Decide records a decision and puts the task back to pending.
func (s *SQLite) Decide(ctx context.Context, d Decide) (Approval, error) {
	if err := checkDecide(d); err != nil {
		return Approval{}, err
	}
	var a Approval
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var status Status
		err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, d.TaskID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{ID: d.TaskID}
		}
		if err != nil {
			return err
		}
		if status != StatusWaiting {
			return &NotWaitingError{ID: d.TaskID, Status: status}
		}
		now := s.now()
		var expires int64
		err = tx.QueryRowContext(ctx, `SELECT expires_at FROM approvals WHERE task_id = ? AND decision IS NULL
			ORDER BY id DESC LIMIT 1`, d.TaskID).Scan(&expires)
		if err == nil && expires <= ms(now) {
			return &ExpiredError{ID: d.TaskID, ExpiresAt: fromMS(expires)}
		}
		a, err = s.decide(ctx, tx, d, now)
		return err
	})
	return a, err
}

// decide closes the open request of a waiting task and makes it pending.
func (s *SQLite) decide(ctx context.Context, tx *sql.Tx, d Decide, now time.Time) (Approval, error) {
	a, err := scanApproval(tx.QueryRowContext(ctx, `UPDATE approvals SET decision = ?, reason = ?,
		decided_by = ?, decided_at = ? WHERE id = (SELECT max(id) FROM approvals WHERE task_id = ? AND decision IS NULL)
		RETURNING `+approvalColumns, string(d.Decision), d.Reason, d.By, ms(now), d.TaskID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("task %d is waiting without an open approval request", d.TaskID)
	}
	if err != nil {
		return a, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tasks SET status = 'pending', run_after = ?, scheduled = 0,
		updated_at = ? WHERE id = ? AND status = 'waiting'`, ms(now), ms(now), d.TaskID); err != nil {
		return a, err
	}
	return a, writeEvents(ctx, tx, now, d.TaskID,
		[2]string{EventApprovalDecided, approvalDecidedData(a)},
		[2]string{EventStatus, statusData(StatusWaiting, StatusPending, decidedStatusReason(a.Decision, a.Tool))})
}

// ExpireApprovals denies the open requests whose time has passed.
func (s *SQLite) ExpireApprovals(ctx context.Context) (int, error) {
	now := s.now()
	// The read outside the write lock keeps an idle runner's check from
	// taking it.
	var due int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM approvals
		WHERE decision IS NULL AND expires_at <= ?`, ms(now)).Scan(&due); err != nil || due == 0 {
		return 0, s.classify(err)
	}
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT a.task_id, a.expires_at - a.requested_at FROM approvals a JOIN tasks t ON t.id = a.task_id
			WHERE a.decision IS NULL AND a.expires_at <= ? AND t.status = 'waiting' ORDER BY a.id`, ms(now))
		if err != nil {
			return err
		}
		type open struct {
			task     int64
			waitedMS int64
		}
		var opens []open
		for rows.Next() {
			var o open
			if err := rows.Scan(&o.task, &o.waitedMS); err != nil {
				rows.Close()
				return err
			}
			opens = append(opens, o)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, o := range opens {
			d := Decide{TaskID: o.task, Decision: DecisionDenied, Reason: expiredReason(time.Duration(o.waitedMS) * time.Millisecond), By: ExpiredBy}
			if _, err := s.decide(ctx, tx, d, now); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// LastApproval returns the newest request of a task.
func (s *SQLite) LastApproval(ctx context.Context, taskID int64) (Approval, bool, error) {
	a, err := scanApproval(s.r.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE task_id = ? ORDER BY id DESC LIMIT 1`, taskID))
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, false, nil
	}
	return a, err == nil, s.classify(err)
}

// SaveCheckpoint replaces a task's checkpoint while the worker holds it.
func (s *SQLite) SaveCheckpoint(ctx context.Context, c Checkpoint) (bool, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO task_checkpoints (task_id, attempt, data, updated_at)
			SELECT id, attempts, ?, ? FROM tasks WHERE id = ? AND status = 'running' AND lease_worker = ? AND attempts = ?
			ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, data = excluded.data,
			updated_at = excluded.updated_at`, string(c.Data), ms(s.now()), c.TaskID, c.Worker, c.Attempt)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}

// LoadCheckpoint returns a task's checkpoint.
func (s *SQLite) LoadCheckpoint(ctx context.Context, taskID int64) (Checkpoint, bool, error) {
	c := Checkpoint{TaskID: taskID}
	var data string
	var updated int64
	err := s.r.QueryRowContext(ctx, `SELECT attempt, data, updated_at FROM task_checkpoints WHERE task_id = ?`,
		taskID).Scan(&c.Attempt, &data, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, s.classify(err)
	}
	c.Data, c.UpdatedAt = []byte(data), fromMS(updated)
	return c, true, nil
}
