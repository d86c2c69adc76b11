package commands_test

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// The process tests of runner_process_test.go, signal_process_test.go and
// hardening_process_test.go on PostgreSQL: real opsctl processes on one
// fresh database of the test binary's throwaway server, with short leases
// and only eventual conditions (generous deadlines, no timing asserts).
// The database is read with SQL from the test process where the CLI does
// not show what is checked (claim events, keys).

// newPGProcEnv is newProcEnv on a fresh PostgreSQL database; it skips the
// test when there is no server (and fails under CI=true, see pgtest).
func newPGProcEnv(t *testing.T) *procEnv {
	t.Helper()
	return newProcEnvDB(t, pg.NewDatabaseOrSkip(t, pgSkip))
}

// pgRows runs a query on the database at dbURL and returns its rows, each
// value in PostgreSQL's text form ("NULL" for null), joined by tabs.
func pgRows(t *testing.T, dbURL, q string, args ...any) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	out, err := queryText(ctx, conn, q, args...)
	require.NoError(t, err, q)
	return out
}

// queryText runs q with the simple protocol, so every value comes back as
// text, and returns the rows tab-separated.
func queryText(ctx context.Context, conn *pgx.Conn, q string, args ...any) ([]string, error) {
	rows, err := conn.Query(ctx, q, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		raw := rows.RawValues()
		cells := make([]string, len(raw))
		for i, v := range raw {
			if v == nil {
				cells[i] = "NULL"
			} else {
				cells[i] = string(v)
			}
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	return out, rows.Err()
}

// pgValue runs a query of one row and returns it as pgRows does.
func pgValue(t *testing.T, dbURL, q string, args ...any) string {
	t.Helper()
	rows := pgRows(t, dbURL, q, args...)
	require.Len(t, rows, 1, q)
	return rows[0]
}

// Four `opsctl run --once` processes drain 2,000 tasks: each task ran
// once, was claimed once (one claim event, attempt 1) and completed once.
//
// The tasks are agent tasks against a fake model server in this process,
// each with its own token in the prompt: the server must see each token in
// exactly one request. (An exec task costs two process starts of this
// race-enabled binary, and 2,000 of them take minutes on a small machine;
// TestExactlyOnceAcrossRunnerProcesses runs exec tasks on SQLite, and the
// other tests here run exec tasks on PostgreSQL.)
func TestPostgresExactlyOnceAcrossRunnerProcesses(t *testing.T) {
	t.Parallel()
	p := newPGProcEnv(t)
	const n = 2000
	srv := llmtest.NewOpenAI(t)
	for range n {
		srv.Reply(llmtest.Text("done"))
	}
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, `{"type":"agent","input":{"prompt":"tok-%d","provider":"openai","model":"m","base_url":%q,"tools":[]}}`+"\n", i, srv.URL())
	}
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, "batch.jsonl"), []byte(batch.String()), 0o600))
	p.ok("submit", "-q", "--batch", "batch.jsonl")

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := range 4 {
		wg.Go(func() {
			_, stderr, code := p.run("run", "--once", "--workers", "4", "--lease", "10s")
			errs[i] = fmt.Sprintf("exit %d: %s", code, stderr)
		})
	}
	wg.Wait()
	t.Logf("4 runners drained %d agent tasks in %s", n, time.Since(start))
	for _, e := range errs {
		require.True(t, strings.HasPrefix(e, "exit 0: "), e)
		require.NotContains(t, e, "lease lost")
		require.NotContains(t, e, "rescued")
	}

	// Each task's prompt was sent once.
	reqs := srv.Requests()
	require.Len(t, reqs, n)
	require.Zero(t, srv.Pending())
	seen := map[string]bool{}
	for _, r := range reqs {
		msgs := r.Messages()
		require.NotEmpty(t, msgs)
		tok, _ := msgs[len(msgs)-1]["content"].(string)
		require.True(t, strings.HasPrefix(tok, "tok-"), "prompt %q", tok)
		require.False(t, seen[tok], "%s sent twice", tok)
		seen[tok] = true
	}

	require.Equal(t, fmt.Sprintf("%d\t%d\t%d", n, n, n), pgValue(t, p.db,
		`SELECT count(*), count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE attempts = 1) FROM tasks`))
	// Claims and completions, by task: exactly one of each.
	require.Empty(t, pgRows(t, p.db, `SELECT id, claims, completions FROM (
		SELECT t.id,
			count(e.id) FILTER (WHERE e.data->>'to' = 'running') AS claims,
			count(e.id) FILTER (WHERE e.data->>'to' = 'completed') AS completions
		FROM tasks t LEFT JOIN task_events e ON e.task_id = t.id AND e.kind = 'status'
		GROUP BY t.id) c WHERE claims <> 1 OR completions <> 1 ORDER BY id LIMIT 20`))
	require.Equal(t, strconv.Itoa(n), pgValue(t, p.db,
		`SELECT count(DISTINCT task_id) FROM task_events WHERE kind = 'status' AND data->>'to' = 'running'`))
	for _, r := range pgRows(t, p.db, `SELECT data->>'reason', count(*) FROM task_events
		WHERE kind = 'status' AND data->>'to' = 'running' GROUP BY 1 ORDER BY 1`) {
		t.Logf("claims: %s", r)
	}

	// What the CLI shows agrees.
	listed := p.ok("list", "--all", "--status", "completed", "-o", "jsonl")
	require.Equal(t, n, strings.Count(listed, "\n"))
	logs := p.ok("logs", "-o", "jsonl", "1")
	require.Equal(t, 1, strings.Count(logs, `"to":"running"`), logs)
}

// A runner killed with SIGKILL mid-task takes its command with it (no
// orphan), and another runner rescues the task once the lease expires.
func TestPostgresKilledRunnerTaskIsRescued(t *testing.T) {
	t.Parallel()
	p := newPGProcEnv(t)
	script := `if [ -f second ]; then echo finished; else touch second; sleep 30 & echo $! > child; echo $$ > pid; exec sleep 30; fi`
	id := p.submit("--max-attempts", "2", "--input", fmt.Sprintf(`{"shell":%q}`, script), "--type", "exec")

	victim, _ := p.startRunner("--lease", "1s", "--workers", "1")
	pid := readPID(t, filepath.Join(p.dir, "pid"))
	child := readPID(t, filepath.Join(p.dir, "child"))
	require.True(t, alive(pid))
	require.True(t, alive(child))
	require.NoError(t, victim.Process.Signal(syscall.SIGKILL))
	victim.Wait()
	eventually(t, 10*time.Second, "the task's command to die with its runner", func() bool { return !alive(pid) })
	eventually(t, 10*time.Second, "the command's background child to die with its runner", func() bool { return !alive(child) })
	require.Equal(t, "running", p.show(id).Status)

	p.startRunner("--lease", "1s", "--workers", "1")
	_, _, code := p.run("wait", "--timeout", "60s", strconv.FormatInt(id, 10))
	require.Equal(t, 0, code)
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status)
	require.Equal(t, 2, tk.Attempts)
	require.Contains(t, string(tk.Result), "finished")
	require.Contains(t, p.ok("logs", strconv.FormatInt(id, 10)), "lease expired")
	require.Equal(t, "2", pgValue(t, p.db,
		`SELECT count(*) FROM task_events WHERE task_id = $1 AND kind = 'status' AND data->>'to' = 'running'`, id))
}

// SIGTERM: a task that finishes within the grace completes; one that does
// not goes back to pending without the attempt counted, its command is
// stopped, the runner unregisters and exits 0.
func TestPostgresSigtermGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := newPGProcEnv(t)
	short := p.submit("--", "sh", "-c", "echo $$ > short.pid; sleep 1")
	long := p.submit("--", "sh", "-c", "echo $$ > long.pid; exec sleep 60")
	r, errb := p.startRunner("--workers", "2", "--grace", "2s", "--lease", "1s")
	readPID(t, filepath.Join(p.dir, "short.pid"))
	longPID := readPID(t, filepath.Join(p.dir, "long.pid"))
	require.NoError(t, r.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, waitExit(t, r, 30*time.Second), errb.String())
	require.Equal(t, "completed", p.show(short).Status, errb.String())
	tk := p.show(long)
	require.Equal(t, "pending", tk.Status, errb.String())
	require.Equal(t, 0, tk.Attempts)
	require.Empty(t, tk.Error)
	require.False(t, alive(longPID))
	require.NotContains(t, errb.String(), "could not put")
	require.Equal(t, "0", pgValue(t, p.db, `SELECT count(*) FROM runners`), "the runner unregistered")
	require.Contains(t, p.ok("logs", strconv.FormatInt(long, 10)), "runner shut down")
}

// Eight submitters submit at once, each one process per task for 25
// tasks, then one --batch process of 250 lines: every task is stored once
// with an id of its own, and each key the eight share is one task, whose
// id every submit of that key printed. A batch is one transaction: one
// that meets a key another batch holds waits for it to commit.
func TestPostgresConcurrentSubmitters(t *testing.T) {
	t.Parallel()
	concurrentSubmitters(t, false)
}

// As TestPostgresConcurrentSubmitters, with the keyed lines of each batch
// in another order: two batches that wait for each other's keys must not
// fail (on SQLite, batches are serialized and never do).
func TestPostgresConcurrentBatchesKeysInAnyOrder(t *testing.T) {
	t.Parallel()
	concurrentSubmitters(t, true)
}

// concurrentSubmitters runs the submitters; with rotate, the keyed lines
// of submitter i's batch start at its i-th key.
func concurrentSubmitters(t *testing.T, rotate bool) {
	p := newPGProcEnv(t)
	p.ok("migrate") // not the subject here: TestPostgresConcurrentFirstUse is
	const (
		submitters = 8
		singles    = 25  // processes per submitter, one task each
		batchLen   = 250 // lines of each submitter's batch
		keyEvery   = 5   // every 5th single and every 5th line has a shared key
	)
	singleKeys, batchKeys := singles/keyEvery, batchLen/keyEvery
	type sub struct {
		key  string // "" for a keyless task
		id   int64
		note string
	}
	results := make([][]sub, submitters)
	var failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	var wg sync.WaitGroup
	for i := range submitters {
		wg.Go(func() {
			for j := range singles {
				args := []string{"submit", "-q"}
				key := ""
				if j%keyEvery == 0 {
					key = fmt.Sprintf("single-%d", j)
					args = append(args, "--key", key, "--", "echo", "single", strconv.Itoa(j))
				} else {
					args = append(args, "--", "echo", strconv.Itoa(i), strconv.Itoa(j))
				}
				out, stderr, code := p.run(args...)
				id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
				if code != 0 || err != nil {
					fail("submitter %d, submit %d: exit %d\nstdout: %s\nstderr: %s", i, j, code, out, stderr)
					continue
				}
				results[i] = append(results[i], sub{key, id, stderr})
			}

			var lines []string
			var keys []string
			for j := range batchLen {
				if j%keyEvery == 0 {
					k := j / keyEvery
					if rotate {
						k = (k + i) % batchKeys
					}
					key := fmt.Sprintf("batch-%d", k)
					keys = append(keys, key)
					lines = append(lines, fmt.Sprintf(`{"type":"exec","input":{"shell":"echo batch %d"},"key":%q}`, k, key))
				} else {
					keys = append(keys, "")
					lines = append(lines, fmt.Sprintf(`{"type":"exec","input":{"shell":"echo %d %d"}}`, i, j))
				}
			}
			file := filepath.Join(p.dir, fmt.Sprintf("batch-%d.jsonl", i))
			if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				fail("%v", err)
				return
			}
			out, stderr, code := p.run("submit", "-q", "--batch", file)
			got := strings.Fields(out)
			if code != 0 || len(got) != batchLen {
				fail("submitter %d, batch: exit %d, %d ids\nstderr: %s", i, code, len(got), stderr)
				return
			}
			for j, f := range got {
				id, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					fail("submitter %d, batch line %d: %q", i, j+1, f)
					return
				}
				results[i] = append(results[i], sub{keys[j], id, ""})
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load(), "failed submits")

	byKey := map[string]map[int64]int{} // key -> id -> submits that printed it
	keyless := map[int64]bool{}
	notes := 0
	for _, rs := range results {
		for _, r := range rs {
			if r.key == "" {
				require.Empty(t, r.note)
				require.False(t, keyless[r.id], "id %d printed for two keyless tasks", r.id)
				keyless[r.id] = true
				continue
			}
			if byKey[r.key] == nil {
				byKey[r.key] = map[int64]int{}
			}
			byKey[r.key][r.id]++
			if r.note != "" {
				require.Regexp(t, `^note: key "single-\d+" is task \d+ \(pending\); nothing new was submitted\n$`, r.note)
				notes++
			}
		}
	}
	require.Len(t, byKey, singleKeys+batchKeys)
	ids := maps.Clone(keyless)
	for key, m := range byKey {
		require.Len(t, m, 1, "key %s: one task, got ids %v", key, m)
		for id, n := range m {
			require.Equal(t, submitters, n, "key %s", key)
			require.False(t, ids[id], "key %s: id %d is another task's", key, id)
			ids[id] = true
		}
	}
	require.Equal(t, singleKeys*(submitters-1), notes, "every single submit of a key but the first says it was there")
	require.Len(t, keyless, submitters*(singles-singleKeys+batchLen-batchKeys))

	// Stored: one row per id printed, nothing else; one row per key.
	var want []string
	for id := range ids {
		want = append(want, strconv.FormatInt(id, 10))
	}
	sort.Strings(want)
	require.Equal(t, want, pgRows(t, p.db, `SELECT id::text FROM tasks ORDER BY 1`))
	require.Equal(t, strconv.Itoa(singleKeys+batchKeys), pgValue(t, p.db,
		`SELECT count(DISTINCT idempotency_key) FROM tasks`))
}

// Eight processes use a database with no tables yet, all at once: one of
// them migrates it, the others wait their turn, and every submit succeeds.
func TestPostgresConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	p := newPGProcEnv(t)
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range 8 {
		wg.Go(func() {
			out, errOut, code := p.run("submit", "-q", "--", "echo", fmt.Sprint(i))
			results[i] = fmt.Sprintf("%d|%s|%s", code, strings.TrimSpace(out), errOut)
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		parts := strings.SplitN(r, "|", 3)
		require.Equal(t, "0", parts[0], r)
		require.Empty(t, parts[2], r)
		ids[parts[1]] = true
	}
	require.Len(t, ids, 8, "eight distinct ids")
	require.Contains(t, p.ok("migrate", "status", "-o", "json"), `"pending": []`)
	require.Equal(t, "12", pgValue(t, p.db, `SELECT count(*) FROM schema_migrations`))
}

// A runner paused (SIGSTOP) past its lease loses the task to another
// runner, which completes it; when the first continues, it can neither
// complete the task nor add its late output to the log.
func TestPostgresPausedRunnerLateOutputIsFenced(t *testing.T) {
	t.Parallel()
	p := newPGProcEnv(t)
	mark := filepath.Join(p.dir, "first")
	id := p.submit("--max-attempts", "2", "--type", "exec", "--input",
		`{"shell":"if mkdir `+mark+` 2>/dev/null; then sleep 1; echo from-first; else echo from-second; fi"}`)
	a, aOut := p.startRunner("--lease", "1s", "--workers", "1")
	eventually(t, 20*time.Second, "task running", func() bool { return p.show(id).Status == "running" })
	require.NoError(t, a.Process.Signal(syscall.SIGSTOP))
	b, bOut := p.startRunner("--lease", "1s", "--workers", "1")
	eventually(t, 30*time.Second, "task completed by the second runner", func() bool { return p.show(id).Status == "completed" })
	require.NoError(t, a.Process.Signal(syscall.SIGCONT))
	eventually(t, 20*time.Second, "first runner notices", func() bool {
		return strings.Contains(aOut.String(), "lease lost") || strings.Contains(aOut.String(), "no longer holds")
	})
	for _, c := range []interface{ Signal(os.Signal) error }{a.Process, b.Process} {
		c.Signal(syscall.SIGTERM)
	}
	waitExit(t, a, 30*time.Second)
	waitExit(t, b, 30*time.Second)

	logs := p.ok("logs", strconv.FormatInt(id, 10))
	require.Contains(t, logs, "from-second", bOut.String())
	require.NotContains(t, logs, "from-first", aOut.String())
	tk := p.show(id)
	require.Equal(t, "completed", tk.Status)
	require.Equal(t, 2, tk.Attempts)
	require.Contains(t, string(tk.Result), "from-second")
	require.NotContains(t, string(tk.Result), "from-first")
	// One outcome stored: the second runner's.
	require.Equal(t, "1", pgValue(t, p.db,
		`SELECT count(*) FROM task_events WHERE task_id = $1 AND kind = 'status' AND data->>'to' = 'completed'`, id))
	require.Empty(t, pgRows(t, p.db,
		`SELECT id FROM task_events WHERE task_id = $1 AND data::text LIKE '%from-first%'`, id))
}

// isPostgresURL reports whether a --db value names a PostgreSQL database.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// scriptDBs numbers the databases newScriptDatabase makes.
var scriptDBs atomic.Int64

// newScriptDatabase creates a fresh empty database on the test server for
// a script, drops it at the script's end (deferFn is the script's Defer),
// and returns its URL. (pg.NewDatabase needs a testing.TB, which a script
// does not have.)
func newScriptDatabase(deferFn func(func())) (string, error) {
	name := fmt.Sprintf("opsctl_script_%d_%d", os.Getpid(), scriptDBs.Add(1))
	if err := pgAdmin("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("create database for the script: %w", err)
	}
	deferFn(func() {
		if err := pgAdmin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop database %s: %v\n", name, err)
		}
	})
	u, err := url.Parse(pg.AdminURL())
	if err != nil {
		return "", err
	}
	u.Path, u.RawPath = "/"+name, ""
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// pgDump is the text of a database's schema and rows: its tables' columns,
// indexes, sequences, and every table's rows in the order of the first
// column. Two dumps are equal when nothing was written in between.
func pgDump(dbURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var out strings.Builder
	section := func(title, q string) error {
		rows, err := queryText(ctx, conn, q)
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		fmt.Fprintf(&out, "-- %s\n", title)
		for _, r := range rows {
			fmt.Fprintln(&out, r)
		}
		return nil
	}
	if err := section("columns", `SELECT table_name, column_name, data_type, column_default, is_nullable
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`); err != nil {
		return nil, err
	}
	if err := section("indexes", `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() ORDER BY 1`); err != nil {
		return nil, err
	}
	if err := section("sequences", `SELECT sequencename, last_value FROM pg_sequences
		WHERE schemaname = current_schema() ORDER BY 1`); err != nil {
		return nil, err
	}
	tables, err := queryText(ctx, conn, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	for _, tb := range tables {
		if err := section("table "+tb, `SELECT * FROM `+pgx.Identifier{tb}.Sanitize()+` ORDER BY 1`); err != nil {
			return nil, err
		}
	}
	return []byte(out.String()), nil
}

// pgAdmin runs one statement as the server's superuser.
func pgAdmin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.AdminURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// pgTableCount counts the tables of the database's current schema.
func pgTableCount(dbURL string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n)
	return n, err
}

// testsqlAnyMain is the scripts' "opsctl-testsql DB SQL...": on a
// postgres:// URL it runs each statement there and prints the rows of
// those that return any, tab-separated, values in PostgreSQL's text form
// (true is "t"); on a file it is testsqlMain.
func testsqlAnyMain() int {
	if len(os.Args) < 3 || !isPostgresURL(os.Args[1]) {
		return testsqlMain()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "opsctl-testsql: %v\n", err)
		return 1
	}
	defer conn.Close(ctx)
	for _, q := range os.Args[2:] {
		rows, err := queryText(ctx, conn, q)
		if err != nil {
			fmt.Fprintf(os.Stderr, "opsctl-testsql: %s: %v\n", q, err)
			return 1
		}
		for _, r := range rows {
			fmt.Println(r)
		}
	}
	return 0
}

// A runner holds at most 6 server connections (5 pooled, 1 for LISTEN),
// whatever its number of workers: its 60 tasks, all running at once, hold
// none.
func TestPostgresRunnerConnectionsDoNotGrowWithWorkers(t *testing.T) {
	t.Parallel()
	p := newPGProcEnv(t)
	const n = 60
	for range n {
		p.submit("--", "sleep", "2")
	}
	p.startRunner("--workers", strconv.Itoa(n))
	eventually(t, 60*time.Second, "every task to run at once", func() bool {
		return pgValue(t, p.db, `SELECT count(*) FROM tasks WHERE status = 'running'`) == strconv.Itoa(n)
	})
	most := 0
	for range 10 {
		c, err := strconv.Atoi(pgValue(t, p.db, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'opsctl'`))
		require.NoError(t, err)
		most = max(most, c)
		time.Sleep(50 * time.Millisecond)
	}
	require.Positive(t, most, "the runner's connections are seen")
	require.LessOrEqual(t, most, 6, "server connections of one runner with %d workers", n)
}
