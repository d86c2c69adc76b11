package db_test

import (
	"os"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
	"github.com/opsctl/opsctl/internal/db/pgtest"
)

// The PostgreSQL server of this test binary (see pgtest.Run), and why
// there is none when it is nil.
var (
	pg     *pgtest.Cluster
	pgSkip string
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Run(func(c *pgtest.Cluster, skip string) int {
		pg, pgSkip = c, skip
		return m.Run()
	}))
}

// backends are the store implementations the conformance tests run on.
func backends() []db.Dialect { return []db.Dialect{db.SQLiteDialect, db.PostgresDialect} }

// openBackend opens a fresh, migrated store of dialect d with opts (its
// Path is replaced), closed when the test ends.
func openBackend(t testing.TB, d db.Dialect, opts db.Options) db.Backend {
	t.Helper()
	switch d {
	case db.PostgresDialect:
		opts.Path = pg.NewDatabaseOrSkip(t, pgSkip)
	default:
		opts.Path = t.TempDir() + "/t.db"
	}
	return dbtest.OpenBackend(t, opts)
}

// eachBackend runs fn on a fresh store of each backend, as parallel
// subtests, with a test clock both stores take their time from.
func eachBackend(t *testing.T, fn func(t *testing.T, s db.Backend, c *clock)) {
	t.Helper()
	for _, d := range backends() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			fn(t, openBackend(t, d, db.Options{Now: c.Now}), c)
		})
	}
}
