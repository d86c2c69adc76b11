package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// rawExec runs stmt on the database at path with a connection of its own,
// for fixtures the store cannot make.
func rawExec(t *testing.T, path, stmt string, args ...any) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	require.NoError(t, err)
	_, err = raw.Exec(stmt, args...)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
}

// A schema_migrations that records a version without the ones before it is
// a schema error (exit 4), marked Damaged, with a one-line message; no way
// of opening the file writes to it or backs it up.
func TestDamagedSchemaMigrationsIsRefusedAndUntouched(t *testing.T) {
	t.Parallel()
	all, err := db.Migrations()
	require.NoError(t, err)
	latest := len(all)
	for _, c := range []struct {
		name    string
		stmt    string
		missing int
		want    string
	}{
		{"gap", `DELETE FROM schema_migrations WHERE version = 2`, 2,
			fmt.Sprintf("schema_migrations is damaged: version %d is recorded without version 2", latest)},
		{"first missing", `DELETE FROM schema_migrations WHERE version = 1`, 1,
			fmt.Sprintf("schema_migrations is damaged: version %d is recorded without version 1", latest)},
		{"version zero", `INSERT INTO schema_migrations (version, name, applied_at) VALUES (0, 'zero', 0)`, 0,
			fmt.Sprintf("schema_migrations is damaged: it records versions other than 1 to %d", latest)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "opsctl.db")
			s := dbtest.Open(t, db.Options{Path: path})
			submit(t, s, db.NewTask{})
			require.NoError(t, s.Close())
			rawExec(t, path, c.stmt)
			before := fileSum(t, path)

			for _, opts := range []db.Options{{Path: path}, {Path: path, AutoMigrate: true}, {Path: path, NoMigrate: true}} {
				_, err := db.OpenSQLite(ctx, opts)
				var se *db.SchemaError
				require.ErrorAs(t, err, &se)
				require.True(t, se.Damaged)
				require.Equal(t, c.missing, se.Missing)
				require.Equal(t, latest, se.Current)
				require.Zero(t, se.Unknown)
				require.Equal(t, "database "+path+": "+c.want, err.Error())
			}
			require.Equal(t, before, fileSum(t, path))
			baks, err := filepath.Glob(filepath.Join(dir, "*.bak*"))
			require.NoError(t, err)
			require.Empty(t, baks)
		})
	}
}

// Migrate re-reads the versions under the write lock, and refuses to build
// on a table damaged after the store was opened.
func TestMigrateRefusesDamagedSchemaMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	all, err := db.Migrations()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := db.OpenSQLite(ctx, db.Options{Path: path, Migrations: all[:len(all)-1]})
	require.NoError(t, err)
	require.NoError(t, old.Close())

	s := dbtest.Open(t, db.Options{Path: path, NoMigrate: true})
	rawExec(t, path, `DELETE FROM schema_migrations WHERE version = 1`)
	applied, err := s.Migrate(ctx, 0)
	var se *db.SchemaError
	require.ErrorAs(t, err, &se)
	require.True(t, se.Damaged)
	require.Empty(t, applied)
	st, err := s.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, len(all)-1, st.Current, "nothing applied")
}
