package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// AppendEvents appends events in one transaction.
func (s *SQLite) AppendEvents(ctx context.Context, evs []NewEvent) error {
	if len(evs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		return appendEvents(ctx, tx, s.now(), evs)
	})
}

func appendEvents(ctx context.Context, tx *sql.Tx, now time.Time, evs []NewEvent) error {
	st, err := tx.PrepareContext(ctx, `INSERT INTO task_events (task_id, at, kind, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, e := range evs {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		if _, err := st.ExecContext(ctx, e.TaskID, ms(now), e.Kind, string(data)); err != nil {
			return err
		}
	}
	return nil
}

// Events returns a task's events after afterID, oldest first; limit 0 means
// all of them.
func (s *SQLite) Events(ctx context.Context, taskID, afterID int64, limit int) ([]Event, error) {
	q := `SELECT id, task_id, at, kind, data FROM task_events WHERE task_id = ? AND id > ? ORDER BY id`
	args := []any{taskID, afterID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return s.queryEvents(ctx, q, args...)
}

// LastEvents returns a task's newest n events, oldest first, and the count of
// all its events, reading only those n rows and the index.
func (s *SQLite) LastEvents(ctx context.Context, taskID int64, n int) ([]Event, int64, error) {
	var total int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM task_events WHERE task_id = ?`, taskID).Scan(&total); err != nil {
		return nil, 0, s.classify(err)
	}
	evs, err := s.queryEvents(ctx, `SELECT * FROM (SELECT id, task_id, at, kind, data FROM task_events
		WHERE task_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id`, taskID, n)
	return evs, total, err
}

func (s *SQLite) queryEvents(ctx context.Context, q string, args ...any) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	var evs []Event
	for rows.Next() {
		var e Event
		var at int64
		var data string
		if err := rows.Scan(&e.ID, &e.TaskID, &at, &e.Kind, &data); err != nil {
			return nil, err
		}
		e.At, e.Data = fromMS(at), json.RawMessage(data)
		evs = append(evs, e)
	}
	return evs, s.classify(rows.Err())
}
