package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// scheduleColumns are a schedule's columns, each prefixed "s.", followed
// by its last task's status (joined as t).
const scheduleColumns = `s.name, s.every_ms, s.cron, s.tz, s.skip_if_running, s.paused,
	s.task_type, s.task_name, s.queue, s.priority, s.input, s.max_attempts, s.timeout_ms,
	s.next_run_at, s.last_run_at, s.last_task_id, s.skipped, s.last_skipped_at,
	s.created_at, s.updated_at, t.status`

// scheduleFrom is what scheduleColumns are read from.
const scheduleFrom = ` FROM schedules s LEFT JOIN tasks t ON t.id = s.last_task_id`

func scanSchedule(r rowScanner) (Schedule, error) {
	var sc Schedule
	var everyMS, timeoutMS, next, created, updated int64
	var input string
	var lastRun, lastTask, lastSkipped sql.NullInt64
	var status sql.NullString
	err := r.Scan(&sc.Name, &everyMS, &sc.Cron, &sc.TZ, &sc.SkipIfRunning, &sc.Paused,
		&sc.Task.Type, &sc.Task.Name, &sc.Task.Queue, &sc.Task.Priority, &input, &sc.Task.MaxAttempts, &timeoutMS,
		&next, &lastRun, &lastTask, &sc.Skipped, &lastSkipped, &created, &updated, &status)
	if err != nil {
		return sc, err
	}
	sc.Every = time.Duration(everyMS) * time.Millisecond
	sc.Task.Input = json.RawMessage(input)
	sc.Task.Timeout = time.Duration(timeoutMS) * time.Millisecond
	sc.NextRunAt, sc.CreatedAt, sc.UpdatedAt = fromMS(next), fromMS(created), fromMS(updated)
	sc.LastRunAt, sc.LastSkippedAt = fromNullMS(lastRun), fromNullMS(lastSkipped)
	sc.LastTaskID, sc.LastStatus = lastTask.Int64, Status(status.String)
	return sc, nil
}

// CreateSchedule stores sc; ErrScheduleExists when its name is taken.
func (s *SQLite) CreateSchedule(ctx context.Context, sc Schedule) error {
	if err := checkSchedule(sc); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		created := sc.CreatedAt
		if created.IsZero() {
			created = now
		}
		t := sc.Task
		if t.Queue == "" {
			t.Queue = "default"
		}
		if t.MaxAttempts < 1 {
			t.MaxAttempts = 1
		}
		if len(t.Input) == 0 {
			t.Input = json.RawMessage("{}")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO schedules (name, every_ms, cron, tz, skip_if_running,
			paused, task_type, task_name, queue, priority, input, max_attempts, timeout_ms, next_run_at,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`,
			sc.Name, sc.Every.Milliseconds(), sc.Cron, sc.TZ, sc.SkipIfRunning, sc.Paused,
			t.Type, t.Name, t.Queue, t.Priority, string(t.Input), t.MaxAttempts, t.Timeout.Milliseconds(),
			ms(sc.NextRunAt), ms(created), ms(now))
		if err != nil {
			return fmt.Errorf("create schedule %q: %w", sc.Name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("create schedule %q: %w", sc.Name, ErrScheduleExists)
		}
		return nil
	})
}

// Schedules lists every schedule by name.
func (s *SQLite) Schedules(ctx context.Context) ([]Schedule, error) {
	return s.querySchedules(ctx, s.r, `SELECT `+scheduleColumns+scheduleFrom+` ORDER BY s.name`)
}

// querySchedules reads the schedules q selects (scheduleColumns).
func (s *SQLite) querySchedules(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]Schedule, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	out := []Schedule{}
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, s.classify(err)
		}
		out = append(out, sc)
	}
	return out, s.classify(rows.Err())
}

// GetSchedule returns the named schedule.
func (s *SQLite) GetSchedule(ctx context.Context, name string) (Schedule, error) {
	sc, err := scanSchedule(s.r.QueryRowContext(ctx, `SELECT `+scheduleColumns+scheduleFrom+` WHERE s.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return sc, &ScheduleNotFoundError{Name: name}
	}
	return sc, s.classify(err)
}

// PauseSchedule stops the named schedule from enqueuing.
func (s *SQLite) PauseSchedule(ctx context.Context, name string) (bool, error) {
	return s.scheduleWrite(ctx, name, `UPDATE schedules SET paused = 1, updated_at = ? WHERE name = ? AND paused = 0`,
		ms(s.now()), name)
}

// ResumeSchedule lets a paused schedule enqueue again from next.
func (s *SQLite) ResumeSchedule(ctx context.Context, name string, next time.Time) (bool, error) {
	return s.scheduleWrite(ctx, name, `UPDATE schedules SET paused = 0, next_run_at = ?, updated_at = ?
		WHERE name = ? AND paused = 1`, ms(next), ms(s.now()), name)
}

// DeleteSchedule deletes the named schedule; its tasks stay.
func (s *SQLite) DeleteSchedule(ctx context.Context, name string) error {
	_, err := s.scheduleWrite(ctx, name, `DELETE FROM schedules WHERE name = ?`, name)
	return err
}

// scheduleWrite runs one statement on the named schedule's row: changed
// says whether it matched; a *ScheduleNotFoundError when there is no row
// of that name at all.
func (s *SQLite) scheduleWrite(ctx context.Context, name, q string, args ...any) (bool, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM schedules WHERE name = ?`, name).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &ScheduleNotFoundError{Name: name}
		}
		return err
	})
	return n > 0, err
}

// EnqueueDue enqueues the due slots of the active schedules. While none is
// due it is one read (the earliest next run), with no write lock.
func (s *SQLite) EnqueueDue(ctx context.Context, plan SlotFunc) (DueResult, error) {
	now := s.now()
	res := DueResult{Now: now}
	next, err := s.nextScheduled(ctx)
	if err != nil || next.IsZero() || next.After(now) {
		res.Next = next
		return res, err
	}
	due, err := s.querySchedules(ctx, s.r, `SELECT `+scheduleColumns+scheduleFrom+`
		WHERE s.paused = 0 AND s.next_run_at <= ? ORDER BY s.next_run_at, s.name`, ms(now))
	if err != nil {
		return res, err
	}
	var errs []error
	for _, sc := range due {
		slot, after, err := plan(sc, now)
		if err == nil && (slot.Before(sc.NextRunAt) || slot.After(now) || !after.After(now)) {
			err = fmt.Errorf("planned slot %s and next %s at %s", slot, after, now)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))
			continue
		}
		var occ *Occurrence
		err = s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			occ, err = enqueueSlot(ctx, tx, sc, slot, after, s.now())
			return err
		})
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))...)
		}
		if occ != nil {
			res.Occurrences = append(res.Occurrences, *occ)
		}
	}
	res.Next, err = s.nextScheduled(ctx)
	return res, errors.Join(append(errs, err)...)
}

// nextScheduled is the earliest next run of the active schedules; zero
// when there is none.
func (s *SQLite) nextScheduled(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT min(next_run_at) FROM schedules WHERE paused = 0`).Scan(&next)
	return fromNullMS(next), s.classify(err)
}

// enqueueSlot handles slot of sc inside tx, the write lock held: it moves
// next_run_at from sc's to next, and enqueues the slot's task or records
// it as skipped. It returns nil when another caller moved the schedule
// first (or paused or removed it): then it wrote nothing.
func enqueueSlot(ctx context.Context, tx *sql.Tx, sc Schedule, slot, next, now time.Time) (*Occurrence, error) {
	res, err := tx.ExecContext(ctx, `UPDATE schedules SET next_run_at = ?, updated_at = ?
		WHERE name = ? AND next_run_at = ? AND paused = 0`, ms(next), ms(now), sc.Name, ms(sc.NextRunAt))
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return nil, err
	}
	occ := &Occurrence{Schedule: sc.Name, Slot: slot}
	if sc.SkipIfRunning && sc.LastTaskID != 0 {
		var st Status
		err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, sc.LastTaskID).Scan(&st)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if err == nil && !st.Finished() {
			occ.TaskID, occ.Skipped = sc.LastTaskID, true
			_, err := tx.ExecContext(ctx, `UPDATE schedules SET skipped = skipped + 1, last_skipped_at = ?
				WHERE name = ?`, ms(slot), sc.Name)
			return occ, err
		}
	}
	t := occurrenceTask(sc, slot)
	err = tx.QueryRowContext(ctx, `SELECT id FROM tasks WHERE idempotency_key = ?`, t.Key).Scan(&occ.TaskID)
	switch {
	case err == nil:
		occ.Existed = true
	case errors.Is(err, sql.ErrNoRows):
		r, err := tx.ExecContext(ctx, insertTask, insertArgs(t, now)...)
		if err != nil {
			return nil, err
		}
		if occ.TaskID, err = r.LastInsertId(); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE schedules SET last_run_at = ?, last_task_id = ? WHERE name = ?`,
		ms(slot), occ.TaskID, sc.Name)
	return occ, err
}
