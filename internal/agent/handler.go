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
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
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
}

// Validate checks a task's input at submit, including what depends on the
// config: the provider must be known and a model must be set somewhere. It
// does not check the API key, which only the runner's environment holds.
func (h *Handler) Validate(input json.RawMessage) error {
	in, err := decodeInput(input)
	if err != nil {
		return err
	}
	return checkProvider(h.Config.resolve(in))
}

// Run runs one agent task until the model answers or something stops it.
//
// On success it returns the Result as JSON and a nil error. Otherwise it
// returns a *RunError and still a Result, with an empty answer, the reason
// and the usage so far, for the runner to store beside the error. Secrets
// (the API key and the Config.RedactEnv values) are redacted from both and
// from every event.
func (h *Handler) Run(ctx context.Context, input json.RawMessage, ev Events) (json.RawMessage, error) {
	getenv := h.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// The redacted variables are known before the input is, so that even
	// an invalid-input error cannot echo one of them.
	var secrets []string
	for _, name := range h.Config.RedactEnv {
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
	env := builtinEnv{cfg: h.Config, now: h.Now, childEnv: childEnviron(keyEnv, h.Config.RedactEnv)}
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
	}
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
	for _, src := range h.ToolSources {
		tools, done, err := src.Tools(ctx, srcIn)
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
	hidden := append([]string{keyEnv}, redactEnv...)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(hidden, name) {
			env = append(env, kv)
		}
	}
	return env
}
