package commands_test

import (
	"testing"

	"github.com/opsctl/opsctl/internal/db/pgtest"
)

// The PostgreSQL server of this test binary, and why there is none when it
// is nil (see pgtest.Run). Only the top-level test process starts it: the
// same binary run as opsctl or a script helper never reaches m.Run.
var (
	pg     *pgtest.Cluster
	pgSkip string
)

// withPostgres runs the tests with a throwaway PostgreSQL server.
type withPostgres struct{ m *testing.M }

func (w withPostgres) Run() int {
	return pgtest.Run(func(c *pgtest.Cluster, skip string) int {
		pg, pgSkip = c, skip
		return w.m.Run()
	})
}
