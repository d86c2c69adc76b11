package db_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// prunable stores n tasks with `events` output events each, cancelled (so
// finished) just now, and returns their ids. Only the tasks go through the
// store: events and the cancel are written with plain SQL, one statement
// each, as thousands of single-row transactions would make the fixture
// slower than the prune it is for.
func prunable(tb testing.TB, s *db.SQLite, n, events int) []int64 {
	tb.Helper()
	ctx := context.Background()
	nts := make([]db.NewTask, n)
	for i := range nts {
		nts[i] = db.NewTask{Type: "exec", Input: json.RawMessage(`{"shell":"true"}`)}
	}
	rs, err := s.SubmitBatch(ctx, nts)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := sql.Open("sqlite", "file:"+s.Path()+"?_pragma=busy_timeout(30000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	first, last := rs[0].ID, rs[n-1].ID
	now := time.Now().UnixMilli()
	if _, err := conn.Exec(`UPDATE tasks SET status = 'cancelled', error = 'cancelled', finished_at = ?, updated_at = ?
		WHERE id BETWEEN ? AND ?`, now, now, first, last); err != nil {
		tb.Fatal(err)
	}
	if events > 0 {
		if _, err := conn.Exec(`WITH RECURSIVE e(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM e WHERE n < ?)
			INSERT INTO task_events (task_id, at, kind, data)
			SELECT t.id, ?, 'output', '{"line":"some output of the command"}'
			FROM tasks t, e WHERE t.id BETWEEN ? AND ? ORDER BY t.id, e.n`, events, now, first, last); err != nil {
			tb.Fatal(err)
		}
	}
	ids := make([]int64, n)
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// eventCount is how many events a task has.
func eventCount(t *testing.T, s *db.SQLite, id int64) int64 {
	t.Helper()
	_, n, err := s.LastEvents(context.Background(), id, 0)
	require.NoError(t, err)
	return n
}

// txLog records the rows each prune transaction changed.
type txLog struct {
	mu   sync.Mutex
	rows []int64
}

func (l *txLog) afterTx(rows int64, _ time.Duration) {
	l.mu.Lock()
	l.rows = append(l.rows, rows)
	l.mu.Unlock()
}

func (l *txLog) max() (m int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rows {
		m = max(m, r)
	}
	return m
}

func (l *txLog) sum() (n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rows {
		n += r
	}
	return n
}

// A prune of tasks with many events bounds every write transaction by the
// rows it deletes, events and tasks together, not by the tasks: one
// transaction for 3,000 tasks of 2,000 events each held the write lock for
// 7.9s, long enough for other runners' leases to expire. A task with more
// events than one transaction deletes is taken in several.
func TestPruneBoundsRowsPerTransaction(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ctx := context.Background()
	ids := prunable(t, s, 8, 1_500)
	ids = append(ids, prunable(t, s, 1, db.PruneRows+500)...)
	ids = append(ids, prunable(t, s, 20, 0)...)
	// A pending task with events stays, and so do its events.
	kept := submit(t, s, db.NewTask{})
	rawExec(t, s.Path(), `INSERT INTO task_events (task_id, at, kind) VALUES (?1, 0, 'output'), (?1, 0, 'output')`, kept)

	var want int64 // rows the prune must delete
	for _, id := range ids {
		want += 1 + eventCount(t, s, id) + searchIndexRowsPerTask
	}
	var log txLog
	n, err := s.Prune(db.WithPruneHook(ctx, db.PruneHook{AfterTx: log.afterTx}),
		db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
	require.NoError(t, err)
	require.EqualValues(t, len(ids), n)

	require.LessOrEqual(t, log.max(), int64(db.PruneRows), "rows of the largest transaction (of %d)", len(log.rows))
	require.Equal(t, want, log.sum(), "rows deleted in all")
	for _, id := range ids {
		_, err := s.Get(ctx, id)
		require.ErrorIs(t, err, db.ErrNotFound)
		require.Zero(t, eventCount(t, s, id))
	}
	task, err := s.Get(ctx, kept)
	require.NoError(t, err)
	require.Equal(t, db.StatusPending, task.Status)
	require.EqualValues(t, 2, eventCount(t, s, kept))
}

// A task retried while a prune runs is pending again when the prune comes
// to it: it keeps its row and every one of its events. Each task here has
// more than half a transaction's rows, so each goes in a transaction of its
// own, and the retry lands between the first and the second.
func TestPruneKeepsTaskRetriedMeanwhile(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ctx := context.Background()
	ids := prunable(t, s, 3, db.PruneRows*6/10)
	retried := ids[1]
	var once sync.Once
	var retryErr error
	hook := db.PruneHook{Between: func() {
		once.Do(func() { _, retryErr = s.Retry(context.Background(), retried) })
	}}
	before := eventCount(t, s, retried)

	n, err := s.Prune(db.WithPruneHook(ctx, hook), db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
	require.NoError(t, err)
	require.NoError(t, retryErr)
	require.EqualValues(t, 2, n)
	task, err := s.Get(ctx, retried)
	require.NoError(t, err)
	require.Equal(t, db.StatusPending, task.Status)
	require.Equal(t, before+1, eventCount(t, s, retried), "its events and the retry's status event")
	require.Positive(t, before)
	for _, id := range []int64{ids[0], ids[2]} {
		_, err := s.Get(ctx, id)
		require.ErrorIs(t, err, db.ErrNotFound)
	}
}

// A task with more events than one transaction deletes loses them over
// several transactions. Retried in between, it keeps its row and the events
// not yet deleted; the prune deletes nothing more of it.
func TestPruneStopsOnTaskRetriedBetweenItsEventChunks(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ctx := context.Background()
	id := prunable(t, s, 1, db.PruneRows+100)[0]
	var once sync.Once
	var retryErr error
	hook := db.PruneHook{Between: func() {
		once.Do(func() { _, retryErr = s.Retry(context.Background(), id) })
	}}
	before := eventCount(t, s, id)

	n, err := s.Prune(db.WithPruneHook(ctx, hook), db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
	require.NoError(t, err)
	require.NoError(t, retryErr)
	require.Zero(t, n)
	task, err := s.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, db.StatusPending, task.Status)
	require.Equal(t, before-db.PruneRows+1, eventCount(t, s, id), "one transaction's events gone, the retry's status event added")
}

// Cancelling the context between transactions stops the prune; it returns
// the tasks deleted so far with the context's error.
func TestPruneCancelledBetweenTransactions(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ids := prunable(t, s, 3, db.PruneRows*6/10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := s.Prune(db.WithPruneHook(ctx, db.PruneHook{Between: cancel}),
		db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
	require.True(t, errors.Is(err, context.Canceled), "err = %v", err)
	require.EqualValues(t, 1, n)
	_, err = s.Get(context.Background(), ids[0])
	require.ErrorIs(t, err, db.ErrNotFound)
	for _, id := range ids[1:] {
		_, err := s.Get(context.Background(), id)
		require.NoError(t, err)
	}
}

// The filter keeps its meaning: only the given finished statuses, finished
// before the cutoff; a dry run counts the same tasks and deletes nothing.
func TestPruneFilter(t *testing.T) {
	t.Parallel()
	s := dbtest.New(t)
	ctx := context.Background()
	cancelled := prunable(t, s, 3, 5)
	cutoff := time.Now().Add(time.Hour)
	pending := submit(t, s, db.NewTask{})

	f := db.PruneFilter{FinishedBefore: cutoff, Statuses: []db.Status{db.StatusFailed}}
	n, err := s.Prune(ctx, f, false)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = s.Prune(ctx, db.PruneFilter{FinishedBefore: time.Now().Add(-time.Hour)}, false)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = s.Prune(ctx, db.PruneFilter{FinishedBefore: cutoff, Statuses: []db.Status{db.StatusPending}}, false)
	require.ErrorContains(t, err, "pending tasks are not finished")

	f.Statuses = []db.Status{db.StatusCancelled, db.StatusFailed}
	n, err = s.Prune(ctx, f, true)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	total, err := s.Count(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 4, total)

	n, err = s.Prune(ctx, f, false)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	for _, id := range cancelled {
		_, err := s.Get(ctx, id)
		require.ErrorIs(t, err, db.ErrNotFound)
	}
	_, err = s.Get(ctx, pending)
	require.NoError(t, err)
}
