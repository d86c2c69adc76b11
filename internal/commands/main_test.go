package commands_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/opsctl/opsctl/internal/commands"
	"github.com/opsctl/opsctl/internal/mcp/mcptest"
	"github.com/opsctl/opsctl/internal/runner"
)

// TestMain makes this test binary double as opsctl: testscript puts an
// "opsctl" on PATH that re-runs this binary as commands.Main, so scripts and
// the process tests run the real entry point in real processes. An exec
// task's supervisor is this binary too.
func TestMain(m *testing.M) {
	if runner.IsSupervisor() {
		os.Exit(runner.Supervise())
	}
	// Under -race every process sleeps a second at exit unless GORACE says
	// otherwise; the scripts and process tests start thousands of opsctl
	// processes (each exec task's supervisor is one), and they inherit this.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	testscript.Main(withPostgres{m}, map[string]func(){
		"opsctl": func() { os.Exit(commands.Main()) },
		// Script helpers, in testhelpers_test.go (opsctl-testsql on a
		// postgres:// URL: in process_pg_test.go).
		"exitcode":       func() { os.Exit(exitcodeMain()) },
		"opsctl-testsql": func() { os.Exit(testsqlAnyMain()) },
		"opsctl-olddb":   func() { os.Exit(olddbMain()) },
		// The MCP test server over stdio, and the helpers of the agent
		// scripts, in fakes_test.go.
		"mcptest-server": mcptest.Main,
		"fakellm":        func() { os.Exit(fakellmMain()) },
		"waitfile":       func() { os.Exit(waitfileMain()) },
	})
}

// repoRoot is the module root, where testdata/script lives.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, scriptParams(t, false))
}

// TestScriptsPostgres runs the same scripts with OPSCTL_DB a fresh, empty
// PostgreSQL database per script. A script whose behaviour is SQLite's
// alone (files, their permissions, backups) starts with
// "[postgres] skip 'why'"; one whose output differs only by the backend
// says so with [postgres] and [!postgres] lines.
func TestScriptsPostgres(t *testing.T) {
	t.Parallel()
	if pg == nil {
		t.Skip("no PostgreSQL server here, the scripts run on SQLite only (under CI=true the test binary fails instead): " + pgSkip)
	}
	testscript.Run(t, scriptParams(t, true))
}

// scriptParams are the parameters of a run of the scripts, on SQLite (a
// file in the script's work dir) or on PostgreSQL (a fresh database).
//
// Beyond testscript's own, the scripts have:
//
//   - the condition [postgres]: OPSCTL_DB is a PostgreSQL database;
//   - "dbexists [DB]": an opsctl database is at DB ($OPSCTL_DB by default):
//     the file exists, or the PostgreSQL database holds tables; with "!":
//     there is none, or it is empty;
//   - "newdb VAR NAME": sets VAR to a database of the script's backend
//     other than $OPSCTL_DB: the path $WORK/NAME (not created), or the URL
//     of a fresh, empty PostgreSQL database;
//   - "dbsnapshot FILE [DB]": writes what the database holds to FILE, for
//     cmp to tell whether anything changed: the SQLite file's bytes, or a
//     text dump of the PostgreSQL database's tables, indexes, sequences and
//     rows.
func scriptParams(t *testing.T, postgres bool) testscript.Params {
	return testscript.Params{
		Dir: filepath.Join(repoRoot(t), "testdata", "script"),
		Setup: func(env *testscript.Env) error {
			// Each script gets its own database, config and home, and none
			// of the developer's.
			dbURL := env.WorkDir + "/opsctl.db"
			if postgres {
				var err error
				if dbURL, err = newScriptDatabase(env.Defer); err != nil {
					return err
				}
			}
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/config")
			env.Setenv("XDG_DATA_HOME", env.WorkDir+"/data")
			env.Setenv("OPSCTL_DB", dbURL)
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "postgres" {
				return postgres, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dbexists": cmdDBExists,
			"newdb": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: newdb VAR NAME")
				}
				if !postgres {
					ts.Setenv(args[0], filepath.Join(ts.Getenv("WORK"), args[1]))
					return
				}
				u, err := newScriptDatabase(ts.Defer)
				ts.Check(err)
				ts.Setenv(args[0], u)
			},
			"dbsnapshot": cmdDBSnapshot,
		},
		UpdateScripts: os.Getenv("OPSCTL_UPDATE_SCRIPTS") == "1",
	}
}

// scriptDB is the database a script command names: its argument, or
// $OPSCTL_DB.
func scriptDB(ts *testscript.TestScript, args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ts.Getenv("OPSCTL_DB")
}

// cmdDBExists is the scripts' "dbexists [DB]".
func cmdDBExists(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) > 1 {
		ts.Fatalf("usage: [!] dbexists [DB]")
	}
	loc := scriptDB(ts, args)
	var exists bool
	if isPostgresURL(loc) {
		n, err := pgTableCount(loc)
		ts.Check(err)
		exists = n > 0
	} else {
		_, err := os.Stat(ts.MkAbs(loc))
		exists = err == nil
	}
	switch {
	case exists && neg:
		ts.Fatalf("an opsctl database is at %s", loc)
	case !exists && !neg:
		ts.Fatalf("no opsctl database at %s", loc)
	}
}

// cmdDBSnapshot is the scripts' "dbsnapshot FILE [DB]".
func cmdDBSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: dbsnapshot FILE [DB]")
	}
	loc := scriptDB(ts, args[1:])
	var b []byte
	var err error
	if isPostgresURL(loc) {
		b, err = pgDump(loc)
	} else {
		b, err = os.ReadFile(ts.MkAbs(loc))
	}
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}
