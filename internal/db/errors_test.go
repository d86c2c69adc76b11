package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A full database is reported with its path, as full, and not as
// unavailable: a long-running runner keeps retrying through a disk that
// fills and clears. The database here is really full: its size is capped
// with max_page_count on the store's write connection, which is the pool's
// only one and is kept, so the cap holds for every write of the store.
func TestClassifyFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "opsctl.db")
	s, err := OpenSQLite(ctx, Options{Path: path})
	require.NoError(t, err)
	defer s.Close()
	var pages int
	require.NoError(t, s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages))
	_, err = s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+4))
	require.NoError(t, err)

	name := strings.Repeat("x", 6000)
	for i := 0; ; i++ {
		require.Less(t, i, 100, "never full")
		if _, err = s.Submit(ctx, NewTask{Type: "exec", Name: name}); err != nil {
			break
		}
	}
	var fe *FullError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, path, fe.Path)
	require.Equal(t, "database "+path+": database or disk is full (SQLITE_FULL)", err.Error())
	var ue *UnavailableError
	require.False(t, errors.As(err, &ue), "a full database is not unavailable: %v", err)
}
