// Package commands is opsctl's command-line interface: one file per
// command, each turning flags into an options struct and calling a run
// function that does the work.
package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/runner"
)

// Main runs opsctl with the process's arguments and streams and returns the
// exit code.
func Main() int {
	if runner.IsSupervisor() {
		return runner.Supervise()
	}
	// Tasks run as this user: keep them out of this process's memory and
	// environment (see runner.Undumpable, runner.HideKeys).
	runner.Undumpable()
	if err := runner.RestoreKeys(); err != nil {
		fmt.Fprintf(os.Stderr, "opsctl: %v\n", err)
		return ExitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &Factory{
		IO:     SystemIO(os.Getenv),
		Getenv: os.Getenv,
		Now:    time.Now,
		// HideKeys re-executes this process.
		HideKeys: runner.HideKeys,
	}
	f.Registry = newRegistry(f)
	return Run(ctx, f, os.Args[1:])
}

// Run executes one command line and returns its exit code. Errors are
// printed here, once, as one line on stderr.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	// cobra's completion command takes its output stream when it is made,
	// so it is made here, after SetOut, to give it an example.
	root.InitDefaultCompletionCmd(args...)
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.GroupID = "commands"
			c.Example = `  opsctl completion bash > /etc/bash_completion.d/opsctl   # needs the bash-completion package
  opsctl completion zsh > "${fpath[1]}/_opsctl"
  opsctl completion fish > ~/.config/fish/completions/opsctl.fish`
		}
	}
	cmd, err := root.ExecuteContextC(ctx)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		return ExitOK
	}
	if ue := (*exitError)(nil); !errors.As(err, &ue) && isCobraUsage(err) {
		err = cobraUsage(cmd, err)
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(f.IO.ErrOut, "opsctl: interrupted")
		return ExitInterrupted
	}
	code := exitCode(err)
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != nil {
		msg := oneLine(err.Error())
		if ee != nil && ee.code == ExitUsage && strings.Contains(err.Error(), "\nSee '") {
			msg = err.Error() // cobra's own usage errors keep their lines
		}
		fmt.Fprintf(f.IO.ErrOut, "opsctl: %s\n", msg)
		if h := hint(err); h != "" {
			fmt.Fprintln(f.IO.ErrOut, h)
		}
	}
	return code
}

// isCobraUsage recognises the argument errors cobra makes itself.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// oneLine keeps an error to one line for the terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "opsctl",
		Short: "Run and follow operations tasks: shell commands and LLM agents, kept in one SQLite file",
		Long: `opsctl keeps tasks in one SQLite file and runs them in process: shell
commands and LLM agent tasks with tools. Submit tasks from a terminal, a
script or cron; run them with 'opsctl run'; follow them with 'opsctl logs -f'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return cobraUsage(c, err) })
	pf := root.PersistentFlags()
	pf.StringVar(&f.configFile, "config", "", "config file (default $XDG_CONFIG_HOME/opsctl/config.yaml)")
	pf.String("db", "", "database file or postgres:// URL (default $XDG_DATA_HOME/opsctl/opsctl.db; env OPSCTL_DB)")
	f.bindFlag("db", pf.Lookup("db"))
	pf.Bool("db-poll-only", false, "PostgreSQL: poll, never LISTEN (behind PgBouncer in transaction mode)")
	f.bindFlag("db_poll_only", pf.Lookup("db-poll-only"))
	root.SetVersionTemplate("opsctl {{.Version}}\n")

	root.AddGroup(&cobra.Group{ID: "commands", Title: "Commands:"}, &cobra.Group{ID: "topics", Title: "Help topics:"})
	root.SetHelpCommandGroupID("commands")
	root.SetCompletionCommandGroupID("commands")
	root.AddCommand(
		newSubmitCmd(f, nil),
		newListCmd(f, nil),
		newShowCmd(f, nil),
		newCancelCmd(f, nil),
		newRetryCmd(f, nil),
		newPruneCmd(f, nil),
		newMigrateCmd(f),
		newDBCmd(f),
		newConfigCmd(f, nil),
		newVersionCmd(f),
		newRunCmd(f),
		newWaitCmd(f),
		newStatusCmd(f),
		newStatsCmd(f, nil),
		newLogsCmd(f),
		newBenchCmd(f),
		newMCPCmd(f),
		newResultCmd(f),
		newToolsCmd(f),
		newServeCmd(f),
		newTokenCmd(f),
		newSearchCmd(f, nil),
		newQueueCmd(f),
		newNotifyCmd(f),
		newApprovalsCmd(f),
		newApproveCmd(f),
		newDenyCmd(f),
		newScheduleCmd(f),
		newHelpTopic("exit-codes", "Exit codes and what they mean", exitCodesHelp),
		newHelpTopic("environment", "Environment variables opsctl reads", environmentHelp),
		newHelpTopic("agent", "Agent task input fields and the submit flags that set them", agentHelp),
	)
	for _, c := range root.Commands() {
		c.GroupID = "commands"
		if c.Annotations["helpTopic"] == "true" {
			c.GroupID = "topics"
		}
	}
	return root
}

// newHelpTopic is a command that only carries text for `opsctl help NAME`.
func newHelpTopic(name, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:    name,
		Short:  short,
		Long:   long,
		Hidden: false,
		Annotations: map[string]string{
			"helpTopic": "true",
		},
		Run: func(cmd *cobra.Command, _ []string) { fmt.Fprint(cmd.OutOrStdout(), long) },
	}
}

const environmentHelp = `opsctl reads these environment variables:

  OPSCTL_DB            database file or postgres:// URL (flag --db wins;
                       default $XDG_DATA_HOME/opsctl/opsctl.db)
  OPSCTL_DB_POLL_ONLY  true: PostgreSQL runners poll, never LISTEN (PgBouncer)
  PGHOST, PGUSER, PGPASSWORD, ...
                       PostgreSQL connection defaults, as psql reads them
  OPSCTL_AUTO_MIGRATE  false: do not upgrade an older database on first use
  OPSCTL_RUNNER_*      runner settings, e.g. OPSCTL_RUNNER_WORKERS, OPSCTL_RUNNER_LEASE
  OPSCTL_AGENT_*       agent defaults, e.g. OPSCTL_AGENT_PROVIDER, OPSCTL_AGENT_MODEL
  XDG_CONFIG_HOME      where config.yaml is looked for
  XDG_DATA_HOME        where the database lives by default
  NO_COLOR             turn colours off
  OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENROUTER_API_KEY, GEMINI_API_KEY
                       provider keys for agent tasks; read from the
                       environment only, never stored

Precedence: flag > environment > config file > default. 'opsctl config'
shows each effective value and where it came from.
`
