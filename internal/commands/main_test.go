package commands_test

import (
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
		// Script helpers, in testhelpers_test.go.
		"exitcode":       func() { os.Exit(exitcodeMain()) },
		"opsctl-testsql": func() { os.Exit(testsqlMain()) },
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
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join(repoRoot(t), "testdata", "script"),
		Setup: func(env *testscript.Env) error {
			// Each script gets its own database, config and home, and none
			// of the developer's.
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/config")
			env.Setenv("XDG_DATA_HOME", env.WorkDir+"/data")
			env.Setenv("OPSCTL_DB", env.WorkDir+"/opsctl.db")
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		UpdateScripts: os.Getenv("OPSCTL_UPDATE_SCRIPTS") == "1",
	})
}
