package db_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// copyTarget opens a new, migrated database of dialect d for a copy to
// write into.
func copyTarget(t testing.TB, d db.Dialect) db.Copier {
	t.Helper()
	return openBackend(t, d, db.Options{}).(db.Copier)
}

// copyAll copies src into dst and fails the test on error.
func copyAll(t testing.TB, src, dst db.Copier) db.CopyStats {
	t.Helper()
	st, err := db.Copy(context.Background(), src, dst, db.CopyOptions{Chunk: 3})
	require.NoError(t, err)
	return st
}

// dump is everything a copy moves, read through the backend's snapshot.
type dump struct {
	Tasks  []db.TaskRow
	Events []db.Event
	Tokens []db.Token
}

func readDump(t testing.TB, s db.Copier) dump {
	t.Helper()
	ctx := context.Background()
	snap, err := s.Export(ctx)
	require.NoError(t, err)
	defer snap.Close()
	var d dump
	d.Tasks, err = snap.Tasks(ctx, 0, 1_000_000)
	require.NoError(t, err)
	d.Events, err = snap.Events(ctx, 0, 1_000_000)
	require.NoError(t, err)
	d.Tokens, err = snap.Tokens(ctx)
	require.NoError(t, err)
	return d
}

// fillForCopy stores tasks in every state through the store API: done,
// failed, cancelled, scheduled, running with a cancel request and a
// rescue mark, pending in another queue, retried, with keys, results,
// errors and events in several scripts. The task with the highest id is
// pruned, so the ids handed out go past those left; it returns that id.
func fillForCopy(t *testing.T, s db.Backend, c *clock) (pruned int64) {
	t.Helper()
	ctx := context.Background()
	done := submit(t, s, db.NewTask{Name: "ünïcode ✓", Queue: "ops", Priority: 2, MaxAttempts: 2,
		Timeout: 90 * time.Second, Key: "clé-1", Input: json.RawMessage(`{"command":["echo","héllo 🌍"],"dir":"/tmp"}`)})
	failed := submit(t, s, db.NewTask{Priority: 1, Key: "k2"})
	cancelled := submit(t, s, db.NewTask{Name: "never"})
	scheduled := submit(t, s, db.NewTask{RunAfter: c.Now().Add(2 * time.Hour)})
	running := submit(t, s, db.NewTask{Input: json.RawMessage(`{"command":["sleep","1000"]}`)})
	other := submit(t, s, db.NewTask{Queue: "other", Priority: -5, Input: json.RawMessage(`{ "spaced" : [1, 2.50, "x"] }`)})
	retried := submit(t, s, db.NewTask{})
	last := submit(t, s, db.NewTask{Priority: 100})

	claim := func(want int64, lease time.Duration) db.Task {
		t.Helper()
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "host:1:w", Limit: 1, Lease: lease})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, want, got[0].ID)
		return got[0]
	}
	finish := func(tk db.Task, out db.Outcome, evs ...db.NewEvent) {
		t.Helper()
		out.ID, out.Worker, out.Attempt = tk.ID, tk.LeaseWorker, tk.Attempts
		_, err := s.Finish(ctx, evs, []db.Outcome{out})
		require.NoError(t, err)
	}

	// The newest task finishes first and is pruned at the end.
	finish(claim(last, time.Minute), db.Outcome{Status: db.StatusCompleted, Result: json.RawMessage(`{}`)})
	prunedBefore := c.Now().Add(time.Minute)
	c.Add(time.Hour)

	_, err := s.Cancel(ctx, cancelled)
	require.NoError(t, err)
	tk := claim(done, time.Minute)
	c.Add(1234 * time.Millisecond)
	finish(tk, db.Outcome{Status: db.StatusCompleted, Result: json.RawMessage(`{"exit_code":0,"stdout":"héllo 🌍\n"}`)},
		db.NewEvent{TaskID: done, Kind: "stdout", Data: json.RawMessage(`{"text":"héllo 🌍\n"}`)},
		db.NewEvent{TaskID: done, Kind: "stderr", Data: json.RawMessage(`{"text":"tab\tquote\" backslash\\ nul\u0000 日本語"}`)},
		db.NewEvent{TaskID: done, Kind: "warning", Data: json.RawMessage(`{"message":"Ω ≈ ç √ ∫"}`)})
	finish(claim(failed, time.Minute), db.Outcome{Status: db.StatusFailed, Error: "exit code 3: ça a échoué",
		Result: json.RawMessage(`{"exit_code":3,"stderr":"non\n"}`)})
	claim(running, time.Minute)
	_, err = s.Cancel(ctx, running)
	require.NoError(t, err)
	finish(claim(retried, time.Minute), db.Outcome{Status: db.StatusFailed, Error: "boom"})
	_, err = s.Retry(ctx, retried)
	require.NoError(t, err)
	_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: other, Kind: "note", Data: json.RawMessage(`{"text":"ünïcode 🚀"}`)}})
	require.NoError(t, err)

	// The running task's lease expires; a rescuer marks it (rescue_after).
	c.Add(2 * time.Minute)
	n, err := s.Rescue(ctx, db.RescueRequest{Worker: "rescuer", Grace: time.Hour})
	require.NoError(t, err)
	require.Zero(t, n)

	// API tokens: one used, with an expiry; one never used.
	require.NoError(t, s.CreateToken(ctx, db.Token{Name: "ci", Hash: tokenHash("ci-secret"), Scope: db.ScopeWrite,
		ExpiresAt: c.Now().Add(30 * 24 * time.Hour)}))
	c.Add(time.Second)
	require.NoError(t, s.CreateToken(ctx, db.Token{Name: "ops ✓", Hash: tokenHash("ops-secret"), Scope: db.ScopeAdmin}))
	c.Add(time.Second)
	require.NoError(t, s.TokenUsed(ctx, "ci"))

	n64, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: prunedBefore}, false)
	require.NoError(t, err)
	require.EqualValues(t, 1, n64)

	d := readDump(t, s.(db.Copier))
	require.Len(t, d.Tasks, 7)
	byID := map[int64]db.TaskRow{}
	for _, r := range d.Tasks {
		byID[r.ID] = r
	}
	require.True(t, byID[scheduled].Scheduled)
	require.False(t, byID[running].RescueAfter.IsZero(), "the running task carries a rescue mark")
	require.True(t, byID[running].CancelRequested)
	require.Equal(t, db.StatusPending, byID[retried].Status)
	return last
}

// Every column of every task and event comes through SQLite -> PostgreSQL
// -> SQLite, and SQLite -> SQLite, unchanged; afterwards no backend hands
// out an id the source had handed out, not even the pruned task's.
func TestCopyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	src := dbtest.Open(t, db.Options{Path: filepath.Join(t.TempDir(), "src.db"), Now: c.Now})
	pruned := fillForCopy(t, src, c)
	want := readDump(t, src)

	pgDB := copyTarget(t, db.PostgresDialect)
	schema := pgSchema(t, pgDB.Location())
	st := copyAll(t, src, pgDB)
	require.Len(t, want.Tokens, 2)
	require.Equal(t, db.CopyStats{Tasks: 7, Events: int64(len(want.Events)), Tokens: 2, Elapsed: st.Elapsed}, st)
	require.Equal(t, want, readDump(t, pgDB))
	require.Equal(t, schema, pgSchema(t, pgDB.Location()), "indexes and keys are as the migrations made them")

	back := copyTarget(t, db.SQLiteDialect)
	copyAll(t, pgDB, back)
	require.Equal(t, want, readDump(t, back))

	direct := copyTarget(t, db.SQLiteDialect)
	copyAll(t, src, direct)
	require.Equal(t, want, readDump(t, direct))

	lastEvent := want.Events[len(want.Events)-1].ID
	for name, s := range map[string]db.Copier{"postgres": pgDB, "sqlite from postgres": back, "sqlite": direct} {
		tok, err := s.TokenByHash(ctx, tokenHash("ci-secret"))
		require.NoError(t, err, name)
		require.Equal(t, "ci", tok.Name, name)
		id := submit(t, s, db.NewTask{})
		require.Greater(t, id, pruned, "%s: a new task must not reuse an id", name)
		_, err = s.AppendEvents(ctx, []db.NewEvent{{TaskID: id, Kind: "note"}})
		require.NoError(t, err)
		evs, err := s.Events(ctx, id, 0, 0)
		require.NoError(t, err)
		require.Greater(t, evs[0].ID, lastEvent, name)
	}
}

// Times PostgreSQL keeps in microseconds stay so from one PostgreSQL
// database to another (SQLite keeps milliseconds).
func TestCopyPostgresToPostgresKeepsMicroseconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := copyTarget(t, db.PostgresDialect) // the server's clock: microseconds
	submit(t, src, db.NewTask{})
	submit(t, src, db.NewTask{RunAfter: time.Now().Add(time.Hour)})
	got, err := src.Claim(ctx, db.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	_, err = src.Finish(ctx, []db.NewEvent{{TaskID: got[0].ID, Kind: "stdout", Data: json.RawMessage(`{"text":"x"}`)}},
		[]db.Outcome{{ID: got[0].ID, Worker: "w", Attempt: 1, Status: db.StatusCompleted}})
	require.NoError(t, err)
	require.NoError(t, src.CreateToken(ctx, db.Token{Name: "t", Hash: tokenHash("t"), Scope: db.ScopeRead}))
	require.NoError(t, src.TokenUsed(ctx, "t"))
	want := readDump(t, src)
	require.NotZero(t, want.Tasks[0].CreatedAt.Nanosecond()%int(time.Millisecond), "the source has sub-millisecond times")
	require.NotZero(t, want.Tokens[0].LastUsedAt.Nanosecond()%int(time.Millisecond), "the source has sub-millisecond times")
	dst := copyTarget(t, db.PostgresDialect)
	copyAll(t, src, dst)
	require.Equal(t, want, readDump(t, dst))
}

// A target that holds tasks is refused before anything is written.
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := copyTarget(t, db.SQLiteDialect)
			submit(t, src, db.NewTask{})
			submit(t, src, db.NewTask{})
			dst := copyTarget(t, d)
			id := submit(t, dst, db.NewTask{Name: "mine"})
			_, err := dst.Cancel(ctx, id)
			require.NoError(t, err)
			before := readDump(t, dst)
			require.Len(t, before.Events, 1)

			_, err = db.Copy(ctx, src, dst, db.CopyOptions{})
			var ne *db.NotEmptyError
			require.ErrorAs(t, err, &ne)
			require.EqualValues(t, 1, ne.Tasks)
			require.Contains(t, err.Error(), "already holds 1 tasks")
			require.Equal(t, before, readDump(t, dst))

			// A target that holds only API tokens is refused too: a copy
			// would have to choose between its tokens and the source's.
			onlyTokens := copyTarget(t, d)
			require.NoError(t, onlyTokens.CreateToken(ctx, db.Token{Name: "mine", Hash: tokenHash("mine"), Scope: db.ScopeRead}))
			before = readDump(t, onlyTokens)
			_, err = db.Copy(ctx, src, onlyTokens, db.CopyOptions{})
			require.ErrorAs(t, err, &ne)
			require.EqualValues(t, 1, ne.Tokens)
			require.Contains(t, err.Error(), "already holds 1 API tokens")
			require.Equal(t, before, readDump(t, onlyTokens))
		})
	}
}

// A copy that stops part way (here: cancelled after its first chunk)
// leaves the target without a task or an event, and with its indexes and
// keys; the next copy succeeds.
func TestCopyFailureLeavesTargetEmpty(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			src := copyTarget(t, db.SQLiteDialect)
			for range 5 {
				id := submit(t, src, db.NewTask{})
				_, err := src.Cancel(context.Background(), id)
				require.NoError(t, err)
			}
			dst := copyTarget(t, d)
			var schema []string
			if d == db.PostgresDialect {
				schema = pgSchema(t, dst.Location())
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := db.Copy(ctx, src, dst, db.CopyOptions{Chunk: 2, Progress: func(done, _ int64) {
				if done > 0 {
					cancel()
				}
			}})
			require.ErrorIs(t, err, context.Canceled)
			require.Equal(t, dump{Tasks: []db.TaskRow{}, Events: []db.Event{}, Tokens: []db.Token{}}, readDump(t, dst))
			if d == db.PostgresDialect {
				require.Equal(t, schema, pgSchema(t, dst.Location()))
			}
			st := copyAll(t, src, dst)
			require.EqualValues(t, 5, st.Tasks)
			require.EqualValues(t, 5, st.Events)
		})
	}
}

// Text PostgreSQL refuses in a json column fails the copy with the ids of
// the chunk, and leaves the target empty.
func TestCopyInvalidJSONFailsWhole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "src.db")
	src := dbtest.Open(t, db.Options{Path: path})
	for range 3 {
		submit(t, src, db.NewTask{})
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Exec(`INSERT INTO task_events (task_id, at, kind, data) VALUES (2, 0, 'stdout', 'not json')`)
	require.NoError(t, err)

	dst := copyTarget(t, db.PostgresDialect)
	_, err = db.Copy(context.Background(), src, dst, db.CopyOptions{})
	require.ErrorContains(t, err, "write events 1 to 1")
	require.ErrorContains(t, err, "json")
	require.Equal(t, dump{Tasks: []db.TaskRow{}, Events: []db.Event{}, Tokens: []db.Token{}}, readDump(t, dst))
}

// pgSchema lists the indexes and constraints of the copied tables as the
// catalog states them.
func pgSchema(t testing.TB, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url) // test URLs have no password: the location is the URL
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE tablename IN ('tasks', 'task_events')
		UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid IN ('tasks'::regclass, 'task_events'::regclass)
		ORDER BY 1`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

// BenchmarkCopy copies 10,000 tasks with 5 events each, SQLite to each
// backend, and reports rows (tasks and events) per second. The 1M-task
// figure is measured with the command (opsctl db copy) on a file filled
// beforehand.
func BenchmarkCopy(b *testing.B) {
	const tasks, perTask = 10_000, 5
	ctx := context.Background()
	src := dbtest.Open(b, db.Options{Path: filepath.Join(b.TempDir(), "src.db")})
	nts := make([]db.NewTask, tasks)
	for i := range nts {
		nts[i] = db.NewTask{Type: "exec", Input: json.RawMessage(fmt.Sprintf(`{"command":["echo","task %d"]}`, i))}
	}
	rs, err := src.SubmitBatch(ctx, nts)
	require.NoError(b, err)
	evs := make([]db.NewEvent, 0, tasks*perTask)
	for _, r := range rs {
		for j := range perTask {
			evs = append(evs, db.NewEvent{TaskID: r.ID, Kind: "stdout", Data: json.RawMessage(fmt.Sprintf(`{"text":"line %d of task %d\n"}`, j, r.ID))})
		}
	}
	_, err = src.AppendEvents(ctx, evs)
	require.NoError(b, err)
	for _, d := range backends() {
		b.Run(string(d), func(b *testing.B) {
			var rows int64
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				dst := copyTarget(b, d)
				b.StartTimer()
				st, err := db.Copy(ctx, src, dst, db.CopyOptions{})
				require.NoError(b, err)
				rows += st.Tasks + st.Events
				elapsed += st.Elapsed
			}
			b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		})
	}
}
