package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/config"
	"github.com/opsctl/opsctl/internal/mcp"
	"github.com/opsctl/opsctl/internal/taskio"
)

// MCPOptions are the flags and arguments of the `opsctl mcp` commands.
type MCPOptions struct {
	F      *Factory
	Output string
	// Server and Tool are the SERVER and TOOL arguments.
	Server string
	Tool   string
	// Args is --args: a JSON object, @file or - (stdin); empty means none.
	Args string
}

func newMCPCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "List, inspect and try the configured MCP servers",
		Example: `  opsctl mcp list
  opsctl mcp tools files
  opsctl mcp call files read_file --args '{"path":"/etc/hostname"}'`,
		Long: `Debug the MCP servers configured under mcp_servers in the config file:
list them, start one and list its tools, or call one tool by hand. A server
started here gets the same environment as in an agent task: ${VAR} references
expanded from this environment, and PATH, HOME, LANG and TMPDIR besides what
its env declares. Its stderr is shown on stderr, each line prefixed with its
name.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newMCPListCmd(f, nil), newMCPToolsCmd(f, nil), newMCPCallCmd(f, nil))
	return cmd
}

func newMCPListCmd(f *Factory, runF func(context.Context, *MCPOptions) error) *cobra.Command {
	opts := &MCPOptions{F: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the configured MCP servers without starting them",
		Example: `  opsctl mcp list
  opsctl mcp list -o json | jq -r '.[] | select(.enabled) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMCPList(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

func newMCPToolsCmd(f *Factory, runF func(context.Context, *MCPOptions) error) *cobra.Command {
	opts := &MCPOptions{F: f}
	cmd := &cobra.Command{
		Use:   "tools SERVER",
		Short: "Start an MCP server and list its tools",
		Long: `Start an MCP server, list its tools (name, description and arguments,
required ones marked *, sorted by name) and stop it; -o json gives the full
input schemas. Agent tasks offer these tools to the model as SERVER__TOOL
(only those in the server's tools: list, when the config has one). The
server's stderr is shown with -v, else only when something fails.`,
		Example: `  opsctl mcp tools files
  opsctl mcp tools files -o json | jq '.[].name'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeMCPServers(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMCPTools(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	addMCPVerboseFlag(cmd)
	return cmd
}

func newMCPCallCmd(f *Factory, runF func(context.Context, *MCPOptions) error) *cobra.Command {
	opts := &MCPOptions{F: f}
	cmd := &cobra.Command{
		Use:   "call SERVER TOOL",
		Short: "Start an MCP server, call one tool and print the result",
		Long: `Start an MCP server, call one of its tools with --args and print the
result's text on stdout (content that is not text is summarised, as the model
would see it). Exit code 1 when the tool reports an error (the text is still
printed) or the call fails; 2 for an unknown server or bad --args.`,
		Example: `  opsctl mcp call github search_issues --args '{"query":"is:open label:bug"}'
  opsctl mcp call files read --args @args.json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeMCPServers(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Server, opts.Tool = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMCPCall(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Args, "args", "", "the tool's arguments: a JSON object, @file or - for stdin (default none)")
	addMCPVerboseFlag(cmd)
	return cmd
}

// mcpServerJSON is the stable JSON shape of a configured MCP server, for
// `mcp list -o json` and `config -o json`. Environment and header values
// are redacted; durations are Go durations ("30s"), empty when not set.
type mcpServerJSON struct {
	Name         string            `json:"name"`
	Transport    string            `json:"transport"`
	Enabled      bool              `json:"enabled"`
	Optional     bool              `json:"optional"`
	Command      string            `json:"command,omitempty"`
	Args         []string          `json:"args,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Dir          string            `json:"dir,omitempty"`
	URL          string            `json:"url,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Timeout      string            `json:"timeout,omitempty"`
	StartTimeout string            `json:"start_timeout,omitempty"`
}

// mcpServersJSON lists the servers, redacted, sorted by name.
func mcpServersJSON(c *config.Config) []mcpServerJSON {
	servers := c.MCPServersRedacted()
	list := make([]mcpServerJSON, 0, len(servers))
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		sc := servers[name]
		list = append(list, mcpServerJSON{
			Name: name, Transport: sc.Transport(), Enabled: sc.IsEnabled(), Optional: sc.Optional,
			Command: sc.Command, Args: sc.Args, Env: sc.Env, Dir: sc.Dir, URL: sc.URL, Headers: sc.Headers,
			Timeout: durationOrEmpty(sc.Timeout), StartTimeout: durationOrEmpty(sc.StartTimeout),
		})
	}
	return list
}

func durationOrEmpty(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func runMCPList(_ context.Context, o *MCPOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	list := mcpServersJSON(c)
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(o.F.IO.ErrOut, "no MCP servers configured (see mcp_servers in the config file)")
		return nil
	}
	tp := newTablePrinter(o.F.IO, "Name", "Transport", "Enabled", "Target").Flex(3)
	for _, s := range list {
		target := s.URL
		if s.Transport == mcp.TransportStdio {
			target = strings.Join(append([]string{s.Command}, s.Args...), " ")
		}
		tp.Row(s.Name, s.Transport, fmt.Sprint(s.Enabled), target)
	}
	return tp.Render()
}

func runMCPTools(ctx context.Context, o *MCPOptions) (err error) {
	if err := o.F.hideKeys(); err != nil {
		return err
	}
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	log := newMCPStderr(o.Server, o.F.IO.ErrOut, mcpVerbose(ctx))
	sess, _, err := startConfiguredMCP(ctx, o.F, o.Server, log)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && exitCode(err) != ExitUsage {
			log.show() // what the server said before it failed
		}
	}()
	defer closeMCPServer(sess, &err)
	tools, err := sess.Tools(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(tools, func(a, b mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
	if o.Output == formatJSON {
		if tools == nil {
			tools = []mcp.Tool{}
		}
		return writeJSON(o.F.IO.Out, tools)
	}
	// A summary: the full schemas are for -o json. On a terminal the
	// description and the arguments give way when the window is narrow.
	tp := newTablePrinter(o.F.IO, "Name", "Description", "Arguments").Flex(1, 2)
	for _, t := range tools {
		tp.Row(t.Name, t.Description, schemaArgs(t.InputSchema))
	}
	return tp.Render()
}

func runMCPCall(ctx context.Context, o *MCPOptions) (err error) {
	if err := o.F.hideKeys(); err != nil {
		return err
	}
	var args json.RawMessage
	if o.Args != "" {
		raw, err := readArg("--args", o.Args, o.F.IO.In)
		if err != nil {
			return err
		}
		if args, err = taskio.ParseObject("--args", raw); err != nil {
			return usageErr(err)
		}
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	// A tool the config's tools list leaves out is refused before the
	// server is started.
	if cfg, ok := c.MCPServers[o.Server]; ok && !cfg.AllowsTool(o.Tool) {
		return usageErrorf("tool %q is not allowed on server %q (allowed tools: %s)", o.Tool, o.Server, strings.Join(cfg.Tools, ", "))
	}
	// The server's stderr is kept, and shown only if the call fails (or
	// as it comes, with -v).
	log := newMCPStderr(o.Server, o.F.IO.ErrOut, mcpVerbose(ctx))
	sess, cfg, err := startConfiguredMCP(ctx, o.F, o.Server, log)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && exitCode(err) != ExitUsage {
			log.show()
		}
	}()
	defer closeMCPServer(sess, &err)
	tools, err := sess.Tools(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range tools {
		if cfg.AllowsTool(t.Name) {
			names = append(names, t.Name)
		}
	}
	if !slices.Contains(names, o.Tool) {
		slices.Sort(names)
		return usageErrorf("unknown tool %q on server %q (tools: %s)", o.Tool, o.Server, strings.Join(names, ", "))
	}
	res, err := sess.Call(ctx, o.Tool, args)
	if err != nil {
		return err
	}
	text := res.Text
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if _, err := io.WriteString(o.F.IO.Out, text); err != nil {
		return err
	}
	if res.IsError {
		return &exitError{code: ExitError, err: fmt.Errorf("mcp server %q: tool %q reported an error", o.Server, o.Tool)}
	}
	return nil
}

// closeMCPServer stops the server and reports a failure to stop it unless
// the command already failed.
func closeMCPServer(sess *mcp.Session, err *error) {
	if cerr := sess.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// completeMCPServers offers the configured server names for the first
// argument.
func completeMCPServers(f *Factory) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := f.Config()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return slices.Sorted(maps.Keys(c.MCPServers)), cobra.ShellCompDirectiveNoFileComp
	}
}
