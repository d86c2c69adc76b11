package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TaskRow is a task with the columns only the store itself reads: what a
// copy moves from one database to another.
type TaskRow struct {
	Task
	Scheduled   bool
	RescueAfter time.Time // zero when no rescuer marked the task
}

// Snapshot reads one consistent state of a database: every call sees the
// same committed rows, whatever is written meanwhile. Its methods are not
// safe for concurrent use.
type Snapshot interface {
	// Counts counts the tasks and the events.
	Counts(ctx context.Context) (tasks, events int64, err error)
	// LastIDs returns the highest task and event ids the database has
	// handed out: the id sequences, which may be past the rows that are
	// left after a prune, or the highest ids present, whichever is more.
	LastIDs(ctx context.Context) (tasks, events int64, err error)
	// Tasks returns up to limit tasks with ids above afterID, in id order.
	Tasks(ctx context.Context, afterID int64, limit int) ([]TaskRow, error)
	// Events returns up to limit events (of any task) with ids above
	// afterID, in id order.
	Events(ctx context.Context, afterID int64, limit int) ([]Event, error)
	// Tokens returns every API token (there are few).
	Tokens(ctx context.Context) ([]Token, error)
	// Close ends the snapshot's read transaction.
	Close() error
}

// ImportWriter writes rows with their own ids inside Import's transaction.
type ImportWriter interface {
	WriteTasks(ctx context.Context, rows []TaskRow) error
	// WriteEvents writes events; their tasks must have been written first.
	WriteEvents(ctx context.Context, evs []Event) error
	// WriteTokens writes API tokens as they are.
	WriteTokens(ctx context.Context, ts []Token) error
	// Counts counts the tasks and events as the transaction sees them.
	Counts(ctx context.Context) (tasks, events int64, err error)
	// ReserveIDs moves the id sequences so that the next task and event
	// get ids above tasks and events, and above every id in the tables.
	ReserveIDs(ctx context.Context, tasks, events int64) error
}

// Copier is a Backend that can be the source or the target of a copy.
// Both backends implement it.
type Copier interface {
	Backend
	// Export opens a read-only snapshot of the tasks, events and tokens.
	Export(ctx context.Context) (Snapshot, error)
	// Import runs fn in one write transaction on a database that holds no
	// tasks and no tokens, and commits when fn returns nil: a failure
	// leaves no task, event or token behind. A database that holds tasks
	// or tokens is refused with a *NotEmptyError before fn runs.
	Import(ctx context.Context, fn func(w ImportWriter) error) error
}

var (
	_ Copier = (*SQLite)(nil)
	_ Copier = (*Postgres)(nil)
)

// NotEmptyError refuses a copy into a database that holds tasks or API
// tokens already.
type NotEmptyError struct {
	Location string
	Tasks    int64
	Tokens   int64
}

func (e *NotEmptyError) Error() string {
	what := fmt.Sprintf("%d tasks", e.Tasks)
	if e.Tasks == 0 && e.Tokens > 0 {
		what = fmt.Sprintf("%d API tokens", e.Tokens)
	}
	return fmt.Sprintf("target %s already holds %s: db copy writes only into a new or empty database (nothing was written)", e.Location, what)
}

// CountMismatchError says the target's counts did not match the source's
// at the end of a copy; the copy was rolled back.
type CountMismatchError struct {
	SourceTasks, SourceEvents int64
	TargetTasks, TargetEvents int64
}

func (e *CountMismatchError) Error() string {
	return fmt.Sprintf("copy rolled back: the source has %d tasks and %d events, the target got %d and %d",
		e.SourceTasks, e.SourceEvents, e.TargetTasks, e.TargetEvents)
}

// CopyOptions tune Copy.
type CopyOptions struct {
	// Chunk is how many rows are read at a time; 0 means 10,000.
	Chunk int
	// Progress, if set, is called after each chunk is written with the rows
	// (tasks and events) written so far and the total to write.
	Progress func(done, total int64)
}

// CopyStats says what Copy copied.
type CopyStats struct {
	Tasks, Events, Tokens int64
	Elapsed               time.Duration
}

// copyChunk is one read of the source: tasks or events.
type copyChunk struct {
	tasks  []TaskRow
	events []Event
}

// Copy copies every task, event and API token of src into dst, which must
// hold no tasks and no tokens, keeping their ids. It reads src in one
// snapshot, in chunks in id order (tasks, then events, then the tokens at
// once) while the previous chunk is written, and writes dst in one
// transaction (see Copier.Import), which it commits only when the
// target's counts equal the source's. The target's id sequences are
// then past every id the source handed out, so no new task reuses one.
func Copy(ctx context.Context, src, dst Copier, o CopyOptions) (CopyStats, error) {
	start := time.Now()
	if o.Chunk <= 0 {
		o.Chunk = 10_000
	}
	snap, err := src.Export(ctx)
	if err != nil {
		return CopyStats{}, err
	}
	defer snap.Close()
	var st CopyStats
	err = dst.Import(ctx, func(w ImportWriter) error {
		nt, ne, err := snap.Counts(ctx)
		if err != nil {
			return err
		}
		lastTask, lastEvent, err := snap.LastIDs(ctx)
		if err != nil {
			return err
		}
		total := nt + ne
		if o.Progress != nil {
			o.Progress(0, total)
		}
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		chunks := make(chan copyChunk, 2)
		readErr := make(chan error, 1)
		go func() {
			defer close(chunks)
			readErr <- readSnapshot(rctx, snap, o.Chunk, chunks)
		}()
		var werr error
		for c := range chunks {
			if werr != nil {
				continue // drain until the reader sees the cancel
			}
			if len(c.tasks) > 0 {
				werr = w.WriteTasks(ctx, c.tasks)
				st.Tasks += int64(len(c.tasks))
				if werr != nil {
					werr = fmt.Errorf("write tasks %d to %d: %w", c.tasks[0].ID, c.tasks[len(c.tasks)-1].ID, werr)
				}
			} else {
				werr = w.WriteEvents(ctx, c.events)
				st.Events += int64(len(c.events))
				if werr != nil {
					werr = fmt.Errorf("write events %d to %d: %w", c.events[0].ID, c.events[len(c.events)-1].ID, werr)
				}
			}
			if werr != nil {
				cancel()
				continue
			}
			if o.Progress != nil {
				o.Progress(st.Tasks+st.Events, total)
			}
		}
		if err := <-readErr; werr == nil && err != nil {
			werr = fmt.Errorf("read source: %w", err)
		}
		if werr != nil {
			return werr
		}
		// The reader is done with the snapshot: the tokens are read last.
		toks, err := snap.Tokens(ctx)
		if err != nil {
			return fmt.Errorf("read source: %w", err)
		}
		if err := w.WriteTokens(ctx, toks); err != nil {
			return fmt.Errorf("write tokens: %w", err)
		}
		st.Tokens = int64(len(toks))
		tt, te, err := w.Counts(ctx)
		if err != nil {
			return err
		}
		if tt != nt || te != ne || st.Tasks != nt || st.Events != ne {
			return &CountMismatchError{SourceTasks: nt, SourceEvents: ne, TargetTasks: tt, TargetEvents: te}
		}
		return w.ReserveIDs(ctx, lastTask, lastEvent)
	})
	st.Elapsed = time.Since(start)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// Cancelled: the driver may report it as a closed statement or
		// connection; say what happened.
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return st, err
}

// readSnapshot sends the snapshot's tasks, then its events, in chunks.
func readSnapshot(ctx context.Context, snap Snapshot, chunk int, out chan<- copyChunk) error {
	send := func(c copyChunk) error {
		select {
		case out <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for after := int64(0); ; {
		ts, err := snap.Tasks(ctx, after, chunk)
		if err != nil {
			return err
		}
		if len(ts) > 0 {
			if err := send(copyChunk{tasks: ts}); err != nil {
				return err
			}
			after = ts[len(ts)-1].ID
		}
		if len(ts) < chunk {
			break
		}
	}
	for after := int64(0); ; {
		evs, err := snap.Events(ctx, after, chunk)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			if err := send(copyChunk{events: evs}); err != nil {
				return err
			}
			after = evs[len(evs)-1].ID
		}
		if len(evs) < chunk {
			return nil
		}
	}
}

// nullMS is a nullable time column's value for SQLite.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// orEmptyObject is a NOT NULL JSON column's value: "{}" for an empty one.
func orEmptyObject(b json.RawMessage) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// copyTaskColumns are the task columns a copy writes, in order.
const copyTaskColumns = `id, type, name, queue, priority, status, input, result, error,
	attempts, max_attempts, run_after, timeout_ms, idempotency_key, lease_worker,
	lease_expires_at, cancel_requested, created_at, updated_at, started_at, finished_at,
	scheduled, rescue_after`

// --- SQLite -------------------------------------------------------------

// sqliteSnapshot is a deferred read transaction on a reader connection: in
// WAL mode it sees the database as of its first read until it ends.
type sqliteSnapshot struct {
	s  *SQLite
	tx *sql.Tx
}

// Export opens a read transaction on the reader pool.
func (s *SQLite) Export(ctx context.Context) (Snapshot, error) {
	// ReadOnly makes the driver begin a plain (deferred) transaction
	// instead of the DSN's BEGIN IMMEDIATE, so no write lock is taken.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.classify(err)
	}
	return &sqliteSnapshot{s: s, tx: tx}, nil
}

func (n *sqliteSnapshot) Close() error { return n.tx.Rollback() }

func (n *sqliteSnapshot) Counts(ctx context.Context) (int64, int64, error) {
	var tasks, events int64
	err := n.tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events)`).Scan(&tasks, &events)
	return tasks, events, n.s.classify(err)
}

func (n *sqliteSnapshot) LastIDs(ctx context.Context) (int64, int64, error) {
	var tasks, events int64
	err := n.tx.QueryRowContext(ctx, `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tasks'), 0),
			coalesce((SELECT max(id) FROM tasks), 0)),
		coalesce((SELECT max(id) FROM task_events), 0)`).Scan(&tasks, &events)
	return tasks, events, n.s.classify(err)
}

// Tasks scans into int64s and strings, which database/sql assigns
// directly, where ints, bools and Status take its reflection path (with
// that, scanning was most of the CPU time of reading tasks).
func (n *sqliteSnapshot) Tasks(ctx context.Context, afterID int64, limit int) ([]TaskRow, error) {
	rows, err := n.tx.QueryContext(ctx, `SELECT `+copyTaskColumns+` FROM tasks WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, n.s.classify(err)
	}
	defer rows.Close()
	var v struct {
		id, priority, attempts, maxAttempts, runAfter, timeoutMS int64
		cancel, created, updated, scheduled                      int64
		typ, name, queue, status, input, errText                 string
		result, key, worker                                      sql.NullString
		leaseExp, started, finished, rescue                      sql.NullInt64
	}
	dest := []any{&v.id, &v.typ, &v.name, &v.queue, &v.priority, &v.status, &v.input, &v.result, &v.errText,
		&v.attempts, &v.maxAttempts, &v.runAfter, &v.timeoutMS, &v.key, &v.worker,
		&v.leaseExp, &v.cancel, &v.created, &v.updated, &v.started, &v.finished, &v.scheduled, &v.rescue}
	out := make([]TaskRow, 0, min(limit, 10_000))
	for rows.Next() {
		v.result, v.key, v.worker = sql.NullString{}, sql.NullString{}, sql.NullString{}
		if err := rows.Scan(dest...); err != nil {
			return nil, n.s.classify(err)
		}
		r := TaskRow{Task: Task{ID: v.id, Type: v.typ, Name: v.name, Queue: v.queue, Priority: int(v.priority),
			Status: Status(v.status), Input: json.RawMessage(v.input), Error: v.errText,
			Attempts: int(v.attempts), MaxAttempts: int(v.maxAttempts), RunAfter: fromMS(v.runAfter),
			Timeout: time.Duration(v.timeoutMS) * time.Millisecond, Key: v.key.String, LeaseWorker: v.worker.String,
			LeaseExpires: fromNullMS(v.leaseExp), CancelRequested: v.cancel != 0,
			CreatedAt: fromMS(v.created), UpdatedAt: fromMS(v.updated),
			StartedAt: fromNullMS(v.started), FinishedAt: fromNullMS(v.finished)},
			Scheduled: v.scheduled != 0, RescueAfter: fromNullMS(v.rescue)}
		if v.result.Valid {
			r.Result = json.RawMessage(v.result.String)
		}
		out = append(out, r)
	}
	return out, n.s.classify(rows.Err())
}

func (n *sqliteSnapshot) Events(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	rows, err := n.tx.QueryContext(ctx, `SELECT id, task_id, at, kind, data FROM task_events
		WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, n.s.classify(err)
	}
	defer rows.Close()
	out := make([]Event, 0, min(limit, 10_000))
	for rows.Next() {
		var e Event
		var at int64
		var data string
		if err := rows.Scan(&e.ID, &e.TaskID, &at, &e.Kind, &data); err != nil {
			return nil, n.s.classify(err)
		}
		e.At, e.Data = fromMS(at), json.RawMessage(data)
		out = append(out, e)
	}
	return out, n.s.classify(rows.Err())
}

func (n *sqliteSnapshot) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := n.tx.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, name`)
	if err != nil {
		return nil, n.s.classify(err)
	}
	defer rows.Close()
	ts := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, n.s.classify(err)
		}
		ts = append(ts, t)
	}
	return ts, n.s.classify(rows.Err())
}

// Import runs fn in one write transaction (BEGIN IMMEDIATE on the writer
// connection), so other processes wait for the write lock until the copy
// is committed or rolled back.
func (s *SQLite) Import(ctx context.Context, fn func(w ImportWriter) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n, toks int64
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM tokens)`).Scan(&n, &toks); err != nil {
			return err
		}
		if n > 0 || toks > 0 {
			return &NotEmptyError{Location: s.path, Tasks: n, Tokens: toks}
		}
		w := &sqliteImport{tx: tx, stmts: map[string]*sql.Stmt{}}
		defer w.close()
		return fn(w)
	})
}

// Rows per multi-row INSERT: 23 and 5 parameters a row, within SQLite's
// limit of 32,766 parameters a statement.
const (
	sqliteImportTaskRows  = 1000
	sqliteImportEventRows = 4000
)

// sqliteImport writes inside Import's transaction with multi-row INSERTs,
// prepared once for each number of rows.
type sqliteImport struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	args  []any
}

func (w *sqliteImport) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// exec runs the INSERT of head with n rows of ncols parameters each.
func (w *sqliteImport) exec(ctx context.Context, head string, ncols, n int) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", ncols), ", ") + ")"
	q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	st, ok := w.stmts[q]
	if !ok {
		var err error
		if st, err = w.tx.PrepareContext(ctx, q); err != nil {
			return err
		}
		w.stmts[q] = st
	}
	_, err := st.ExecContext(ctx, w.args...)
	return err
}

func (w *sqliteImport) WriteTasks(ctx context.Context, rows []TaskRow) error {
	for len(rows) > 0 {
		n := min(len(rows), sqliteImportTaskRows)
		w.args = w.args[:0]
		for _, r := range rows[:n] {
			t := r.Task
			w.args = append(w.args, t.ID, t.Type, t.Name, t.Queue, t.Priority, string(t.Status),
				orEmptyObject(t.Input), nullJSON(t.Result), t.Error, t.Attempts, t.MaxAttempts,
				ms(t.RunAfter), t.Timeout.Milliseconds(), nullString(t.Key), nullString(t.LeaseWorker),
				nullMS(t.LeaseExpires), boolInt(t.CancelRequested), ms(t.CreatedAt), ms(t.UpdatedAt),
				nullMS(t.StartedAt), nullMS(t.FinishedAt), boolInt(r.Scheduled), nullMS(r.RescueAfter))
		}
		if err := w.exec(ctx, `INSERT INTO tasks (`+copyTaskColumns+`)`, 23, n); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (w *sqliteImport) WriteEvents(ctx context.Context, evs []Event) error {
	for len(evs) > 0 {
		n := min(len(evs), sqliteImportEventRows)
		w.args = w.args[:0]
		for _, e := range evs[:n] {
			w.args = append(w.args, e.ID, e.TaskID, ms(e.At), e.Kind, orEmptyObject(e.Data))
		}
		if err := w.exec(ctx, `INSERT INTO task_events (id, task_id, at, kind, data)`, 5, n); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (w *sqliteImport) WriteTokens(ctx context.Context, ts []Token) error {
	for _, t := range ts {
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			t.Name, t.Hash, string(t.Scope), ms(t.CreatedAt), nullMS(t.ExpiresAt), nullMS(t.LastUsedAt)); err != nil {
			return fmt.Errorf("token %q: %w", t.Name, err)
		}
	}
	return nil
}

func (w *sqliteImport) Counts(ctx context.Context) (int64, int64, error) {
	var tasks, events int64
	err := w.tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events)`).Scan(&tasks, &events)
	return tasks, events, err
}

// ReserveIDs raises the tasks row of sqlite_sequence, which AUTOINCREMENT
// reads for the next id (inserting explicit ids has already raised it to
// the highest of them). Event ids are not AUTOINCREMENT on SQLite: the next
// is always the highest present plus one, so there is nothing to reserve.
func (w *sqliteImport) ReserveIDs(ctx context.Context, tasks, _ int64) error {
	if tasks <= 0 {
		return nil
	}
	res, err := w.tx.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'tasks'`, tasks)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = w.tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES ('tasks', ?)`, tasks)
	return err
}
