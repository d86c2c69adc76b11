// Package agent runs "agent" tasks: a tool-calling loop in which a model
// asks for tools, reads their results and finally answers. It holds the
// task's input and the config defaults, the loop, the conversation memory,
// the built-in tools and the events a run emits.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/mcp"
)

// Handler runs agent tasks for the runner. Its fields are set once when the
// runner starts; a Handler is safe for concurrent runs.
type Handler struct {
	// Config holds the defaults from the config file.
	Config Config
	// Getenv reads environment variables (API keys, redacted values); nil
	// means os.Getenv.
	Getenv func(string) string
	// NewProvider builds the provider for a run; nil means llm.New. Tests
	// pass a fake.
	NewProvider func(llm.Config) (llm.Provider, error)
	// ToolSources contribute tools beyond the built-in ones, such as the
	// tools of MCP servers. A source tool named SERVER__TOOL is offered when
	// the task's tools list names it, or names no tool of that server.
	ToolSources []ToolSource
	// Now tells the time for current_time; nil means time.Now.
	Now func() time.Time
	// SearchTasks is what the search_tasks tool calls; nil: it is not available.
	SearchTasks SearchTasksFunc
	// MCPServers are the configured MCP servers by name, unexpanded. When
	// it is not nil, the handler itself offers the tools of the servers a
	// task selects (its mcp_servers, else Config.MCPServers): it refuses at
	// submit a task that names a server missing from it, and starts the
	// selected ones for each run. Nil leaves MCP to the ToolSources.
	MCPServers map[string]mcp.ServerConfig
	// LookupEnv reads the runner's environment when ${VAR} references in
	// MCPServers are expanded, at the start of each run; nil means
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)

	// MCPSupervise, when set, runs stdio MCP servers under a process
	// supervisor (see mcp.Options.Supervise).
	MCPSupervise func(argv []string) ([]string, []string)
	// mcpCloseGrace replaces mcp.DefaultCloseGrace when positive; tests
	// shorten it.
	mcpCloseGrace time.Duration
}

// Validate checks a task's input at submit, including what depends on the
// config: the provider must be known, a model must be set somewhere, and
// the MCP servers it selects must be configured (when MCPServers is set).
// It does not check the API key or ${VAR} references, which only the
// runner's environment can satisfy.
func (h *Handler) Validate(input json.RawMessage) error {
	in, err := decodeInput(input)
	if err != nil {
		return err
	}
	s := h.Config.resolve(in)
	if err := checkProvider(s); err != nil {
		return err
	}
	if _, err := resolvePolicy(h.Config, in); err != nil {
		return err
	}
	return h.checkMCPServers(s)
}

// checkMCPServers refuses a server name that is not configured. It checks
// nothing when the handler has no server map: the runner may know servers
// this process does not.
func (h *Handler) checkMCPServers(s settings) error {
	if h.MCPServers == nil {
		return nil
	}
	where := `"mcp_servers"`
	if s.in.MCPServers == nil {
		where = "agent.mcp_servers of the config"
	}
	for _, name := range s.mcpServers {
		if _, ok := h.MCPServers[name]; !ok {
			return unknownServerError(name, where, h.MCPServers)
		}
	}
	return nil
}

// Run runs one agent task until the model answers or something stops it.
//
// On success it returns the Result as JSON and a nil error. Otherwise it
// returns a *RunError and still a Result, with an empty answer, the reason
// and the usage so far, for the runner to store beside the error. Secrets
// (every provider key, the configured key and the Config.RedactEnv values)
// are redacted from both and
// from every event.
func (h *Handler) Run(ctx context.Context, input json.RawMessage, ev Events) (json.RawMessage, error) {
	getenv := h.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// The redacted variables are known before the input is, so that even
	// an invalid-input error cannot echo one of them.
	// Every provider key the runner holds is one, whatever endpoint this
	// run talks to: a program the model runs could find any of them.
	var secrets []string
	names := append(llm.KeyEnvs(), h.Config.RedactEnv...)
	if h.Config.APIKeyEnv != "" {
		names = append(names, h.Config.APIKeyEnv)
	}
	for _, name := range names {
		secrets = append(secrets, getenv(name))
	}
	in, err := decodeInput(input)
	if err != nil {
		red := newRedactor(secrets...)
		d := h.Config.resolve(Input{})
		res := Result{StopReason: StopInvalidInput, Provider: d.provider, Model: d.model}
		return res.encode(red), newRunError(red, StopInvalidInput, "invalid input: %v", err)
	}
	s := h.Config.resolve(in)
	res := Result{Provider: s.provider, Model: s.model}
	key, keyEnv, keyErr := resolveAPIKey(s, getenv)
	red := newRedactor(append(secrets, key)...)
	em := emitter{events: ev, redact: red}
	fail := func(err *RunError) (json.RawMessage, error) {
		res.StopReason = err.Reason
		return res.encode(red), err
	}
	if err := checkProvider(s); err != nil {
		return fail(newRunError(red, StopSetupError, "%v", err))
	}
	if keyErr != nil {
		return fail(newRunError(red, StopSetupError, "%v", keyErr))
	}
	pol, err := resolvePolicy(h.Config, in)
	if err != nil {
		return fail(newRunError(red, StopSetupError, "%v", err))
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.timeout,
			fmt.Errorf("the run's timeout of %s passed: %w", s.timeout, context.DeadlineExceeded))
		defer cancel()
	}
	newProvider := h.NewProvider
	if newProvider == nil {
		newProvider = llm.New
	}
	provider, err := newProvider(llm.Config{Provider: s.provider, Model: s.model, BaseURL: s.baseURL, APIKey: key})
	if err != nil {
		return fail(newRunError(red, StopSetupError, "%v", err))
	}
	env := builtinEnv{cfg: h.Config, now: h.Now, childEnv: childEnviron(keyEnv, h.Config.RedactEnv), searchTasks: h.SearchTasks}
	tools, cleanup, err := h.gatherTools(ctx, s, em, env)
	defer cleanup()
	if err != nil {
		if ctx.Err() != nil {
			return fail(contextRunError(red, ctx))
		}
		return fail(newRunError(red, StopSetupError, "%v", err))
	}
	r := &run{
		s:        s,
		provider: provider,
		tools:    tools,
		em:       em,
		red:      red,
		budget:   h.Config.MemoryBudget,
		result:   res,
		cfg:      h.Config,
		policy:   pol,
	}
	// The runner's events carry the task's checkpoints; other callers'
	// runs neither wait nor resume.
	r.cps, _ = ev.(Checkpoints)
	return r.loop(ctx)
}

// gatherTools builds the run's toolset: the allowed built-in tools, then the
// tools of each source. The returned cleanup, never nil, ends what the
// sources started; it must be called however the run ends, and is also
// correct to call after an error.
func (h *Handler) gatherTools(ctx context.Context, s settings, em emitter, env builtinEnv) (*toolset, func(), error) {
	ts := newToolset()
	var cleanups []func()
	cleanup := func() {
		// Later sources may depend on earlier ones, so they end first.
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	for _, name := range builtinToolNames() {
		if !slices.Contains(s.tools, name) {
			continue
		}
		if err := ts.add(newBuiltinTool(name, env)); err != nil {
			return nil, cleanup, fmt.Errorf("built-in tool %s: %w", name, err)
		}
	}
	srcIn := s.in
	srcIn.Tools, srcIn.MCPServers = s.tools, s.mcpServers
	srcIn.Provider, srcIn.Model, srcIn.BaseURL = s.provider, s.model, s.baseURL
	sources := h.ToolSources
	if h.MCPServers != nil {
		sources = append([]ToolSource{newMCPSource(h.MCPServers, h.LookupEnv, mcp.Options{CloseGrace: h.mcpCloseGrace, Supervise: h.MCPSupervise})}, sources...)
	}
	for _, src := range sources {
		tools, done, err := src.Tools(ctx, srcIn, emitterEvents{em})
		if done != nil {
			cleanups = append(cleanups, done)
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("tools: %w", err)
		}
		for _, t := range tools {
			if t == nil || !sourceToolAllowed(t.Spec().Name, s.tools) {
				continue
			}
			if err := ts.add(t); err != nil {
				// One broken tool of a server should not sink the run;
				// the model simply does not see it.
				em.warn("tool not offered: %v", err)
			}
		}
	}
	for _, name := range s.tools {
		if _, ok := ts.byName[name]; !ok && !isBuiltinTool(name) {
			em.warn("tool %q is allowed but no tool source offered it", name)
		}
	}
	return ts, cleanup, nil
}

// childEnviron returns this process's environment without the API key's
// variable and the redacted variables, for the programs run_command starts:
// a program has no business reading them, and its output could show them.
func childEnviron(keyEnv string, redactEnv []string) []string {
	return llm.EnvWithoutKeys(os.Environ(), append([]string{keyEnv}, redactEnv...)...)
}
