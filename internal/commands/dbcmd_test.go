package commands_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// dbView is what a person or a script sees of a database: `list --all -o
// json`, and `logs ID -o jsonl` of every task.
func (p *procEnv) dbView(dbLoc string) string {
	p.t.Helper()
	list := p.ok("--db", dbLoc, "list", "--all", "-o", "json")
	var ts []struct {
		ID int64 `json:"id"`
	}
	require.NoError(p.t, json.Unmarshal([]byte(list), &ts))
	var b strings.Builder
	b.WriteString(list)
	for _, tk := range ts {
		b.WriteString(p.ok("--db", dbLoc, "logs", strconv.FormatInt(tk.ID, 10), "-o", "jsonl"))
	}
	return b.String()
}

// withStore runs fn on the database at loc through the store API.
func withStore(t *testing.T, loc string, fn func(s db.Backend)) {
	t.Helper()
	s, err := db.Open(context.Background(), db.Options{Path: loc})
	require.NoError(t, err)
	defer s.Close()
	fn(s)
}

// pgTables counts the tables of a PostgreSQL database.
func pgTables(t *testing.T, u string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n))
	return n
}

// A queue made with the real commands (done, failed with a key, retried,
// scheduled, cancelled and pruned, running under a lease, unicode output)
// goes SQLite -> PostgreSQL -> SQLite; list and logs show the same in all
// three, and a task submitted after either copy gets a new id, not even
// the pruned task's.
func TestDBCopyRoundTrip(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	src := filepath.Join(p.dir, "opsctl.db")
	p.submit("--name", "héllo", "--", "sh", "-c", "echo 'héllo 🌍 日本語'; printf 'tab\\tquote\" no newline'")
	failed := p.submit("--key", "clé-ü", "--queue", "default", "--", "sh", "-c", "echo 'ça a échoué' >&2; exit 3")
	p.submit("--in", "2h", "--name", "later", "--", "true")
	running := p.submit("--queue", "nightly", "--priority", "5", "--timeout", "90s", "--", "sleep", "1000")
	p.ok("run", "--once", "--queue", "default")
	p.ok("retry", strconv.FormatInt(failed, 10))
	cancelled := p.submit("--", "true")
	p.ok("cancel", strconv.FormatInt(cancelled, 10))
	withStore(t, src, func(s db.Backend) {
		ctx := context.Background()
		got, err := s.Claim(ctx, db.ClaimRequest{Worker: "host:42:abc", Queues: []string{"nightly"}, Limit: 1, Lease: time.Hour})
		require.NoError(t, err)
		require.Equal(t, running, got[0].ID)
		// The newest task goes, so the ids handed out go past those left.
		n, err := s.Prune(ctx, db.PruneFilter{FinishedBefore: time.Now().Add(time.Hour), Statuses: []db.Status{db.StatusCancelled}}, false)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
	want := p.dbView(src)
	require.Contains(t, want, `"status": "running"`)
	require.Contains(t, want, "héllo 🌍 日本語")

	pgURL := pg.NewDatabaseOrSkip(t, pgSkip)
	out := p.ok("db", "copy", src, pgURL)
	require.Regexp(t, `^copied 4 tasks and \d+ events from `+regexp.QuoteMeta(src)+` to postgres://\S+ in \d+\.\ds\n$`, out)
	require.Equal(t, want, p.dbView(pgURL))
	back := filepath.Join(p.dir, "back.db")
	out = p.ok("db", "copy", pgURL, back)
	require.Regexp(t, `^copied 4 tasks and \d+ events from postgres://\S+ to `+regexp.QuoteMeta(back)+` in \d+\.\ds\n$`, out)
	require.Equal(t, want, p.dbView(back))

	for _, target := range []string{pgURL, back} {
		id := p.submit("--db", target, "--", "true")
		require.Equal(t, cancelled+1, id, "%s: the pruned task's id %d is not reused", target, cancelled)
	}
}

// -o json: counts, seconds, and the two locations without a password.
func TestDBCopyJSON(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	src := filepath.Join(p.dir, "opsctl.db")
	id := p.submit("--", "true")
	p.ok("cancel", strconv.FormatInt(id, 10))
	target := pg.NewDatabaseOrSkip(t, pgSkip)
	if u, err := url.Parse(target); err == nil {
		if _, has := u.User.Password(); u.User != nil && !has {
			// The test servers trust their clients: a password is never
			// asked for, so this one only has to stay out of the output.
			u.User = url.UserPassword(u.User.Username(), "s3cret")
			target = u.String()
		}
	}
	out, errOut, code := p.run("db", "copy", src, target, "-o", "json")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.NotContains(t, out, "s3cret")
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, float64(1), got["tasks"])
	require.Equal(t, float64(1), got["events"])
	require.Equal(t, src, got["source"])
	require.Equal(t, db.RedactLocation(target), got["target"])
	require.IsType(t, float64(0), got["seconds"])
	require.Len(t, got, 13)
}

// A target that holds tasks is refused with one line and exit 1, and
// nothing in it changes; on both backends.
func TestDBCopyRefusesNonEmptyTarget(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			p := newProcEnv(t)
			src := filepath.Join(p.dir, "opsctl.db")
			p.submit("--", "true")
			p.submit("--", "true")
			target := filepath.Join(p.dir, "target.db")
			if backend == "postgres" {
				target = pg.NewDatabaseOrSkip(t, pgSkip)
			}
			id := p.submit("--db", target, "--name", "mine", "--", "true")
			p.ok("--db", target, "cancel", strconv.FormatInt(id, 10))
			before := p.dbView(target)
			require.Contains(t, before, `"to":"cancelled"`)

			out, errOut, code := p.run("db", "copy", src, target)
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.Regexp(t, `^opsctl: target \S+ already holds 1 tasks: db copy writes only into a new or empty database \(nothing was written\)\n$`, errOut)
			require.Equal(t, before, p.dbView(target))
		})
	}
}

// A missing SRC is exit 6 and is not created; neither is DST.
func TestDBCopyMissingSource(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	missing := filepath.Join(p.dir, "missing.db")
	dst := filepath.Join(p.dir, "dst.db")
	out, errOut, code := p.run("db", "copy", missing, dst)
	require.Equal(t, 6, code, errOut)
	require.Empty(t, out)
	require.Equal(t, "opsctl: database "+missing+" unavailable: no such file (SRC of db copy)\n", errOut)
	require.NoFileExists(t, missing)
	require.NoFileExists(t, dst)

	target := pg.NewDatabaseOrSkip(t, pgSkip)
	_, _, code = p.run("db", "copy", missing, target)
	require.Equal(t, 6, code)
	require.Zero(t, pgTables(t, target), "the PostgreSQL target is not migrated")

	// A PostgreSQL source without opsctl's tables is missing too.
	_, errOut, code = p.run("db", "copy", target, dst)
	require.Equal(t, 6, code)
	require.Contains(t, errOut, "no opsctl tables")
	require.NoFileExists(t, dst)
	require.Zero(t, pgTables(t, target), "the PostgreSQL source is not migrated")
}

// Bad SRC or DST values are usage errors (exit 2) naming the argument,
// without a password, and nothing is created.
func TestDBCopyUsageErrors(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	src := filepath.Join(p.dir, "opsctl.db")
	p.submit("--", "true")
	dst := filepath.Join(p.dir, "dst.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"db", "copy", "mysql://u:pw@host/db", dst}, `^opsctl: SRC mysql://u:xxxxx@host/db: unknown database scheme "mysql"`},
		{[]string{"db", "copy", src, "mysql://u:pw@host/db"}, `^opsctl: DST mysql://u:xxxxx@host/db: unknown database scheme "mysql"`},
		{[]string{"db", "copy", src, src}, `^opsctl: SRC and DST are the same database \(`},
		{[]string{"db", "copy", src, "./" + filepath.Base(src)}, `^opsctl: SRC and DST are the same database \(`},
		{[]string{"db", "copy", src}, `^opsctl: db copy needs DST \(usage: opsctl db copy SRC DST\)`},
		{[]string{"db", "copy", src, dst, "-o", "yaml"}, `^opsctl: unknown output format "yaml"`},
	} {
		out, errOut, code := p.run(tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, errOut)
		require.Empty(t, out)
		require.Regexp(t, tc.want, errOut)
		require.NotContains(t, errOut, "pw@")
		require.NoFileExists(t, dst)
	}
}

// doctor on PostgreSQL: the server's figures, the tables and the indexes;
// piped rows start with their kind. JSON is the db.Doctor struct. A
// database without opsctl's tables is exit 6 and stays without.
func TestDBDoctorPostgres(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	target := pg.NewDatabaseOrSkip(t, pgSkip)
	_, errOut, code := p.run("--db", target, "db", "doctor")
	require.Equal(t, 6, code)
	require.Contains(t, errOut, "no opsctl tables")
	require.Zero(t, pgTables(t, target))

	p.submit("--db", target, "--", "true")
	out := p.ok("--db", target, "db", "doctor")
	for _, re := range []string{
		`(?m)^database: +postgres://\S+$`,
		`(?m)^backend: +postgres$`,
		`(?m)^schema version: +\d+$`,
		`(?m)^server version: +\d+`,
		`(?m)^connections: +\d+$`,
		`(?m)^oldest transaction: +(none|\S+)$`,
		`(?m)^notify queue: +\d+\.\d% used$`,
		`(?m)^table\ttasks\t\d+\t\d+(\.\d)? (B|KiB|MiB)\t\d+(\.\d)? (B|KiB|MiB)\t\d+\t\S+$`,
		`(?m)^table\ttask_events\t`,
		`(?m)^index\ttasks_pkey\ttasks\t\d+(\.\d)? (B|KiB|MiB)$`,
	} {
		require.Regexp(t, re, out)
	}

	var d db.Doctor
	require.NoError(t, json.Unmarshal([]byte(p.ok("--db", target, "db", "doctor", "-o", "json")), &d))
	require.Equal(t, db.PostgresDialect, d.Dialect)
	require.NotEmpty(t, d.ServerVersion)
	require.Len(t, d.Tables, 12)
	require.Equal(t, "tasks", d.Tables[0].Name)
	require.NotEmpty(t, d.Indexes)
}

// doctor never writes to a SQLite file: its bytes are the same after it;
// and a file that needs migrating is refused (exit 4), not migrated.
func TestDBDoctorSQLiteReadsOnly(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	src := filepath.Join(p.dir, "opsctl.db")
	p.submit("--", "true")
	before, err := os.ReadFile(src)
	require.NoError(t, err)
	out := p.ok("db", "doctor")
	require.Regexp(t, `(?m)^integrity: +ok$`, out)
	require.Regexp(t, `(?m)^table\ttasks\t1\t\d+\.\d KiB$`, out)
	after, err := os.ReadFile(src)
	require.NoError(t, err)
	require.Equal(t, before, after)

	old := filepath.Join(p.dir, "old.db")
	ms, err := db.Migrations()
	require.NoError(t, err)
	s, err := db.OpenSQLite(context.Background(), db.Options{Path: old, Migrations: ms[:len(ms)-1]})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	before, err = os.ReadFile(old)
	require.NoError(t, err)
	_, errOut, code := p.run("--db", old, "db", "doctor")
	require.Equal(t, 4, code, errOut)
	after, err = os.ReadFile(old)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

// A SRC at an older schema is refused (exit 4) and left as it was: the
// copy never writes to its source. Nor is DST created.
func TestDBCopyOldSourceIsNotMigrated(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	old := filepath.Join(p.dir, "old.db")
	ms, err := db.Migrations()
	require.NoError(t, err)
	s, err := db.OpenSQLite(context.Background(), db.Options{Path: old, Migrations: ms[:len(ms)-1]})
	require.NoError(t, err)
	_, err = s.Submit(context.Background(), db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	before, err := os.ReadFile(old)
	require.NoError(t, err)

	dst := filepath.Join(p.dir, "dst.db")
	_, errOut, code := p.run("db", "copy", old, dst)
	require.Equal(t, 4, code, errOut)
	require.Contains(t, errOut, "run 'opsctl migrate'")
	after, err := os.ReadFile(old)
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.NoFileExists(t, dst)
	matches, _ := filepath.Glob(old + ".*.bak")
	require.Empty(t, matches, "no backup: nothing was migrated")
}
