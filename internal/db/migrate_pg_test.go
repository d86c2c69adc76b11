package db_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// The two dialects' migrations match version for version and name for
// name, so "schema version N" means the same on both.
func TestDialectsMatch(t *testing.T) {
	t.Parallel()
	lite, err := db.DialectMigrations(db.SQLiteDialect)
	require.NoError(t, err)
	pgm, err := db.DialectMigrations(db.PostgresDialect)
	require.NoError(t, err)
	require.Equal(t, len(lite), len(pgm))
	for i := range lite {
		require.Equal(t, lite[i].Version, pgm[i].Version)
		require.Equal(t, lite[i].Name, pgm[i].Name, "migration %d", lite[i].Version)
	}
}

// pgExec runs statements on the database at url, outside opsctl.
func pgExec(t *testing.T, url string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, q := range stmts {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
}

// pgSnapshot is what a test compares to say nothing was written: every
// table's name and row count, and the recorded versions.
func pgSnapshot(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var out []string
	for _, tb := range tables {
		var n int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{tb}.Sanitize()).Scan(&n))
		out = append(out, fmt.Sprintf("%s=%d", tb, n))
		if tb == "schema_migrations" {
			rows, err := conn.Query(ctx, `SELECT version::text || name FROM schema_migrations ORDER BY version`)
			require.NoError(t, err)
			vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			out = append(out, vs...)
		}
	}
	return out
}

func TestPostgresNewerSchemaRefusedAndUntouched(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabaseOrSkip(t, pgSkip)
	s, err := db.Open(context.Background(), db.Options{Path: url})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	pgExec(t, url, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', now())`)
	before := pgSnapshot(t, url)
	for _, opts := range []db.Options{{Path: url}, {Path: url, AutoMigrate: true}, {Path: url, NoMigrate: true}, {Path: url, MustExist: true}} {
		_, err := db.Open(context.Background(), opts)
		var se *db.SchemaError
		require.ErrorAs(t, err, &se)
		require.Equal(t, 99, se.Unknown)
		require.NotContains(t, err.Error(), "password")
	}
	require.Equal(t, before, pgSnapshot(t, url))
}

func TestPostgresForeignDatabaseRefused(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabaseOrSkip(t, pgSkip)
	pgExec(t, url, `CREATE TABLE orders (id int PRIMARY KEY)`)
	before := pgSnapshot(t, url)
	_, err := db.Open(context.Background(), db.Options{Path: url, AutoMigrate: true})
	var se *db.SchemaError
	require.ErrorAs(t, err, &se)
	require.True(t, se.Foreign)
	require.Equal(t, before, pgSnapshot(t, url))
}

// A read-only command on a database opsctl never wrote finds nothing there
// and creates nothing.
func TestPostgresMustExistCreatesNothing(t *testing.T) {
	t.Parallel()
	url := pg.NewDatabaseOrSkip(t, pgSkip)
	_, err := db.Open(context.Background(), db.Options{Path: url, MustExist: true})
	var ue *db.UnavailableError
	require.ErrorAs(t, err, &ue)
	require.Empty(t, pgSnapshot(t, url))
}

// An older schema is migrated only when allowed; otherwise it is refused
// and left as it is.
func TestPostgresOlderSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pg.NewDatabaseOrSkip(t, pgSkip)
	all, err := db.DialectMigrations(db.PostgresDialect)
	require.NoError(t, err)
	old, err := db.Open(ctx, db.Options{Path: url, Migrations: all[:2]})
	require.NoError(t, err)
	require.NoError(t, old.Close())
	before := pgSnapshot(t, url)

	_, err = db.Open(ctx, db.Options{Path: url})
	var se *db.SchemaError
	require.ErrorAs(t, err, &se)
	require.True(t, se.Disabled)
	require.Equal(t, before, pgSnapshot(t, url))

	s, err := db.Open(ctx, db.Options{Path: url, NoMigrate: true})
	require.NoError(t, err)
	st, err := s.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, st.Current)
	require.Len(t, st.Pending, len(all)-2)
	applied, err := s.Migrate(ctx, 0)
	require.NoError(t, err)
	require.Len(t, applied, len(all)-2)
	require.NoError(t, s.Close())
}

// Many processes opening a new database at once: one migrates (SQLite's
// write lock, PostgreSQL's advisory lock), the others find it done; each
// migration is recorded once. On both backends.
func TestConcurrentFirstOpens(t *testing.T) {
	t.Parallel()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "race.db")
			if d == db.PostgresDialect {
				path = pg.NewDatabaseOrSkip(t, pgSkip)
			}
			const n = 8
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Go(func() {
					s, err := db.Open(context.Background(), db.Options{Path: path})
					if err != nil {
						errs <- err
						return
					}
					_, err = s.Submit(context.Background(), db.NewTask{Type: "exec"})
					errs <- errors.Join(err, s.Close())
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			s := dbtest.OpenBackend(t, db.Options{Path: path})
			count, err := s.Count(context.Background())
			require.NoError(t, err)
			require.EqualValues(t, n, count)
			st, err := s.MigrationStatus(context.Background())
			require.NoError(t, err)
			require.Empty(t, st.Pending)
		})
	}
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in      string
		dialect db.Dialect
		path    string
		bad     string
	}{
		{in: "/var/lib/opsctl.db", dialect: db.SQLiteDialect, path: "/var/lib/opsctl.db"},
		{in: "rel/x.db", dialect: db.SQLiteDialect, path: "rel/x.db"},
		{in: "sqlite:///srv/x.db", dialect: db.SQLiteDialect, path: "/srv/x.db"},
		{in: "file:/srv/x.db?mode=rw", dialect: db.SQLiteDialect, path: "/srv/x.db"},
		{in: "postgres://u:pw@h/db", dialect: db.PostgresDialect},
		{in: "postgresql://h/db?sslmode=disable", dialect: db.PostgresDialect},
		{in: "mysql://u:pw@h/db", bad: "unknown database scheme"},
		{in: "postgres://u:pw@h/db?opsctl_poll_only=perhaps", bad: "opsctl_poll_only"},
		{in: "postgres://u:pw@h:99999999/%zz", bad: "malformed URL"},
		{in: "sqlite://", bad: "no file path"},
	} {
		got, err := db.ParseTarget(c.in)
		if c.bad != "" {
			var te *db.TargetError
			require.ErrorAs(t, err, &te, c.in)
			require.ErrorContains(t, err, c.bad)
			require.NotContains(t, err.Error(), "pw", "the password must not be shown")
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.dialect, got.Dialect, c.in)
		require.Equal(t, c.path, got.Path, c.in)
		require.NotContains(t, got.Location, "pw")
	}
	poll, err := db.ParseTarget("postgres://h/db?opsctl_poll_only=1")
	require.NoError(t, err)
	require.True(t, poll.PollOnly)
}
