package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgScheduleColumns is scheduleColumns with JSON read as text.
const pgScheduleColumns = `s.name, s.every_ms, s.cron, s.tz, s.skip_if_running, s.paused,
	s.task_type, s.task_name, s.queue, s.priority, s.input::text, s.max_attempts, s.timeout_ms,
	s.next_run_at, s.last_run_at, s.last_task_id, s.skipped, s.last_skipped_at,
	s.created_at, s.updated_at, t.status`

// pgSchedule is a schedule as read, with next_run_at as the server has it
// (microseconds), which the conditional update compares with.
type pgSchedule struct {
	Schedule
	rawNext time.Time
}

func scanPGSchedule(r rowScanner) (pgSchedule, error) {
	var sc pgSchedule
	var everyMS, timeoutMS int64
	var input string
	var lastRun, lastSkipped *time.Time
	var lastTask *int64
	var status *string
	err := r.Scan(&sc.Name, &everyMS, &sc.Cron, &sc.TZ, &sc.SkipIfRunning, &sc.Paused,
		&sc.Task.Type, &sc.Task.Name, &sc.Task.Queue, &sc.Task.Priority, &input, &sc.Task.MaxAttempts, &timeoutMS,
		&sc.rawNext, &lastRun, &lastTask, &sc.Skipped, &lastSkipped, &sc.CreatedAt, &sc.UpdatedAt, &status)
	if err != nil {
		return sc, err
	}
	sc.Every = time.Duration(everyMS) * time.Millisecond
	sc.Task.Input = json.RawMessage(input)
	sc.Task.Timeout = time.Duration(timeoutMS) * time.Millisecond
	sc.NextRunAt, sc.CreatedAt, sc.UpdatedAt = pgTime(sc.rawNext), pgTime(sc.CreatedAt), pgTime(sc.UpdatedAt)
	sc.LastRunAt, sc.LastSkippedAt = pgNullTime(lastRun), pgNullTime(lastSkipped)
	if lastTask != nil {
		sc.LastTaskID = *lastTask
	}
	if status != nil {
		sc.LastStatus = Status(*status)
	}
	return sc, nil
}

// CreateSchedule stores sc; ErrScheduleExists when its name is taken.
func (s *Postgres) CreateSchedule(ctx context.Context, sc Schedule) error {
	if err := checkSchedule(sc); err != nil {
		return err
	}
	r := pgNewRow(sc.Task)
	var created *time.Time
	if !sc.CreatedAt.IsZero() {
		created = &sc.CreatedAt
	}
	tag, err := s.pool.Exec(ctx, pgSQL(`INSERT INTO schedules (name, every_ms, cron, tz, skip_if_running,
		paused, task_type, task_name, queue, priority, input, max_attempts, timeout_ms, next_run_at,
		created_at, updated_at) VALUES ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::json, $13, $14, $15,
		coalesce($16, NOW), NOW) ON CONFLICT (name) DO NOTHING`), s.clock(),
		pgText(sc.Name), sc.Every.Milliseconds(), pgText(sc.Cron), pgText(sc.TZ), sc.SkipIfRunning, sc.Paused,
		r.typ, r.name, r.queue, r.priority, r.input, r.maxAttempts, r.timeoutMS, sc.NextRunAt, created)
	if err != nil {
		return s.classify(fmt.Errorf("create schedule %q: %w", sc.Name, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create schedule %q: %w", sc.Name, ErrScheduleExists)
	}
	return nil
}

// Schedules lists every schedule by name.
func (s *Postgres) Schedules(ctx context.Context) ([]Schedule, error) {
	pss, err := s.querySchedules(ctx, s.pool, `SELECT `+pgScheduleColumns+scheduleFrom+` ORDER BY s.name`)
	out := make([]Schedule, len(pss))
	for i, ps := range pss {
		out[i] = ps.Schedule
	}
	return out, err
}

func (s *Postgres) querySchedules(ctx context.Context, q pgQuerier, query string, args ...any) ([]pgSchedule, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, s.classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pgSchedule, error) { return scanPGSchedule(r) })
	return out, s.classify(err)
}

// GetSchedule returns the named schedule.
func (s *Postgres) GetSchedule(ctx context.Context, name string) (Schedule, error) {
	sc, err := scanPGSchedule(s.pool.QueryRow(ctx, `SELECT `+pgScheduleColumns+scheduleFrom+` WHERE s.name = $1`, pgText(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Schedule{}, &ScheduleNotFoundError{Name: name}
	}
	return sc.Schedule, s.classify(err)
}

// PauseSchedule stops the named schedule from enqueuing.
func (s *Postgres) PauseSchedule(ctx context.Context, name string) (bool, error) {
	return s.scheduleWrite(ctx, name, pgSQL(`UPDATE schedules SET paused = true, updated_at = NOW
		WHERE name = $2 AND NOT paused`), s.clock(), pgText(name))
}

// ResumeSchedule lets a paused schedule enqueue again from next.
func (s *Postgres) ResumeSchedule(ctx context.Context, name string, next time.Time) (bool, error) {
	return s.scheduleWrite(ctx, name, pgSQL(`UPDATE schedules SET paused = false, next_run_at = $3, updated_at = NOW
		WHERE name = $2 AND paused`), s.clock(), pgText(name), next)
}

// DeleteSchedule deletes the named schedule; its tasks stay.
func (s *Postgres) DeleteSchedule(ctx context.Context, name string) error {
	_, err := s.scheduleWrite(ctx, name, `DELETE FROM schedules WHERE name = $1`, pgText(name))
	return err
}

// scheduleWrite runs q with args on the named schedule's row: changed
// says whether it matched; a *ScheduleNotFoundError when there is no row
// of that name at all.
func (s *Postgres) scheduleWrite(ctx context.Context, name, q string, args ...any) (bool, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n > 0 {
			return nil
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM schedules WHERE name = $1`, pgText(name)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return &ScheduleNotFoundError{Name: name}
		}
		return err
	})
	return n > 0, err
}

// EnqueueDue enqueues the due slots of the active schedules, by the
// server's clock. While none is due it is one read.
func (s *Postgres) EnqueueDue(ctx context.Context, plan SlotFunc) (DueResult, error) {
	var res DueResult
	next, err := s.nextScheduled(ctx, &res.Now)
	if err != nil || next.IsZero() || next.After(res.Now) {
		res.Next = next
		return res, err
	}
	due, err := s.querySchedules(ctx, s.pool, `SELECT `+pgScheduleColumns+scheduleFrom+`
		WHERE NOT s.paused AND s.next_run_at <= $1 ORDER BY s.next_run_at, s.name`, res.Now)
	if err != nil {
		return res, err
	}
	var errs []error
	for _, sc := range due {
		slot, after, err := plan(sc.Schedule, res.Now)
		if err == nil && (slot.Before(sc.NextRunAt) || slot.After(res.Now) || !after.After(res.Now)) {
			err = fmt.Errorf("planned slot %s and next %s at %s", slot, after, res.Now)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))
			continue
		}
		var occ *Occurrence
		err = s.tx(ctx, func(tx pgx.Tx) error {
			var err error
			occ, err = s.enqueueSlot(ctx, tx, sc, slot, after)
			return err
		})
		if err != nil {
			return res, errors.Join(append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))...)
		}
		if occ != nil {
			res.Occurrences = append(res.Occurrences, *occ)
		}
	}
	var now time.Time
	res.Next, err = s.nextScheduled(ctx, &now)
	return res, errors.Join(append(errs, err)...)
}

// nextScheduled is the earliest next run of the active schedules (zero
// when there is none); it sets *now to the server's clock.
func (s *Postgres) nextScheduled(ctx context.Context, now *time.Time) (time.Time, error) {
	var next *time.Time
	err := s.pool.QueryRow(ctx, pgSQL(`SELECT NOW, min(next_run_at) FROM schedules WHERE NOT paused`), s.clock()).
		Scan(now, &next)
	*now = pgTime(*now)
	return pgNullTime(next), s.classify(err)
}

// enqueueSlot handles slot of sc inside tx: it moves next_run_at from
// sc's to next (the update takes the row's lock; a concurrent caller's
// update waits for it, then matches no row), and enqueues the slot's task
// or records it as skipped. It returns nil when another caller moved the
// schedule first (or paused or removed it): then it wrote nothing.
func (s *Postgres) enqueueSlot(ctx context.Context, tx pgx.Tx, sc pgSchedule, slot, next time.Time) (*Occurrence, error) {
	name := pgText(sc.Name)
	tag, err := tx.Exec(ctx, pgSQL(`UPDATE schedules SET next_run_at = $3, updated_at = NOW
		WHERE name = $2 AND next_run_at = $4 AND NOT paused`), s.clock(), name, next, sc.rawNext)
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err
	}
	occ := &Occurrence{Schedule: sc.Name, Slot: slot}
	if sc.SkipIfRunning && sc.LastTaskID != 0 {
		var st Status
		err := tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1`, sc.LastTaskID).Scan(&st)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if err == nil && !st.Finished() {
			occ.TaskID, occ.Skipped = sc.LastTaskID, true
			_, err := tx.Exec(ctx, `UPDATE schedules SET skipped = skipped + 1, last_skipped_at = $2
				WHERE name = $1`, name, slot)
			return occ, err
		}
	}
	t := occurrenceTask(sc.Schedule, slot)
	key := pgText(t.Key)
	err = tx.QueryRow(ctx, `SELECT id FROM tasks WHERE idempotency_key = $1`, key).Scan(&occ.TaskID)
	switch {
	case err == nil:
		occ.Existed = true
	case errors.Is(err, pgx.ErrNoRows):
		r := pgNewRow(t)
		if err := tx.QueryRow(ctx, pgSQL(pgInsertKeyed), s.clock(), r.typ, r.name, r.queue, r.priority, r.input,
			r.maxAttempts, r.runAfter, r.timeoutMS, key).Scan(&occ.TaskID); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, notifyReady); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	_, err = tx.Exec(ctx, `UPDATE schedules SET last_run_at = $2, last_task_id = $3 WHERE name = $1`,
		name, slot, occ.TaskID)
	return occ, err
}
