package commands

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// LogsOptions are the flags of `opsctl logs`.
type LogsOptions struct {
	F      *Factory
	ID     int64
	Follow bool
	Output string
}

func newLogsCmd(f *Factory) *cobra.Command {
	opts := &LogsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a task's events and output; -f follows until it finishes",
		Long: `Print a task's events: command output (as it was written), status changes,
agent model turns, tool calls and results, warnings. With -f, keep
following until the task is finished.

Command output is printed exactly as it was written, stdout and stderr in
the order they came; other events are printed on lines of their own starting
with "-- ". On a terminal, control characters and escape sequences in output
and events are shown as escapes (\x1b, \r) instead of acting on the
terminal; piped, output is printed byte for byte (bytes that are not UTF-8
are stored as U+FFFD). -o jsonl prints every event as a JSON object.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTaskIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			opts.ID = id
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "follow until the task is finished")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or jsonl")
	return cmd
}

func runLogs(ctx context.Context, o *LogsOptions) error {
	if err := checkFormat(o.Output, "text", formatJSONL); err != nil {
		return err
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Get(ctx, o.ID); err != nil {
		return err
	}
	w := bufio.NewWriter(o.F.IO.Out)
	defer w.Flush()
	p := &eventPrinter{w: w, format: o.Output, tty: o.F.IO.OutTTY}
	var after int64
	for {
		// Read the status before the events: if the task is finished now,
		// every event it will ever have is already stored.
		t, err := s.Get(ctx, o.ID)
		if err != nil {
			return err
		}
		for {
			evs, err := s.Events(ctx, o.ID, after, 1000)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if err := p.print(e); err != nil {
					return err
				}
				after = e.ID
			}
			if len(evs) < 1000 {
				break
			}
		}
		done := !o.Follow || t.Status.Finished()
		if done {
			if err := p.end(); err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			if p.end() == nil {
				w.Flush()
			}
			return ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

// eventPrinter prints a task's events as text. Output events ("stdout",
// "stderr") hold chunks of output as the command wrote it: many lines, or
// part of one (older opsctl wrote a line per event). Their texts are printed
// one after the other, so the output comes out exactly as written. Other
// events are printed as "-- " lines, each starting on a line of its own.
type eventPrinter struct {
	w      io.Writer
	format string
	// tty makes text safe for a terminal, and ends the last line.
	tty bool
	// midLine is set when the output printed last did not end a line.
	midLine bool
}

func (p *eventPrinter) print(e db.Event) error {
	if p.format == formatJSONL {
		return writeJSONL(p.w, []eventJSON{newEventJSON(e)})
	}
	if e.Kind == "stdout" || e.Kind == "stderr" {
		text := eventText(e)
		if text == "" {
			return nil
		}
		if p.tty {
			text = sanitizeTerminal(text)
		}
		p.midLine = !strings.HasSuffix(text, "\n")
		_, err := io.WriteString(p.w, text)
		return err
	}
	line := fmt.Sprintf("-- %s %s\n", e.At.UTC().Format(time.RFC3339), eventLine(e))
	if p.tty {
		line = sanitizeTerminal(line)
	}
	if p.midLine {
		line = "\n" + line
		p.midLine = false
	}
	_, err := io.WriteString(p.w, line)
	return err
}

// end finishes a last line of output that has no newline, on a terminal
// only (so that the shell's prompt does not follow it); piped, the output
// stays byte for byte.
func (p *eventPrinter) end() error {
	if !p.tty || !p.midLine {
		return nil
	}
	p.midLine = false
	_, err := io.WriteString(p.w, "\n")
	return err
}
