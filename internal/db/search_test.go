package db_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// searchIndexRowsPerTask is how many rows SQLite counts as changed
// (total_changes) when a finished exec task leaves the search index: the
// trigger's 'delete' and FTS5's own row of the document's size.
const searchIndexRowsPerTask = 2

// searchSubmitExec submits an exec task with a name and an argv.
func searchSubmitExec(t *testing.T, s db.Store, name string, argv ...string) int64 {
	t.Helper()
	in, err := json.Marshal(map[string]any{"command": argv})
	require.NoError(t, err)
	return submit(t, s, db.NewTask{Type: "exec", Name: name, Input: in})
}

// searchExec submits an exec task and runs it to completion (no output):
// only finished tasks are searched.
func searchExec(t *testing.T, s db.Store, name string, argv ...string) int64 {
	t.Helper()
	id := searchSubmitExec(t, s, name, argv...)
	searchFinish(t, s, id, db.StatusCompleted, map[string]any{"exit_code": 0, "stdout": "", "stderr": ""}, "")
	return id
}

// searchSubmitAgent submits an agent task with a name and a prompt.
func searchSubmitAgent(t *testing.T, s db.Store, name, prompt string) int64 {
	t.Helper()
	in, err := json.Marshal(map[string]any{"prompt": prompt})
	require.NoError(t, err)
	return submit(t, s, db.NewTask{Type: "agent", Name: name, Input: in})
}

// searchAgent submits an agent task and completes it with an answer.
func searchAgent(t *testing.T, s db.Store, name, prompt string) int64 {
	t.Helper()
	id := searchSubmitAgent(t, s, name, prompt)
	searchFinish(t, s, id, db.StatusCompleted, map[string]any{"answer": "done", "stop_reason": "answer"}, "")
	return id
}

// searchFinish runs task id to the end: claimed, then finished with status,
// result and error.
func searchFinish(t *testing.T, s db.Store, id int64, st db.Status, result any, errText string) {
	t.Helper()
	ctx := context.Background()
	task, err := s.Get(ctx, id)
	require.NoError(t, err)
	ts, err := s.Claim(ctx, db.ClaimRequest{Worker: "w", Types: []string{task.Type}, Limit: 1000, Lease: time.Minute})
	require.NoError(t, err)
	var attempt int
	for _, c := range ts {
		if c.ID == id {
			attempt = c.Attempts
		} else {
			// Others claimed along the way go back.
			require.NoError(t, s.Release(ctx, "w", []int64{c.ID}))
		}
	}
	require.NotZero(t, attempt, "task %d was not claimed", id)
	res, err := json.Marshal(result)
	require.NoError(t, err)
	fr, err := s.Finish(ctx, nil, []db.Outcome{{ID: id, Worker: "w", Attempt: attempt, Status: st, Result: res, Error: errText}})
	require.NoError(t, err)
	require.Empty(t, fr.Lost)
}

// searchIDs searches and returns the ids found, in order.
func searchIDs(t *testing.T, s db.Store, q db.SearchQuery) []int64 {
	t.Helper()
	hits, err := s.Search(context.Background(), q)
	require.NoError(t, err, "search %q", q.Text)
	ids := []int64{}
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	return ids
}

// searchCheckIndex asks SQLite whether the index matches the tasks
// exactly (an external-content index deleted with the wrong text is
// corrupt); PostgreSQL's index is the server's.
func searchCheckIndex(t *testing.T, s db.Backend) {
	t.Helper()
	if s.Dialect() != db.SQLiteDialect {
		return
	}
	conn, err := sql.Open("sqlite", "file:"+s.Location())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Exec(`INSERT INTO task_search (task_search, rank) VALUES ('integrity-check', 1)`)
	require.NoError(t, err)
}

// Names and words with punctuation are found as typed, and only where
// they occur: not in tasks that have the same letters apart.
func TestSearchPunctuationAsTyped(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		backup := searchExec(t, s, "db-backup", "pg_dump", "-f", "/srv/dumps/main.sql")
		searchExec(t, s, "db backup", "true")
		api := searchAgent(t, s, "health", "Is https://api.example.com/health up?")
		searchAgent(t, s, "other", "the api example com page")
		logs := searchExec(t, s, "rotate", "logrotate", "/var/log/nginx")
		searchExec(t, s, "var", "echo", "var log")
		shell := submit(t, s, db.NewTask{Type: "exec", Name: "sh", Input: json.RawMessage(`{"shell":"tar czf /tmp/etc.tgz /etc"}`)})
		searchFinish(t, s, shell, db.StatusCompleted, map[string]any{"exit_code": 0}, "")

		for q, want := range map[string][]int64{
			"db-backup":       {backup},
			"DB-Backup":       {backup},
			"api.example.com": {api},
			"/var/log":        {logs},
			"/var/log/nginx":  {logs},
			"pg_dump":         {backup},
			"/srv/dumps":      {backup},
			"/tmp/etc.tgz":    {shell},
			"nothing-like-it": {},
		} {
			require.Equal(t, want, searchIDs(t, s, db.SearchQuery{Text: q}), "search %q", q)
		}
	})
}

// Prompts, answers, commands, output tails and errors are all searched;
// a retry clears the result and error, and with them their hits.
func TestSearchFieldsAndUpdates(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ex := searchSubmitExec(t, s, "nightly", "backup.sh")
		ag := searchSubmitAgent(t, s, "ask", "summarise the incident")
		// Pending and running tasks are not history yet.
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "nightly"}))
		searchFinish(t, s, ex, db.StatusFailed,
			map[string]any{"exit_code": 1, "stdout": "copied 12 files\n", "stderr": "rsync: write failed: No space left on device\n"},
			"exit status 1 (quota exceeded)")
		searchFinish(t, s, ag, db.StatusCompleted,
			map[string]any{"answer": "The outage came from an expired certificate.", "stop_reason": "answer"}, "")

		require.Equal(t, []int64{ex}, searchIDs(t, s, db.SearchQuery{Text: "space left"}))
		require.Equal(t, []int64{ex}, searchIDs(t, s, db.SearchQuery{Text: "copied files"}))
		require.Equal(t, []int64{ex}, searchIDs(t, s, db.SearchQuery{Text: "quota exceeded"}))
		require.Equal(t, []int64{ag}, searchIDs(t, s, db.SearchQuery{Text: "incident"}))
		require.Equal(t, []int64{ag}, searchIDs(t, s, db.SearchQuery{Text: "certificate"}))

		hits, err := s.Search(context.Background(), db.SearchQuery{Text: "quota"})
		require.NoError(t, err)
		require.Len(t, hits, 1)
		h := hits[0]
		require.Equal(t, db.SearchHit{ID: ex, Type: "exec", Name: "nightly", Queue: "default", Status: db.StatusFailed,
			Error: "exit status 1 (quota exceeded)", CreatedAt: c.Now(), FinishedAt: c.Now(), Snippet: h.Snippet}, h)

		_, err = s.Retry(context.Background(), ex)
		require.NoError(t, err)
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "space left"}))
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "quota"}))
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "backup.sh"}))
		searchFinish(t, s, ex, db.StatusCompleted, map[string]any{"exit_code": 0, "stdout": "all good\n", "stderr": ""}, "")
		require.Equal(t, []int64{ex}, searchIDs(t, s, db.SearchQuery{Text: "backup.sh"}))
		require.Equal(t, []int64{ex}, searchIDs(t, s, db.SearchQuery{Text: "all good"}))
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "space left"}))
		searchCheckIndex(t, s)
	})
}

// Best match first: a match in the name outranks one in the output; equal
// matches come newest first; Limit cuts the list.
func TestSearchRanking(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		inOutput := searchSubmitExec(t, s, "report", "report.sh")
		searchFinish(t, s, inOutput, db.StatusCompleted,
			map[string]any{"exit_code": 0, "stdout": "the weekly summary mentions archive once\n", "stderr": ""}, "")
		older := searchExec(t, s, "archive logs", "tar", "czf", "x.tgz")
		newer := searchExec(t, s, "archive logs", "tar", "czf", "x.tgz")
		searchExec(t, s, "unrelated", "true")

		require.Equal(t, []int64{newer, older, inOutput}, searchIDs(t, s, db.SearchQuery{Text: "archive"}))
		require.Equal(t, []int64{newer, older}, searchIDs(t, s, db.SearchQuery{Text: "archive", Limit: 2}))
	})
}

// A snippet is one line around the match, the match marked.
func TestSearchSnippet(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		id := searchSubmitExec(t, s, "deploy", "deploy.sh")
		var out strings.Builder
		for i := range 200 {
			fmt.Fprintf(&out, "step %d ok\n", i)
		}
		out.WriteString("error: connection refused by registry.internal\nmore lines\nafter the error\n")
		searchFinish(t, s, id, db.StatusFailed, map[string]any{"exit_code": 1, "stdout": out.String(), "stderr": ""}, "exit status 1")

		hits, err := s.Search(context.Background(), db.SearchQuery{Text: "refused"})
		require.NoError(t, err)
		require.Len(t, hits, 1)
		snip := hits[0].Snippet
		require.NotContains(t, snip, "\n")
		require.Less(t, len(snip), 200, snip)
		plain := strings.NewReplacer(db.SnippetMatchStart, "", db.SnippetMatchEnd, "").Replace(snip)
		require.Contains(t, plain, "connection refused")
		require.Contains(t, snip, db.SnippetMatchStart+"refused"+db.SnippetMatchEnd)
	})
}

// Tasks deleted by prune leave the index; the others stay found.
func TestSearchPrune(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		var done []int64
		for range 3 {
			id := searchSubmitExec(t, s, "cleanup-job", "cleanup")
			searchFinish(t, s, id, db.StatusCompleted, map[string]any{"exit_code": 0, "stdout": "removed tmpfiles\n"}, "")
			done = append(done, id)
		}
		c.Add(2 * time.Hour)
		kept := searchExec(t, s, "cleanup-job", "cleanup")
		require.ElementsMatch(t, append(done, kept), searchIDs(t, s, db.SearchQuery{Text: "cleanup-job"}))

		n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: c.Now().Add(-time.Hour)}, false)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		require.Equal(t, []int64{kept}, searchIDs(t, s, db.SearchQuery{Text: "cleanup-job"}))
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "tmpfiles"}))
		searchCheckIndex(t, s)
	})
}

// Short words narrow the hits of a longer one; alone they are refused.
func TestSearchShortWords(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		db1 := searchExec(t, s, "db backup", "true")
		searchExec(t, s, "web backup", "true")
		require.Equal(t, []int64{db1}, searchIDs(t, s, db.SearchQuery{Text: "db backup"}))
		require.Equal(t, []int64{db1}, searchIDs(t, s, db.SearchQuery{Text: "backup DB"}))

		_, err := s.Search(context.Background(), db.SearchQuery{Text: "db"})
		var qe *db.SearchQueryError
		require.ErrorAs(t, err, &qe)
		require.Equal(t, `search "db": needs a word of at least 3 characters`, qe.Error())
	})
}

// The search syntax (FTS) is one language on both backends.
func TestSearchFTSSyntax(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		a := searchExec(t, s, "backup nightly", "true")
		b := searchExec(t, s, "restore nightly", "true")
		cID := searchExec(t, s, "backup weekly", "true")
		d := searchAgent(t, s, "disk", "check the disk usage")
		for q, want := range map[string][]int64{
			`backup OR restore`:           {cID, b, a},
			`nightly NOT backup`:          {b},
			`backup AND nightly`:          {a},
			`backup nightly`:              {a},
			`(backup OR restore) nightly`: {b, a},
			`"backup nightly"`:            {a},
			`back*`:                       {cID, a},
			`NEAR(disk usage)`:            {d},
			`NEAR("disk" usage, 2)`:       {d},
			`week* OR "check the"`:        {d, cID},
		} {
			require.ElementsMatch(t, want, searchIDs(t, s, db.SearchQuery{Text: q, FTS: true}), "search --fts %q", q)
		}
		// As typed, operators are words.
		require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "backup OR restore"}))
	})
}

// A malformed search-syntax query is a SearchQueryError with the reason,
// the same on both backends.
func TestSearchMalformed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		for q, reason := range map[string]string{
			`"backup`:             "a quote is not closed",
			`backup OR`:           "expected a word or a phrase, found end of query",
			`(backup`:             "expected ) before end of query",
			`backup)`:             `unexpected ")"`,
			`NOT backup`:          "NOT needs a term before it",
			`NEAR(backup)`:        "NEAR needs at least two terms",
			`NEAR(disk usage, x)`: `NEAR's distance must be a whole number, found "x"`,
			`backup AND ab`:       `"ab" is shorter than 3 characters`,
			`   `:                 "nothing to search for",
		} {
			_, err := s.Search(context.Background(), db.SearchQuery{Text: q, FTS: true})
			var qe *db.SearchQueryError
			require.ErrorAs(t, err, &qe, "query %q", q)
			require.Equal(t, reason, qe.Reason, "query %q", q)
		}
	})
}

// Migration 8 indexes the tasks that were there before it.
func TestSearchMigrationBackfills(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := t.TempDir() + "/old.db"
			if d == db.PostgresDialect {
				path = pg.NewDatabaseOrSkip(t, pgSkip)
			}
			all, err := db.DialectMigrations(d)
			require.NoError(t, err)
			old, err := db.Open(ctx, db.Options{Path: path, Migrations: all[:7]})
			require.NoError(t, err)
			id := searchSubmitExec(t, old, "legacy-sync", "rsync", "-a", "/data/")
			searchSubmitExec(t, old, "legacy-pending", "true")
			require.NoError(t, old.Close())
			// Claims need later migrations: the task is finished by hand.
			finish := `UPDATE tasks SET status = 'failed', error = 'exit status 23', finished_at = started_at WHERE id = 1`
			if d == db.PostgresDialect {
				conn, err := pgx.Connect(ctx, path)
				require.NoError(t, err)
				_, err = conn.Exec(ctx, `UPDATE tasks SET started_at = now() WHERE id = 1; `+finish)
				require.NoError(t, err)
				require.NoError(t, conn.Close(ctx))
			} else {
				conn, err := sql.Open("sqlite", "file:"+path)
				require.NoError(t, err)
				_, err = conn.Exec(`UPDATE tasks SET started_at = 1 WHERE id = 1; ` + finish)
				require.NoError(t, err)
				require.NoError(t, conn.Close())
			}

			s, err := db.Open(ctx, db.Options{Path: path, AutoMigrate: true})
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, []int64{id}, searchIDs(t, s, db.SearchQuery{Text: "legacy-sync"}))
			require.Equal(t, []int64{id}, searchIDs(t, s, db.SearchQuery{Text: "/data/"}))
			require.Equal(t, []int64{id}, searchIDs(t, s, db.SearchQuery{Text: "status 23"}))
			require.Empty(t, searchIDs(t, s, db.SearchQuery{Text: "legacy-pending"}))
			searchCheckIndex(t, s)
		})
	}
}

// searchBenchStore is a SQLite store with the search index, or (index
// false) with its triggers dropped: the schema as it was without it.
func searchBenchStore(b *testing.B, index bool) db.Store {
	b.Helper()
	path := b.TempDir() + "/b.db"
	s := dbtest.Open(b, db.Options{Path: path})
	if !index {
		conn, err := sql.Open("sqlite", "file:"+path)
		require.NoError(b, err)
		defer conn.Close()
		for _, tr := range []string{"unindex", "reindex", "delete"} {
			_, err := conn.Exec(`DROP TRIGGER task_search_` + tr)
			require.NoError(b, err)
		}
	}
	return s
}

// searchBenchTasks are n exec tasks as people name them.
func searchBenchTasks(n int) []db.NewTask {
	ts := make([]db.NewTask, n)
	for i := range ts {
		ts[i] = db.NewTask{Type: "exec", Name: fmt.Sprintf("db-backup-%d", i),
			Input: json.RawMessage(fmt.Sprintf(`{"command":["pg_dump","-f","/backups/db-%d.sql","main"]}`, i))}
	}
	return ts
}

// BenchmarkSearchIndexWrites measures what the search index costs writes
// of exec tasks with names and commands, on SQLite, without and with
// migration 8: a batch submit (one op: OPSCTL_BENCH_BATCH tasks, default
// 10,000), and claim + finish in batches of 128 with OPSCTL_BENCH_OUTPUT
// bytes of stdout (default 4096; the runner keeps at most 64 KiB).
func BenchmarkSearchIndexWrites(b *testing.B) {
	n := benchSize(b, "OPSCTL_BENCH_BATCH", 10_000)
	out := strings.Repeat("copied file /var/lib/data/part-0001 ok\n", benchSize(b, "OPSCTL_BENCH_OUTPUT", 4096)/39+1)
	result, err := json.Marshal(map[string]any{"exit_code": 0, "stdout": out, "stderr": "warning: slow disk\n", "duration_ms": 1200})
	require.NoError(b, err)
	ctx := context.Background()
	for _, index := range []bool{false, true} {
		b.Run(fmt.Sprintf("submit/index=%v", index), func(b *testing.B) {
			s := searchBenchStore(b, index)
			ts := searchBenchTasks(n)
			for b.Loop() {
				if _, err := s.SubmitBatch(ctx, ts); err != nil {
					b.Fatal(err)
				}
			}
			perSecond(b, n*b.N, "tasks/s")
		})
		b.Run(fmt.Sprintf("finish-unindexed/index=%v", index), func(b *testing.B) {
			// Tasks the index leaves out (no name, another type), as
			// BenchmarkClaimComplete's: what its triggers cost them.
			s := searchBenchStore(b, index)
			fill(b, s, b.N)
			searchBenchFinish(b, s, json.RawMessage(`{}`))
		})
		b.Run(fmt.Sprintf("finish/index=%v", index), func(b *testing.B) {
			s := searchBenchStore(b, index)
			for left := b.N; left > 0; left -= 10_000 {
				if _, err := s.SubmitBatch(ctx, searchBenchTasks(min(left, 10_000))); err != nil {
					b.Fatal(err)
				}
			}
			searchBenchFinish(b, s, result)
		})
	}
}

// searchBenchFinish claims and finishes b.N pending tasks, 128 a batch,
// each with result.
func searchBenchFinish(b *testing.B, s db.Store, result json.RawMessage) {
	ctx := context.Background()
	req := db.ClaimRequest{Worker: "bench", Lease: time.Minute, Limit: 128}
	b.ResetTimer()
	for done := 0; done < b.N; {
		ts, err := s.Claim(ctx, req)
		if err != nil || len(ts) == 0 {
			b.Fatalf("claim: %v (%d claimed)", err, len(ts))
		}
		outs := make([]db.Outcome, len(ts))
		for i, t := range ts {
			outs[i] = db.Outcome{ID: t.ID, Worker: "bench", Attempt: t.Attempts, Status: db.StatusCompleted, Result: result}
		}
		if _, err := s.Finish(ctx, nil, outs); err != nil {
			b.Fatal(err)
		}
		done += len(ts)
	}
	perSecond(b, b.N, "tasks/s")
}

// BenchmarkSearch searches OPSCTL_BENCH_TASKS finished exec tasks
// (default 100,000) on SQLite: a rare word, a word in every task, and
// one with a short word beside it.
func BenchmarkSearch(b *testing.B) {
	n := benchSize(b, "OPSCTL_BENCH_TASKS", 100_000)
	s := searchBenchStore(b, true)
	ctx := context.Background()
	for left := n; left > 0; left -= 10_000 {
		if _, err := s.SubmitBatch(ctx, searchBenchTasks(min(left, 10_000))); err != nil {
			b.Fatal(err)
		}
	}
	// Finished by hand (the triggers queue them), indexed by the next
	// write transaction of the store.
	conn, err := sql.Open("sqlite", "file:"+s.(*db.SQLite).Path())
	require.NoError(b, err)
	_, err = conn.Exec(`UPDATE tasks SET status = 'completed', started_at = created_at, finished_at = created_at,
		result = '{"exit_code":0,"stdout":"dumped 1234 tables\n","stderr":""}'`)
	require.NoError(b, err)
	require.NoError(b, conn.Close())
	if _, err := s.Submit(ctx, db.NewTask{Type: "exec"}); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"db-backup-4242", "pg_dump", "db 4242"} {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Search(ctx, db.SearchQuery{Text: q}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// `db copy` brings the index along: the copied finished tasks are found in
// the target, on either backend, and the target's index is whole.
func TestSearchAfterCopy(t *testing.T) {
	t.Parallel()
	for _, from := range backends() {
		for _, to := range backends() {
			t.Run(string(from)+"-"+string(to), func(t *testing.T) {
				t.Parallel()
				src := openBackend(t, from, db.Options{})
				done := searchExec(t, src, "copied-backup", "rsync", "/srv/")
				searchSubmitExec(t, src, "copied-pending", "true")
				dst := copyTarget(t, to)
				copyAll(t, src.(db.Copier), dst)
				target := dst.(db.Backend)
				require.Equal(t, []int64{done}, searchIDs(t, target, db.SearchQuery{Text: "copied"}))
				searchCheckIndex(t, target)
				// And it stays in step afterwards.
				n, err := target.Prune(context.Background(), db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour)}, false)
				require.NoError(t, err)
				require.EqualValues(t, 1, n)
				require.Empty(t, searchIDs(t, target, db.SearchQuery{Text: "copied"}))
				searchCheckIndex(t, target)
			})
		}
	}
}
