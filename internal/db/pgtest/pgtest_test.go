package pgtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opsctl/opsctl/internal/db/pgtest"
)

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

// TestTwoDatabases makes two databases, talks to each and checks that they
// are distinct.
func TestTwoDatabases(t *testing.T) {
	url1 := pg.NewDatabaseOrSkip(t, pgSkip)
	url2 := pg.NewDatabase(t)
	if url1 == url2 {
		t.Fatalf("two databases with the same URL %q", url1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	for _, u := range []string{url1, url2} {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatalf("connect %s: %v", u, err)
		}
		defer conn.Close(ctx)
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("SELECT 1 on %s: %d, %v", u, one, err)
		}
		var name string
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatalf("current_database on %s: %v", u, err)
		}
		names = append(names, name)
	}
	if names[0] == names[1] {
		t.Fatalf("both URLs reach database %q", names[0])
	}

	// A table made in one is not seen in the other.
	c1, _ := pgx.Connect(ctx, url1)
	defer c1.Close(ctx)
	if _, err := c1.Exec(ctx, "CREATE TABLE only_here (x int)"); err != nil {
		t.Fatal(err)
	}
	c2, _ := pgx.Connect(ctx, url2)
	defer c2.Close(ctx)
	var n int
	if err := c2.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("table leaked into the second database: %d, %v", n, err)
	}
}

// TestNilCluster checks the skip path and that Stop is safe on nil.
func TestNilCluster(t *testing.T) {
	var c *pgtest.Cluster
	c.Stop()
	t.Run("skips", func(t *testing.T) {
		c.NewDatabaseOrSkip(t, "no server here")
		t.Fatal("NewDatabaseOrSkip on nil did not skip")
	})
}
