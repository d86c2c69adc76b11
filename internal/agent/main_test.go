package agent

import (
	"os"
	"testing"

	"github.com/opsctl/opsctl/internal/mcp/mcptest"
)

// TestMain lets the test binary double as the stdio MCP test server: the
// MCP tests start os.Args[0] with mcptest.EnvServe set, and MaybeServe then
// serves MCP instead of running the tests.
func TestMain(m *testing.M) {
	mcptest.MaybeServe()
	os.Exit(m.Run())
}
