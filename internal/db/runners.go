package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// RunnerGoneAfter is how old a runner's heartbeat may be before the runner
// counts as gone (killed, its machine down). Runners beat every few
// seconds, so this is many missed beats, not one slow write.
const RunnerGoneAfter = 2 * time.Minute

// RunnerForgetAfter is the age of a heartbeat past which a starting runner
// deletes the row.
const RunnerForgetAfter = 24 * time.Hour

// ErrRunnerNotRegistered says a runner's row is not there (deleted as
// forgotten while the runner could not reach the database, say).
var ErrRunnerNotRegistered = errors.New("runner is not registered")

// Live reports whether the runner's heartbeat is recent at now.
func (r RunnerInfo) Live(now time.Time) bool {
	return now.Sub(r.HeartbeatAt) < RunnerGoneAfter
}

// RegisterRunner upserts the runner's row and forgets runners whose
// heartbeat is older than RunnerForgetAfter, in one short transaction.
func (s *SQLite) RegisterRunner(ctx context.Context, r RunnerInfo) error {
	qs, err := r.queuesJSON()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		started := r.StartedAt
		if started.IsZero() {
			started = now
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM runners WHERE heartbeat_at < ?`,
			ms(now.Add(-RunnerForgetAfter))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO runners (id, host, pid, workers, queues, started_at, heartbeat_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, workers = excluded.workers,
				queues = excluded.queues, started_at = excluded.started_at,
				heartbeat_at = excluded.heartbeat_at, version = excluded.version`,
			r.ID, r.Host, r.PID, r.Workers, qs, ms(started), ms(now), r.Version)
		return err
	})
}

// RunnerHeartbeat sets the runner's heartbeat to now.
func (s *SQLite) RunnerHeartbeat(ctx context.Context, id string) error {
	st, done, err := s.stmts.get(ctx, s.w, `UPDATE runners SET heartbeat_at = ? WHERE id = ?`)
	if err != nil {
		return s.classify(err)
	}
	defer done()
	var n int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, st).ExecContext(ctx, ms(s.now()), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		err = ErrRunnerNotRegistered
	}
	return err
}

// UnregisterRunner deletes the runner's row; a missing row is not an error.
func (s *SQLite) UnregisterRunner(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM runners WHERE id = ?`, id)
		return err
	})
}

// Runners lists every registered runner, oldest start first.
func (s *SQLite) Runners(ctx context.Context) ([]RunnerInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, host, pid, workers, queues, started_at, heartbeat_at, version
		FROM runners ORDER BY started_at, id`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	var rs []RunnerInfo
	for rows.Next() {
		var r RunnerInfo
		var queues string
		var started, beat int64
		if err := rows.Scan(&r.ID, &r.Host, &r.PID, &r.Workers, &queues, &started, &beat, &r.Version); err != nil {
			return nil, s.classify(err)
		}
		if err := json.Unmarshal([]byte(queues), &r.Queues); err != nil {
			r.Queues = nil // a row written by hand; show it as every queue
		}
		if len(r.Queues) == 0 {
			r.Queues = nil
		}
		r.StartedAt, r.HeartbeatAt = fromMS(started), fromMS(beat)
		rs = append(rs, r)
	}
	return rs, s.classify(rows.Err())
}

// CountByQueue counts tasks by queue and status, ordered by queue. It reads
// every task row (there is no index on queue), which takes a fraction of
// a second for a million tasks and no write lock.
func (s *SQLite) CountByQueue(ctx context.Context) ([]QueueCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT queue, status, count(*) FROM tasks GROUP BY queue, status ORDER BY queue, status`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	var cs []QueueCount
	for rows.Next() {
		var c QueueCount
		if err := rows.Scan(&c.Queue, &c.Status, &c.Count); err != nil {
			return nil, s.classify(err)
		}
		cs = append(cs, c)
	}
	return cs, s.classify(rows.Err())
}

// queuesJSON is the queues column: a JSON array, [] for every queue.
func (r RunnerInfo) queuesJSON() (string, error) {
	queues := r.Queues
	if queues == nil {
		queues = []string{}
	}
	b, err := json.Marshal(queues)
	return string(b), err
}
