package db

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// taskWhere is the WHERE clause (with its leading " WHERE ", or "") and
// the arguments that select f's tasks. page adds f.BeforeID, the cursor;
// CountMatching leaves it out.
func taskWhere(f Filter, page bool) (string, []any) {
	var where []string
	var args []any
	where, args = inList(where, args, "status", f.Statuses)
	where, args = inList(where, args, "type", f.Types)
	where, args = inList(where, args, "queue", f.Queues)
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, ms(f.Since))
	}
	if page && f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	if f.Search != "" {
		// SQLite's LIKE ignores the case of ASCII letters only, which is
		// what Search promises (PostgreSQL's query matches it).
		cond := `name LIKE ? ESCAPE '\'`
		args = append(args, likeContains(f.Search))
		if id, ok := searchID(f.Search); ok {
			cond = "(" + cond + " OR id = ?)"
			args = append(args, id)
		}
		where = append(where, cond)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// likeContains is a LIKE pattern (escape character \) that matches text
// containing s, its wildcards taken literally.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// searchID is the task id a search text names: a decimal number, digits
// only, that fits an id.
func searchID(s string) (int64, bool) {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

// inList appends "col IN (?, ?, ...)" for vals to the where clauses.
func inList[T any](where []string, args []any, col string, vals []T) ([]string, []any) {
	if len(vals) == 0 {
		return where, args
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(vals)), ", ")
	for _, v := range vals {
		args = append(args, v)
	}
	return append(where, col+" IN ("+ph+")"), args
}

// maxListBranches is how many branches listBranches makes at most. Each
// reads at most a page of index entries, so even the largest split costs
// less than one sort of a busy queue's tasks.
const maxListBranches = 16

// listBranches splits the filter of a page (f.Limit > 0) whose status,
// type or queue lists hold several values into filters of one value each
// (their cross product), whose pages, merged, are f's page. The indexes
// (status, id), (queue, id), (type, id) and their pairs give the tasks of
// one status, queue and type in id order, so a branch reads at most a
// page of index entries; a list of several values would make the database
// read every task that matches and sort them (85 ms for two statuses in
// the busiest queue of a million tasks). It returns nil when there is
// nothing to split, or more than maxListBranches branches: such a filter
// is close to no filter, and scanning the table newest first finds its
// page soon.
func listBranches(f Filter) []Filter {
	if f.Limit <= 0 {
		return nil
	}
	statuses, types, queues := distinct(f.Statuses), distinct(f.Types), distinct(f.Queues)
	n := max(1, len(statuses)) * max(1, len(types)) * max(1, len(queues))
	if n < 2 || n > maxListBranches {
		return nil
	}
	one := func(v []string, i int) []string {
		if len(v) == 0 {
			return nil
		}
		return v[i : i+1]
	}
	var bs []Filter
	for i := range max(1, len(statuses)) {
		for j := range max(1, len(types)) {
			for k := range max(1, len(queues)) {
				b := f
				b.Statuses = nil
				if len(statuses) > 0 {
					b.Statuses = []Status{statuses[i]}
				}
				b.Types, b.Queues = one(types, j), one(queues, k)
				bs = append(bs, b)
			}
		}
	}
	return bs
}

// distinct returns vals without repeats, in their first order.
func distinct[T comparable](vals []T) []T {
	var out []T
	for _, v := range vals {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// List returns tasks newest first.
func (s *SQLite) List(ctx context.Context, f Filter) ([]Task, error) {
	q, args := listQuery(f)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	var ts []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, s.classify(rows.Err())
}

// listQuery is List's statement and its arguments.
func listQuery(f Filter) (string, []any) {
	bs := listBranches(f)
	if bs == nil {
		where, args := taskWhere(f, true)
		q := `SELECT ` + taskColumns + ` FROM tasks` + where + ` ORDER BY id DESC`
		if f.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", f.Limit)
		}
		return q, args
	}
	// The ids of the page: each branch's newest (from an index alone when
	// the filter is status, type and queue only), merged; then their rows,
	// by primary key.
	var sel []string
	var args []any
	for _, b := range bs {
		where, bargs := taskWhere(b, true)
		sel = append(sel, fmt.Sprintf(`SELECT id FROM (SELECT id FROM tasks%s ORDER BY id DESC LIMIT %d)`, where, f.Limit))
		args = append(args, bargs...)
	}
	return `SELECT ` + taskColumns + ` FROM tasks WHERE id IN (` + strings.Join(sel, " UNION ALL ") +
		fmt.Sprintf(` ORDER BY id DESC LIMIT %d) ORDER BY id DESC`, f.Limit), args
}

// CountMatching counts f's tasks (its Limit and BeforeID aside), reading
// at most max of them; max <= 0 means no cap.
func (s *SQLite) CountMatching(ctx context.Context, f Filter, max int64) (int64, bool, error) {
	where, args := taskWhere(f, false)
	q := `SELECT count(*) FROM tasks` + where
	if max > 0 {
		q = `SELECT count(*) FROM (SELECT 1 FROM tasks` + where + ` LIMIT ?)`
		args = append(args, max)
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, false, s.classify(err)
	}
	return n, max > 0 && n >= max, nil
}
