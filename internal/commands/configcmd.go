package commands

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
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
environment variable, config file, or default). Secrets are redacted;
API keys are read from the environment only and never shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runConfig(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
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
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, map[string]any{"file": c.File(), "settings": settings})
	}
	if c.File() != "" {
		fmt.Fprintf(o.F.IO.ErrOut, "config file: %s\n", c.File())
	}
	tp := newTablePrinter(o.F.IO, "Key", "Value", "Source")
	for _, s := range settings {
		tp.Row(s.Key, s.Value, s.Source)
	}
	return tp.Render()
}
