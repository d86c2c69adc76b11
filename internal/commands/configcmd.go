package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/config"
)

// ConfigOptions are the flags of `opsctl config`.
type ConfigOptions struct {
	F      *Factory
	Output string
}

func newConfigCmd(f *Factory, runF func(context.Context, *ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{F: f}
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration and where each value came from",
		Long: `Show the effective configuration: each value and its source (flag,
environment variable, config file, or default), then one line per MCP
server from mcp_servers. Secrets are redacted: the values of MCP servers'
env and headers are shown as [redacted]. API keys are read from the
environment only and never shown.

Precedence, highest first: a flag, an OPSCTL_* environment variable, the
config file, the built-in default. The config file is --config, else
$OPSCTL_CONFIG (either must exist, and is then the only file read), else
$XDG_CONFIG_HOME/opsctl/config.yaml (~/.config/opsctl/config.yaml) laid
over the system-wide /etc/opsctl/config.yaml; either may be absent. An MCP
server defined in both is the user's. A key no setting reads is reported
with a warning naming it (and the key it was probably meant to be).`,
		Example: `  opsctl config
  opsctl config -o json | jq -r '.settings[] | select(.source != "default") | .key'
  OPSCTL_CONFIG=/etc/opsctl/ci.yaml opsctl config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runConfig(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

func runConfig(_ context.Context, o *ConfigOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	settings := c.Settings()
	servers := mcpServersJSON(c)
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, struct {
			File       string           `json:"file"`
			Settings   []config.Setting `json:"settings"`
			MCPServers []mcpServerJSON  `json:"mcp_servers"`
			Files      []string         `json:"files"`
		}{c.File(), settings, servers, append([]string{}, c.Files()...)})
	}
	switch files := c.Files(); len(files) {
	case 0:
	case 1:
		fmt.Fprintf(o.F.IO.ErrOut, "config file: %s\n", files[0])
	default:
		fmt.Fprintf(o.F.IO.ErrOut, "config files: %s (the last wins)\n", strings.Join(files, ", "))
	}
	// One row per key. On a terminal the value and source columns give way
	// when the window is narrow (a server's config is long, and so is the
	// path of the file it came from), cut with "…"; piped, every value is
	// whole.
	tp := newTablePrinter(o.F.IO, "Key", "Value", "Source").Flex(1, 2)
	for _, s := range settings {
		tp.Row(s.Key, s.Value, s.Source)
	}
	// One row per MCP server, its whole (redacted) config as compact JSON:
	// servers come from the file only, so that is their source.
	for _, s := range servers {
		tp.Row("mcp_servers."+s.Name, marshalJSON(s), "file "+c.MCPServerFile(s.Name))
	}
	return tp.Render()
}
