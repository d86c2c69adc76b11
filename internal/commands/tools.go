package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/mcp"
	"github.com/opsctl/opsctl/internal/runner"
)

// ToolsOptions are the flags of `opsctl tools`.
type ToolsOptions struct {
	F      *Factory
	Output string
}

func newToolsCmd(f *Factory) *cobra.Command {
	opts := &ToolsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "tools",
		Short: "List the tools agent tasks can use: built-in ones and those of the MCP servers",
		Example: `  opsctl tools
  opsctl tools -o json | jq -r '.[] | select(.source == "mcp") | .name'`,
		Long: `List the tools an agent task can name in its "tools": the built-in tools,
with the bounds the config puts on them, and the tools of every enabled MCP
server, offered as SERVER__TOOL (each server is started, listed and
stopped; a server's tools list in the config leaves the others out). A
server that cannot be started is reported on stderr, the others are still
listed, and the exit code is 1.

A server's stderr is shown, each line prefixed with its name, with -v, and
otherwise only when it fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTools(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", completeFormats(formatTable, formatJSON))
	addMCPVerboseFlag(cmd)
	return cmd
}

// toolJSON is the stable JSON shape of one tool in `opsctl tools -o json`.
type toolJSON struct {
	// Name is what a task's "tools" names: the built-in name, or
	// SERVER__TOOL.
	Name string `json:"name"`
	// Source is "builtin" or "mcp".
	Source string `json:"source"`
	// Server and Tool are the MCP server and the tool's own name on it.
	Server      string `json:"server,omitempty"`
	Tool        string `json:"tool,omitempty"`
	Description string `json:"description"`
	Bounds      string `json:"bounds"`
	// Default is set when a task that names no tools (or no MCP servers)
	// is offered this one: agent.tools, agent.mcp_servers.
	Default     bool            `json:"default"`
	InputSchema json.RawMessage `json:"input_schema"`
}

func runTools(ctx context.Context, o *ToolsOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	if err := o.F.hideKeys(); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	var list []toolJSON
	for _, bt := range agent.BuiltinTools(c.Agent) {
		list = append(list, toolJSON{
			Name: bt.Spec.Name, Source: "builtin", Description: bt.Spec.Description,
			Bounds: bt.Bounds, Default: bt.Default, InputSchema: bt.Spec.Schema,
		})
	}

	// Every enabled server at once, so that the listing takes as long as
	// the slowest server, not the sum of them.
	type serverTools struct {
		tools []mcp.Tool
		err   error
		log   *mcpStderr
	}
	names := slices.Sorted(maps.Keys(c.MCPServers))
	results := make([]serverTools, len(names))
	// Servers started at once write to one stderr, a block at a time.
	errOut := &syncWriter{w: o.F.IO.ErrOut}
	var wg sync.WaitGroup
	for i, name := range names {
		if !c.MCPServers[name].IsEnabled() {
			fmt.Fprintf(o.F.IO.ErrOut, "note: mcp server %q is disabled in the config; not started\n", name)
			continue
		}
		results[i].log = newMCPStderr(name, errOut, mcpVerbose(ctx))
		wg.Go(func() {
			r := &results[i]
			sess, _, err := startConfiguredMCP(ctx, o.F, name, r.log)
			if err != nil {
				r.err = err
				return
			}
			r.tools, r.err = sess.Tools(ctx)
			if cerr := sess.Close(); r.err == nil {
				r.err = cerr
			}
		})
	}
	wg.Wait()
	failed := 0
	for i, name := range names {
		r := results[i]
		if r.log == nil {
			continue
		}
		if r.err != nil {
			failed++
			r.log.show()
			fmt.Fprintf(o.F.IO.ErrOut, "opsctl: %s\n", oneLine(r.err.Error()))
			continue
		}
		cfg := c.MCPServers[name]
		slices.SortFunc(r.tools, func(a, b mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = mcp.DefaultTimeout
		}
		for _, t := range r.tools {
			if !cfg.AllowsTool(t.Name) {
				continue
			}
			list = append(list, toolJSON{
				Name: mcp.ToolName(name, t.Name), Source: "mcp", Server: name, Tool: t.Name,
				Description: t.Description, Bounds: fmt.Sprintf("%s per call", timeout),
				Default: slices.Contains(c.Agent.MCPServers, name), InputSchema: t.InputSchema,
			})
		}
	}

	if o.Output == formatJSON {
		if list == nil {
			list = []toolJSON{}
		}
		if err := writeJSON(o.F.IO.Out, list); err != nil {
			return err
		}
	} else {
		tp := newTablePrinter(o.F.IO, "Name", "Source", "Bounds", "Description")
		for _, t := range list {
			source := "built-in"
			if t.Source == "mcp" {
				source = "mcp " + t.Server
			}
			tp.Row(t.Name, source, t.Bounds, t.Description)
		}
		if err := tp.Render(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return silentExit(ExitError)
	}
	return nil
}

// startConfiguredMCP starts the configured server name as an agent task
// would, expanded with this environment, and returns it with its config
// (before expansion). Its stderr goes to log. An unknown server or a
// missing variable is a usage error; when the start fails, what the server
// wrote to stderr is shown first.
func startConfiguredMCP(ctx context.Context, f *Factory, name string, log *mcpStderr) (*mcp.Session, mcp.ServerConfig, error) {
	c, err := f.Config()
	if err != nil {
		return nil, mcp.ServerConfig{}, err
	}
	cfg, ok := c.MCPServers[name]
	if !ok {
		return nil, cfg, usageErrorf("unknown MCP server %q (configured servers: %s)", name, mcp.Names(c.MCPServers))
	}
	if !cfg.IsEnabled() {
		fmt.Fprintf(f.IO.ErrOut, "note: mcp server %q is disabled in the config; agent tasks do not use it\n", name)
	}
	expanded, err := cfg.Expand(name, envLookup(f))
	if err != nil {
		return nil, cfg, usageErr(err)
	}
	sess, err := mcp.Start(ctx, name, expanded, mcp.Options{Stderr: log.writer(), ClientVersion: version(), Supervise: runner.SupervisedCommand})
	if err != nil {
		log.show()
		return nil, cfg, err
	}
	return sess, cfg, nil
}

// mcpStderrKeep is how many of a server's last stderr lines are kept to
// show when something fails.
const mcpStderrKeep = 50

// syncWriter serialises writes to w: each Write call lands whole.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// mcpStderr takes an MCP server's stderr, line by line: with verbose, each
// line is shown at once on w, prefixed with the server's name; otherwise
// the last lines are kept, for show to print when the start or the call
// fails. A server's start-up banner is not news when all goes well.
type mcpStderr struct {
	name    string
	w       io.Writer
	verbose bool

	mu      sync.Mutex
	lines   []string
	dropped int
	shown   bool
}

func newMCPStderr(name string, w io.Writer, verbose bool) *mcpStderr {
	return &mcpStderr{name: name, w: w, verbose: verbose}
}

// writer is what the server's stderr is written to. The buffer hands over
// one whole line at a time, in order.
func (l *mcpStderr) writer() io.Writer {
	return mcp.NewTailBuffer(4 << 10).OnLine(l.line)
}

func (l *mcpStderr) line(s string) {
	if l.verbose {
		fmt.Fprintf(l.w, "[%s] %s\n", l.name, s)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shown {
		return
	}
	if len(l.lines) == mcpStderrKeep {
		l.lines = append(l.lines[:0], l.lines[1:]...)
		l.dropped++
	}
	l.lines = append(l.lines, s)
}

// show prints the kept lines once (none with verbose: they were shown).
func (l *mcpStderr) show() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.verbose || l.shown {
		return
	}
	l.shown = true
	var b strings.Builder // one write, so that blocks never interleave
	if l.dropped > 0 {
		fmt.Fprintf(&b, "[%s] (%d earlier lines not shown)\n", l.name, l.dropped)
	}
	for _, s := range l.lines {
		fmt.Fprintf(&b, "[%s] %s\n", l.name, s)
	}
	io.WriteString(l.w, b.String())
}

// verboseKey marks a command's context when -v was given.
type verboseKey struct{}

// mcpVerbose reports whether -v was given to the command running with ctx.
func mcpVerbose(ctx context.Context) bool {
	v, _ := ctx.Value(verboseKey{}).(bool)
	return v
}

// addMCPVerboseFlag gives a command that starts MCP servers -v/--verbose,
// which shows the servers' stderr as it comes (see mcpStderr). The flag
// travels in the command's context, so the run function needs no field
// for it: mcpVerbose(ctx) reads it.
func addMCPVerboseFlag(cmd *cobra.Command) {
	fl := cmd.Flags().VarPF(&verboseFlag{cmd: cmd}, "verbose", "v", "show the MCP servers' stderr as it comes (otherwise only when something fails)")
	fl.NoOptDefVal = "true"
}

// verboseFlag is a boolean flag that records itself in its command's
// context when set.
type verboseFlag struct {
	cmd *cobra.Command
	on  bool
}

func (v *verboseFlag) String() string { return strconv.FormatBool(v.on) }

func (v *verboseFlag) Type() string { return "bool" }

func (v *verboseFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	v.on = b
	ctx := v.cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	v.cmd.SetContext(context.WithValue(ctx, verboseKey{}, b))
	return nil
}
