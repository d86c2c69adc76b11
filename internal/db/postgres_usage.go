package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgUsageKey is the grouping column of Usage on PostgreSQL, over the
// window's rows (r is the result; json, so always valid).
var pgUsageKey = map[string]string{
	UsageByModel: `coalesce(CASE WHEN json_typeof(r -> 'model') = 'string' THEN r ->> 'model' END, '')`,
	UsageByQueue: `queue`,
	UsageByType:  `type`,
}

// pgUsageNum is a number of the result at the path (keys), NULL when it is
// absent or not a number, as on SQLite.
func pgUsageNum(keys ...string) string {
	v := `r`
	for _, k := range keys[:len(keys)-1] {
		v += ` -> '` + k + `'`
	}
	last := keys[len(keys)-1]
	return `CASE WHEN json_typeof(` + v + ` -> '` + last + `') = 'number' THEN (` + v + ` ->> '` + last + `')::numeric END`
}

// pgUsageInt is pgUsageNum cut to an integer (tokens), as SQLite's CAST.
func pgUsageInt(keys ...string) string { return `trunc(` + pgUsageNum(keys...) + `)` }

// Usage is SQLite.Usage on PostgreSQL.
func (s *Postgres) Usage(ctx context.Context, since time.Time, by string) ([]UsageRow, error) {
	if err := checkUsageBy(by); err != nil {
		return nil, err
	}
	q := `SELECT k, count(*), count(*) FILTER (WHERE status = 'failed'),
			coalesce(sum(it), 0)::bigint, coalesce(sum(ct), 0)::bigint, coalesce(sum(ot), 0)::bigint,
			coalesce(sum(tt), 0)::bigint, coalesce(sum(cost), 0)::float8, count(cost)
		FROM (SELECT ` + pgUsageKey[by] + ` AS k, status,
				` + pgUsageInt("usage", "input_tokens") + ` AS it,
				` + pgUsageInt("usage", "cached_input_tokens") + ` AS ct,
				` + pgUsageInt("usage", "output_tokens") + ` AS ot,
				` + pgUsageInt("usage", "total_tokens") + ` AS tt,
				(` + pgUsageNum("cost_usd") + `)::float8 AS cost
			FROM (SELECT queue, type, status, result AS r FROM tasks
				WHERE finished_at >= $1::timestamptz AND status IN ` + finalStatuses + `) w) x
		GROUP BY k`
	rows, err := s.pool.Query(ctx, q, since.UTC())
	if err != nil {
		return nil, s.classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageRow, error) {
		var u UsageRow
		err := r.Scan(&u.Key, &u.Tasks, &u.Failed, &u.InputTokens, &u.CachedInputTokens, &u.OutputTokens,
			&u.TotalTokens, &u.CostUSD, &u.Costed)
		return u, err
	})
	if err != nil {
		return nil, s.classify(err)
	}
	if out == nil {
		out = []UsageRow{}
	}
	sortUsage(out)
	return out, nil
}
