package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgTaskColumns is taskColumns for PostgreSQL, JSON read as text, each
// column prefixed with alias (and a dot) when one is given.
func pgTaskColumns(alias string) string {
	p := ""
	if alias != "" {
		p = alias + "."
	}
	return p + `id, ` + p + `type, ` + p + `name, ` + p + `queue, ` + p + `priority, ` + p + `status, ` +
		p + `input::text, ` + p + `result::text, ` + p + `error, ` + p + `attempts, ` + p + `max_attempts, ` +
		p + `run_after, ` + p + `timeout_ms, ` + p + `idempotency_key, ` + p + `lease_worker, ` +
		p + `lease_expires_at, ` + p + `cancel_requested, ` + p + `created_at, ` + p + `updated_at, ` +
		p + `started_at, ` + p + `finished_at`
}

// pgTime is a time read from the server, as the SQLite store reports it:
// UTC, in milliseconds.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func pgNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return pgTime(*t)
}

func scanPGTask(r rowScanner) (Task, error) {
	var t Task
	var input string
	var result, key, worker *string
	var timeoutMS int64
	var leaseExp, started, finished *time.Time
	err := r.Scan(&t.ID, &t.Type, &t.Name, &t.Queue, &t.Priority, &t.Status, &input, &result, &t.Error,
		&t.Attempts, &t.MaxAttempts, &t.RunAfter, &timeoutMS, &key, &worker,
		&leaseExp, &t.CancelRequested, &t.CreatedAt, &t.UpdatedAt, &started, &finished)
	if err != nil {
		return t, err
	}
	t.Input = json.RawMessage(input)
	if result != nil {
		t.Result = json.RawMessage(*result)
	}
	if key != nil {
		t.Key = *key
	}
	if worker != nil {
		t.LeaseWorker = *worker
	}
	t.RunAfter, t.CreatedAt, t.UpdatedAt = pgTime(t.RunAfter), pgTime(t.CreatedAt), pgTime(t.UpdatedAt)
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.LeaseExpires, t.StartedAt, t.FinishedAt = pgNullTime(leaseExp), pgNullTime(started), pgNullTime(finished)
	return t, nil
}

// pgText makes s storable in a text column: PostgreSQL refuses NUL bytes
// and invalid UTF-8, which SQLite stores as given.
func pgText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// notifyReady wakes listening runners (see Postgres.Wake). It runs inside
// the transaction that made tasks ready, once however many rows it wrote;
// the server delivers it at commit.
const notifyReady = `SELECT pg_notify('` + readyChannel + `', '')`

// readyChannel is the LISTEN/NOTIFY channel.
const readyChannel = "opsctl_ready"

// pgInsertTasks inserts keyless tasks from arrays, in order. Each row of a
// batch is one element of each array, so the statement's text never
// depends on how many rows there are.
const pgInsertTasks = `INSERT INTO tasks (type, name, queue, priority, status, input, attempts,
	max_attempts, run_after, scheduled, timeout_ms, created_at, updated_at)
	SELECT u.type, u.name, u.queue, u.priority, 'pending', u.input::json, 0, u.max_attempts,
		coalesce(u.run_after, NOW), coalesce(u.run_after > NOW, false), u.timeout_ms, NOW, NOW
	FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::timestamptz[], $9::bigint[])
		WITH ORDINALITY AS u(type, name, queue, priority, input, max_attempts, run_after, timeout_ms, ord)
	ORDER BY u.ord
	RETURNING id`

// pgInsertKeyed inserts one task unless its key is taken.
const pgInsertKeyed = `INSERT INTO tasks (type, name, queue, priority, status, input, attempts,
	max_attempts, run_after, scheduled, timeout_ms, idempotency_key, created_at, updated_at)
	VALUES ($2, $3, $4, $5, 'pending', $6::json, 0, $7, coalesce($8, NOW), coalesce($8 > NOW, false), $9, $10, NOW, NOW)
	ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING id`

// pgInsertChunk is how many rows one array insert stores.
const pgInsertChunk = 5000

// pgRow is a NewTask with the defaults filled, as the inserts bind it.
type pgRow struct {
	typ, name, queue, input string
	priority, maxAttempts   int
	runAfter                *time.Time
	timeoutMS               int64
}

func pgNewRow(t NewTask) pgRow {
	r := pgRow{typ: pgText(t.Type), name: pgText(t.Name), queue: pgText(t.Queue), input: string(t.Input),
		priority: t.Priority, maxAttempts: t.MaxAttempts, timeoutMS: t.Timeout.Milliseconds()}
	if r.queue == "" {
		r.queue = "default"
	}
	if r.maxAttempts < 1 {
		r.maxAttempts = 1
	}
	if r.input == "" {
		r.input = "{}"
	}
	if !t.RunAfter.IsZero() {
		ra := t.RunAfter
		r.runAfter = &ra
	}
	return r
}

// Submit stores one pending task, or returns the task that already holds
// its key.
func (s *Postgres) Submit(ctx context.Context, t NewTask) (SubmitResult, error) {
	rs, err := s.SubmitBatch(ctx, []NewTask{t})
	if err != nil {
		return SubmitResult{}, err
	}
	return rs[0], nil
}

// SubmitBatch stores all tasks in one transaction, all or nothing, and
// wakes listening runners once at its commit. Runs of keyless tasks go in
// array inserts of pgInsertChunk rows; a task with a key is inserted on its
// own (ON CONFLICT DO NOTHING), so a key repeated within the batch, or
// submitted by another process at the same moment, finds the first task.
func (s *Postgres) SubmitBatch(ctx context.Context, ts []NewTask) ([]SubmitResult, error) {
	out := make([]SubmitResult, len(ts))
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKeys(ctx, tx, ts); err != nil {
			return err
		}
		start := 0
		for i, t := range ts {
			if t.Key == "" {
				if i+1-start == pgInsertChunk {
					if err := s.insertRun(ctx, tx, ts, start, i+1, out); err != nil {
						return err
					}
					start = i + 1
				}
				continue
			}
			if err := s.insertRun(ctx, tx, ts, start, i, out); err != nil {
				return err
			}
			start = i + 1
			if err := s.insertKeyed(ctx, tx, i, t, out); err != nil {
				return err
			}
		}
		if err := s.insertRun(ctx, tx, ts, start, len(ts), out); err != nil {
			return err
		}
		if err := s.addDependencies(ctx, tx, ts, out); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, notifyReady)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertRun inserts the keyless tasks ts[from:to] with one statement, in a
// savepoint: when it fails, the rows are tried one by one to say which of
// them is at fault.
func (s *Postgres) insertRun(ctx context.Context, tx pgx.Tx, ts []NewTask, from, to int, out []SubmitResult) error {
	n := to - from
	if n == 0 {
		return nil
	}
	cols := struct {
		typ, name, queue, input []string
		prio, maxAtt            []int32
		runAfter                []*time.Time
		timeout                 []int64
	}{}
	for _, t := range ts[from:to] {
		r := pgNewRow(t)
		cols.typ, cols.name, cols.queue, cols.input = append(cols.typ, r.typ), append(cols.name, r.name), append(cols.queue, r.queue), append(cols.input, r.input)
		cols.prio, cols.maxAtt = append(cols.prio, int32(r.priority)), append(cols.maxAtt, int32(r.maxAttempts))
		cols.runAfter, cols.timeout = append(cols.runAfter, r.runAfter), append(cols.timeout, r.timeoutMS)
	}
	var ids []int64
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		rows, err := sp.Query(ctx, pgSQL(pgInsertTasks), s.clock(), cols.typ, cols.name, cols.queue, cols.prio,
			cols.input, cols.maxAtt, cols.runAfter, cols.timeout)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		for i := from; i < to; i++ {
			if err := s.insertOne(ctx, tx, i, ts[i], out); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ids) != n {
		return fmt.Errorf("insert: %d ids for %d tasks", len(ids), n)
	}
	// Identity values are handed out in insertion order, which is the
	// batch's order.
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i, id := range ids {
		out[from+i] = SubmitResult{ID: id}
	}
	return nil
}

// insertOne inserts one keyless task in a savepoint.
func (s *Postgres) insertOne(ctx context.Context, tx pgx.Tx, i int, t NewTask, out []SubmitResult) error {
	r := pgNewRow(t)
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		return sp.QueryRow(ctx, pgSQL(pgInsertKeyed), s.clock(), r.typ, r.name, r.queue, r.priority, r.input,
			r.maxAttempts, r.runAfter, r.timeoutMS, nil).Scan(&out[i].ID)
	})
	if err != nil {
		return &BatchError{Index: i, Err: err}
	}
	return nil
}

// insertKeyed stores ts[i], whose key is set, unless a task holds the key.
// The key is looked up first: an insert that meets a conflict has used up
// an id already (sequences are not transactional), and a repeated submit
// must leave the ids as they were. A submit of the same key by another
// process at the same moment is caught by ON CONFLICT, and found by the
// second look.
func (s *Postgres) insertKeyed(ctx context.Context, tx pgx.Tx, i int, t NewTask, out []SubmitResult) error {
	key := pgText(t.Key)
	var id int64
	for try := 0; ; try++ {
		err := tx.QueryRow(ctx, `SELECT id FROM tasks WHERE idempotency_key = $1`, key).Scan(&id)
		if err == nil {
			out[i] = SubmitResult{ID: id, Existed: true}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) || try > 0 {
			return &BatchError{Index: i, Err: err}
		}
		r := pgNewRow(t)
		err = tx.QueryRow(ctx, pgSQL(pgInsertKeyed), s.clock(), r.typ, r.name, r.queue, r.priority, r.input,
			r.maxAttempts, r.runAfter, r.timeoutMS, key).Scan(&id)
		if err == nil {
			out[i] = SubmitResult{ID: id}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return &BatchError{Index: i, Err: err}
		}
	}
}

// lockKeys takes a transaction-scoped advisory lock per distinct key of
// the batch, in one order for every process, before any row is written.
// Batches that share keys then wait for each other instead of locking
// the keys' index entries in their lines' orders, which could deadlock.
func lockKeys(ctx context.Context, tx pgx.Tx, ts []NewTask) error {
	var keys []string
	for _, t := range ts {
		if t.Key != "" {
			keys = append(keys, pgText(t.Key))
		}
	}
	if len(keys) < 2 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+keyLockClass+`, h)
		FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS x`, keys)
	return err
}

// keyLockClass is the first key of the advisory locks lockKeys takes (the
// two-key form, apart from the migration lock's one-key form).
const keyLockClass = "1869640563" // "opsc"

// Get returns one task.
func (s *Postgres) Get(ctx context.Context, id int64) (Task, error) {
	t, err := scanPGTask(s.pool.QueryRow(ctx, `SELECT `+pgTaskColumns("")+` FROM tasks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, &NotFoundError{ID: id}
	}
	return t, s.classify(err)
}

// pgWhere builds a WHERE clause of $n parameters, numbered after the ones
// already in args.
type pgWhere struct {
	conds []string
	args  []any
}

func (w *pgWhere) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(w.args))))
}

// any adds "col = ANY($n)" for a non-empty vals.
func pgAny[T any](w *pgWhere, col string, vals []T) {
	if len(vals) > 0 {
		w.add(col+" = ANY($?)", vals)
	}
}

func (w *pgWhere) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Count returns the number of tasks in the store.
func (s *Postgres) Count(ctx context.Context) (int64, error) {
	var n int64
	return n, s.classify(s.pool.QueryRow(ctx, `SELECT count(*) FROM tasks`).Scan(&n))
}

// pgStatusEvent appends one status event inside tx.
const pgStatusEvent = `INSERT INTO task_events (task_id, at, kind, data) VALUES ($2, NOW, '` + EventStatus + `', $3::json)`

// transition runs one conditional update of task id from one of the
// statuses in from, the row locked first; when the task is not in one of
// them it says why. set may use $1 (the clock); args start at $3.
func (s *Postgres) transition(ctx context.Context, id int64, from []Status, to Status, set string, notify bool) (Task, error) {
	var t Task
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cur Status
		if err := tx.QueryRow(ctx, `SELECT status FROM tasks WHERE id = $1 FOR UPDATE`, id).Scan(&cur); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return &NotFoundError{ID: id}
			}
			return err
		}
		if !slices.Contains(from, cur) {
			return &TransitionError{ID: id, From: cur, To: to}
		}
		var err error
		t, err = scanPGTask(tx.QueryRow(ctx, pgSQL(`UPDATE tasks SET `+set+`, updated_at = NOW WHERE id = $2
			RETURNING `+pgTaskColumns("")), s.clock(), id))
		if err != nil {
			return err
		}
		if t.Status == cur {
			return nil
		}
		if _, err := tx.Exec(ctx, pgSQL(pgStatusEvent), s.clock(), id, statusData(cur, t.Status, "")); err != nil {
			return err
		}
		if err := s.transitionDependencies(ctx, tx, id, cur, t.Status); err != nil {
			return err
		}
		if notify {
			_, err = tx.Exec(ctx, notifyReady)
		}
		return err
	})
	return t, err
}

// Cancel cancels a pending or waiting task at once; a running task is
// flagged, and its runner stops the handler and records the cancelled state.
func (s *Postgres) Cancel(ctx context.Context, id int64) (Task, error) {
	return s.transition(ctx, id, []Status{StatusPending, StatusRunning, StatusWaiting}, StatusCancelled,
		`status = CASE status WHEN 'running' THEN status ELSE 'cancelled' END,
		 cancel_requested = CASE status WHEN 'running' THEN true ELSE cancel_requested END,
		 error = CASE status WHEN 'running' THEN error ELSE 'cancelled' END,
		 finished_at = CASE status WHEN 'running' THEN finished_at ELSE NOW END`, false)
}

// Retry puts a failed or cancelled task back to pending, runnable now, with
// its attempts reset.
func (s *Postgres) Retry(ctx context.Context, id int64) (Task, error) {
	return s.transition(ctx, id, []Status{StatusFailed, StatusCancelled}, StatusPending,
		`status = 'pending', attempts = 0, error = '', result = NULL, run_after = NOW, scheduled = false,
		 cancel_requested = false, lease_worker = NULL, lease_expires_at = NULL,
		 started_at = NULL, finished_at = NULL`, true)
}
