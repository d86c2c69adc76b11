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

func (n *pgSnapshot) Counts(ctx context.Context) (CopyCounts, error) {
	var c CopyCounts
	err := n.tx.QueryRow(ctx, copyCountsQuery).Scan(countsDest(&c)...)
	return c, n.s.classify(err)
}

// pgLastID reads a table's identity sequence (a value handed out by a
// transaction that rolled back counts too: harmless) and its highest id.
const pgLastID = `greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence('%[1]s', 'id')::regclass), 0),
		coalesce((SELECT max(id) FROM %[1]s), 0))`

// pgLastIDs reads the last ids of the tables in CopyIDs' order.
var pgLastIDs = `SELECT ` + fmt.Sprintf(pgLastID, "tasks") + `, ` + fmt.Sprintf(pgLastID, "task_events") + `, ` +
	fmt.Sprintf(pgLastID, "approvals") + `, ` + fmt.Sprintf(pgLastID, "notify_outbox")

func (n *pgSnapshot) LastIDs(ctx context.Context) (CopyIDs, error) {
	var ids CopyIDs
	err := n.tx.QueryRow(ctx, pgLastIDs).Scan(&ids.Tasks, &ids.Events, &ids.Approvals, &ids.Notifications)
	return ids, n.s.classify(err)
}

// Tasks reads tasks with their times as the server keeps them
// (microseconds), so that a copy between two PostgreSQL databases keeps
// them exactly; SQLite keeps milliseconds. So do the other reads.
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
		var scheduled *bool
		err := rows.Scan(&t.ID, &t.Type, &t.Name, &t.Queue, &t.Priority, &t.Status, &input, &result, &t.Error,
			&t.Attempts, &t.MaxAttempts, &t.RunAfter, &timeoutMS, &key, &worker,
			&leaseExp, &t.CancelRequested, &t.CreatedAt, &t.UpdatedAt, &started, &finished,
			&scheduled, &rescue)
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
		// NULL is blocked (migration 10).
		r.Scheduled, r.Blocked = scheduled != nil && *scheduled, scheduled == nil
		r.RescueAfter = utcOrZero(rescue)
		out = append(out, r)
	}
	return out, n.s.classify(rows.Err())
}

// pgCollect runs q in the snapshot and scans each row with scan (into a
// list that is empty, not nil, when there are none).
func pgCollect[T any](ctx context.Context, n *pgSnapshot, q string, scan func(pgx.CollectableRow) (T, error), args ...any) ([]T, error) {
	rows, err := n.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, n.s.classify(err)
	}
	out, err := pgx.AppendRows([]T{}, rows, scan)
	return out, n.s.classify(err)
}

func (n *pgSnapshot) Events(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	return pgCollect(ctx, n, `SELECT id, task_id, at, kind, data::text FROM task_events
		WHERE id > $1 ORDER BY id LIMIT $2`, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var data string
		err := r.Scan(&e.ID, &e.TaskID, &e.At, &e.Kind, &data)
		e.At, e.Data = e.At.UTC(), json.RawMessage(data)
		return e, err
	}, afterID, limit)
}

func (n *pgSnapshot) Approvals(ctx context.Context, afterID int64, limit int) ([]Approval, error) {
	return pgCollect(ctx, n, `SELECT `+strings.Replace(copyApprovalColumns, "arguments", "arguments::text", 1)+`
		FROM approvals WHERE id > $1 ORDER BY id LIMIT $2`, func(r pgx.CollectableRow) (Approval, error) {
		var a Approval
		var args string
		var decision *string
		var decided *time.Time
		err := r.Scan(&a.ID, &a.TaskID, &a.CallID, &a.Tool, &args, &a.Step, &a.RequestedAt, &a.ExpiresAt,
			&decision, &a.Reason, &a.DecidedBy, &decided)
		a.Arguments, a.Decision = json.RawMessage(args), Decision(deref(decision))
		a.RequestedAt, a.ExpiresAt, a.DecidedAt = a.RequestedAt.UTC(), a.ExpiresAt.UTC(), utcOrZero(decided)
		return a, err
	}, afterID, limit)
}

func (n *pgSnapshot) Checkpoints(ctx context.Context, afterTaskID int64, limit int) ([]Checkpoint, error) {
	return pgCollect(ctx, n, `SELECT task_id, attempt, data::text, updated_at FROM task_checkpoints
		WHERE task_id > $1 ORDER BY task_id LIMIT $2`, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		var data string
		err := r.Scan(&c.TaskID, &c.Attempt, &data, &c.UpdatedAt)
		c.Data, c.UpdatedAt = json.RawMessage(data), c.UpdatedAt.UTC()
		return c, err
	}, afterTaskID, limit)
}

func (n *pgSnapshot) Dependencies(ctx context.Context, after TaskDep, limit int) ([]TaskDep, error) {
	return pgCollect(ctx, n, `SELECT `+copyDepColumns+` FROM task_deps
		WHERE (task_id, depends_on) > ($1, $2) ORDER BY task_id, depends_on LIMIT $3`, func(r pgx.CollectableRow) (TaskDep, error) {
		var d TaskDep
		return d, r.Scan(&d.TaskID, &d.DependsOn)
	}, after.TaskID, after.DependsOn, limit)
}

func (n *pgSnapshot) Notifications(ctx context.Context, afterID int64, limit int) ([]OutboxRow, error) {
	return pgCollect(ctx, n, `SELECT `+copyOutboxColumns+` FROM notify_outbox WHERE id > $1 ORDER BY id LIMIT $2`,
		func(r pgx.CollectableRow) (OutboxRow, error) {
			var o OutboxRow
			var worker *string
			err := r.Scan(&o.ID, &o.TaskID, &o.Status, &o.Rule, &o.CreatedAt, &o.Attempts, &o.NextTryAt, &worker, &o.LastError)
			o.CreatedAt, o.NextTryAt, o.LeaseWorker = o.CreatedAt.UTC(), o.NextTryAt.UTC(), deref(worker)
			return o, err
		}, afterID, limit)
}

// Tokens reads the tokens with their times as the server keeps them.
func (n *pgSnapshot) Tokens(ctx context.Context) ([]Token, error) {
	return pgCollect(ctx, n, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, name`, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		var expires, used *time.Time
		err := r.Scan(&t.Name, &t.Hash, &t.Scope, &t.CreatedAt, &expires, &used)
		t.CreatedAt, t.ExpiresAt, t.LastUsedAt = t.CreatedAt.UTC(), utcOrZero(expires), utcOrZero(used)
		return t, err
	})
}

// Schedules, Queues and NotifyRules are ordered as SQLite orders text (by
// its bytes), whatever the database's collation.
func (n *pgSnapshot) Schedules(ctx context.Context) ([]Schedule, error) {
	return pgCollect(ctx, n, `SELECT `+strings.Replace(copyScheduleColumns, "input", "input::text", 1)+`
		FROM schedules ORDER BY name COLLATE "C"`, func(r pgx.CollectableRow) (Schedule, error) {
		var sc Schedule
		var everyMS, timeoutMS int64
		var input string
		var lastRun, lastSkipped *time.Time
		var lastTask *int64
		err := r.Scan(&sc.Name, &everyMS, &sc.Cron, &sc.TZ, &sc.SkipIfRunning, &sc.Paused,
			&sc.Task.Type, &sc.Task.Name, &sc.Task.Queue, &sc.Task.Priority, &input, &sc.Task.MaxAttempts, &timeoutMS,
			&sc.NextRunAt, &lastRun, &lastTask, &sc.Skipped, &lastSkipped, &sc.CreatedAt, &sc.UpdatedAt)
		sc.Every, sc.Task.Timeout = time.Duration(everyMS)*time.Millisecond, time.Duration(timeoutMS)*time.Millisecond
		sc.Task.Input = json.RawMessage(input)
		sc.NextRunAt, sc.CreatedAt, sc.UpdatedAt = sc.NextRunAt.UTC(), sc.CreatedAt.UTC(), sc.UpdatedAt.UTC()
		sc.LastRunAt, sc.LastSkippedAt = utcOrZero(lastRun), utcOrZero(lastSkipped)
		if lastTask != nil {
			sc.LastTaskID = *lastTask
		}
		return sc, err
	})
}

func (n *pgSnapshot) Queues(ctx context.Context) ([]QueueState, error) {
	return pgCollect(ctx, n, `SELECT `+copyQueueColumns+` FROM queues ORDER BY name COLLATE "C"`, func(r pgx.CollectableRow) (QueueState, error) {
		var q QueueState
		err := r.Scan(&q.Name, &q.Paused, &q.UpdatedAt)
		q.UpdatedAt = q.UpdatedAt.UTC()
		return q, err
	})
}

func (n *pgSnapshot) NotifyRules(ctx context.Context) ([]NotifyRuleRow, error) {
	return pgCollect(ctx, n, `SELECT `+copyNotifyRuleColumns+` FROM notify_rules ORDER BY status COLLATE "C", rule COLLATE "C"`,
		func(r pgx.CollectableRow) (NotifyRuleRow, error) {
			var x NotifyRuleRow
			err := r.Scan(&x.Status, &x.Rule, &x.Queue, &x.TaskType, &x.SeenAt)
			x.SeenAt = x.SeenAt.UTC()
			return x, err
		})
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

// copyTables are the tables Import writes.
const copyTables = `tasks, task_events, approvals, task_checkpoints, task_deps, notify_outbox,
	tokens, schedules, queues, notify_rules`

// Import runs fn in one transaction that first locks the tables it writes
// against writes, so that no submit can take an id the copy is about to
// write, and no token, schedule or pause be made meanwhile. Rows go in
// with COPY, into the tables as the migrations made them: the indexes and
// the foreign keys are kept up row by row (dropping and re-making them
// would put a second definition of the schema in Go). After the commit
// the tables are analyzed, so that the planner knows their new size at
// once.
func (s *Postgres) Import(ctx context.Context, fn func(w ImportWriter) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+copyTables+` IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		ne := &NotEmptyError{Location: s.loc}
		if err := tx.QueryRow(ctx, notEmptyQuery).Scan(&ne.Tasks, &ne.Tokens, &ne.Schedules, &ne.Queues); err != nil {
			return err
		}
		if !ne.empty() {
			return ne
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
	_, _ = s.pool.Exec(ctx, `ANALYZE `+copyTables)
	return nil
}

// pgImport writes inside Import's transaction.
type pgImport struct {
	tx pgx.Tx
}

// pgColumns splits a list of columns.
func pgColumns(cols string) []string {
	return strings.Fields(strings.ReplaceAll(cols, ",", " "))
}

// pgCopy COPYs rows into table (pgx's CopyFrom, binary format); row
// returns a row's values in the order of cols.
func pgCopy[R any](ctx context.Context, w *pgImport, table, cols string, rows []R, row func(r *R) []any) error {
	_, err := w.tx.CopyFrom(ctx, pgx.Identifier{table}, pgColumns(cols), pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return row(&rows[i]), nil
	}))
	return err
}

// pgScheduled is the scheduled column's value of a task: NULL when it is
// blocked.
func pgScheduled(r *TaskRow) any {
	if r.Blocked {
		return nil
	}
	return r.Scheduled
}

// WriteTasks COPYs the rows. Text is made storable as the store's own
// writes make it (pgText: no NUL bytes, valid UTF-8); JSON goes as it is,
// and the server refuses JSON that is not. So do the other writes.
func (w *pgImport) WriteTasks(ctx context.Context, rows []TaskRow) error {
	return pgCopy(ctx, w, "tasks", copyTaskColumns, rows, func(r *TaskRow) []any {
		t := &r.Task
		return []any{t.ID, pgText(t.Type), pgText(t.Name), pgText(t.Queue), t.Priority, string(t.Status),
			pgJSON(t.Input, "{}"), pgJSON(t.Result, ""), pgText(t.Error), t.Attempts, t.MaxAttempts,
			pgTimeOrNull(t.RunAfter), t.Timeout.Milliseconds(), pgNullText(t.Key), pgNullText(t.LeaseWorker),
			pgTimeOrNull(t.LeaseExpires), t.CancelRequested, pgTimeOrNull(t.CreatedAt), pgTimeOrNull(t.UpdatedAt),
			pgTimeOrNull(t.StartedAt), pgTimeOrNull(t.FinishedAt), pgScheduled(r), pgTimeOrNull(r.RescueAfter)}
	})
}

func (w *pgImport) WriteEvents(ctx context.Context, evs []Event) error {
	return pgCopy(ctx, w, "task_events", "id, task_id, at, kind, data", evs, func(e *Event) []any {
		return []any{e.ID, e.TaskID, pgTimeOrNull(e.At), pgText(e.Kind), pgJSON(e.Data, "{}")}
	})
}

func (w *pgImport) WriteApprovals(ctx context.Context, as []Approval) error {
	return pgCopy(ctx, w, "approvals", copyApprovalColumns, as, func(a *Approval) []any {
		return []any{a.ID, a.TaskID, pgText(a.CallID), pgText(a.Tool), pgJSON(a.Arguments, "{}"), a.Step,
			pgTimeOrNull(a.RequestedAt), pgTimeOrNull(a.ExpiresAt), nullDecision(a.Decision), pgText(a.Reason),
			pgText(a.DecidedBy), pgTimeOrNull(a.DecidedAt)}
	})
}

func (w *pgImport) WriteCheckpoints(ctx context.Context, cs []Checkpoint) error {
	return pgCopy(ctx, w, "task_checkpoints", copyCheckpointColumns, cs, func(c *Checkpoint) []any {
		return []any{c.TaskID, c.Attempt, pgJSON(c.Data, "{}"), pgTimeOrNull(c.UpdatedAt)}
	})
}

func (w *pgImport) WriteDependencies(ctx context.Context, ds []TaskDep) error {
	return pgCopy(ctx, w, "task_deps", copyDepColumns, ds, func(d *TaskDep) []any {
		return []any{d.TaskID, d.DependsOn}
	})
}

func (w *pgImport) WriteNotifications(ctx context.Context, ns []OutboxRow) error {
	return pgCopy(ctx, w, "notify_outbox", copyOutboxColumns, ns, func(o *OutboxRow) []any {
		return []any{o.ID, o.TaskID, pgText(string(o.Status)), pgText(o.Rule), pgTimeOrNull(o.CreatedAt), o.Attempts,
			pgTimeOrNull(o.NextTryAt), pgNullText(o.LeaseWorker), pgText(o.LastError)}
	})
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

func (w *pgImport) WriteTokens(ctx context.Context, ts []Token) error {
	return pgCopy(ctx, w, "tokens", tokenColumns, ts, func(t *Token) []any {
		return []any{pgText(t.Name), t.Hash, string(t.Scope), pgTimeOrNull(t.CreatedAt),
			pgTimeOrNull(t.ExpiresAt), pgTimeOrNull(t.LastUsedAt)}
	})
}

func (w *pgImport) WriteSchedules(ctx context.Context, ss []Schedule) error {
	return pgCopy(ctx, w, "schedules", copyScheduleColumns, ss, func(s *Schedule) []any {
		t := &s.Task
		return []any{pgText(s.Name), s.Every.Milliseconds(), pgText(s.Cron), pgText(s.TZ), s.SkipIfRunning, s.Paused,
			pgText(t.Type), pgText(t.Name), pgText(t.Queue), t.Priority, pgJSON(t.Input, "{}"), t.MaxAttempts,
			t.Timeout.Milliseconds(), pgTimeOrNull(s.NextRunAt), pgTimeOrNull(s.LastRunAt), nullID(s.LastTaskID),
			s.Skipped, pgTimeOrNull(s.LastSkippedAt), pgTimeOrNull(s.CreatedAt), pgTimeOrNull(s.UpdatedAt)}
	})
}

func (w *pgImport) WriteQueues(ctx context.Context, qs []QueueState) error {
	return pgCopy(ctx, w, "queues", copyQueueColumns, qs, func(q *QueueState) []any {
		return []any{pgText(q.Name), q.Paused, pgTimeOrNull(q.UpdatedAt)}
	})
}

// WriteNotifyRules INSERTs the rules (COPY cannot merge): there are few.
func (w *pgImport) WriteNotifyRules(ctx context.Context, rs []NotifyRuleRow) error {
	for _, r := range rs {
		if _, err := w.tx.Exec(ctx, `INSERT INTO notify_rules (`+copyNotifyRuleColumns+`)
			VALUES ($1, $2, $3, $4, $5)`+notifyRuleMerge, pgText(string(r.Status)), pgText(r.Rule), pgText(r.Queue),
			pgText(r.TaskType), pgTimeOrNull(r.SeenAt)); err != nil {
			return fmt.Errorf("rule %q: %w", r.Rule, err)
		}
	}
	return nil
}

func (w *pgImport) Counts(ctx context.Context) (CopyCounts, error) {
	var c CopyCounts
	err := w.tx.QueryRow(ctx, copyCountsQuery).Scan(countsDest(&c)...)
	return c, err
}

// pgReserve sets a table's identity sequence so that its next value is
// above $1 and above every id in the table (COPY with explicit ids does
// not move it). setval is not transactional: if the copy then rolls back,
// the empty target merely skips those ids.
const pgReserve = `SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), greatest(m, 1), m > 0)
	FROM (SELECT greatest($1::bigint, coalesce(max(id), 0)) AS m FROM %[1]s) x`

func (w *pgImport) ReserveIDs(ctx context.Context, ids CopyIDs) error {
	for _, p := range []struct {
		table string
		id    int64
	}{{"tasks", ids.Tasks}, {"task_events", ids.Events}, {"approvals", ids.Approvals}, {"notify_outbox", ids.Notifications}} {
		if _, err := w.tx.Exec(ctx, fmt.Sprintf(pgReserve, p.table), p.id); err != nil {
			return err
		}
	}
	return nil
}
