package commands

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/mcp"
	"github.com/opsctl/opsctl/internal/runner"
)

// newRegistry builds the task-type registry: the one place task types are
// bound to handlers. Handlers read the config when first used, not here,
// because flags are parsed after the registry exists.
func newRegistry(f *Factory) runner.Registry {
	return runner.Registry{
		"exec":  &lazyHandler{build: func() (runner.Handler, error) { return newExecHandler(f) }},
		"agent": &lazyHandler{build: func() (runner.Handler, error) { return newAgentHandler(f) }},
	}
}

func newExecHandler(f *Factory) (runner.Handler, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	// Exec tasks run without the LLM providers' keys (and agent.redact_env):
	// a command that prints its environment would otherwise write them into
	// the task's events. A task that needs one names it in its own "env".
	hidden := append([]string{c.Agent.APIKeyEnv}, c.Agent.RedactEnv...)
	// A task that runs opsctl reaches the runner's database, whether the
	// runner was given it by flag, environment or config file.
	hidden = append(hidden, "OPSCTL_DB")
	where := c.DB
	if t, err := db.ParseTarget(where); err == nil && t.Dialect == db.SQLiteDialect {
		if abs, err := filepath.Abs(t.Path); err == nil {
			where = abs // the task may run in another directory
		}
	}
	environ := func() []string { return append(llm.EnvWithoutKeys(os.Environ(), hidden...), "OPSCTL_DB="+where) }
	return &runner.Exec{OutputTail: c.Runner.OutputTail, Environ: environ}, nil
}

func newAgentHandler(f *Factory) (runner.Handler, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	servers := c.MCPServers
	if servers == nil {
		// An empty map, not nil: the handler then knows that no server is
		// configured and refuses a task that names one.
		servers = map[string]mcp.ServerConfig{}
	}
	h := &agent.Handler{Config: c.Agent, Getenv: f.Getenv, Now: f.Now, MCPSupervise: runner.SupervisedCommand, MCPServers: servers, LookupEnv: envLookup(f)}
	h.SearchTasks = searchTasksFunc(f)
	return agentAdapter{h}, nil
}

// envLookup returns the lookup that expands ${VAR} in MCP server configs:
// the factory's environment. Getenv cannot tell an empty variable from an
// unset one, so an empty variable counts as unset; ${VAR:-default} treats
// the two alike anyway.
func envLookup(f *Factory) func(string) (string, bool) {
	if f.Getenv == nil {
		return os.LookupEnv
	}
	return func(name string) (string, bool) {
		v := f.Getenv(name)
		return v, v != ""
	}
}

// agentAdapter fits the agent handler to runner.Handler: the two Events
// interfaces have the same method but are distinct types.
type agentAdapter struct{ h *agent.Handler }

func (a agentAdapter) Validate(input json.RawMessage) error { return a.h.Validate(input) }

func (a agentAdapter) Run(ctx context.Context, input json.RawMessage, ev runner.Events) (json.RawMessage, error) {
	return a.h.Run(ctx, input, ev)
}

// lazyHandler builds its handler on first use.
type lazyHandler struct {
	build func() (runner.Handler, error)
	once  sync.Once
	h     runner.Handler
	err   error
}

func (l *lazyHandler) get() (runner.Handler, error) {
	l.once.Do(func() { l.h, l.err = l.build() })
	return l.h, l.err
}

func (l *lazyHandler) Validate(input json.RawMessage) error {
	h, err := l.get()
	if err != nil {
		return err
	}
	return h.Validate(input)
}

func (l *lazyHandler) Run(ctx context.Context, input json.RawMessage, ev runner.Events) (json.RawMessage, error) {
	h, err := l.get()
	if err != nil {
		return nil, err
	}
	return h.Run(ctx, input, ev)
}
