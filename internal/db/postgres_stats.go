package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// The statements of Postgres.Stats, sent as one batch: one implicit
// transaction, so NOW is the same in each. In pgStatsBuckets $2 is the
// first bucket's start and $3 the bucket length in microseconds; in
// pgStatsDurations $2 is since. The durations read the window first
// (MATERIALIZED): left to itself, the planner read the whole table
// through tasks_type to feed the per-type median in type order (2.6 s at
// a million tasks).
const (
	pgStatsNow     = `SELECT NOW`
	pgStatsBuckets = `SELECT (extract(epoch FROM finished_at - $2::timestamptz) * 1000000)::bigint / $3::bigint,
			status, count(*) FROM tasks
		WHERE finished_at >= $2::timestamptz AND finished_at <= NOW AND status IN ` + finalStatuses + `
		GROUP BY 1, 2`
	pgStatsDurations = `WITH w AS MATERIALIZED (
			SELECT type, status, (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS d FROM tasks
			WHERE finished_at >= $2::timestamptz AND finished_at <= NOW AND started_at IS NOT NULL
				AND status IN ` + finalStatuses + `)
		SELECT type, count(*), count(*) FILTER (WHERE status = 'failed'),
			avg(d), percentile_cont(0.5) WITHIN GROUP (ORDER BY d), max(d)
		FROM w GROUP BY type`
)

// Stats is SQLite.Stats on PostgreSQL, now by the server's clock. The
// median is percentile_cont(0.5): the mean of the two middle values when
// there are two, as on SQLite.
func (s *Postgres) Stats(ctx context.Context, since time.Time, bucket time.Duration) (Stats, error) {
	// The bucket is checked before the round trip; the window once now
	// is known.
	if _, _, err := statsWindow(since, since, bucket); err != nil {
		return Stats{}, err
	}
	start := since.Truncate(bucket).UTC()
	var now time.Time
	type count struct {
		i, n   int64
		status Status
	}
	var counts []count
	st := Stats{Durations: []TypeDuration{}}
	b := &pgx.Batch{}
	clock := s.clock()
	b.Queue(pgSQL(pgStatsNow), clock).QueryRow(func(r pgx.Row) error { return r.Scan(&now) })
	b.Queue(pgSQL(pgStatsBuckets), clock, start, bucket.Microseconds()).Query(func(rows pgx.Rows) error {
		var c count
		_, err := pgx.ForEachRow(rows, []any{&c.i, &c.status, &c.n}, func() error {
			counts = append(counts, c)
			return nil
		})
		return err
	})
	b.Queue(pgSQL(pgStatsDurations), clock, since).Query(func(rows pgx.Rows) error {
		var d TypeDuration
		var avg, p50, mx float64
		_, err := pgx.ForEachRow(rows, []any{&d.Type, &d.Count, &d.Failed, &avg, &p50, &mx}, func() error {
			d.Avg, d.P50, d.Max = msDuration(avg), msDuration(p50), msDuration(mx)
			st.Durations = append(st.Durations, d)
			return nil
		})
		return err
	})
	if err := s.classify(s.pool.SendBatch(ctx, b).Close()); err != nil {
		return Stats{}, err
	}
	_, n, err := statsWindow(since, now, bucket)
	if err != nil {
		return Stats{}, err
	}
	st.Buckets = newBuckets(start, bucket, n)
	for _, c := range counts {
		addToBucket(st.Buckets, c.i, c.status, c.n)
	}
	sortDurations(st.Durations)
	return st, nil
}
