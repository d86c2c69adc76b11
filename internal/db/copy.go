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
	Scheduled bool
	// Blocked marks a pending task that still waits for a dependency
	// (migration 10: scheduled = 2 on SQLite, NULL on PostgreSQL).
	// Scheduled is false then.
	Blocked     bool
	RescueAfter time.Time // zero when no rescuer marked the task
}

// TaskDep is one row of task_deps: TaskID runs after DependsOn.
type TaskDep struct {
	TaskID, DependsOn int64
}

// QueueState is one row of queues: a queue paused, or resumed since.
type QueueState struct {
	Name      string
	Paused    bool
	UpdatedAt time.Time
}

// NotifyRuleRow is one row of notify_rules: a rule registered by a runner,
// for one status.
type NotifyRuleRow struct {
	Status          Status
	Rule            string
	Queue, TaskType string
	SeenAt          time.Time
}

// OutboxRow is one row of notify_outbox: a notification still owed.
type OutboxRow struct {
	ID          int64
	TaskID      int64
	Status      Status
	Rule        string
	CreatedAt   time.Time
	Attempts    int
	NextTryAt   time.Time
	LeaseWorker string // "" when no runner holds it
	LastError   string
}

// CopyCounts counts the rows of each table a copy moves.
type CopyCounts struct {
	// Read in chunks, in key order: the tasks and the rows that
	// reference them.
	Tasks, Events, Approvals, Checkpoints, Dependencies, Notifications int64
	// Read at once (there are few).
	Tokens, Schedules, Queues, NotifyRules int64
}

// chunked is the number of rows read in chunks: what Progress counts.
func (c CopyCounts) chunked() int64 {
	return c.Tasks + c.Events + c.Approvals + c.Checkpoints + c.Dependencies + c.Notifications
}

// CopyIDs are the highest ids of the tables whose ids come from a
// sequence.
type CopyIDs struct {
	Tasks, Events, Approvals, Notifications int64
}

// Snapshot reads one consistent state of a database: every call sees the
// same committed rows, whatever is written meanwhile. Its methods are not
// safe for concurrent use. Each chunked read returns up to limit rows with
// keys above the one given, in key order.
type Snapshot interface {
	// Counts counts the rows of every table a copy moves.
	Counts(ctx context.Context) (CopyCounts, error)
	// LastIDs returns the highest ids the database has handed out: the
	// id sequences, which may be past the rows that are left after a
	// prune, or the highest ids present, whichever is more.
	LastIDs(ctx context.Context) (CopyIDs, error)
	// Tasks returns tasks by id.
	Tasks(ctx context.Context, afterID int64, limit int) ([]TaskRow, error)
	// Events returns events (of any task) by id.
	Events(ctx context.Context, afterID int64, limit int) ([]Event, error)
	// Approvals returns approval requests, open or decided, by id.
	Approvals(ctx context.Context, afterID int64, limit int) ([]Approval, error)
	// Checkpoints returns checkpoints by task id (Worker is not stored:
	// it is "").
	Checkpoints(ctx context.Context, afterTaskID int64, limit int) ([]Checkpoint, error)
	// Dependencies returns task_deps rows by (TaskID, DependsOn).
	Dependencies(ctx context.Context, after TaskDep, limit int) ([]TaskDep, error)
	// Notifications returns the notification outbox's rows by id.
	Notifications(ctx context.Context, afterID int64, limit int) ([]OutboxRow, error)
	// Tokens returns every API token.
	Tokens(ctx context.Context) ([]Token, error)
	// Schedules returns every schedule by name (LastStatus is not
	// stored: it is "").
	Schedules(ctx context.Context) ([]Schedule, error)
	// Queues returns every queue row by name.
	Queues(ctx context.Context) ([]QueueState, error)
	// NotifyRules returns every registered notify rule by status and rule.
	NotifyRules(ctx context.Context) ([]NotifyRuleRow, error)
	// Close ends the snapshot's read transaction.
	Close() error
}

// ImportWriter writes rows with their own ids inside Import's transaction.
// Rows that reference tasks are written after their tasks.
type ImportWriter interface {
	WriteTasks(ctx context.Context, rows []TaskRow) error
	WriteEvents(ctx context.Context, evs []Event) error
	WriteApprovals(ctx context.Context, as []Approval) error
	WriteCheckpoints(ctx context.Context, cs []Checkpoint) error
	WriteDependencies(ctx context.Context, ds []TaskDep) error
	WriteNotifications(ctx context.Context, ns []OutboxRow) error
	// WriteTokens writes API tokens as they are.
	WriteTokens(ctx context.Context, ts []Token) error
	WriteSchedules(ctx context.Context, ss []Schedule) error
	WriteQueues(ctx context.Context, qs []QueueState) error
	// WriteNotifyRules merges rules into those the target has (runners
	// on it may have registered some already): a rule of the same status
	// and key keeps the later seen time and what came with it.
	WriteNotifyRules(ctx context.Context, rs []NotifyRuleRow) error
	// Counts counts the rows of each table as the transaction sees them.
	Counts(ctx context.Context) (CopyCounts, error)
	// ReserveIDs moves the id sequences so that the next row of each
	// table gets an id above ids, and above every id in the table.
	ReserveIDs(ctx context.Context, ids CopyIDs) error
}

// Copier is a Backend that can be the source or the target of a copy.
// Both backends implement it.
type Copier interface {
	Backend
	// Export opens a read-only snapshot of everything a copy moves.
	Export(ctx context.Context) (Snapshot, error)
	// Import runs fn in one write transaction on an empty database (no
	// tasks, API tokens, schedules or queue rows), and commits when fn
	// returns nil: a failure leaves nothing behind. A database that holds
	// any is refused with a *NotEmptyError before fn runs.
	Import(ctx context.Context, fn func(w ImportWriter) error) error
}

var (
	_ Copier = (*SQLite)(nil)
	_ Copier = (*Postgres)(nil)
)

// NotEmptyError refuses a copy into a database that holds tasks, API
// tokens, schedules or queue rows already: a copy would have to choose
// between its rows and the source's. (Rows of other tables reference a
// task; notify rules are merged, see ImportWriter.)
type NotEmptyError struct {
	Location  string
	Tasks     int64
	Tokens    int64
	Schedules int64
	Queues    int64
}

func (e *NotEmptyError) Error() string {
	var what []string
	for _, p := range []struct {
		n    int64
		noun string
	}{{e.Tasks, "tasks"}, {e.Tokens, "API tokens"}, {e.Schedules, "schedules"}, {e.Queues, "queues paused or resumed"}} {
		if p.n > 0 {
			what = append(what, fmt.Sprintf("%d %s", p.n, p.noun))
		}
	}
	return fmt.Sprintf("target %s already holds %s: db copy writes only into a new or empty database (nothing was written)",
		e.Location, joinAnd(what))
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// empty reports whether the target holds nothing that refuses a copy.
func (e *NotEmptyError) empty() bool {
	return e.Tasks == 0 && e.Tokens == 0 && e.Schedules == 0 && e.Queues == 0
}

// notEmptyQuery counts what NotEmptyError reports, in its order.
const notEmptyQuery = `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM tokens),
	(SELECT count(*) FROM schedules), (SELECT count(*) FROM queues)`

// CountMismatchError says the target's counts did not match the source's
// at the end of a copy; the copy was rolled back. Notify rules are not
// compared: the target may have had some (see ImportWriter).
type CountMismatchError struct {
	Source, Target CopyCounts
}

func (e *CountMismatchError) Error() string {
	var diff []string
	for _, p := range copyCountNames(e.Source, e.Target) {
		if p.src != p.dst {
			diff = append(diff, fmt.Sprintf("%d %s, the target got %d", p.src, p.name, p.dst))
		}
	}
	return "copy rolled back: the source has " + strings.Join(diff, "; ")
}

type countPair struct {
	name     string
	src, dst int64
}

// copyCountNames pairs the compared counts of a and b, named.
func copyCountNames(a, b CopyCounts) []countPair {
	return []countPair{{"tasks", a.Tasks, b.Tasks}, {"events", a.Events, b.Events},
		{"approvals", a.Approvals, b.Approvals}, {"checkpoints", a.Checkpoints, b.Checkpoints},
		{"dependencies", a.Dependencies, b.Dependencies}, {"notifications", a.Notifications, b.Notifications},
		{"API tokens", a.Tokens, b.Tokens}, {"schedules", a.Schedules, b.Schedules}, {"queues", a.Queues, b.Queues}}
}

// CopyOptions tune Copy.
type CopyOptions struct {
	// Chunk is how many rows are read at a time; 0 means 10,000.
	Chunk int
	// Progress, if set, is called after each chunk is written with the rows
	// read in chunks (tasks, events, approvals, checkpoints, dependencies,
	// notifications) written so far and the total to write.
	Progress func(done, total int64)
}

// CopyStats says what Copy copied: the rows written, of each table.
type CopyStats struct {
	CopyCounts
	Elapsed time.Duration
}

// copyChunk is one read of the source: rows of one table.
type copyChunk struct {
	tasks         []TaskRow
	events        []Event
	approvals     []Approval
	checkpoints   []Checkpoint
	deps          []TaskDep
	notifications []OutboxRow
}

// write writes the chunk's rows and counts them in st.
func (c copyChunk) write(ctx context.Context, w ImportWriter, st *CopyCounts) error {
	var err error
	var what string
	switch {
	case len(c.tasks) > 0:
		st.Tasks += int64(len(c.tasks))
		err = w.WriteTasks(ctx, c.tasks)
		what = fmt.Sprintf("tasks %d to %d", c.tasks[0].ID, c.tasks[len(c.tasks)-1].ID)
	case len(c.events) > 0:
		st.Events += int64(len(c.events))
		err = w.WriteEvents(ctx, c.events)
		what = fmt.Sprintf("events %d to %d", c.events[0].ID, c.events[len(c.events)-1].ID)
	case len(c.approvals) > 0:
		st.Approvals += int64(len(c.approvals))
		err = w.WriteApprovals(ctx, c.approvals)
		what = fmt.Sprintf("approvals %d to %d", c.approvals[0].ID, c.approvals[len(c.approvals)-1].ID)
	case len(c.checkpoints) > 0:
		st.Checkpoints += int64(len(c.checkpoints))
		err = w.WriteCheckpoints(ctx, c.checkpoints)
		what = fmt.Sprintf("checkpoints of tasks %d to %d", c.checkpoints[0].TaskID, c.checkpoints[len(c.checkpoints)-1].TaskID)
	case len(c.deps) > 0:
		st.Dependencies += int64(len(c.deps))
		err = w.WriteDependencies(ctx, c.deps)
		what = fmt.Sprintf("dependencies of tasks %d to %d", c.deps[0].TaskID, c.deps[len(c.deps)-1].TaskID)
	case len(c.notifications) > 0:
		st.Notifications += int64(len(c.notifications))
		err = w.WriteNotifications(ctx, c.notifications)
		what = fmt.Sprintf("notifications %d to %d", c.notifications[0].ID, c.notifications[len(c.notifications)-1].ID)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

// Copy copies every task and event of src into dst, with what the schema
// keeps beside them: approval requests, checkpoints, dependencies (and
// which tasks still wait for one), undelivered notifications and the
// notify rules they are owed to, API tokens, schedules and queue pauses.
// dst must be empty (see Copier.Import). Ids are kept. It reads src in one
// snapshot: in chunks in key order the tasks, then the rows that
// reference them (events, approvals, checkpoints, dependencies,
// notifications), each while the previous chunk is written, then the
// small tables at once. It writes dst in one transaction, which it
// commits only when the target's counts equal the source's. The target's
// id sequences are then past every id the source handed out, so no new
// task, event, approval or notification reuses one.
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
		want, err := snap.Counts(ctx)
		if err != nil {
			return err
		}
		last, err := snap.LastIDs(ctx)
		if err != nil {
			return err
		}
		total := want.chunked()
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
			if werr = c.write(ctx, w, &st.CopyCounts); werr != nil {
				cancel()
				continue
			}
			if o.Progress != nil {
				o.Progress(st.chunked(), total)
			}
		}
		if err := <-readErr; werr == nil && err != nil {
			werr = fmt.Errorf("read source: %w", err)
		}
		if werr != nil {
			return werr
		}
		// The reader is done with the snapshot: the small tables are read
		// last, at once.
		if err := copySmall(ctx, snap, w, &st.CopyCounts); err != nil {
			return err
		}
		got, err := w.Counts(ctx)
		if err != nil {
			return err
		}
		// The target may have had notify rules of its own (they merge).
		got.NotifyRules, want.NotifyRules = st.NotifyRules, st.NotifyRules
		if got != want || st.CopyCounts != want {
			return &CountMismatchError{Source: want, Target: got}
		}
		return w.ReserveIDs(ctx, last)
	})
	st.Elapsed = time.Since(start)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// Cancelled: the driver may report it as a closed statement or
		// connection; say what happened.
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return st, err
}

// copySmall copies the tables read at once: tokens, schedules, queues and
// notify rules.
func copySmall(ctx context.Context, snap Snapshot, w ImportWriter, st *CopyCounts) error {
	toks, err := snap.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	if err := w.WriteTokens(ctx, toks); err != nil {
		return fmt.Errorf("write tokens: %w", err)
	}
	st.Tokens = int64(len(toks))
	scs, err := snap.Schedules(ctx)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	if err := w.WriteSchedules(ctx, scs); err != nil {
		return fmt.Errorf("write schedules: %w", err)
	}
	st.Schedules = int64(len(scs))
	qs, err := snap.Queues(ctx)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	if err := w.WriteQueues(ctx, qs); err != nil {
		return fmt.Errorf("write queues: %w", err)
	}
	st.Queues = int64(len(qs))
	rs, err := snap.NotifyRules(ctx)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	if err := w.WriteNotifyRules(ctx, rs); err != nil {
		return fmt.Errorf("write notify rules: %w", err)
	}
	st.NotifyRules = int64(len(rs))
	return nil
}

// readSnapshot sends the snapshot's tasks, then the rows that reference
// them, in chunks.
func readSnapshot(ctx context.Context, snap Snapshot, chunk int, out chan<- copyChunk) error {
	send := func(c copyChunk) error {
		select {
		case out <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := readPages(ctx, chunk, 0, snap.Tasks, func(r TaskRow) int64 { return r.ID },
		func(rs []TaskRow) error { return send(copyChunk{tasks: rs}) }); err != nil {
		return err
	}
	if err := readPages(ctx, chunk, 0, snap.Events, func(e Event) int64 { return e.ID },
		func(rs []Event) error { return send(copyChunk{events: rs}) }); err != nil {
		return err
	}
	if err := readPages(ctx, chunk, 0, snap.Approvals, func(a Approval) int64 { return a.ID },
		func(rs []Approval) error { return send(copyChunk{approvals: rs}) }); err != nil {
		return err
	}
	if err := readPages(ctx, chunk, 0, snap.Checkpoints, func(c Checkpoint) int64 { return c.TaskID },
		func(rs []Checkpoint) error { return send(copyChunk{checkpoints: rs}) }); err != nil {
		return err
	}
	if err := readPages(ctx, chunk, TaskDep{}, snap.Dependencies, func(d TaskDep) TaskDep { return d },
		func(rs []TaskDep) error { return send(copyChunk{deps: rs}) }); err != nil {
		return err
	}
	return readPages(ctx, chunk, 0, snap.Notifications, func(n OutboxRow) int64 { return n.ID },
		func(rs []OutboxRow) error { return send(copyChunk{notifications: rs}) })
}

// readPages reads a table in chunks of up to chunk rows, each after the
// key of the last row of the one before, and hands each to send.
func readPages[R, K any](ctx context.Context, chunk int, after K, read func(context.Context, K, int) ([]R, error),
	key func(R) K, send func([]R) error) error {
	for {
		rs, err := read(ctx, after, chunk)
		if err != nil {
			return err
		}
		if len(rs) > 0 {
			if err := send(rs); err != nil {
				return err
			}
			after = key(rs[len(rs)-1])
		}
		if len(rs) < chunk {
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

// nullDecision is the decision column's value: NULL while open.
func nullDecision(d Decision) any {
	if d == "" {
		return nil
	}
	return string(d)
}

// nullID is a nullable id column's value: NULL for 0.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// copyTaskColumns are the task columns a copy writes, in order.
const copyTaskColumns = `id, type, name, queue, priority, status, input, result, error,
	attempts, max_attempts, run_after, timeout_ms, idempotency_key, lease_worker,
	lease_expires_at, cancel_requested, created_at, updated_at, started_at, finished_at,
	scheduled, rescue_after`

// The columns of the other tables a copy writes, in order.
const (
	copyApprovalColumns = `id, task_id, call_id, tool, arguments, step, requested_at, expires_at,
	decision, reason, decided_by, decided_at`
	copyCheckpointColumns = `task_id, attempt, data, updated_at`
	copyDepColumns        = `task_id, depends_on`
	copyOutboxColumns     = `id, task_id, status, rule, created_at, attempts, next_try_at, lease_worker, last_error`
	copyScheduleColumns   = `name, every_ms, cron, tz, skip_if_running, paused,
	task_type, task_name, queue, priority, input, max_attempts, timeout_ms,
	next_run_at, last_run_at, last_task_id, skipped, last_skipped_at, created_at, updated_at`
	copyQueueColumns      = `name, paused, updated_at`
	copyNotifyRuleColumns = `status, rule, queue, task_type, seen_at`
)

// copyCountsQuery counts the tables a copy moves, in CopyCounts' order.
const copyCountsQuery = `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events),
	(SELECT count(*) FROM approvals), (SELECT count(*) FROM task_checkpoints),
	(SELECT count(*) FROM task_deps), (SELECT count(*) FROM notify_outbox),
	(SELECT count(*) FROM tokens), (SELECT count(*) FROM schedules),
	(SELECT count(*) FROM queues), (SELECT count(*) FROM notify_rules)`

// countsDest is where a row of copyCountsQuery is scanned.
func countsDest(c *CopyCounts) []any {
	return []any{&c.Tasks, &c.Events, &c.Approvals, &c.Checkpoints, &c.Dependencies, &c.Notifications,
		&c.Tokens, &c.Schedules, &c.Queues, &c.NotifyRules}
}

// notifyRuleMerge makes an INSERT of notify rules merge them into the
// table's: the later seen time wins.
const notifyRuleMerge = ` ON CONFLICT (status, rule) DO UPDATE SET queue = excluded.queue,
	task_type = excluded.task_type, seen_at = excluded.seen_at WHERE excluded.seen_at > notify_rules.seen_at`

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

func (n *sqliteSnapshot) Counts(ctx context.Context) (CopyCounts, error) {
	var c CopyCounts
	err := n.tx.QueryRowContext(ctx, copyCountsQuery).Scan(countsDest(&c)...)
	return c, n.s.classify(err)
}

// sqliteLastID is the highest id a table has handed out: its
// AUTOINCREMENT sequence, or the highest id present.
const sqliteLastID = `max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '%[1]s'), 0),
	coalesce((SELECT max(id) FROM %[1]s), 0))`

func (n *sqliteSnapshot) LastIDs(ctx context.Context) (CopyIDs, error) {
	var ids CopyIDs
	err := n.tx.QueryRowContext(ctx, `SELECT `+fmt.Sprintf(sqliteLastID, "tasks")+`,
		coalesce((SELECT max(id) FROM task_events), 0), `+
		fmt.Sprintf(sqliteLastID, "approvals")+`, `+fmt.Sprintf(sqliteLastID, "notify_outbox")).
		Scan(&ids.Tasks, &ids.Events, &ids.Approvals, &ids.Notifications)
	return ids, n.s.classify(err)
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
			Scheduled: v.scheduled == 1, Blocked: v.scheduled == sqliteBlocked, RescueAfter: fromNullMS(v.rescue)}
		if v.result.Valid {
			r.Result = json.RawMessage(v.result.String)
		}
		out = append(out, r)
	}
	return out, n.s.classify(rows.Err())
}

// sqliteCollect runs q in the snapshot and scans each row with scan (into
// a list that is empty, not nil, when there are none).
func sqliteCollect[T any](ctx context.Context, n *sqliteSnapshot, q string, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	rows, err := n.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, n.s.classify(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, n.s.classify(err)
		}
		out = append(out, v)
	}
	return out, n.s.classify(rows.Err())
}

func (n *sqliteSnapshot) Events(ctx context.Context, afterID int64, limit int) ([]Event, error) {
	return sqliteCollect(ctx, n, `SELECT id, task_id, at, kind, data FROM task_events
		WHERE id > ? ORDER BY id LIMIT ?`, func(rows *sql.Rows) (Event, error) {
		var e Event
		var at int64
		var data string
		err := rows.Scan(&e.ID, &e.TaskID, &at, &e.Kind, &data)
		e.At, e.Data = fromMS(at), json.RawMessage(data)
		return e, err
	}, afterID, limit)
}

func (n *sqliteSnapshot) Approvals(ctx context.Context, afterID int64, limit int) ([]Approval, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyApprovalColumns+` FROM approvals WHERE id > ? ORDER BY id LIMIT ?`,
		func(rows *sql.Rows) (Approval, error) { return scanApproval(rows) }, afterID, limit)
}

func (n *sqliteSnapshot) Checkpoints(ctx context.Context, afterTaskID int64, limit int) ([]Checkpoint, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyCheckpointColumns+` FROM task_checkpoints
		WHERE task_id > ? ORDER BY task_id LIMIT ?`, func(rows *sql.Rows) (Checkpoint, error) {
		var c Checkpoint
		var data string
		var updated int64
		err := rows.Scan(&c.TaskID, &c.Attempt, &data, &updated)
		c.Data, c.UpdatedAt = json.RawMessage(data), fromMS(updated)
		return c, err
	}, afterTaskID, limit)
}

func (n *sqliteSnapshot) Dependencies(ctx context.Context, after TaskDep, limit int) ([]TaskDep, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyDepColumns+` FROM task_deps
		WHERE (task_id, depends_on) > (?, ?) ORDER BY task_id, depends_on LIMIT ?`, func(rows *sql.Rows) (TaskDep, error) {
		var d TaskDep
		return d, rows.Scan(&d.TaskID, &d.DependsOn)
	}, after.TaskID, after.DependsOn, limit)
}

func (n *sqliteSnapshot) Notifications(ctx context.Context, afterID int64, limit int) ([]OutboxRow, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyOutboxColumns+` FROM notify_outbox WHERE id > ? ORDER BY id LIMIT ?`,
		func(rows *sql.Rows) (OutboxRow, error) {
			var o OutboxRow
			var created, next int64
			var worker sql.NullString
			err := rows.Scan(&o.ID, &o.TaskID, &o.Status, &o.Rule, &created, &o.Attempts, &next, &worker, &o.LastError)
			o.CreatedAt, o.NextTryAt, o.LeaseWorker = fromMS(created), fromMS(next), worker.String
			return o, err
		}, afterID, limit)
}

func (n *sqliteSnapshot) Tokens(ctx context.Context) ([]Token, error) {
	return sqliteCollect(ctx, n, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, name`,
		func(rows *sql.Rows) (Token, error) { return scanToken(rows) })
}

func (n *sqliteSnapshot) Schedules(ctx context.Context) ([]Schedule, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyScheduleColumns+`, NULL FROM schedules ORDER BY name`,
		func(rows *sql.Rows) (Schedule, error) { return scanSchedule(rows) })
}

func (n *sqliteSnapshot) Queues(ctx context.Context) ([]QueueState, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyQueueColumns+` FROM queues ORDER BY name`,
		func(rows *sql.Rows) (QueueState, error) {
			var q QueueState
			var updated int64
			err := rows.Scan(&q.Name, &q.Paused, &updated)
			q.UpdatedAt = fromMS(updated)
			return q, err
		})
}

func (n *sqliteSnapshot) NotifyRules(ctx context.Context) ([]NotifyRuleRow, error) {
	return sqliteCollect(ctx, n, `SELECT `+copyNotifyRuleColumns+` FROM notify_rules ORDER BY status, rule`,
		func(rows *sql.Rows) (NotifyRuleRow, error) {
			var r NotifyRuleRow
			var seen int64
			err := rows.Scan(&r.Status, &r.Rule, &r.Queue, &r.TaskType, &seen)
			r.SeenAt = fromMS(seen)
			return r, err
		})
}

// Import runs fn in one write transaction (BEGIN IMMEDIATE on the writer
// connection), so other processes wait for the write lock until the copy
// is committed or rolled back.
func (s *SQLite) Import(ctx context.Context, fn func(w ImportWriter) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		ne := &NotEmptyError{Location: s.path}
		if err := tx.QueryRowContext(ctx, notEmptyQuery).Scan(&ne.Tasks, &ne.Tokens, &ne.Schedules, &ne.Queues); err != nil {
			return err
		}
		if !ne.empty() {
			return ne
		}
		w := &sqliteImport{tx: tx, stmts: map[string]*sql.Stmt{}}
		defer w.close()
		return indexImported(ctx, tx, fn(w))
	})
}

// sqliteMaxParams is how many parameters a multi-row INSERT takes at most,
// within SQLite's limit of 32,766 a statement.
const sqliteMaxParams = 32_000

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

// exec runs the INSERT of head with n rows of ncols parameters each, then
// tail.
func (w *sqliteImport) exec(ctx context.Context, head, tail string, ncols, n int) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", ncols), ", ") + ")"
	q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + tail
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

// sqliteInsert writes rows into table (its columns cols) with as many rows
// a statement as the parameter limit allows; row appends a row's values.
func sqliteInsert[R any](ctx context.Context, w *sqliteImport, table, cols, tail string, rows []R, row func(args []any, r *R) []any) error {
	ncols := strings.Count(cols, ",") + 1
	for len(rows) > 0 {
		n := min(len(rows), sqliteMaxParams/ncols)
		w.args = w.args[:0]
		for i := range rows[:n] {
			w.args = row(w.args, &rows[i])
		}
		if err := w.exec(ctx, `INSERT INTO `+table+` (`+cols+`)`, tail, ncols, n); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// sqliteScheduled is the scheduled column's value of a task.
func sqliteScheduled(r *TaskRow) int {
	if r.Blocked {
		return sqliteBlocked
	}
	return boolInt(r.Scheduled)
}

func (w *sqliteImport) WriteTasks(ctx context.Context, rows []TaskRow) error {
	return sqliteInsert(ctx, w, "tasks", copyTaskColumns, "", rows, func(a []any, r *TaskRow) []any {
		t := &r.Task
		return append(a, t.ID, t.Type, t.Name, t.Queue, t.Priority, string(t.Status),
			orEmptyObject(t.Input), nullJSON(t.Result), t.Error, t.Attempts, t.MaxAttempts,
			ms(t.RunAfter), t.Timeout.Milliseconds(), nullString(t.Key), nullString(t.LeaseWorker),
			nullMS(t.LeaseExpires), boolInt(t.CancelRequested), ms(t.CreatedAt), ms(t.UpdatedAt),
			nullMS(t.StartedAt), nullMS(t.FinishedAt), sqliteScheduled(r), nullMS(r.RescueAfter))
	})
}

func (w *sqliteImport) WriteEvents(ctx context.Context, evs []Event) error {
	return sqliteInsert(ctx, w, "task_events", "id, task_id, at, kind, data", "", evs, func(a []any, e *Event) []any {
		return append(a, e.ID, e.TaskID, ms(e.At), e.Kind, orEmptyObject(e.Data))
	})
}

func (w *sqliteImport) WriteApprovals(ctx context.Context, as []Approval) error {
	return sqliteInsert(ctx, w, "approvals", copyApprovalColumns, "", as, func(a []any, r *Approval) []any {
		return append(a, r.ID, r.TaskID, r.CallID, r.Tool, orEmptyObject(r.Arguments), r.Step,
			ms(r.RequestedAt), ms(r.ExpiresAt), nullDecision(r.Decision), r.Reason, r.DecidedBy, nullMS(r.DecidedAt))
	})
}

func (w *sqliteImport) WriteCheckpoints(ctx context.Context, cs []Checkpoint) error {
	return sqliteInsert(ctx, w, "task_checkpoints", copyCheckpointColumns, "", cs, func(a []any, c *Checkpoint) []any {
		return append(a, c.TaskID, c.Attempt, string(c.Data), ms(c.UpdatedAt))
	})
}

func (w *sqliteImport) WriteDependencies(ctx context.Context, ds []TaskDep) error {
	return sqliteInsert(ctx, w, "task_deps", copyDepColumns, "", ds, func(a []any, d *TaskDep) []any {
		return append(a, d.TaskID, d.DependsOn)
	})
}

func (w *sqliteImport) WriteNotifications(ctx context.Context, ns []OutboxRow) error {
	return sqliteInsert(ctx, w, "notify_outbox", copyOutboxColumns, "", ns, func(a []any, o *OutboxRow) []any {
		return append(a, o.ID, o.TaskID, string(o.Status), o.Rule, ms(o.CreatedAt), o.Attempts,
			ms(o.NextTryAt), nullString(o.LeaseWorker), o.LastError)
	})
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

func (w *sqliteImport) WriteSchedules(ctx context.Context, ss []Schedule) error {
	return sqliteInsert(ctx, w, "schedules", copyScheduleColumns, "", ss, func(a []any, s *Schedule) []any {
		t := &s.Task
		return append(a, s.Name, s.Every.Milliseconds(), s.Cron, s.TZ, boolInt(s.SkipIfRunning), boolInt(s.Paused),
			t.Type, t.Name, t.Queue, t.Priority, orEmptyObject(t.Input), t.MaxAttempts, t.Timeout.Milliseconds(),
			ms(s.NextRunAt), nullMS(s.LastRunAt), nullID(s.LastTaskID), s.Skipped, nullMS(s.LastSkippedAt),
			ms(s.CreatedAt), ms(s.UpdatedAt))
	})
}

func (w *sqliteImport) WriteQueues(ctx context.Context, qs []QueueState) error {
	return sqliteInsert(ctx, w, "queues", copyQueueColumns, "", qs, func(a []any, q *QueueState) []any {
		return append(a, q.Name, boolInt(q.Paused), ms(q.UpdatedAt))
	})
}

func (w *sqliteImport) WriteNotifyRules(ctx context.Context, rs []NotifyRuleRow) error {
	return sqliteInsert(ctx, w, "notify_rules", copyNotifyRuleColumns, notifyRuleMerge, rs, func(a []any, r *NotifyRuleRow) []any {
		return append(a, string(r.Status), r.Rule, r.Queue, r.TaskType, ms(r.SeenAt))
	})
}

func (w *sqliteImport) Counts(ctx context.Context) (CopyCounts, error) {
	var c CopyCounts
	err := w.tx.QueryRowContext(ctx, copyCountsQuery).Scan(countsDest(&c)...)
	return c, err
}

// ReserveIDs raises the rows of sqlite_sequence that AUTOINCREMENT reads
// for the next id of tasks, approvals and notify_outbox (inserting
// explicit ids has already raised them to the highest of those). Event
// ids are not AUTOINCREMENT on SQLite: the next is always the highest
// present plus one, so there is nothing to reserve.
func (w *sqliteImport) ReserveIDs(ctx context.Context, ids CopyIDs) error {
	for _, p := range []struct {
		table string
		id    int64
	}{{"tasks", ids.Tasks}, {"approvals", ids.Approvals}, {"notify_outbox", ids.Notifications}} {
		if err := w.reserve(ctx, p.table, p.id); err != nil {
			return err
		}
	}
	return nil
}

func (w *sqliteImport) reserve(ctx context.Context, table string, id int64) error {
	if id <= 0 {
		return nil
	}
	res, err := w.tx.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?`, id, table)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = w.tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, table, id)
	return err
}
