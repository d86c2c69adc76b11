package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/schedule"
)

// ScheduleOptions are the flags of `opsctl schedule` and its subcommands.
type ScheduleOptions struct {
	F      *Factory
	Name   string
	Output string

	// schedule add: the spec, and the task flags, read into a
	// SubmitOptions so that the task is built exactly as submit builds it.
	Every         string
	Cron          string
	TZ            string
	SkipIfRunning bool
	Task          SubmitOptions
}

// scheduleName is what a schedule may be called: it is typed in commands
// and is part of its tasks' keys (schedule:NAME:SLOT).
var scheduleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newScheduleCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Add, list, pause, resume and remove recurring schedules",
		Long: `A schedule submits a task again and again: every interval (--every), or
at the times a cron expression names (--cron, in a time zone). Running
'opsctl run' processes enqueue each occurrence when it is due, exactly once
however many runners there are. A runner that is down misses slots: when
one is running again, only the latest missed slot is enqueued, never a
burst of them.`,
		Example: `  opsctl schedule add backup --cron '0 2 * * *' --tz Europe/Paris -- ./backup.sh
  opsctl schedule add disk --every 15m --skip-if-running --input '{"shell":"df -h"}'
  opsctl schedule list
  opsctl schedule pause backup`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newScheduleAddCmd(f), newScheduleListCmd(f), newScheduleShowCmd(f),
		newSchedulePauseCmd(f), newScheduleResumeCmd(f), newScheduleRmCmd(f))
	return cmd
}

func newScheduleAddCmd(f *Factory) *cobra.Command {
	opts := &ScheduleOptions{F: f, Task: SubmitOptions{F: f}}
	t := &opts.Task
	cmd := &cobra.Command{
		Use:   "add NAME (--every DURATION | --cron EXPR [--tz ZONE]) [flags] [-- COMMAND ARGS...]",
		Short: "Add a schedule: a task submitted every interval or at cron times",
		Long: `Add a schedule named NAME (letters, digits, '.', '_' and '-', at most 64).
The task is given as to 'opsctl submit': a command after --, --input or
--prompt, with the same flags, checked the same way; an exec task runs in
the directory 'schedule add' was run from unless -C says otherwise. Its
name is the schedule's unless --name gives one.

--every takes a duration of whole seconds, at least 1s (30s, 15m, 2h, 1d);
slots fall on multiples of it since 1970-01-01 UTC, so --every 15m runs at
:00, :15, :30 and :45. --cron takes five fields (minute hour day-of-month
month day-of-week), or six with seconds first, or @hourly, @daily
(@midnight), @weekly, @monthly, @yearly; --tz is its IANA time zone
(default: this machine's).

Each occurrence is a task with the key schedule:NAME:SLOT (the slot in
RFC 3339 UTC). --skip-if-running skips a slot (and counts it) while the
previous occurrence is pending or running.`,
		Example: `  opsctl schedule add backup --cron '0 2 * * *' --tz Europe/Paris -- ./backup.sh
  opsctl schedule add heartbeat --every 1m --queue ops -- curl -fsS https://example.com/ping
  opsctl schedule add digest --cron '@daily' --prompt "Summarise yesterday's failed tasks"
  opsctl schedule add sync --every 30s --skip-if-running --timeout 5m -- ./sync.sh`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				t.Command = args[dash:]
				args = args[:dash]
			}
			switch {
			case len(args) == 0:
				return usageErrorf("schedule add needs a NAME")
			case len(args) > 1:
				return usageErrorf("unexpected argument %q: put a command after --", args[1])
			}
			opts.Name = args[0]
			t.Changed = cmd.Flags().Changed
			return runScheduleAdd(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Every, "every", "", "submit every DURATION (whole seconds, at least 1s: 30s, 15m, 1d)")
	fl.StringVar(&opts.Cron, "cron", "", "submit at the times of a cron expression ('0 2 * * *', '*/10 * * * * *', @hourly)")
	fl.StringVar(&opts.TZ, "tz", "", "with --cron: its IANA time zone, e.g. Europe/Paris (default: this machine's)")
	fl.BoolVar(&opts.SkipIfRunning, "skip-if-running", false, "skip a slot while the previous occurrence is pending or running")

	// The task flags, as submit has them (no --at, --in, --key, --batch,
	// --wait or --follow: each occurrence has its own time and key).
	fl.StringVarP(&t.Type, "type", "t", "", "task type: exec or agent (implied by a command, --prompt or the input's fields)")
	fl.StringVarP(&t.Input, "input", "i", "", "input JSON object, @FILE, or - for stdin")
	fl.StringVarP(&t.Name, "name", "n", "", "a label for the tasks (default: the schedule's name)")
	fl.StringVar(&t.Queue, "queue", "default", "queue name")
	fl.IntVar(&t.Priority, "priority", 0, "higher runs first")
	fl.IntVar(&t.MaxAttempts, "max-attempts", 1, "tries before a task fails for good")
	fl.StringVar(&t.Timeout, "timeout", "", "time limit for one attempt (e.g. 30s, 5m)")
	addTaskKindFlags(fl, t)

	cmd.RegisterFlagCompletionFunc("tz", completeZones)
	cmd.RegisterFlagCompletionFunc("type", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Registry.Types(), cobra.ShellCompDirectiveNoFileComp
	})
	cmd.RegisterFlagCompletionFunc("queue", completeQueues(f))
	cmd.RegisterFlagCompletionFunc("provider", completeProviders)
	cmd.RegisterFlagCompletionFunc("mcp", completeMCPServerNames(f))
	cmd.RegisterFlagCompletionFunc("tool", completeToolNames(f))
	cmd.RegisterFlagCompletionFunc("dir", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	})
	return cmd
}

// parseScheduleSpec reads --every, --cron and --tz. A --cron without --tz
// is read in this machine's zone, which is stored by name so that every
// runner reads it the same way.
func (o *ScheduleOptions) parseScheduleSpec() (schedule.Spec, db.Schedule, error) {
	sc := db.Schedule{Name: o.Name, SkipIfRunning: o.SkipIfRunning}
	switch {
	case o.Every == "" && o.Cron == "":
		return schedule.Spec{}, sc, usageErrorf("give --every DURATION or --cron EXPR")
	case o.Every != "" && o.Cron != "":
		return schedule.Spec{}, sc, usageErrorf("give --every or --cron, not both")
	case o.Every != "" && o.TZ != "":
		return schedule.Spec{}, sc, usageErrorf("--tz goes with --cron: --every counts from 1970-01-01 UTC")
	case o.Every != "":
		d, err := parseDuration("--every", o.Every)
		if err != nil {
			return schedule.Spec{}, sc, err
		}
		sp, err := schedule.Every(d)
		if err != nil {
			return sp, sc, usageErrorf("--every %s: %v", o.Every, err)
		}
		sc.Every = d
		return sp, sc, nil
	}
	tz := o.TZ
	if tz == "" {
		var ok bool
		if tz, ok = schedule.LocalZone(); !ok {
			fmt.Fprintf(o.F.IO.ErrOut, "note: cannot tell this machine's time zone; reading --cron in UTC (give --tz)\n")
		}
	} else if _, err := schedule.Zone(tz); err != nil {
		return schedule.Spec{}, sc, usageErrorf("--tz: %v", err)
	}
	sp, err := schedule.Cron(o.Cron, tz)
	if err != nil {
		return sp, sc, usageErrorf("--cron %q: %v", truncate(o.Cron, 80), err)
	}
	sc.Cron, sc.TZ = o.Cron, tz
	return sp, sc, nil
}

func runScheduleAdd(ctx context.Context, o *ScheduleOptions) error {
	if !scheduleName.MatchString(o.Name) {
		return usageErrorf("schedule name %q: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", o.Name)
	}
	sp, sc, err := o.parseScheduleSpec()
	if err != nil {
		return err
	}
	task, err := o.Task.buildTask()
	if err != nil {
		return err
	}
	if task.Name == "" {
		task.Name = o.Name
	}
	sc.Task = task
	now := o.F.Now()
	if sc.NextRunAt = sp.Next(now); sc.NextRunAt.IsZero() {
		return usageErrorf("--cron %q matches no time in the next five years", o.Cron)
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	err = s.CreateSchedule(ctx, sc)
	if errors.Is(err, db.ErrScheduleExists) {
		return usageErrorf("a schedule named %q exists; remove it first or pick another name", o.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.Out, "schedule %s added (%s, queue %s, %s); next run %s\n", o.Name, task.Type,
		defaultStr(task.Queue, "default"), sp, formatTimeLong(sc.NextRunAt, now, o.F.IO.OutTTY))
	return nil
}

// completeZones offers a few common zones; any IANA name is accepted.
func completeZones(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	zones := []string{"UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
		"America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney"}
	if tz, ok := schedule.LocalZone(); ok {
		zones = append([]string{tz}, zones...)
	}
	return zones, cobra.ShellCompDirectiveNoFileComp
}

// scheduleSpec is a stored schedule's spec as list and show say it.
func scheduleSpec(sc db.Schedule) string {
	sp, err := schedule.FromSchedule(sc)
	if err != nil {
		return fmt.Sprintf("cron %s (%s; %v)", sc.Cron, sc.TZ, err)
	}
	return sp.String()
}

// nextRunText is a schedule's next run as list and show say it.
func nextRunText(sc db.Schedule, now time.Time, tty, long bool) string {
	if sc.Paused {
		return "paused"
	}
	if long {
		return formatTimeLong(sc.NextRunAt, now, tty)
	}
	return formatTime(sc.NextRunAt, now, tty)
}
