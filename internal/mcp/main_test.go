package mcp

import (
	"context"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/mcp/mcptest"
)

// envRunner makes the test binary act as a tiny runner: it starts the stdio
// test server, prints the server's pid, and waits to be killed. It is how
// TestServerDiesWithRunner kills a runner without killing the tests.
const envRunner = "OPSCTL_MCP_TEST_RUNNER"

// TestMain lets the test binary double as the stdio test server: tests
// start os.Args[0] with mcptest.EnvServe set, and MaybeServe then serves
// MCP instead of running the tests.
func TestMain(m *testing.M) {
	mcptest.MaybeServe()
	if os.Getenv(envRunner) == "1" {
		os.Exit(runnerMain())
	}
	os.Exit(m.Run())
}

// runnerMain starts the stdio test server and blocks until it is killed.
// The server is stubborn: a well-behaved one would exit anyway when the
// runner's death closes its input, which would hide a missing Pdeathsig.
func runnerMain() int {
	cfg := stdioConfig(map[string]string{mcptest.EnvStubborn: "1"})
	s, err := Start(context.Background(), "orphan", cfg, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(s.PID())
	for {
		time.Sleep(time.Hour)
	}
}

// stdioConfig returns the config of the stdio test server: this test binary,
// re-run in serving mode (see TestMain), with extra declared variables.
// Under -race the binary would sleep a second on exit (the race runtime's
// atexit_sleep_ms), which GORACE turns off to keep the tests fast.
func stdioConfig(env map[string]string) ServerConfig {
	all := map[string]string{mcptest.EnvServe: "stdio", "GORACE": "atexit_sleep_ms=0"}
	maps.Copy(all, env)
	return ServerConfig{Command: os.Args[0], Env: all}
}
