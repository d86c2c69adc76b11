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

// StatusOptions are the flags of `opsctl status`.
type StatusOptions struct {
	F      *Factory
	All    bool
	Output string
}

func newStatusCmd(f *Factory) *cobra.Command {
	opts := &StatusOptions{F: f}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show live runners and task counts by queue and status",
		Long: `Show the runners that are alive (each 'opsctl run' registers itself and
beats every few seconds; one silent for 2 minutes is gone) and how many
tasks each queue has in each status.

On a terminal: two tables with relative times. Piped: tab-separated rows
without headers, each starting with its kind, "runner" (id, host, pid,
workers, queues, started, heartbeat, version) or "queue" (name, pending,
running, waiting, completed, failed, cancelled), times in RFC 3339.`,
		Example: `  opsctl status
  opsctl status -o json | jq '.totals.pending'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), opts) },
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.All, "all", "a", false, "also list runners that are gone (no heartbeat for 2m)")
	fl.StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

// statusView is `status -o json`. Field names are stable.
type statusView struct {
	Runners []runnerView `json:"runners"`
	Queues  []queueView  `json:"queues"`
	Totals  statusCounts `json:"totals"`
}

// runnerView is one runner; queues [] means every queue.
type runnerView struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Workers     int       `json:"workers"`
	Queues      []string  `json:"queues"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Version     string    `json:"version"`
	Live        bool      `json:"live"`
}

type statusCounts struct {
	Pending   int64 `json:"pending"`
	Running   int64 `json:"running"`
	Waiting   int64 `json:"waiting"`
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	Cancelled int64 `json:"cancelled"`
}

func (c *statusCounts) add(s db.Status, n int64) {
	switch s {
	case db.StatusPending:
		c.Pending += n
	case db.StatusRunning:
		c.Running += n
	case db.StatusWaiting:
		c.Waiting += n
	case db.StatusCompleted:
		c.Completed += n
	case db.StatusFailed:
		c.Failed += n
	case db.StatusCancelled:
		c.Cancelled += n
	}
}

type queueView struct {
	Queue string `json:"queue"`
	statusCounts
}

func runStatus(ctx context.Context, o *StatusOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	rs, err := s.Runners(ctx)
	if err != nil {
		return err
	}
	counts, err := s.CountByQueue(ctx)
	if err != nil {
		return err
	}
	now := o.F.Now()
	v := statusView{Runners: []runnerView{}, Queues: []queueView{}}
	live, gone := 0, 0
	var lastGone time.Time
	for _, r := range rs {
		isLive := r.Live(now)
		if isLive {
			live++
		} else {
			gone++
			if r.HeartbeatAt.After(lastGone) {
				lastGone = r.HeartbeatAt
			}
		}
		if !isLive && !o.All {
			continue
		}
		qs := r.Queues
		if qs == nil {
			qs = []string{}
		}
		v.Runners = append(v.Runners, runnerView{ID: r.ID, Host: r.Host, PID: r.PID, Workers: r.Workers, Queues: qs,
			StartedAt: r.StartedAt.UTC(), HeartbeatAt: r.HeartbeatAt.UTC(), Version: r.Version, Live: isLive})
	}
	for _, c := range counts {
		if n := len(v.Queues); n == 0 || v.Queues[n-1].Queue != c.Queue {
			v.Queues = append(v.Queues, queueView{Queue: c.Queue})
		}
		v.Queues[len(v.Queues)-1].add(c.Status, c.Count)
		v.Totals.add(c.Status, c.Count)
	}

	if live == 0 {
		note := "opsctl: no runner is live (start one with 'opsctl run')"
		if gone > 0 {
			note = fmt.Sprintf("opsctl: no runner is live; %d gone, the last seen %s ago (start one with 'opsctl run')", gone, roughAge(now.Sub(lastGone)))
		}
		fmt.Fprintln(o.F.IO.ErrOut, note)
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, v)
	}
	return printStatus(o, v, now)
}

// printStatus prints the runners table, then the queues table. Piped,
// each row starts with its kind so that one stream holds both.
func printStatus(o *StatusOptions, v statusView, now time.Time) error {
	tty := o.F.IO.OutTTY
	kind := func(k string, cells ...string) []string {
		if tty {
			return cells
		}
		return append([]string{k}, cells...)
	}
	if len(v.Runners) > 0 {
		head := []string{"runner", "host", "pid", "workers", "queues", "started", "heartbeat", "version"}
		if o.All {
			head = append(head, "state")
		}
		tp := newTablePrinter(o.F.IO, head...)
		for _, r := range v.Runners {
			queues := "all"
			if len(r.Queues) > 0 {
				queues = strings.Join(r.Queues, ",")
			}
			version := r.Version
			if version == "" {
				version = "-"
			}
			cells := []string{r.ID, r.Host, strconv.Itoa(r.PID), strconv.Itoa(r.Workers), queues,
				formatTime(r.StartedAt, now, tty), formatTime(r.HeartbeatAt, now, tty), version}
			if o.All {
				state := "live"
				if !r.Live {
					state = "gone"
				}
				cells = append(cells, state)
			}
			tp.Row(kind("runner", cells...)...)
		}
		if err := tp.Render(); err != nil {
			return err
		}
	}
	if len(v.Queues) == 0 {
		return nil
	}
	if tty && len(v.Runners) > 0 {
		fmt.Fprintln(o.F.IO.Out)
	}
	tp := newTablePrinter(o.F.IO, "queue", "pending", "running", "waiting", "completed", "failed", "cancelled")
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, q := range v.Queues {
		tp.Row(kind("queue", q.Queue, n(q.Pending), n(q.Running), n(q.Waiting), n(q.Completed), n(q.Failed), n(q.Cancelled))...)
	}
	return tp.Render()
}
