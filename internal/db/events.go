package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// AppendEvents appends events in one transaction, skipping those whose
// task is gone or, when fenced, no longer held by the event's worker.
func (s *SQLite) AppendEvents(ctx context.Context, evs []NewEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	var dropped int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		dropped, err = appendEvents(ctx, tx, s.now(), evs)
		return err
	})
	return dropped, err
}

// The two inserts of appendEvents. Each checks its task in the same
// statement: a task pruned meanwhile must cost only its own late events,
// not the batch they came in (a foreign-key error would roll it all back).
const (
	insertEvent = `INSERT INTO task_events (task_id, at, kind, data)
		SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?1)`
	insertFencedEvent = `INSERT INTO task_events (task_id, at, kind, data)
		SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ?1
			AND status = 'running' AND lease_worker = ?5 AND attempts = ?6)`
)

// appendEvents writes evs inside tx and returns how many it skipped.
func appendEvents(ctx context.Context, tx *sql.Tx, now time.Time, evs []NewEvent) (int, error) {
	var plain, fenced *sql.Stmt
	defer func() {
		for _, st := range []*sql.Stmt{plain, fenced} {
			if st != nil {
				st.Close()
			}
		}
	}()
	dropped := 0
	for _, e := range evs {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		var res sql.Result
		var err error
		if e.Worker == "" {
			if plain == nil {
				if plain, err = tx.PrepareContext(ctx, insertEvent); err != nil {
					return 0, err
				}
			}
			res, err = plain.ExecContext(ctx, e.TaskID, ms(now), e.Kind, string(data))
		} else {
			if fenced == nil {
				if fenced, err = tx.PrepareContext(ctx, insertFencedEvent); err != nil {
					return 0, err
				}
			}
			res, err = fenced.ExecContext(ctx, e.TaskID, ms(now), e.Kind, string(data), e.Worker, e.Attempt)
		}
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			dropped++
		}
	}
	return dropped, nil
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

// EventsSince returns events of every task with ids above afterID, oldest
// first, at most limit (0 means all): one read of the primary key feeds
// every live stream.
func (s *SQLite) EventsSince(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	q := `SELECT id, task_id, at, kind, data FROM task_events WHERE id > ? ORDER BY id`
	args := []any{afterID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return s.queryEvents(ctx, q, args...)
}

// LastEventID returns the highest event id, 0 when there is none.
func (s *SQLite) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM task_events`).Scan(&id)
	return id, s.classify(err)
}
