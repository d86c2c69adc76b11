package db

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"
)

// sqliteBlocked is the scheduled value of a pending task still waiting for
// a dependency (see migration 10): in neither claim index.
const sqliteBlocked = 2

// idsJSON is ids as a JSON array, bound to one parameter and read with
// json_each, so that a statement's text does not depend on how many ids
// there are.
func idsJSON(ids []int64) string {
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// addDependencies writes the dependencies of a batch's new tasks inside its
// transaction, after their rows: the edges, the blocked mark of those that
// wait, and the cancel of those whose dependency already failed or was
// cancelled (with a status event each).
func addDependencies(ctx context.Context, tx *sql.Tx, now time.Time, ts []NewTask, out []SubmitResult) error {
	if !hasDependencies(ts) {
		return nil
	}
	p, err := planDependencies(ts, out, func(ids []int64) (map[int64]Status, error) {
		rows, err := tx.QueryContext(ctx, `SELECT id, status FROM tasks WHERE id IN (SELECT value FROM json_each(?))`, idsJSON(ids))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		st := make(map[int64]Status, len(ids))
		for rows.Next() {
			var id int64
			var s Status
			if err := rows.Scan(&id, &s); err != nil {
				return nil, err
			}
			st[id] = s
		}
		return st, rows.Err()
	})
	if err != nil {
		return err
	}
	edge, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO task_deps (task_id, depends_on) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer edge.Close()
	for i := range p.task {
		if _, err := edge.ExecContext(ctx, p.task[i], p.dep[i]); err != nil {
			return err
		}
	}
	if len(p.blocked) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET scheduled = ? WHERE id IN (SELECT value FROM json_each(?))`,
			sqliteBlocked, idsJSON(p.blocked)); err != nil {
			return err
		}
	}
	_, err = cancelBlocked(ctx, tx, now, p.cancelled, p.reasons, "")
	return err
}

// cancelBlocked cancels the pending tasks ids, each with its reason, and
// writes their status events. With cond set, only rows matching it change
// (the blocked ones); it returns the ids it cancelled.
func cancelBlocked(ctx context.Context, tx *sql.Tx, now time.Time, ids []int64, reasons []string, cond string) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	st, err := tx.PrepareContext(ctx, `UPDATE tasks SET status = 'cancelled', error = ?, finished_at = ?,
		scheduled = 0, updated_at = ? WHERE id = ? AND status = 'pending'`+cond)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var done []int64
	var cs []statusChange
	for i, id := range ids {
		res, err := st.ExecContext(ctx, reasons[i], ms(now), ms(now), id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		done = append(done, id)
		cs = append(cs, statusChange{id: id, data: statusData(StatusPending, StatusCancelled, reasons[i])})
	}
	return done, writeStatusEvents(ctx, tx, now, cs)
}

// anyDependencies and dependantsProbe find whether any task depends on
// another, and on one of the ids $1.
const (
	anyDependencies = `SELECT 1 FROM task_deps LIMIT 1`
	dependantsProbe = `SELECT 1 FROM task_deps WHERE depends_on IN (SELECT value FROM json_each(?)) LIMIT 1`
)

// prepareFlow prepares, when the store opens, the statements every Finish
// runs (see unblockDependants); a database without task_deps yet (opened
// read-only, not migrated) goes without.
func (s *SQLite) prepareFlow(ctx context.Context) {
	for _, q := range []string{anyDependencies, dependantsProbe} {
		if _, done, err := s.stmts.get(ctx, s.w, q); err == nil {
			done()
		}
	}
}

// probe reports whether q finds a row, inside tx, with q's prepared
// statement when the cache holds it.
func (s *SQLite) probe(ctx context.Context, tx *sql.Tx, q string, args ...any) (bool, error) {
	var row *sql.Row
	if st, ok := s.stmts.peek(s.w, q); ok {
		tst := tx.StmtContext(ctx, st)
		defer tst.Close()
		row = tst.QueryRowContext(ctx, args...)
	} else {
		row = tx.QueryRowContext(ctx, q, args...)
	}
	var one int
	err := row.Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// peek returns q prepared on pool p if the cache holds it, without
// preparing it: inside a transaction on p's only connection, preparing
// would wait for that connection.
func (c *stmtCache) peek(p *sql.DB, q string) (*sql.Stmt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[stmtKey{p, q}]
	return st, ok
}

// unblockDependants makes ready the blocked dependants of ids whose
// dependencies have now all completed: scheduled 0, or 1 when their
// run_after is still ahead (the claim promotes them when it comes).
func (s *SQLite) unblockDependants(ctx context.Context, tx *sql.Tx, now time.Time, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	// The usual case, no dependencies anywhere, costs one read of one
	// index page, and no dependants of these tasks a second one, with
	// statements prepared once (parsing them costs several times more).
	list := idsJSON(ids)
	for _, p := range []struct {
		q    string
		args []any
	}{{anyDependencies, nil}, {dependantsProbe, []any{list}}} {
		found, err := s.probe(ctx, tx, p.q, p.args...)
		if err != nil || !found {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE tasks SET scheduled = CASE WHEN run_after > ?1 THEN 1 ELSE 0 END, updated_at = ?1
		WHERE id IN (SELECT task_id FROM task_deps WHERE depends_on IN (SELECT value FROM json_each(?2)))
			AND status = 'pending' AND scheduled = ?3
			AND NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks x ON x.id = d.depends_on
				WHERE d.task_id = tasks.id AND x.status <> 'completed')`,
		ms(now), list, sqliteBlocked)
	return err
}

// cancelDependants cancels the blocked dependants of ids (tasks that failed
// for good or were cancelled), then theirs, down the chain, each with a
// status event and the error "dependency N failed" (or cancelled) naming
// the dependency it waited for. Tasks that no longer wait (they already
// ran) are left alone.
func cancelDependants(ctx context.Context, tx *sql.Tx, now time.Time, ids []int64) error {
	for len(ids) > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT d.task_id, d.depends_on, x.status FROM task_deps d
			JOIN tasks x ON x.id = d.depends_on JOIN tasks t ON t.id = d.task_id
			WHERE d.depends_on IN (SELECT value FROM json_each(?)) AND x.status IN ('failed', 'cancelled')
				AND t.status = 'pending' AND t.scheduled = ?
			ORDER BY d.task_id, d.depends_on`, idsJSON(ids), sqliteBlocked)
		if err != nil {
			return err
		}
		var next []int64
		var reasons []string
		for rows.Next() {
			var id, dep int64
			var st Status
			if err := rows.Scan(&id, &dep, &st); err != nil {
				rows.Close()
				return err
			}
			if len(next) > 0 && next[len(next)-1] == id {
				continue // the first failed dependency names the reason
			}
			next, reasons = append(next, id), append(reasons, dependencyError(dep, st))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if ids, err = cancelBlocked(ctx, tx, now, next, reasons, " AND scheduled = "+strconv.Itoa(sqliteBlocked)); err != nil {
			return err
		}
	}
	return nil
}

// settleOutcomes is Finish's hook: the dependants of the outcomes it
// stored (those not in lost) become ready or are cancelled, in the same
// transaction.
func (s *SQLite) settleOutcomes(ctx context.Context, tx *sql.Tx, now time.Time, outs []Outcome, lost []int64) error {
	completed, gone := settled(outs, lost)
	if err := s.unblockDependants(ctx, tx, now, completed); err != nil {
		return err
	}
	return cancelDependants(ctx, tx, now, gone)
}

// cancelDependantsOfEnded is the hook of Rescue and Release, whose
// statements do not return ids to the caller: the tasks this transaction
// failed or cancelled are those that finished at now (tasks_finished
// reads them), and their dependants are cancelled. Another transaction's
// tasks that finished in the same millisecond are found too, which is
// harmless: their dependants are cancelled already.
func cancelDependantsOfEnded(ctx context.Context, tx *sql.Tx, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM tasks WHERE finished_at = ? AND status IN ('failed', 'cancelled')`, ms(now))
	if err != nil {
		return err
	}
	ids, err := scanIDs(rows)
	if err != nil {
		return err
	}
	return cancelDependants(ctx, tx, now, ids)
}

// transitionDependencies is the hook of a single task's transition (cancel,
// retry): a task cancelled (or failed) cancels its blocked dependants; a
// task retried (failed or cancelled back to pending) waits again for
// dependencies not yet completed, and is refused when one of them failed or
// was cancelled.
func transitionDependencies(ctx context.Context, tx *sql.Tx, now time.Time, id int64, from, to Status) error {
	switch {
	case to == StatusCancelled || to == StatusFailed:
		return cancelDependants(ctx, tx, now, []int64{id})
	case to == StatusPending && (from == StatusFailed || from == StatusCancelled):
		rows, err := tx.QueryContext(ctx, `SELECT x.id, x.status FROM task_deps d JOIN tasks x ON x.id = d.depends_on
			WHERE d.task_id = ? ORDER BY x.id`, id)
		if err != nil {
			return err
		}
		refs, err := scanRefs(rows)
		if err != nil {
			return err
		}
		blocked, err := retryBlocked(id, refs)
		if err != nil || !blocked {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET scheduled = ? WHERE id = ?`, sqliteBlocked, id)
		return err
	}
	return nil
}

// retryBlocked says whether task id, retried, waits for one of its
// dependencies refs, or why it may not be retried.
func retryBlocked(id int64, refs []TaskRef) (bool, error) {
	blocked := false
	for _, r := range refs {
		switch r.Status {
		case StatusCompleted:
		case StatusFailed, StatusCancelled:
			return false, &DependencyFailedError{ID: id, Dependency: r.ID, Status: r.Status}
		default:
			blocked = true
		}
	}
	return blocked, nil
}

// scanRefs reads (id, status) rows and closes them.
func scanRefs(rows *sql.Rows) ([]TaskRef, error) {
	defer rows.Close()
	refs := []TaskRef{}
	for rows.Next() {
		var r TaskRef
		if err := rows.Scan(&r.ID, &r.Status); err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	return refs, rows.Err()
}

// Dependencies returns what task id runs after and what runs after it.
func (s *SQLite) Dependencies(ctx context.Context, id int64) (Dependencies, error) {
	var d Dependencies
	for _, q := range []struct {
		dst *[]TaskRef
		sql string
	}{
		{&d.After, `SELECT x.id, x.status FROM task_deps d JOIN tasks x ON x.id = d.depends_on WHERE d.task_id = ? ORDER BY x.id`},
		{&d.Dependants, `SELECT x.id, x.status FROM task_deps d JOIN tasks x ON x.id = d.task_id WHERE d.depends_on = ? ORDER BY x.id`},
	} {
		rows, err := s.r.QueryContext(ctx, q.sql, id)
		if err != nil {
			return d, s.classify(err)
		}
		if *q.dst, err = scanRefs(rows); err != nil {
			return d, s.classify(err)
		}
	}
	return d, nil
}

// BlockedBy returns the dependencies not yet completed of those of ids
// that are blocked.
func (s *SQLite) BlockedBy(ctx context.Context, ids []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	for len(ids) > 0 {
		n := min(len(ids), 10_000)
		rows, err := s.r.QueryContext(ctx, `SELECT d.task_id, d.depends_on FROM task_deps d
			JOIN tasks t ON t.id = d.task_id JOIN tasks x ON x.id = d.depends_on
			WHERE d.task_id IN (SELECT value FROM json_each(?)) AND t.status = 'pending' AND t.scheduled = ?
				AND x.status <> 'completed'
			ORDER BY d.task_id, d.depends_on`, idsJSON(ids[:n]), sqliteBlocked)
		if err != nil {
			return nil, s.classify(err)
		}
		if err := scanBlocked(rows, out); err != nil {
			return nil, s.classify(err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// scanBlocked reads (task, dependency) rows into m and closes them.
func scanBlocked(rows *sql.Rows, m map[int64][]int64) error {
	defer rows.Close()
	for rows.Next() {
		var id, dep int64
		if err := rows.Scan(&id, &dep); err != nil {
			return err
		}
		m[id] = append(m[id], dep)
	}
	return rows.Err()
}
