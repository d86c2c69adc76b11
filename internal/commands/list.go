package commands

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// ListOptions are the flags of `opsctl list`.
type ListOptions struct {
	F *Factory
	// limitSet says --limit was given (it does not go with --all).
	limitSet bool
	Statuses []string
	Types    []string
	Queues   []string
	Since    string
	Limit    int
	All      bool
	Output   string
	Quiet    bool
	Watch    bool
	// WatchEvery is how often --watch redraws; 0 means every 2 seconds.
	WatchEvery time.Duration
}

func newListCmd(f *Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tasks, newest first",
		Long: `List tasks, newest first.

On a terminal the table has a header, relative times and colours, and fits
the window: the name (or command) column gets what the other columns leave
and is cut with "…". A pending task that waits for a later time shows it:
"pending (in 2h)". Piped, rows are tab-separated with no header, times are
RFC 3339 and nothing is cut, so "opsctl list | cut -f4" gives whole names.
Columns: id, status, type, name, queue, created; -o wide adds priority,
attempts, started, finished, worker, error and cost (of an agent run whose
model has a price in agent.prices): piped, the cost column is always there,
a plain number of US dollars or "-"; on a terminal it is shown when a
listed task has a cost.`,
		Example: `  opsctl list --status failed --since 24h
  opsctl list -q --status failed | xargs -r opsctl retry
  opsctl list --watch --status running,pending
  opsctl list -o jsonl --all | jq -r 'select(.attempts > 1) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&opts.Statuses, "status", "s", nil, "only these statuses (repeatable or comma-separated)")
	fl.StringSliceVar(&opts.Types, "type", nil, "only these task types")
	fl.StringSliceVar(&opts.Queues, "queue", nil, "only these queues")
	fl.StringVar(&opts.Since, "since", "", "only tasks created since a duration ago (1h, 7d) or a time")
	fl.IntVarP(&opts.Limit, "limit", "L", 50, "at most this many tasks")
	fl.BoolVarP(&opts.All, "all", "a", false, "no limit")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { opts.limitSet = cmd.Flags().Changed("limit") }
	fl.StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, wide, json, jsonl")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only ids, one per line")
	fl.BoolVarP(&opts.Watch, "watch", "w", false, "redraw every 2s on a terminal until Ctrl-C")
	cmd.RegisterFlagCompletionFunc("status", completeStatuses)
	cmd.RegisterFlagCompletionFunc("queue", completeQueues(f))
	cmd.RegisterFlagCompletionFunc("type", fixedCompletion("exec", "agent"))
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatWide, formatJSON, formatJSONL))
	return cmd
}

func runList(ctx context.Context, o *ListOptions) error {
	if err := checkFormat(o.Output, formatTable, formatWide, formatJSON, formatJSONL); err != nil {
		return err
	}
	statuses, err := parseStatuses(o.Statuses)
	if err != nil {
		return err
	}
	if o.Limit < 1 && !o.All {
		return usageErrorf("--limit must be at least 1, got %d (use --all for no limit)", o.Limit)
	}
	if o.All && o.limitSet {
		return usageErrorf("give --limit or --all (no limit), not both")
	}
	json := o.Output == formatJSON || o.Output == formatJSONL
	if o.Quiet && json {
		return usageErrorf("--quiet prints ids only: it does not go with -o %s", o.Output)
	}
	if o.Watch {
		switch {
		case !o.F.IO.OutTTY:
			return usageErrorf("--watch needs a terminal; stdout is not one")
		case o.Quiet || json:
			return usageErrorf("--watch draws a table: it does not go with --quiet or -o json/jsonl")
		}
	}
	f := db.Filter{Statuses: statuses, Types: o.Types, Queues: o.Queues, Limit: o.Limit}
	if o.All {
		f.Limit = 0
	}
	now := o.F.Now()
	if o.Since != "" {
		// Checked now, so that a bad --since is refused before anything.
		if _, err = parseSince(o.Since, now); err != nil {
			return err
		}
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	if o.Watch {
		return watchList(ctx, o, s, f)
	}
	ts, err := listTasks(ctx, o, s, f, now)
	if err != nil {
		return err
	}
	blocked, err := blockedBy(ctx, s, ts)
	if err != nil {
		return err
	}
	io := o.F.IO
	switch {
	case o.Output == formatJSON:
		return writeJSON(io.Out, listTasksJSON(ts, blocked))
	case o.Output == formatJSONL:
		return writeJSONL(io.Out, listTasksJSON(ts, blocked))
	case o.Quiet:
		var b []byte
		for _, t := range ts {
			b = strconv.AppendInt(b, t.ID, 10)
			b = append(b, '\n')
		}
		_, err := io.Out.Write(b)
		return err
	}
	if len(ts) == 0 && io.OutTTY {
		fmt.Fprintln(io.ErrOut, "no tasks")
		return nil
	}
	return taskTable(io, ts, blocked, now, o.Output == formatWide).Render()
}

// listTasks reads the tasks the filter selects; --since counts back from
// now.
func listTasks(ctx context.Context, o *ListOptions, s db.Store, f db.Filter, now time.Time) ([]db.Task, error) {
	if o.Since != "" {
		var err error
		if f.Since, err = parseSince(o.Since, now); err != nil {
			return nil, err
		}
	}
	return s.List(ctx, f)
}

// taskTable lays out tasks as list shows them. The name column (and in
// wide, the error column too) gives way on a narrow terminal.
func taskTable(io *IOStreams, ts []db.Task, blocked map[int64][]int64, now time.Time, wide bool) *tablePrinter {
	header := []string{"ID", "Status", "Type", "Name", "Queue", "Created"}
	if wide {
		header = append(header, "Pri", "Attempts", "Started", "Finished", "Worker", "Error")
	}
	// Piped, the cost column is always there (scripts count columns); on a
	// terminal only when a task has a cost, so that the usual table keeps
	// its width.
	costCol := wide && (!io.OutTTY || anyCost(ts))
	if costCol {
		header = append(header, "Cost")
	}
	tp := newTablePrinter(io, header...)
	if wide {
		tp.Flex(3, 11)
	} else {
		tp.Flex(3)
	}
	tp.Paint(1, func(i int, cell string) string { return paint(statusColor(string(ts[i].Status)), cell) })
	for _, t := range ts {
		row := []string{strconv.FormatInt(t.ID, 10), listStatus(t, blocked[t.ID], now, io.OutTTY), t.Type,
			taskName(t), t.Queue, formatTime(t.CreatedAt, now, io.OutTTY)}
		if wide {
			row = append(row, strconv.Itoa(t.Priority), fmt.Sprintf("%d/%d", t.Attempts, t.MaxAttempts),
				formatTime(t.StartedAt, now, io.OutTTY), formatTime(t.FinishedAt, now, io.OutTTY),
				defaultStr(t.LeaseWorker, "-"), defaultStr(t.Error, "-"))
		}
		if costCol {
			cost, known := taskCost(t)
			row = append(row, costCell(cost, known, io.OutTTY))
		}
		tp.Row(row...)
	}
	return tp
}

// listStatus is a task's status; on a terminal, a pending task that waits
// for dependencies says which ("pending (after 41)"), and one that waits
// for a later time (--in, --at, a retry's backoff) says when: "pending
// (in 2h)". Piped, the status column holds the status alone, for scripts.
func listStatus(t db.Task, after []int64, now time.Time, tty bool) string {
	s := string(t.Status)
	if tty && len(after) > 0 {
		return s + " (" + afterText(after) + ")"
	}
	if tty && t.Status == db.StatusPending && t.RunAfter.After(now) {
		s += " (" + taskio.Relative(now.Sub(t.RunAfter)) + ")"
	}
	return s
}

// taskName is the task's name, or else its input in short (the command, or
// the prompt), whole: a table on a terminal cuts it to fit.
func taskName(t db.Task) string {
	if t.Name != "" {
		return t.Name
	}
	return inputSummary(t)
}

// displayName is the task's name or input summary in at most 40
// characters, for one-line descriptions such as shell completions.
func displayName(t db.Task) string { return truncate(taskName(t), 40) }
