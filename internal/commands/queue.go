package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/config"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// QueueOptions are the flags of `opsctl queue` and its subcommands.
type QueueOptions struct {
	F      *Factory
	Name   string
	Output string
}

func newQueueCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List queues with their limits; pause and resume a queue",
		Long: `A queue is a name tasks carry (submit --queue, default "default").
The config's queues: section gives a queue a concurrency limit, the most of
its tasks running at once across every runner on the database:

  queues:
    deploy: {concurrency: 1}

Every runner applies the limits of its own config, so give the runners
of one database the same queues: section.

'opsctl queue pause NAME' stops every runner on the database from starting
the queue's tasks, at once and without restarting them; tasks already
running go on. 'resume' lets them start again.`,
		Example: `  opsctl queue list
  opsctl queue pause deploy
  opsctl queue resume deploy`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newQueueListCmd(f), newQueuePauseCmd(f, true), newQueuePauseCmd(f, false))
	return cmd
}

func newQueueListCmd(f *Factory) *cobra.Command {
	opts := &QueueOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List queues: pending, running and failed tasks, limit, paused",
		Long: `List every queue that has tasks, has been paused, or is in the config's
queues: section: its pending, running and failed tasks, its concurrency
limit ("-" for none) and whether it is paused: "yes" (in the database, for
every runner), "config" (by this config's queues: section, for the runners
that use it) or "yes, config".

Piped: tab-separated rows without a header. -o json has every status's
count and the pause's time.`,
		Example: `  opsctl queue list
  opsctl queue list -o json | jq -r '.[] | select(.paused) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runQueueList(cmd.Context(), opts) },
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

// queueListView is one queue in `queue list -o json`. Field names are
// stable. concurrency is null when the queue has no limit.
type queueListView struct {
	Name string `json:"name"`
	statusCounts
	Concurrency  *int       `json:"concurrency"`
	Paused       bool       `json:"paused"`
	PausedAt     *time.Time `json:"paused_at"`
	ConfigPaused bool       `json:"config_paused"`
}

// queueViews joins the database's queues and the config's, by name.
func queueViews(qs []db.QueueInfo, c *config.Config) []queueListView {
	byName := map[string]*queueListView{}
	for _, q := range qs {
		v := &queueListView{Name: q.Name, Paused: q.Paused, PausedAt: optUTC(q.PausedAt)}
		for st, n := range q.Counts {
			v.add(st, n)
		}
		byName[q.Name] = v
	}
	for name, l := range c.QueueLimits() {
		v, ok := byName[name]
		if !ok {
			v = &queueListView{Name: name}
			byName[name] = v
		}
		if l.Concurrency > 0 {
			n := l.Concurrency
			v.Concurrency = &n
		}
		v.ConfigPaused = l.Paused
	}
	out := make([]queueListView, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out
}

func runQueueList(ctx context.Context, o *QueueOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	qs, err := s.Queues(ctx)
	if err != nil {
		return err
	}
	vs := queueViews(qs, c)
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, vs)
	}
	if len(vs) == 0 {
		fmt.Fprintln(o.F.IO.ErrOut, "no queues (a queue appears with its first task)")
		return nil
	}
	tp := newTablePrinter(o.F.IO, "queue", "pending", "running", "failed", "limit", "paused").Flex(0)
	for _, v := range vs {
		limit := "-"
		if v.Concurrency != nil {
			limit = strconv.Itoa(*v.Concurrency)
		}
		var paused []string
		if v.Paused {
			paused = append(paused, "yes")
		}
		if v.ConfigPaused {
			paused = append(paused, "config")
		}
		if len(paused) == 0 {
			paused = []string{"no"}
		}
		tp.Row(v.Name, strconv.FormatInt(v.Pending, 10), strconv.FormatInt(v.Running, 10),
			strconv.FormatInt(v.Failed, 10), limit, strings.Join(paused, ", "))
	}
	return tp.Render()
}

func newQueuePauseCmd(f *Factory, pause bool) *cobra.Command {
	opts := &QueueOptions{F: f}
	cmd := &cobra.Command{
		Use:   "pause NAME",
		Short: "Stop every runner from starting the queue's tasks (running ones go on)",
		Long: `Pause a queue in the database: every runner on it, on any host, stops
starting the queue's tasks at its next claim, without a restart. Tasks
already running go on; tasks can still be submitted to it. The queue must
have tasks or be in the config's queues: section (list it there to pause it
before its first task); an unknown name is exit 3, so that a typo is not
paused in silence.`,
		Example:           `  opsctl queue pause deploy`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeQueueArg(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runQueuePause(cmd.Context(), opts, pause)
		},
	}
	if !pause {
		cmd.Use = "resume NAME"
		cmd.Short = "Let runners start a paused queue's tasks again"
		cmd.Long = `Resume a queue paused with 'opsctl queue pause': runners start its tasks
again at their next claim. A queue paused in a runner's config (paused:
true under queues:) stays paused for the runners that use that config.`
		cmd.Example = `  opsctl queue resume deploy`
	}
	return cmd
}

func runQueuePause(ctx context.Context, o *QueueOptions, pause bool) error {
	if o.Name == "" {
		return usageErrorf("the queue name must not be empty")
	}
	if err := taskio.CheckLabel("the queue name", o.Name); err != nil {
		return usageErr(err)
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	qs, err := s.Queues(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(qs, func(q db.QueueInfo) bool { return q.Name == o.Name })
	if _, inConfig := c.Queues[o.Name]; i < 0 && !inConfig {
		return &exitError{code: ExitNotFound, err: fmt.Errorf("no queue %q: no task has it and the config's queues: section does not list it (list it there to pause it before its first task)", o.Name)}
	}
	errOut := o.F.IO.ErrOut
	if !pause {
		changed, err := s.ResumeQueue(ctx, o.Name)
		if err != nil {
			return err
		}
		if changed {
			fmt.Fprintf(errOut, "queue %s resumed\n", o.Name)
		} else {
			fmt.Fprintf(errOut, "queue %s is not paused\n", o.Name)
		}
		if c.Queues[o.Name].Paused {
			fmt.Fprintf(errOut, "note: %s pauses queue %s too: the runners that use it still leave it alone\n", c.QueueFile(o.Name), o.Name)
		}
		return nil
	}
	changed, err := s.PauseQueue(ctx, o.Name)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(errOut, "queue %s is paused already\n", o.Name)
		return nil
	}
	running := int64(0)
	if i >= 0 {
		running = qs[i].Counts[db.StatusRunning]
	}
	fmt.Fprintf(errOut, "queue %s paused: no runner starts its tasks until 'opsctl queue resume %s'", o.Name, o.Name)
	if running > 0 {
		fmt.Fprintf(errOut, "; %d running go on", running)
	}
	fmt.Fprintln(errOut)
	return nil
}

// completeQueueArg completes the NAME of pause and resume with the
// queues of the newest tasks, as --queue does.
func completeQueueArg(f *Factory) cobra.CompletionFunc {
	queues := completeQueues(f)
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return queues(cmd, args, prefix)
	}
}
