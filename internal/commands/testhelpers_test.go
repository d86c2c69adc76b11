package commands_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/opsctl/opsctl/internal/db"
)

// exitcodeMain is the scripts' "exitcode N PROG ARGS..." command: it runs
// PROG with the script's stdin, stdout and stderr and succeeds only when
// PROG exits with exactly N, so a script can assert opsctl's exit codes
// (testscript's own "! exec" only checks for non-zero).
func exitcodeMain() int {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: exitcode N PROG [ARGS...]")
		return 2
	}
	want, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "exitcode: bad code %q\n", os.Args[1])
		return 2
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	got := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(os.Stderr, "exitcode: %v\n", err)
			return 2
		}
		got = ee.ExitCode()
	}
	if got != want {
		fmt.Fprintf(os.Stderr, "exitcode: %s exited %d, want %d\n", os.Args[2], got, want)
		return 1
	}
	return 0
}

// testsqlMain is the scripts' "opsctl-testsql DB SQL..." command: it runs
// each statement against an existing SQLite file (never creating one) and
// prints the rows of queries tab-separated. Scripts use it to make fixtures
// the CLI cannot, such as a database from a newer opsctl, and to look at
// tables the CLI does not show.
func testsqlMain() int {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: opsctl-testsql DB SQL...")
		return 2
	}
	if _, err := os.Stat(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "opsctl-testsql: %v\n", err)
		return 1
	}
	db, err := sql.Open("sqlite", "file:"+os.Args[1]+"?mode=rw&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		fmt.Fprintf(os.Stderr, "opsctl-testsql: %v\n", err)
		return 1
	}
	defer db.Close()
	for _, q := range os.Args[2:] {
		if err := runSQL(db, q); err != nil {
			fmt.Fprintf(os.Stderr, "opsctl-testsql: %s: %v\n", q, err)
			return 1
		}
	}
	return 0
}

func runSQL(db *sql.DB, q string) error {
	verb := strings.ToUpper(strings.Fields(q + " x")[0])
	if verb != "SELECT" && verb != "PRAGMA" {
		_, err := db.Exec(q)
		return err
	}
	rows, err := db.Query(q)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				cells[i] = "NULL"
			case []byte:
				cells[i] = string(v)
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Println(strings.Join(cells, "\t"))
	}
	return rows.Err()
}

// olddbMain is the scripts' "opsctl-olddb DB VERSION" command: it makes DB
// (a SQLite path or a postgres:// URL of an empty database) a database of
// schema VERSION, as an older opsctl would have left it, by applying only
// the first VERSION migrations of its dialect.
func olddbMain() int {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: opsctl-olddb DB VERSION")
		return 2
	}
	v, err := strconv.Atoi(os.Args[2])
	if err != nil || v < 1 {
		fmt.Fprintf(os.Stderr, "opsctl-olddb: bad version %q\n", os.Args[2])
		return 2
	}
	target, err := db.ParseTarget(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "opsctl-olddb: %v\n", err)
		return 1
	}
	ms, err := db.DialectMigrations(target.Dialect)
	if err != nil || v > len(ms) {
		fmt.Fprintf(os.Stderr, "opsctl-olddb: no version %d (%v)\n", v, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := db.Open(ctx, db.Options{Path: os.Args[1], Migrations: ms[:v]})
	if err != nil {
		fmt.Fprintf(os.Stderr, "opsctl-olddb: %v\n", err)
		return 1
	}
	s.Close()
	return 0
}
