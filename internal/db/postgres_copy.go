package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL side of Copy (see copy.go).

// pgSnapshot is a REPEATABLE READ, READ ONLY transaction on one pooled
// connection.
type pgSnapshot struct {
	s  *Postgres
	tx pgx.Tx
}

// Export opens a repeatable-read transaction: one snapshot for every read.
func (s *Postgres) Export(ctx context.Context) (Snapshot, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.classify(err)
	}
	return &pgSnapshot{s: s, tx: tx}, nil
}

func (n *pgSnapshot) Close() error { return n.tx.Rollback(context.Background()) }

func (n *pgSnapshot) Counts(ctx context.Context) (int64, int64, error) {
	var tasks, events int64
	err := n.tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events)`).Scan(&tasks, &events)
	return tasks, events, n.s.classify(err)
}

// pgLastIDs reads the identity sequences (a value handed out by a
// transaction that rolled back counts too: harmless) and the highest ids.
const pgLastIDs = `SELECT
	greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence('tasks', 'id')::regclass), 0),
		coalesce((SELECT max(id) FROM tasks), 0)),
	greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence('task_events', 'id')::regclass), 0),
		coalesce((SELECT max(id) FROM task_events), 0))`

func (n *pgSnapshot) LastIDs(ctx context.Context) (int64, int64, error) {
	var tasks, events int64
	err := n.tx.QueryRow(ctx, pgLastIDs).Scan(&tasks, &events)
	return tasks, events, n.s.classify(err)
}

// Tasks reads tasks with their times as the server keeps them
// (microseconds), so that a copy between two PostgreSQL databases keeps
// them exactly; SQLite keeps milliseconds.
func (n *pgSnapshot) Tasks(ctx context.Context, afterID int64, limit int) ([]TaskRow, error) {
	rows, err := n.tx.Query(ctx, `SELECT `+pgTaskColumns("")+`, scheduled, rescue_after
		FROM tasks WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, n.s.classify(err)
	}
	defer rows.Close()
	out := make([]TaskRow, 0, min(limit, 10_000))
	for rows.Next() {
		var r TaskRow
		t := &r.Task
		var input string
		var result, key, worker *string
		var timeoutMS int64
		var leaseExp, started, finished, rescue *time.Time
		err := rows.Scan(&t.ID, &t.Type, &t.Name, &t.Queue, &t.Priority, &t.Status, &input, &result, &t.Error,
			&t.Attempts, &t.MaxAttempts, &t.RunAfter, &timeoutMS, &key, &worker,
			&leaseExp, &t.CancelRequested, &t.CreatedAt, &t.UpdatedAt, &started, &finished,
			&r.Scheduled, &rescue)
		if err != nil {
			return nil, n.s.classify(err)
		}
		t.Input = json.RawMessage(input)
		if result != nil {
			t.Result = json.RawMessage(*result)
		}
		t.Key, t.LeaseWorker = deref(key), deref(worker)
		t.Timeout = time.Duration(timeoutMS) * time.Millisecond
		t.RunAfter, t.CreatedAt, t.UpdatedAt = t.RunAfter.UTC(), t.CreatedAt.UTC(), t.UpdatedAt.UTC()
		t.LeaseExpires, t.StartedAt, t.FinishedAt = utcOrZero(leaseExp), utcOrZero(started), utcOrZero(finished)
		r.RescueAfter = utcOrZero(rescue)
		out = append(out, r)
	}
	return out, n.s.classify(rows.Err())
}

func (n *pgSnapshot) Events(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	rows, err := n.tx.Query(ctx, `SELECT id, task_id, at, kind, data::text FROM task_events
		WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, n.s.classify(err)
	}
	defer rows.Close()
	out := make([]Event, 0, min(limit, 10_000))
	for rows.Next() {
		var e Event
		var data string
		if err := rows.Scan(&e.ID, &e.TaskID, &e.At, &e.Kind, &data); err != nil {
			return nil, n.s.classify(err)
		}
		e.At, e.Data = e.At.UTC(), json.RawMessage(data)
		out = append(out, e)
	}
	return out, n.s.classify(rows.Err())
}

// Tokens reads the tokens with their times as the server keeps them.
func (n *pgSnapshot) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := n.tx.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, name`)
	if err != nil {
		return nil, n.s.classify(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		var expires, used *time.Time
		err := r.Scan(&t.Name, &t.Hash, &t.Scope, &t.CreatedAt, &expires, &used)
		t.CreatedAt, t.ExpiresAt, t.LastUsedAt = t.CreatedAt.UTC(), utcOrZero(expires), utcOrZero(used)
		return t, err
	})
	return ts, n.s.classify(err)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Import runs fn in one transaction that first locks the tables it writes
// against writes, so that no submit can take an id the copy is about to
// write, and no token be created meanwhile. Rows go in with COPY, into the
// tables as the migrations made them: the indexes and the events' foreign
// key are kept up row by row (dropping and re-making them would put a
// second definition of the schema in Go). After the commit the tables are
// analyzed, so that the planner knows their new size at once.
func (s *Postgres) Import(ctx context.Context, fn func(w ImportWriter) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE tasks, task_events, tokens IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var n, toks int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM tokens)`).Scan(&n, &toks); err != nil {
			return err
		}
		if n > 0 || toks > 0 {
			return &NotEmptyError{Location: s.loc, Tasks: n, Tokens: toks}
		}
		if err := fn(&pgImport{tx: tx}); err != nil {
			return err
		}
		// Runners that wait on the target claim what the copy brought.
		_, err := tx.Exec(ctx, notifyReady)
		return err
	})
	if err != nil {
		return err
	}
	// Only statistics: the copy is committed whether or not this works.
	_, _ = s.pool.Exec(ctx, `ANALYZE tasks, task_events`)
	return nil
}

// pgImport writes inside Import's transaction.
type pgImport struct {
	tx pgx.Tx
}

// pgCopyTaskColumns are the columns WriteTasks copies, in its rows' order.
func pgCopyTaskColumns() []string {
	return strings.Fields(strings.ReplaceAll(copyTaskColumns, ",", " "))
}

// WriteTasks COPYs the rows (pgx's CopyFrom, binary format). Text is made
// storable as the store's own writes make it (pgText: no NUL bytes, valid
// UTF-8); JSON goes as it is, and the server refuses JSON that is not.
func (w *pgImport) WriteTasks(ctx context.Context, rows []TaskRow) error {
	_, err := w.tx.CopyFrom(ctx, pgx.Identifier{"tasks"}, pgCopyTaskColumns(), pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := &rows[i]
		t := &r.Task
		return []any{t.ID, pgText(t.Type), pgText(t.Name), pgText(t.Queue), t.Priority, string(t.Status),
			pgJSON(t.Input, "{}"), pgJSON(t.Result, ""), pgText(t.Error), t.Attempts, t.MaxAttempts,
			pgTimeOrNull(t.RunAfter), t.Timeout.Milliseconds(), pgNullText(t.Key), pgNullText(t.LeaseWorker),
			pgTimeOrNull(t.LeaseExpires), t.CancelRequested, pgTimeOrNull(t.CreatedAt), pgTimeOrNull(t.UpdatedAt),
			pgTimeOrNull(t.StartedAt), pgTimeOrNull(t.FinishedAt), r.Scheduled, pgTimeOrNull(r.RescueAfter)}, nil
	}))
	return err
}

// WriteEvents COPYs the events.
func (w *pgImport) WriteEvents(ctx context.Context, evs []Event) error {
	_, err := w.tx.CopyFrom(ctx, pgx.Identifier{"task_events"}, []string{"id", "task_id", "at", "kind", "data"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
			e := &evs[i]
			return []any{e.ID, e.TaskID, pgTimeOrNull(e.At), pgText(e.Kind), pgJSON(e.Data, "{}")}, nil
		}))
	return err
}

// pgJSON is a JSON column's value: its text, empty when b is (NULL when
// empty is "").
func pgJSON(b []byte, empty string) any {
	switch {
	case len(b) > 0:
		return string(b)
	case empty != "":
		return empty
	}
	return nil
}

// pgNullText is a text column's value, NULL for "".
func pgNullText(s string) any {
	if s == "" {
		return nil
	}
	return pgText(s)
}

// pgTimeOrNull is a timestamptz column's value, NULL for the zero time.
func pgTimeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// WriteTokens COPYs the tokens.
func (w *pgImport) WriteTokens(ctx context.Context, ts []Token) error {
	_, err := w.tx.CopyFrom(ctx, pgx.Identifier{"tokens"}, strings.Fields(strings.ReplaceAll(tokenColumns, ",", " ")),
		pgx.CopyFromSlice(len(ts), func(i int) ([]any, error) {
			t := &ts[i]
			return []any{pgText(t.Name), t.Hash, string(t.Scope), pgTimeOrNull(t.CreatedAt),
				pgTimeOrNull(t.ExpiresAt), pgTimeOrNull(t.LastUsedAt)}, nil
		}))
	return err
}

func (w *pgImport) Counts(ctx context.Context) (int64, int64, error) {
	var tasks, events int64
	err := w.tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events)`).Scan(&tasks, &events)
	return tasks, events, err
}

// pgReserve sets a table's identity sequence so that its next value is
// above $1 and above every id in the table. setval is not transactional:
// if the copy then rolls back, the empty target merely skips those ids.
const pgReserve = `SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), greatest(m, 1), m > 0)
	FROM (SELECT greatest($1::bigint, coalesce(max(id), 0)) AS m FROM %[1]s) x`

func (w *pgImport) ReserveIDs(ctx context.Context, tasks, events int64) error {
	if _, err := w.tx.Exec(ctx, fmt.Sprintf(pgReserve, "tasks"), tasks); err != nil {
		return err
	}
	_, err := w.tx.Exec(ctx, fmt.Sprintf(pgReserve, "task_events"), events)
	return err
}
