package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// customPlan runs a statement as an unnamed one (its description cached),
// which the server plans for the values it is given each time. A cached
// prepared statement gets a generic plan after five runs, planned for
// average values: for a page of tasks of one status or queue that plan
// walks the primary key newest first and filters, which reads every newer
// task when the matching ones are old (240 ms for a queue last used long
// ago at a million tasks, 0.3 ms with the index the values call for).
const customPlan = pgx.QueryExecModeCacheDescribe

// pgTaskWhere is taskWhere for PostgreSQL: w gets the conditions that
// select f's tasks; page adds f.BeforeID, the cursor.
func pgTaskWhere(w *pgWhere, f Filter, page bool) {
	pgIn(w, "status", f.Statuses)
	pgIn(w, "type", f.Types)
	pgIn(w, "queue", f.Queues)
	if !f.Since.IsZero() {
		w.add("created_at >= $?", f.Since)
	}
	if page && f.BeforeID > 0 {
		w.add("id < $?", f.BeforeID)
	}
	if f.Search != "" {
		// Search ignores the case of ASCII letters only, as SQLite's LIKE
		// does: lower() under the C collation lowers those and nothing
		// else, where ILIKE and lower() under the database's collation
		// follow its locale. (translate() did the same at 18 times the
		// cost: 6 s to search a million names.)
		w.add(`lower(name COLLATE "C") LIKE $? ESCAPE '\'`, pgText(lowerASCII(likeContains(f.Search))))
		if id, ok := searchID(f.Search); ok {
			last := len(w.conds) - 1
			w.args = append(w.args, id)
			w.conds[last] = fmt.Sprintf("(%s OR id = $%d)", w.conds[last], len(w.args))
		}
	}
}

// pgIn adds "col = $n" for one value, which the planner matches with an
// index on (col, id) to read it in id order, and "col = ANY($n)" for more.
func pgIn[T any](w *pgWhere, col string, vals []T) {
	switch len(vals) {
	case 0:
	case 1:
		w.add(col+" = $?", vals[0])
	default:
		w.add(col+" = ANY($?)", vals)
	}
}

// lowerASCII lowers the ASCII letters of s and nothing else.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// List returns tasks newest first.
func (s *Postgres) List(ctx context.Context, f Filter) ([]Task, error) {
	q, args := pgListQuery(f)
	rows, err := s.pool.Query(ctx, q, append([]any{customPlan}, args...)...)
	if err != nil {
		return nil, s.classify(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) { return scanPGTask(r) })
	return ts, s.classify(err)
}

// pgListQuery is List's statement and its arguments. A page is read as
// ids first, then their rows: with only ids to find, the planner walks the
// index the filter calls for, where for whole rows it chose to walk the
// primary key newest first and filter, which reads every newer task when
// the matching ones are old (20 ms for failed tasks behind 100,000
// pending ones). A filter of several values per column is split as on
// SQLite (see listBranches).
func pgListQuery(f Filter) (string, []any) {
	if f.Limit <= 0 {
		w := pgWhere{}
		pgTaskWhere(&w, f, true)
		return `SELECT ` + pgTaskColumns("") + ` FROM tasks` + w.sql() + ` ORDER BY id DESC`, w.args
	}
	bs := listBranches(f)
	if bs == nil {
		bs = []Filter{f}
	}
	var sel []string
	var args []any
	for _, b := range bs {
		w := pgWhere{args: args}
		pgTaskWhere(&w, b, true)
		args = w.args
		sel = append(sel, fmt.Sprintf(`(SELECT id FROM tasks%s ORDER BY id DESC LIMIT %d)`, w.sql(), f.Limit))
	}
	ids := sel[0]
	if len(sel) > 1 {
		ids = `SELECT id FROM (` + strings.Join(sel, " UNION ALL ") + fmt.Sprintf(`) b ORDER BY id DESC LIMIT %d`, f.Limit)
	}
	return `SELECT ` + pgTaskColumns("") + ` FROM tasks WHERE id IN (` + ids + `) ORDER BY id DESC`, args
}

// CountMatching counts f's tasks (its Limit and BeforeID aside), reading
// at most max of them; max <= 0 means no cap.
func (s *Postgres) CountMatching(ctx context.Context, f Filter, max int64) (int64, bool, error) {
	w := pgWhere{}
	pgTaskWhere(&w, f, false)
	q := `SELECT count(*) FROM tasks` + w.sql()
	if max > 0 {
		w.args = append(w.args, max)
		q = fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM tasks%s LIMIT $%d) m`, w.sql(), len(w.args))
	}
	var n int64
	if err := s.pool.QueryRow(ctx, q, append([]any{customPlan}, w.args...)...).Scan(&n); err != nil {
		return 0, false, s.classify(err)
	}
	return n, max > 0 && n >= max, nil
}
