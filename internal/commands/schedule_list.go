package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
)

func newScheduleListCmd(f *Factory) *cobra.Command {
	opts := &ScheduleOptions{F: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the schedules: spec, next run, last run, last task and its status",
		Example: `  opsctl schedule list
  opsctl schedule list -o json | jq -r '.[] | select(.last_task_status == "failed") | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runScheduleList(cmd.Context(), opts) },
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

func newScheduleShowCmd(f *Factory) *cobra.Command {
	opts := &ScheduleOptions{F: f}
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show one schedule: its spec, task, next and last runs",
		Example:           `  opsctl schedule show backup`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeScheduleNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runScheduleShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

// scheduleView is one schedule in `schedule list -o json` and `schedule
// show -o json`. Field names are stable.
type scheduleView struct {
	Name          string           `json:"name"`
	EverySeconds  *int64           `json:"every_seconds"`
	Cron          *string          `json:"cron"`
	TZ            *string          `json:"tz"`
	SkipIfRunning bool             `json:"skip_if_running"`
	Paused        bool             `json:"paused"`
	Task          scheduleTaskJSON `json:"task"`
	// NextRunAt is null while paused.
	NextRunAt      *time.Time `json:"next_run_at"`
	LastRunAt      *time.Time `json:"last_run_at"`
	LastTaskID     *int64     `json:"last_task_id"`
	LastTaskStatus *string    `json:"last_task_status"`
	Skipped        int64      `json:"skipped"`
	LastSkippedAt  *time.Time `json:"last_skipped_at"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// scheduleTaskJSON is a schedule's task template, with the task JSON's
// field names.
type scheduleTaskJSON struct {
	Type           string          `json:"type"`
	Name           string          `json:"name"`
	Queue          string          `json:"queue"`
	Priority       int             `json:"priority"`
	Input          json.RawMessage `json:"input"`
	MaxAttempts    int             `json:"max_attempts"`
	TimeoutSeconds float64         `json:"timeout_seconds"`
}

func newScheduleView(sc db.Schedule) scheduleView {
	v := scheduleView{Name: sc.Name, SkipIfRunning: sc.SkipIfRunning, Paused: sc.Paused,
		Task: scheduleTaskJSON{Type: sc.Task.Type, Name: sc.Task.Name, Queue: sc.Task.Queue, Priority: sc.Task.Priority,
			Input: sc.Task.Input, MaxAttempts: sc.Task.MaxAttempts, TimeoutSeconds: sc.Task.Timeout.Seconds()},
		LastRunAt: optUTC(sc.LastRunAt), Skipped: sc.Skipped, LastSkippedAt: optUTC(sc.LastSkippedAt),
		CreatedAt: sc.CreatedAt.UTC(), UpdatedAt: sc.UpdatedAt.UTC()}
	if sc.Cron != "" {
		v.Cron, v.TZ = &sc.Cron, &sc.TZ
	} else {
		n := int64(sc.Every / time.Second)
		v.EverySeconds = &n
	}
	if !sc.Paused {
		v.NextRunAt = optUTC(sc.NextRunAt)
	}
	if sc.LastTaskID != 0 {
		id := sc.LastTaskID
		v.LastTaskID = &id
		st := lastStatusText(sc)
		v.LastTaskStatus = &st
	}
	return v
}

// lastStatusText is the status of a schedule's last task, "pruned" when
// the task is gone, "-" when there is none yet.
func lastStatusText(sc db.Schedule) string {
	switch {
	case sc.LastTaskID == 0:
		return "-"
	case sc.LastStatus == "":
		return "pruned"
	}
	return string(sc.LastStatus)
}

func runScheduleList(ctx context.Context, o *ScheduleOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	scs, err := s.Schedules(ctx)
	if err != nil {
		return err
	}
	if o.Output == formatJSON {
		vs := make([]scheduleView, len(scs))
		for i, sc := range scs {
			vs[i] = newScheduleView(sc)
		}
		return writeJSON(o.F.IO.Out, vs)
	}
	if len(scs) == 0 {
		fmt.Fprintln(o.F.IO.ErrOut, "no schedules (add one with 'opsctl schedule add NAME --every 1h -- COMMAND')")
		return nil
	}
	now, tty := o.F.Now(), o.F.IO.OutTTY
	tp := newTablePrinter(o.F.IO, "name", "schedule", "next run", "last run", "last task", "status")
	for _, sc := range scs {
		last := "-"
		if sc.LastTaskID != 0 {
			last = fmt.Sprint(sc.LastTaskID)
		}
		tp.Row(sc.Name, scheduleSpec(sc), nextRunText(sc, now, tty, false), formatTime(sc.LastRunAt, now, tty),
			last, lastStatusText(sc))
	}
	return tp.Flex(1).Paint(5, func(_ int, cell string) string { return colorStatus(cell, o.F.IO.Color) }).Render()
}

func runScheduleShow(ctx context.Context, o *ScheduleOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	sc, err := s.GetSchedule(ctx, o.Name)
	if err != nil {
		return err
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, newScheduleView(sc))
	}
	io := o.F.IO
	now, tty := o.F.Now(), io.OutTTY
	p := &showPrinter{io: io, width: io.Width()}
	p.field("Name", sc.Name)
	p.field("Schedule", scheduleSpec(sc))
	state := "active"
	if sc.Paused {
		state = "paused ('opsctl schedule resume " + sc.Name + "' runs it again from its next slot)"
	}
	p.field("State", state)
	p.field("Next run", nextRunText(sc, now, tty, true))
	last := "-"
	if sc.LastTaskID != 0 {
		last = fmt.Sprintf("%s (task %d, %s)", formatTimeLong(sc.LastRunAt, now, tty), sc.LastTaskID, lastStatusText(sc))
	}
	p.field("Last run", last)
	if sc.SkipIfRunning {
		skipped := fmt.Sprint(sc.Skipped)
		if !sc.LastSkippedAt.IsZero() {
			skipped += ", last " + formatTimeLong(sc.LastSkippedAt, now, tty)
		}
		p.field("If running", "skip the slot (skipped: "+skipped+")")
	} else {
		p.field("If running", "enqueue anyway")
	}
	p.field("Missed slots", "after downtime only the latest missed slot is enqueued; earlier ones are dropped")
	t := sc.Task
	what := []string{t.Type, "queue " + t.Queue, fmt.Sprintf("priority %d", t.Priority), fmt.Sprintf("max attempts %d", t.MaxAttempts)}
	if t.Timeout > 0 {
		what = append(what, "timeout "+t.Timeout.String())
	}
	p.field("Task", strings.Join(what, ", "))
	p.field("Task name", t.Name)
	if t.Type == "exec" {
		if in, err := runner.ParseExecInput(t.Input); err == nil && in.Dir != "" {
			p.field("Runs in", in.Dir)
		}
	}
	p.field("Task keys", "schedule:"+sc.Name+":SLOT (the slot in RFC 3339 UTC)")
	p.field("Created", formatTimeLong(sc.CreatedAt, now, tty))
	p.block("Input", t.Input)
	_, err = io.Out.Write(p.buf.Bytes())
	return err
}
