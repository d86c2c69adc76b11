package db

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// RegisterRunner upserts the runner's row and forgets runners whose
// heartbeat is older than RunnerForgetAfter, in one round trip.
func (s *Postgres) RegisterRunner(ctx context.Context, r RunnerInfo) error {
	qs, err := r.queuesJSON()
	if err != nil {
		return err
	}
	var started *time.Time
	if !r.StartedAt.IsZero() {
		started = &r.StartedAt
	}
	b := &pgx.Batch{}
	b.Queue(pgSQL(`DELETE FROM runners WHERE heartbeat_at < NOW - $2 * interval '1 millisecond'`),
		s.clock(), RunnerForgetAfter.Milliseconds())
	b.Queue(pgSQL(`INSERT INTO runners (id, host, pid, workers, queues, started_at, heartbeat_at, version)
		VALUES ($2, $3, $4, $5, $6, coalesce($7, NOW), NOW, $8)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, workers = excluded.workers,
			queues = excluded.queues, started_at = excluded.started_at,
			heartbeat_at = excluded.heartbeat_at, version = excluded.version`),
		s.clock(), pgText(r.ID), pgText(r.Host), r.PID, r.Workers, qs, started, pgText(r.Version))
	return s.batch(ctx, b, nil)
}

// RunnerHeartbeat sets the runner's heartbeat to now.
func (s *Postgres) RunnerHeartbeat(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, pgSQL(`UPDATE runners SET heartbeat_at = NOW WHERE id = $2`), s.clock(), pgText(id))
	if err != nil {
		return s.classify(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrRunnerNotRegistered
	}
	return nil
}

// UnregisterRunner deletes the runner's row; a missing row is not an error.
func (s *Postgres) UnregisterRunner(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM runners WHERE id = $1`, pgText(id))
	return s.classify(err)
}

// Runners lists every registered runner, oldest start first.
func (s *Postgres) Runners(ctx context.Context) ([]RunnerInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, host, pid, workers, queues, started_at, heartbeat_at, version
		FROM runners ORDER BY started_at, id`)
	if err != nil {
		return nil, s.classify(err)
	}
	rs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunnerInfo, error) {
		var r RunnerInfo
		var queues string
		if err := row.Scan(&r.ID, &r.Host, &r.PID, &r.Workers, &queues, &r.StartedAt, &r.HeartbeatAt, &r.Version); err != nil {
			return r, err
		}
		if err := json.Unmarshal([]byte(queues), &r.Queues); err != nil || len(r.Queues) == 0 {
			r.Queues = nil
		}
		r.StartedAt, r.HeartbeatAt = pgTime(r.StartedAt), pgTime(r.HeartbeatAt)
		return r, nil
	})
	return rs, s.classify(err)
}

// CountByQueue counts tasks by queue and status, ordered by queue.
func (s *Postgres) CountByQueue(ctx context.Context) ([]QueueCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT queue, status, count(*) FROM tasks GROUP BY queue, status ORDER BY queue, status`)
	if err != nil {
		return nil, s.classify(err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (QueueCount, error) {
		var c QueueCount
		err := row.Scan(&c.Queue, &c.Status, &c.Count)
		return c, err
	})
	return cs, s.classify(err)
}
