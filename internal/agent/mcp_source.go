package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/mcp"
)

// Bounds on what a server's stderr may put in the event log: a chatty or
// broken server must not fill the database.
const (
	// maxStderrLine is the longest line logged; longer lines are logged in
	// pieces of this size.
	maxStderrLine = 4 << 10
	// maxStderrLines is how many lines of one server are logged per run;
	// past it, one warning says that the rest was dropped.
	maxStderrLines = 1000
)

// maxToolNameLen is the longest tool name the providers accept (OpenAI and
// Anthropic both stop at 64 characters).
const maxToolNameLen = 64

// secretEnvKey matches the names of environment variables and headers whose
// values are taken for secrets when they come from a ${VAR} reference.
var secretEnvKey = regexp.MustCompile(`(?i)token|secret|key|passw|credential|auth|cookie`)

// mcpSource is the ToolSource of the MCP servers a task names. Each run
// starts its own session with each server, and its cleanup closes them all.
type mcpSource struct {
	servers map[string]mcp.ServerConfig
	lookup  func(string) (string, bool)
	opts    mcp.Options
}

// newMCPSource returns the source for the configured servers. lookup reads
// the runner's environment for ${VAR} expansion; nil means os.LookupEnv.
func newMCPSource(servers map[string]mcp.ServerConfig, lookup func(string) (string, bool), opts mcp.Options) *mcpSource {
	return &mcpSource{servers: servers, lookup: lookup, opts: opts}
}

// unknownServerError names a server that is not configured, and the ones
// that are.
func unknownServerError(name, where string, servers map[string]mcp.ServerConfig) error {
	return fmt.Errorf("unknown MCP server %q in %s (configured servers: %s)", name, where, mcp.Names(servers))
}

// serverRun is one server's part of a run: its session, once started, and
// the log of its stderr.
type serverRun struct {
	name     string
	cfg      mcp.ServerConfig
	sess     *mcp.Session
	stderr   *stderrLog
	tools    []Tool
	err      error
	warnings []string
}

// Tools starts the servers the input names, all at once, lists their tools
// and offers them as SERVER__TOOL. A required server that fails ends the
// run with its error; an optional one is reported in a warning event and
// left out. The cleanup closes every session and must be called even when
// an error is returned.
func (m *mcpSource) Tools(ctx context.Context, in Input, ev Events) ([]Tool, func(), error) {
	var runs []*serverRun
	for _, name := range in.MCPServers {
		if slices.ContainsFunc(runs, func(r *serverRun) bool { return r.name == name }) {
			continue
		}
		cfg, ok := m.servers[name]
		if !ok {
			return nil, nil, unknownServerError(name, `"mcp_servers"`, m.servers)
		}
		if !cfg.IsEnabled() {
			ev.Emit(EventWarning, WarningEvent{Message: fmt.Sprintf(
				"mcp server %q is disabled in the config (enabled: false); going on without its tools", name)})
			continue
		}
		runs = append(runs, &serverRun{name: name, cfg: cfg})
	}
	if len(runs) == 0 {
		return nil, nil, nil
	}
	cleanup := func() { closeServers(runs, ev) }

	// A required server that fails makes the others' starts pointless, so
	// it cancels them; they are closed by the cleanup like any other.
	startCtx, cancelStarts := context.WithCancel(ctx)
	defer cancelStarts()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			m.start(startCtx, r, ev)
			if r.err != nil && !r.cfg.Optional {
				cancelStarts()
			}
		})
	}
	wg.Wait()

	var tools []Tool
	var failed error
	for _, r := range runs {
		for _, w := range r.warnings {
			ev.Emit(EventWarning, WarningEvent{Message: w})
		}
		switch {
		case r.err == nil:
			tools = append(tools, r.tools...)
		case r.cfg.Optional:
			// A start that was cancelled says nothing about the server.
			if !errors.Is(r.err, context.Canceled) {
				ev.Emit(EventWarning, WarningEvent{Message: fmt.Sprintf(
					"optional %v; going on without its tools", r.err)})
			}
		case failed == nil || errors.Is(failed, context.Canceled):
			// The first server that failed by itself is the one to name,
			// not one whose start it cancelled.
			failed = r.err
		}
	}
	if failed != nil {
		return nil, cleanup, failed
	}
	return tools, cleanup, nil
}

// start expands, starts and lists one server, recording the outcome in r.
// Errors name the server.
func (m *mcpSource) start(ctx context.Context, r *serverRun, ev Events) {
	cfg, err := r.cfg.Expand(r.name, m.lookup)
	if err != nil {
		r.err = err
		return
	}
	red := newRedactor(secretValues(r.cfg, cfg)...)
	opts := m.opts
	if cfg.Transport() == mcp.TransportStdio {
		r.stderr = &stderrLog{server: r.name, ev: ev, red: red}
		opts.Stderr = mcp.NewTailBuffer(maxStderrLine).OnLine(r.stderr.line)
	}
	sess, err := mcp.Start(ctx, r.name, cfg, opts)
	if err != nil {
		r.err = errors.New(red.String(err.Error()))
		if ctx.Err() != nil {
			r.err = fmt.Errorf("%w: %w", r.err, context.Canceled)
		}
		return
	}
	r.sess = sess
	listed, err := sess.Tools(ctx)
	if err != nil {
		r.err = errors.New(red.String(err.Error()))
		return
	}
	offered := map[string]bool{}
	for _, t := range listed {
		offered[t.Name] = true
		// The config's tools list, when it has one, is the whole of what
		// the model may see of this server: a read-only job is never
		// offered write_file, even by a task that names it.
		if !cfg.AllowsTool(t.Name) {
			continue
		}
		name := mcp.ToolName(r.name, t.Name)
		if !mcpToolName.MatchString(name) || len(name) > maxToolNameLen {
			r.warnings = append(r.warnings, fmt.Sprintf(
				"mcp server %q: tool %q not offered: models accept tool names of at most %d letters, digits, '_' and '-', and %q is not one",
				r.name, t.Name, maxToolNameLen, name))
			continue
		}
		r.tools = append(r.tools, &mcpTool{
			sess: sess, tool: t.Name, red: red,
			spec: llm.ToolSpec{Name: name, Description: t.Description, Schema: t.InputSchema},
		})
	}
	has := "none"
	if len(offered) > 0 {
		has = strings.Join(slices.Sorted(maps.Keys(offered)), ", ")
	}
	for _, t := range cfg.Tools {
		if !offered[t] {
			r.warnings = append(r.warnings, fmt.Sprintf(
				"mcp server %q: tools lists %q, which the server does not offer (its tools: %s)",
				r.name, t, has))
		}
	}
}

// closeServers closes every started session at once, so that shutdown
// takes as long as the slowest server rather than the sum of them, and
// then stops their stderr from reaching the events: the run is over.
func closeServers(runs []*serverRun, ev Events) {
	var wg sync.WaitGroup
	for _, r := range runs {
		if r.sess == nil {
			continue
		}
		wg.Go(func() {
			if err := r.sess.Close(); err != nil {
				ev.Emit(EventWarning, WarningEvent{Message: err.Error()})
			}
		})
	}
	wg.Wait()
	for _, r := range runs {
		if r.stderr != nil {
			r.stderr.stop()
		}
	}
}

// secretValues returns the values a server must not leak into events or to
// the model: every header value and the value of every environment variable
// whose name looks secret, when it came from a ${VAR} reference. Literal
// values are left alone; they are in the config file for anyone to read.
func secretValues(raw, expanded mcp.ServerConfig) []string {
	var out []string
	for k, v := range raw.Headers {
		if strings.Contains(v, "${") {
			out = append(out, expanded.Headers[k])
		}
	}
	for k, v := range raw.Env {
		if strings.Contains(v, "${") && secretEnvKey.MatchString(k) {
			out = append(out, expanded.Env[k])
		}
	}
	return out
}

// stderrLog turns a server's stderr lines into events, up to
// maxStderrLines, and drops them once the run is over.
type stderrLog struct {
	server string
	ev     Events
	red    redactor

	mu      sync.Mutex
	lines   int
	stopped bool
}

// line logs one line of stderr. It runs on the goroutine that copies the
// server's stderr, never on the run's.
func (l *stderrLog) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.lines++
	switch {
	case l.lines <= maxStderrLines:
		l.ev.Emit(EventMCPStderr, MCPStderrEvent{Server: l.server, Line: l.red.String(s)})
	case l.lines == maxStderrLines+1:
		l.ev.Emit(EventWarning, WarningEvent{Message: fmt.Sprintf(
			"mcp server %q wrote more than %d lines to stderr; the rest is not logged", l.server, maxStderrLines)})
	}
}

// stop drops every later line.
func (l *stderrLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
}

// mcpTool is one tool of a server, offered to the model as SERVER__TOOL.
type mcpTool struct {
	sess *mcp.Session
	tool string // the tool's name on the server
	spec llm.ToolSpec
	red  redactor // the server's own secrets
}

// Spec describes the tool with the server's description and JSON Schema.
func (t *mcpTool) Spec() llm.ToolSpec { return t.spec }

// Call calls the tool on the server. A result the server flagged isError
// becomes a *ToolError, which the model reads as an error result. A failed
// call (the server died, timed out or refused the request) is returned as
// a plain error: the model reads it as an error result too, and the run
// adds a warning event, because it points at the server, not the model.
func (t *mcpTool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	res, err := t.sess.Call(ctx, t.tool, args)
	if err != nil {
		return "", errors.New(t.red.String(err.Error()))
	}
	text := t.red.String(res.Text)
	if res.IsError {
		if strings.TrimSpace(text) == "" {
			text = "the tool reported an error without a message"
		}
		return "", &ToolError{Message: text}
	}
	return text, nil
}

// BuiltinTool describes a built-in tool for `opsctl tools`: what the model
// is told about it, and the limits cfg puts on it.
type BuiltinTool struct {
	Spec llm.ToolSpec
	// Bounds says what the tool may reach and how much it may return or
	// take, under cfg.
	Bounds string
	// Default is set when cfg.Tools offers the tool to tasks that name no
	// tools of their own.
	Default bool
}

// BuiltinTools lists the built-in tools in offering order, as a run with
// cfg would offer them. (It lives here, beside the other tool source,
// because the tools' limits are unexported.)
func BuiltinTools(cfg Config) []BuiltinTool {
	env := builtinEnv{cfg: cfg, now: time.Now}
	var out []BuiltinTool
	for _, name := range builtinToolNames() {
		bt := BuiltinTool{Spec: newBuiltinTool(name, env).Spec(), Default: slices.Contains(cfg.Tools, name)}
		switch name {
		case ToolCurrentTime:
			bt.Bounds = "none needed"
		case ToolHTTPGet:
			maxBytes := cfg.HTTPMaxBytes
			if maxBytes <= 0 {
				maxBytes = defaultHTTPMaxBytes
			}
			hosts := "any host (agent.http_allow_hosts is empty)"
			if len(cfg.HTTPAllowHosts) > 0 {
				hosts = "hosts " + strings.Join(cfg.HTTPAllowHosts, ", ")
			}
			bt.Bounds = fmt.Sprintf("%s, %s; %s", sizeText(maxBytes), httpGetTimeout, hosts)
		case ToolReadFile:
			bt.Bounds = "nothing: agent.read_file_dirs is empty"
			if len(cfg.ReadFileDirs) > 0 {
				bt.Bounds = fmt.Sprintf("files under %s; %s", strings.Join(cfg.ReadFileDirs, ", "), sizeText(readFileMaxBytes))
			}
		case ToolRunCommand:
			bt.Bounds = "nothing: agent.run_command_allow is empty"
			if len(cfg.RunCommandAllow) > 0 {
				bt.Bounds = fmt.Sprintf("programs %s; %s output, %s", strings.Join(cfg.RunCommandAllow, ", "), sizeText(runCommandMaxOutput), runCommandTimeout)
			}
		case ToolSearchTasks:
			bt.Bounds = fmt.Sprintf("finished tasks of this database; at most %d", searchTasksMax)
		}
		out = append(out, bt)
	}
	return out
}

// sizeText writes a byte count as KiB when it is whole KiB.
func sizeText(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
