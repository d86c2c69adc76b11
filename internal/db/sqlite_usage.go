package db

import (
	"context"
	"time"
)

// sqliteUsageKey is the grouping column of Usage on SQLite, over the
// window's rows (r is the result, NULL when it is not valid JSON).
var sqliteUsageKey = map[string]string{
	UsageByModel: `coalesce(CASE WHEN json_type(r, '$.model') = 'text' THEN json_extract(r, '$.model') END, '')`,
	UsageByQueue: `queue`,
	UsageByType:  `type`,
}

// sqliteUsageNum is a number of the result at path, NULL when it is absent
// or not a number (a result is written by a handler, but a store may hold
// anything: a bad value is left out, never an error).
func sqliteUsageNum(path string) string {
	return `CASE WHEN json_type(r, '` + path + `') IN ('integer', 'real') THEN json_extract(r, '` + path + `') END`
}

// sqliteUsageInt is sqliteUsageNum cut to an integer (tokens).
func sqliteUsageInt(path string) string { return `CAST(` + sqliteUsageNum(path) + ` AS INTEGER)` }

// Usage sums up finished tasks by model, queue or type (see UsageStore).
// It reads the window through tasks_finished and each task's result,
// and aggregates in SQL: the cost grows with the tasks in the window.
func (s *SQLite) Usage(ctx context.Context, since time.Time, by string) ([]UsageRow, error) {
	if err := checkUsageBy(by); err != nil {
		return nil, err
	}
	q := `SELECT k, count(*), sum(status = 'failed'),
			coalesce(sum(it), 0), coalesce(sum(ct), 0), coalesce(sum(ot), 0), coalesce(sum(tt), 0),
			total(cost), count(cost)
		FROM (SELECT ` + sqliteUsageKey[by] + ` AS k, status,
				` + sqliteUsageInt(`$.usage.input_tokens`) + ` AS it,
				` + sqliteUsageInt(`$.usage.cached_input_tokens`) + ` AS ct,
				` + sqliteUsageInt(`$.usage.output_tokens`) + ` AS ot,
				` + sqliteUsageInt(`$.usage.total_tokens`) + ` AS tt,
				` + sqliteUsageNum(`$.cost_usd`) + ` AS cost
			FROM (SELECT queue, type, status, CASE WHEN json_valid(result) THEN result END AS r
				FROM tasks WHERE finished_at >= ? AND status IN ` + finalStatuses + `))
		GROUP BY k`
	rows, err := s.r.QueryContext(ctx, q, ms(since))
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	out := []UsageRow{}
	for rows.Next() {
		var u UsageRow
		if err := rows.Scan(&u.Key, &u.Tasks, &u.Failed, &u.InputTokens, &u.CachedInputTokens, &u.OutputTokens,
			&u.TotalTokens, &u.CostUSD, &u.Costed); err != nil {
			return nil, s.classify(err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.classify(err)
	}
	sortUsage(out)
	return out, nil
}
