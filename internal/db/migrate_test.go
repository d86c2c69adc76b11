package db_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

func TestLoadMigrationsRejectsGapsAndDuplicates(t *testing.T) {
	t.Parallel()
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"ok", fstest.MapFS{"0001_a.sql": sql, "0002_b.sql": sql}, ""},
		{"gap", fstest.MapFS{"0001_a.sql": sql, "0003_c.sql": sql}, "version 2 missing"},
		{"duplicate", fstest.MapFS{"0001_a.sql": sql, "001_b.sql": sql}, "defined twice"},
		{"bad name", fstest.MapFS{"0001-a.sql": sql}, "name must look like"},
		{"starts at two", fstest.MapFS{"0002_a.sql": sql}, "version 1 missing"},
		{"empty", fstest.MapFS{}, "none found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := db.LoadMigrations(tt.files)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestBuiltInMigrationsLoad(t *testing.T) {
	t.Parallel()
	ms, err := db.Migrations()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 2)
}

func TestOpenMigratesEmptyDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "opsctl.db")
	s := dbtest.Open(t, db.Options{Path: path})
	st, err := s.MigrationStatus(context.Background())
	require.NoError(t, err)
	require.Equal(t, st.Latest, st.Current)
	require.Empty(t, st.Pending)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())
}

func TestUpgradeFromVersionOneKeepsRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	all, err := db.Migrations()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "old.db")

	// Build the fixture the way an old binary would have: migration 1 only.
	old, err := db.OpenSQLite(ctx, db.Options{Path: path, Migrations: all[:1]})
	require.NoError(t, err)
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO tasks (type, name, input, run_after, created_at, updated_at)
		VALUES ('exec', 'kept', '{"shell":"true"}', 0, 0, 0)`)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	require.NoError(t, old.Close())

	// Auto-migration off: refused with a schema error, nothing changed.
	_, err = db.OpenSQLite(ctx, db.Options{Path: path})
	var se *db.SchemaError
	require.ErrorAs(t, err, &se)
	require.True(t, se.Disabled)
	require.Equal(t, 1, se.Current)

	s := dbtest.Open(t, db.Options{Path: path, AutoMigrate: true})
	task, err := s.Get(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "kept", task.Name)
	require.JSONEq(t, `{"shell":"true"}`, string(task.Input))
	st, err := s.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, len(all), st.Current)

	backups, err := filepath.Glob(path + ".v1-*.bak")
	require.NoError(t, err)
	require.Len(t, backups, 1)
}

func TestNewerDatabaseIsRefusedAndUntouched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	s := dbtest.Open(t, db.Options{Path: path})
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	require.NoError(t, s.Close())
	before := fileSum(t, path)
	latest, err := db.Migrations()
	require.NoError(t, err)

	for _, opts := range []db.Options{{Path: path}, {Path: path, AutoMigrate: true}, {Path: path, NoMigrate: true}} {
		_, err = db.OpenSQLite(ctx, opts)
		var se *db.SchemaError
		require.ErrorAs(t, err, &se)
		require.Equal(t, 99, se.Unknown)
		require.ErrorContains(t, err, "99")
		require.ErrorContains(t, err, fmt.Sprintf("latest %d", len(latest)))
	}
	require.Equal(t, before, fileSum(t, path))
}

func TestUnusableFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "junk.db")
	require.NoError(t, os.WriteFile(notDB, []byte("this is not a database, just text that is long enough to be a header"), 0o600))
	for _, path := range []string{dir, notDB} {
		_, err := db.OpenSQLite(context.Background(), db.Options{Path: path})
		var ue *db.UnavailableError
		require.ErrorAs(t, err, &ue, path)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// Opening an older database without migrating it (migrate status, dry run,
// auto-migration off) leaves the file byte for byte as it was, journal mode
// included.
func TestOlderDatabaseUntouchedWithoutMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	all, err := db.Migrations()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = raw.Exec(all[0].SQL)
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ?, 0)`, all[0].Name)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	before := fileSum(t, path)

	s, err := db.OpenSQLite(ctx, db.Options{Path: path, NoMigrate: true})
	require.NoError(t, err)
	st, err := s.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Current)
	require.NoError(t, s.Close())

	_, err = db.OpenSQLite(ctx, db.Options{Path: path})
	var se *db.SchemaError
	require.ErrorAs(t, err, &se)
	require.True(t, se.Disabled)
	require.Equal(t, before, fileSum(t, path))
}
