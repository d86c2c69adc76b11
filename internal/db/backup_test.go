package db_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
)

// backupClock is the fixed time the backup tests' names are made from.
func backupClock() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC) }

// backupFiles lists the files in dir that belong to a backup, finished or
// not.
func backupFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.bak", "*.bak.tmp", "*.bak-journal", "*.tmp-journal"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		require.NoError(t, err)
		out = append(out, m...)
	}
	return out
}

// A backup is a whole, private copy under its final name, and nothing else
// is left beside it.
func TestBackupIsPrivateAndWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "opsctl.db")
	s := dbtest.Open(t, db.Options{Path: path, Now: backupClock})
	submit(t, s, db.NewTask{Name: "kept"})

	dst, err := s.Backup(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, path+".v7-20260102T030405006Z.bak", dst)
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Equal(t, []string{dst}, backupFiles(t, dir))

	raw, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	require.NoError(t, err)
	defer raw.Close()
	var check, name string
	require.NoError(t, raw.QueryRow(`PRAGMA integrity_check`).Scan(&check))
	require.Equal(t, "ok", check)
	require.NoError(t, raw.QueryRow(`SELECT name FROM tasks`).Scan(&name))
	require.Equal(t, "kept", name)

	// The same name again is refused, and the first backup stays as it was.
	_, err = s.Backup(ctx, 7)
	require.ErrorContains(t, err, "already exists")
	require.Equal(t, []string{dst}, backupFiles(t, dir))
}

// A backup whose temporary name is taken (another process writing the
// same backup) fails, and leaves the other file alone.
func TestBackupRefusesTakenTempName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "opsctl.db")
	s := dbtest.Open(t, db.Options{Path: path, Now: backupClock})
	tmp := path + ".v3-20260102T030405006Z.bak.tmp"
	require.NoError(t, os.WriteFile(tmp, []byte("another backup being written"), 0o600))

	_, err := s.Backup(context.Background(), 3)
	require.ErrorContains(t, err, tmp)
	require.Equal(t, []string{tmp}, backupFiles(t, dir))
	b, err := os.ReadFile(tmp)
	require.NoError(t, err)
	require.Equal(t, "another backup being written", string(b))
}

// A VACUUM INTO that fails part way, here on a damaged page of the source
// (which fails for root as for anyone), leaves no file behind: neither a
// partial copy under the backup's name nor its temporary file.
func TestBackupFailingLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "opsctl.db")
	s := dbtest.Open(t, db.Options{Path: path})
	id := submit(t, s, db.NewTask{})
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	require.NoError(t, err)
	_, err = conn.Exec(`WITH RECURSIVE e(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM e WHERE n < 2000)
		INSERT INTO task_events (task_id, at, kind, data) SELECT ?, 0, 'output', json_object('line', hex(randomblob(300))) FROM e`, id)
	require.NoError(t, err)
	// A leaf page of task_events: its rows are copied, so VACUUM INTO
	// reads it (a page of an index might not be read: indexes are rebuilt).
	var page, size int64
	require.NoError(t, conn.QueryRow(`SELECT max(pageno) FROM dbstat WHERE name = 'task_events' AND pagetype = 'leaf'`).Scan(&page))
	require.NoError(t, conn.QueryRow(`PRAGMA page_size`).Scan(&size))
	require.NoError(t, conn.Close())
	require.NoError(t, s.Close()) // the last connection checkpoints the WAL into the file
	_, err = os.Stat(path + "-wal")
	require.ErrorIs(t, err, os.ErrNotExist)

	// Overwrite that page: the file still opens, but copying it all fails.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	junk := make([]byte, size)
	for i := range junk {
		junk[i] = 0xff
	}
	_, err = f.WriteAt(junk, (page-1)*size)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s = dbtest.Open(t, db.Options{Path: path, NoMigrate: true, Now: backupClock})
	_, err = s.Backup(ctx, 3)
	var ue *db.UnavailableError
	require.ErrorAs(t, err, &ue, "the source is damaged")
	require.Empty(t, backupFiles(t, dir))

	// Cancelled after the temporary file was made: removed too.
	_, err = s.Backup(cancelled(), 3)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, backupFiles(t, dir))
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
