package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const taskColumns = `id, type, name, queue, priority, status, input, result, error,
	attempts, max_attempts, run_after, timeout_ms, idempotency_key, lease_worker,
	lease_expires_at, cancel_requested, created_at, updated_at, started_at, finished_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanTask(r rowScanner) (Task, error) {
	var t Task
	var input string
	var result, key, worker sql.NullString
	var runAfter, timeoutMS, created, updated int64
	var leaseExp, started, finished sql.NullInt64
	err := r.Scan(&t.ID, &t.Type, &t.Name, &t.Queue, &t.Priority, &t.Status, &input, &result, &t.Error,
		&t.Attempts, &t.MaxAttempts, &runAfter, &timeoutMS, &key, &worker,
		&leaseExp, &t.CancelRequested, &created, &updated, &started, &finished)
	if err != nil {
		return t, err
	}
	t.Input = json.RawMessage(input)
	if result.Valid {
		t.Result = json.RawMessage(result.String)
	}
	t.Key, t.LeaseWorker = key.String, worker.String
	t.RunAfter, t.CreatedAt, t.UpdatedAt = fromMS(runAfter), fromMS(created), fromMS(updated)
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.LeaseExpires, t.StartedAt, t.FinishedAt = fromNullMS(leaseExp), fromNullMS(started), fromNullMS(finished)
	return t, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

const insertTask = `INSERT INTO tasks (type, name, queue, priority, status, input, attempts,
	max_attempts, run_after, scheduled, timeout_ms, idempotency_key, created_at, updated_at)
	VALUES (?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?, ?, ?, ?)`

// insertArgs fills defaults and returns the row for insertTask.
func insertArgs(t NewTask, now time.Time) []any {
	if t.Queue == "" {
		t.Queue = "default"
	}
	if t.MaxAttempts < 1 {
		t.MaxAttempts = 1
	}
	if t.RunAfter.IsZero() {
		t.RunAfter = now
	}
	if len(t.Input) == 0 {
		t.Input = json.RawMessage("{}")
	}
	return []any{t.Type, t.Name, t.Queue, t.Priority, string(t.Input), t.MaxAttempts,
		ms(t.RunAfter), scheduled(t.RunAfter, now), t.Timeout.Milliseconds(), nullString(t.Key), ms(now), ms(now)}
}

// scheduled is the value of the scheduled column for a pending task that
// runs after runAfter: 1 while that is still ahead, so that claims do not
// walk it (see migration 4).
func scheduled(runAfter, now time.Time) int {
	if ms(runAfter) > ms(now) {
		return 1
	}
	return 0
}

// Submit stores one pending task, or returns the task that already holds
// its idempotency key.
func (s *SQLite) Submit(ctx context.Context, t NewTask) (SubmitResult, error) {
	rs, err := s.SubmitBatch(ctx, []NewTask{t})
	if err != nil {
		return SubmitResult{}, err
	}
	return rs[0], nil
}

// BatchError says which task of a batch failed (0-based index).
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("task %d: %v", e.Index+1, e.Err) }

func (e *BatchError) Unwrap() error { return e.Err }

// SubmitBatch stores all tasks in one transaction, all or nothing.
//
// The keys of the batch are looked up first, keyLookupChunk per statement:
// a task whose key a stored task holds returns that task, and one whose
// key an earlier task of the batch has returns the earlier one. The rest
// are inserted in order, insertChunk rows per statement: one statement per
// row costs more in the driver than SQLite spends storing the row. The ids
// of one statement's rows are consecutive and in row order, because the
// table is AUTOINCREMENT and this transaction holds the write lock, so
// they follow from the last inserted id.
func (s *SQLite) SubmitBatch(ctx context.Context, ts []NewTask) ([]SubmitResult, error) {
	out := make([]SubmitResult, len(ts))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		b := batchInserter{ctx: ctx, tx: tx, now: s.now(), out: out}
		defer b.close()
		insert, repeats, err := b.lookupKeys(ts)
		if err != nil {
			return err
		}
		for len(insert) > 0 {
			n := min(len(insert), insertChunk)
			if err := b.insertRows(ts, insert[:n]); err != nil {
				return err
			}
			insert = insert[n:]
		}
		for _, r := range repeats {
			out[r.task] = SubmitResult{ID: out[r.first].ID, Existed: true}
		}
		return addDependencies(ctx, tx, b.now, ts, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertChunk is how many rows one multi-row INSERT stores. Each row binds
// 12 parameters, far below SQLite's limit of 32,766.
const insertChunk = 256

// keyLookupChunk is how many keys one SELECT looks up.
const keyLookupChunk = 1000

// batchInserter writes the tasks of one SubmitBatch transaction.
type batchInserter struct {
	ctx   context.Context
	tx    *sql.Tx
	now   time.Time
	out   []SubmitResult
	chunk *sql.Stmt // the full-chunk multi-row INSERT, prepared on first use
	one   *sql.Stmt // the one-row INSERT
	args  []any
}

func (b *batchInserter) close() {
	for _, st := range []*sql.Stmt{b.chunk, b.one} {
		if st != nil {
			st.Close()
		}
	}
}

// keyRepeat is a task whose key an earlier task of its batch (first) has.
type keyRepeat struct{ task, first int }

// lookupKeys sets out for the tasks whose keys stored tasks hold, and
// returns the indexes of the tasks to insert, in order, and the tasks
// whose keys repeat an earlier one of the batch that is inserted.
func (b *batchInserter) lookupKeys(ts []NewTask) ([]int, []keyRepeat, error) {
	insert := make([]int, 0, len(ts))
	var first map[string]int // key -> index of its first task
	var keys []string
	for i, t := range ts {
		if t.Key == "" {
			continue
		}
		if first == nil {
			first = map[string]int{}
		}
		if _, ok := first[t.Key]; !ok {
			first[t.Key] = i
			keys = append(keys, t.Key)
		}
	}
	stored := map[string]int64{}
	for len(keys) > 0 {
		n := min(len(keys), keyLookupChunk)
		list, err := json.Marshal(keys[:n])
		if err != nil {
			return nil, nil, err
		}
		if err := b.storedKeys(string(list), stored); err != nil {
			return nil, nil, &BatchError{Index: first[keys[0]], Err: err}
		}
		keys = keys[n:]
	}
	var repeats []keyRepeat
	for i, t := range ts {
		if t.Key == "" {
			insert = append(insert, i)
			continue
		}
		if id, ok := stored[t.Key]; ok {
			b.out[i] = SubmitResult{ID: id, Existed: true}
			continue
		}
		if f := first[t.Key]; f != i {
			repeats = append(repeats, keyRepeat{task: i, first: f})
			continue
		}
		insert = append(insert, i)
	}
	return insert, repeats, nil
}

// storedKeys adds to stored the ids of the tasks holding the keys of list,
// a JSON array.
func (b *batchInserter) storedKeys(list string, stored map[string]int64) error {
	rows, err := b.tx.QueryContext(b.ctx, `SELECT idempotency_key, id FROM tasks
		WHERE idempotency_key IS NOT NULL AND idempotency_key IN (SELECT value FROM json_each(?))`, list)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var id int64
		if err := rows.Scan(&key, &id); err != nil {
			return err
		}
		stored[key] = id
	}
	return rows.Err()
}

// multiInsert is insertTask with n rows of values.
func multiInsert(n int) string {
	row := "(?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?, ?, ?, ?)"
	head, _, _ := strings.Cut(insertTask, "VALUES")
	return head + "VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// insertRows inserts the tasks ts[i] for i in idx (at most insertChunk,
// increasing) with one statement.
func (b *batchInserter) insertRows(ts []NewTask, idx []int) error {
	n := len(idx)
	b.args = b.args[:0]
	for _, i := range idx {
		b.args = append(b.args, insertArgs(ts[i], b.now)...)
	}
	var res sql.Result
	var err error
	switch {
	case n == insertChunk:
		if b.chunk == nil {
			if b.chunk, err = b.tx.PrepareContext(b.ctx, multiInsert(n)); err != nil {
				return err
			}
		}
		res, err = b.chunk.ExecContext(b.ctx, b.args...)
	default:
		res, err = b.tx.ExecContext(b.ctx, multiInsert(n), b.args...)
	}
	if err != nil {
		// A failed statement changes nothing, so the rows can be tried one
		// by one to say which of them is at fault.
		for _, i := range idx {
			if err := b.insertOne(i, ts[i]); err != nil {
				return err
			}
		}
		return nil
	}
	last, err := res.LastInsertId()
	if err != nil {
		return err
	}
	for k, i := range idx {
		b.out[i] = SubmitResult{ID: last - int64(n-1-k)}
	}
	return nil
}

// insertOne inserts one task.
func (b *batchInserter) insertOne(i int, t NewTask) error {
	if b.one == nil {
		var err error
		if b.one, err = b.tx.PrepareContext(b.ctx, insertTask); err != nil {
			return err
		}
	}
	res, err := b.one.ExecContext(b.ctx, insertArgs(t, b.now)...)
	if err == nil {
		b.out[i].ID, err = res.LastInsertId()
	}
	if err != nil {
		return &BatchError{Index: i, Err: err}
	}
	return nil
}

// Get returns one task.
func (s *SQLite) Get(ctx context.Context, id int64) (Task, error) {
	// show, wait and the API's task reads repeat it: prepared once.
	st, done, err := s.stmts.get(ctx, s.r, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`)
	if err != nil {
		return Task{}, s.classify(err)
	}
	defer done()
	t, err := scanTask(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, &NotFoundError{ID: id}
	}
	return t, s.classify(err)
}

// Count returns the number of tasks in the store.
func (s *SQLite) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tasks`).Scan(&n)
	return n, s.classify(err)
}

// statusEvent appends a status-change event inside tx.
func statusEvent(ctx context.Context, tx *sql.Tx, id int64, at time.Time, from, to Status, reason string) error {
	return writeStatusEvents(ctx, tx, at, []statusChange{{id: id, data: statusData(from, to, reason)}})
}

// statusChange is one status event to write: a task and its event's data.
type statusChange struct {
	id   int64
	data string
}

// statusData is the data of a status event.
func statusData(from, to Status, reason string) string {
	data, _ := json.Marshal(struct {
		From   Status `json:"from"`
		To     Status `json:"to"`
		Reason string `json:"reason,omitempty"`
	}{from, to, reason})
	return string(data)
}

// eventChunk is how many events one multi-row INSERT writes.
const eventChunk = 256

// writeStatusEvents appends the status events of a batch of changes inside
// tx, eventChunk rows per statement: a runner's claims and outcomes come in
// batches, and one statement per event would cost more than the rows.
func writeStatusEvents(ctx context.Context, tx *sql.Tx, at time.Time, cs []statusChange) error {
	const row = "(?, ?, '" + EventStatus + "', ?)"
	args := make([]any, 0, 3*min(len(cs), eventChunk))
	for len(cs) > 0 {
		n := min(len(cs), eventChunk)
		args = args[:0]
		for _, c := range cs[:n] {
			args = append(args, c.id, ms(at), c.data)
		}
		q := "INSERT INTO task_events (task_id, at, kind, data) VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		cs = cs[n:]
	}
	return nil
}

// transition runs one conditional update of task id from one of the
// statuses in from. When no row matches it reports why: the task does not
// exist, or it is in a state the change does not start from.
func (s *SQLite) transition(ctx context.Context, id int64, from []Status, to Status, set string, args ...any) (Task, error) {
	var t Task
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur Status
		if err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, id).Scan(&cur); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return &NotFoundError{ID: id}
			}
			return err
		}
		if !slices.Contains(from, cur) {
			return &TransitionError{ID: id, From: cur, To: to}
		}
		now := s.now()
		q := `UPDATE tasks SET ` + set + `, updated_at = ? WHERE id = ? AND status = ? RETURNING ` + taskColumns
		var err error
		t, err = scanTask(tx.QueryRowContext(ctx, q, append(append(args, ms(now)), id, cur)...))
		if err != nil {
			return err
		}
		if t.Status != cur {
			if err := statusEvent(ctx, tx, id, now, cur, t.Status, ""); err != nil {
				return err
			}
			return transitionDependencies(ctx, tx, now, id, cur, t.Status)
		}
		return nil
	})
	return t, err
}

// Cancel cancels a pending or waiting task at once; a running task is
// flagged, and its runner stops the handler and records the cancelled state.
func (s *SQLite) Cancel(ctx context.Context, id int64) (Task, error) {
	now := ms(s.now())
	return s.transition(ctx, id, []Status{StatusPending, StatusRunning, StatusWaiting}, StatusCancelled,
		`status = CASE status WHEN 'running' THEN status ELSE 'cancelled' END,
		 cancel_requested = CASE status WHEN 'running' THEN 1 ELSE cancel_requested END,
		 error = CASE status WHEN 'running' THEN error ELSE 'cancelled' END,
		 finished_at = CASE status WHEN 'running' THEN finished_at ELSE ? END`, now)
}

// Retry puts a failed or cancelled task back to pending, runnable now, with
// its attempts reset so it gets its whole attempt budget again.
func (s *SQLite) Retry(ctx context.Context, id int64) (Task, error) {
	return s.transition(ctx, id, []Status{StatusFailed, StatusCancelled}, StatusPending,
		`status = 'pending', attempts = 0, error = '', result = NULL, run_after = ?, scheduled = 0,
		 cancel_requested = 0, lease_worker = NULL, lease_expires_at = NULL,
		 started_at = NULL, finished_at = NULL`, ms(s.now()))
}
