// Package dbtest builds test databases the only way the schema is defined:
// by running the real migrations on a fresh file.
package dbtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opsctl/opsctl/internal/db"
)

// New returns a migrated store on a new file in t.TempDir(), closed when the
// test ends.
func New(t testing.TB) *db.SQLite {
	t.Helper()
	return Open(t, db.Options{Path: filepath.Join(t.TempDir(), "opsctl.db")})
}

// Open opens a store with opts and closes it when the test ends.
func Open(t testing.TB, opts db.Options) *db.SQLite {
	t.Helper()
	s, err := db.OpenSQLite(context.Background(), opts)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenBackend opens the database opts.Path names (a file or a postgres://
// URL) and closes it when the test ends.
func OpenBackend(t testing.TB, opts db.Options) db.Backend {
	t.Helper()
	s, err := db.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
