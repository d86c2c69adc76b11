package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// StatsOptions are the flags of `opsctl stats`.
type StatsOptions struct {
	F      *Factory
	Since  string
	By     string
	Output string
}

func newStatsCmd(f *Factory, runF func(context.Context, *StatsOptions) error) *cobra.Command {
	opts := &StatsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Sum up finished tasks: counts, failures, tokens and cost by model, queue or type",
		Long: `Sum up the tasks that finished (completed, failed or cancelled) since a
time: how many, how many failed, and the tokens and cost their results
record, one row per model, queue or type. Pending and running tasks are
not counted.

Tokens come from agent runs' results (usage); the cost is known only for
runs whose model has a price in the config's agent.prices, and "-" (null
in JSON) means no task of the row had one. A row whose tasks name no
model (exec tasks, agent runs that failed before a model answered) has
the model "-" ("" in JSON).

On a terminal the table has a header and a TOTAL row. Piped, rows are
tab-separated without header or total: key, tasks, failed, input tokens,
output tokens, total tokens, cost in US dollars ("-" when unknown).`,
		Example: `  opsctl stats
  opsctl stats --since 7d --by model
  opsctl stats --by queue -o json | jq '.total.cost_usd'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runStats(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Since, "since", "24h", "tasks that finished since a duration ago (1h, 7d) or a time")
	fl.StringVar(&opts.By, "by", db.UsageByType, "group by: "+strings.Join(db.UsageGroupings(), ", "))
	fl.StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json")
	cmd.RegisterFlagCompletionFunc("by", fixedCompletion(db.UsageGroupings()...))
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

// statsView is `stats -o json`. Field names are stable.
type statsView struct {
	Since time.Time      `json:"since"`
	By    string         `json:"by"`
	Rows  []statsRowView `json:"rows"`
	Total statsCounts    `json:"total"`
}

type statsRowView struct {
	Key string `json:"key"`
	statsCounts
}

// statsCounts are one row's sums. CostUSD is null when no task of the row
// had a cost; CostedTasks says how many had one.
type statsCounts struct {
	Tasks             int64    `json:"tasks"`
	Failed            int64    `json:"failed"`
	InputTokens       int64    `json:"input_tokens"`
	CachedInputTokens int64    `json:"cached_input_tokens"`
	OutputTokens      int64    `json:"output_tokens"`
	TotalTokens       int64    `json:"total_tokens"`
	CostUSD           *float64 `json:"cost_usd"`
	CostedTasks       int64    `json:"costed_tasks"`
}

func (c *statsCounts) add(r db.UsageRow) {
	c.Tasks += r.Tasks
	c.Failed += r.Failed
	c.InputTokens += r.InputTokens
	c.CachedInputTokens += r.CachedInputTokens
	c.OutputTokens += r.OutputTokens
	c.TotalTokens += r.TotalTokens
	if r.Costed > 0 {
		sum := r.CostUSD
		if c.CostUSD != nil {
			sum += *c.CostUSD
		}
		c.CostUSD = &sum
		c.CostedTasks += r.Costed
	}
}

func runStats(ctx context.Context, o *StatsOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	if !validGrouping(o.By) {
		return usageErrorf("invalid --by %q: want %s", o.By, strings.Join(db.UsageGroupings(), ", "))
	}
	now := o.F.Now()
	since, err := parseSince(o.Since, now)
	if err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	rows, err := s.Usage(ctx, since, o.By)
	if err != nil {
		return err
	}
	v := statsView{Since: since.UTC().Truncate(time.Millisecond), By: o.By, Rows: []statsRowView{}}
	for _, r := range rows {
		row := statsRowView{Key: r.Key}
		row.add(r)
		v.Rows = append(v.Rows, row)
		v.Total.add(r)
	}
	io := o.F.IO
	if o.Output == formatJSON {
		return writeJSON(io.Out, v)
	}
	if len(v.Rows) == 0 {
		if io.OutTTY {
			fmt.Fprintf(io.ErrOut, "no tasks finished since %s\n", formatTimeLong(since, now, true))
		}
		return nil
	}
	tp := newTablePrinter(io, strings.ToUpper(o.By[:1])+o.By[1:], "Tasks", "Failed", "Input", "Output", "Total", "Cost")
	tp.Flex(0)
	for _, r := range v.Rows {
		tp.Row(statsCells(defaultStr(r.Key, "-"), r.statsCounts, io.OutTTY)...)
	}
	if io.OutTTY {
		tp.Row(statsCells("TOTAL", v.Total, true)...)
	}
	return tp.Render()
}

// statsCells is one row of the stats table.
func statsCells(key string, c statsCounts, tty bool) []string {
	cost, known := 0.0, c.CostUSD != nil
	if known {
		cost = *c.CostUSD
	}
	return []string{key, strconv.FormatInt(c.Tasks, 10), strconv.FormatInt(c.Failed, 10),
		strconv.FormatInt(c.InputTokens, 10), strconv.FormatInt(c.OutputTokens, 10),
		strconv.FormatInt(c.TotalTokens, 10), costCell(cost, known, tty)}
}

// validGrouping reports whether by is a grouping stats knows.
func validGrouping(by string) bool {
	for _, g := range db.UsageGroupings() {
		if by == g {
			return true
		}
	}
	return false
}
