package db

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// Events returns a task's events after afterID, oldest first; limit 0 means
// all of them.
func (s *Postgres) Events(ctx context.Context, taskID, afterID int64, limit int) ([]Event, error) {
	q := `SELECT id, task_id, at, kind, data::text FROM task_events WHERE task_id = $1 AND id > $2 ORDER BY id`
	args := []any{taskID, afterID}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	return s.queryEvents(ctx, q, args...)
}

// LastEvents returns a task's newest n events, oldest first, and the count
// of all its events.
func (s *Postgres) LastEvents(ctx context.Context, taskID int64, n int) ([]Event, int64, error) {
	var total int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM task_events WHERE task_id = $1`, taskID).Scan(&total); err != nil {
		return nil, 0, s.classify(err)
	}
	evs, err := s.queryEvents(ctx, `SELECT * FROM (SELECT id, task_id, at, kind, data::text FROM task_events
		WHERE task_id = $1 ORDER BY id DESC LIMIT $2) e ORDER BY id`, taskID, n)
	return evs, total, err
}

func (s *Postgres) queryEvents(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.classify(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var data string
		var at time.Time
		err := r.Scan(&e.ID, &e.TaskID, &at, &e.Kind, &data)
		e.At, e.Data = pgTime(at), json.RawMessage(data)
		return e, err
	})
	return evs, s.classify(err)
}

// EventsSince returns events of every task with ids above afterID, oldest
// first, at most limit (0 means all).
func (s *Postgres) EventsSince(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	q := `SELECT id, task_id, at, kind, data::text FROM task_events WHERE id > $1 ORDER BY id`
	args := []any{afterID}
	if limit > 0 {
		q += ` LIMIT $2`
		args = append(args, limit)
	}
	return s.queryEvents(ctx, q, args...)
}

// LastEventID returns the highest event id, 0 when there is none.
func (s *Postgres) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM task_events`).Scan(&id)
	return id, s.classify(err)
}
