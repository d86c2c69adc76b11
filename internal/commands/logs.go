package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// LogsOptions are the flags of `opsctl logs`.
type LogsOptions struct {
	F      *Factory
	ID     int64
	Follow bool
	Output string
	// Tail is --tail: only the last Tail events (-1: all of them).
	Tail int
	// ExitStatus is --exit-status: with -f, exit with the task's outcome.
	ExitStatus bool
}

func newLogsCmd(f *Factory) *cobra.Command {
	opts := &LogsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a task's events and output; -f follows until it finishes",
		Long: `Print a task's events: command output (as it was written), status changes,
agent model turns, tool calls and results, warnings. With -f, keep
following until the task is finished; with --exit-status as well, exit
with the task's outcome as 'opsctl wait' does (0 completed, 1 failed,
5 cancelled).

Command output is printed exactly as it was written, stdout and stderr in
the order they came; other events are printed on lines of their own:
"-- ", the time (RFC 3339, UTC), a space and the event. On a terminal,
control characters and escape sequences in output and events are shown as
escapes (\x1b, \r) instead of acting on the terminal, stderr output is red
and event lines are dim (unless NO_COLOR is set), and an output line that
itself starts with "-- " is shown as "\x2d- ", so that it cannot pass for
an event. Piped, output is printed byte for byte (bytes that are not UTF-8
are stored as U+FFFD), so a "-- " line there may be the command's own;
-o jsonl tells them apart: it prints every event as a JSON object with its
kind.

--tail N prints only the last N events (a chunk of output is one event,
and may hold many lines or part of one), then follows with -f.`,
		Example: `  opsctl logs 42
  opsctl logs -f --tail 20 42
  opsctl logs -f --exit-status 42 && echo done
  opsctl logs -o jsonl 42 | jq -r 'select(.kind == "stderr") | .data.text'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTaskIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			opts.ID = id
			switch {
			case !cmd.Flags().Changed("tail"):
				opts.Tail = -1
			case opts.Tail < 0:
				return usageErrorf("--tail must be 0 or more, got %d", opts.Tail)
			}
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "follow until the task is finished")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or jsonl")
	cmd.Flags().IntVarP(&opts.Tail, "tail", "n", 0, "only the last N events (default all)")
	cmd.Flags().BoolVar(&opts.ExitStatus, "exit-status", false, "with -f: exit 0 if the task completed, 1 if it failed, 5 if cancelled")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", formatJSONL))
	return cmd
}

func runLogs(ctx context.Context, o *LogsOptions) error {
	if err := checkFormat(o.Output, "text", formatJSONL); err != nil {
		return err
	}
	if o.ExitStatus && !o.Follow {
		return usageErrorf("--exit-status needs -f (--follow): it waits for the task's outcome")
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	task, err := s.Get(ctx, o.ID)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(o.F.IO.Out)
	defer w.Flush()
	p := &eventPrinter{w: w, format: o.Output, tty: o.F.IO.OutTTY, color: o.F.IO.Color}
	if o.Tail < 0 && o.Output != formatJSONL {
		if err := p.prompt(task); err != nil {
			return err
		}
	}
	var after int64
	if o.Tail >= 0 {
		// The last N events; following goes on after the newest event,
		// shown or not (--tail 0 shows none of the past).
		evs, _, err := s.LastEvents(ctx, o.ID, max(o.Tail, 1))
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			after = evs[len(evs)-1].ID
		}
		if o.Tail == 0 {
			evs = nil
		}
		for _, e := range evs {
			if err := p.print(e); err != nil {
				return err
			}
		}
	}
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
			if o.ExitStatus {
				if code := outcomeCode(t.Status); code != ExitOK {
					return silentExit(code)
				}
			}
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
//
// On a terminal, output is sanitised, an output line starting with "-- "
// has its first dash escaped ("\x2d- ") so that only event lines start
// with "-- ", and with colour on, stderr output is red and event lines are
// dim, each colour reset before the end of its line.
type eventPrinter struct {
	w      io.Writer
	format string
	// tty makes text safe for a terminal, and ends the last line.
	tty bool
	// color marks stderr output and event lines (a terminal, NO_COLOR unset).
	color bool
	// midLine is set when the output printed last did not end a line.
	midLine bool
	// lineHead is the start of that line, up to len(eventMark) bytes, so
	// that a mark split across two chunks is seen too (terminal only).
	lineHead string
}

// prompt prints an agent task's system prompt and prompt first, as an
// event line at its creation time: the log then reads as the whole
// conversation.
func (p *eventPrinter) prompt(t db.Task) error {
	if t.Type != "agent" {
		return nil
	}
	var in struct {
		Prompt string `json:"prompt"`
		System string `json:"system"`
	}
	if json.Unmarshal(t.Input, &in) != nil || in.Prompt == "" {
		return nil
	}
	at := t.CreatedAt.UTC().Format(time.RFC3339)
	line := ""
	if in.System != "" {
		line += eventMark + at + " system\n" + indentBody(strings.TrimRight(in.System, "\n")) + "\n"
	}
	line += eventMark + at + " prompt\n" + indentBody(strings.TrimRight(in.Prompt, "\n")) + "\n"
	if p.tty {
		line = sanitizeTerminal(line)
		if p.color {
			line = paint(ansiDim, line)
		}
	}
	_, err := io.WriteString(p.w, line)
	return err
}

// eventMark starts every event line.
const eventMark = "-- "

func (p *eventPrinter) print(e db.Event) error {
	if p.format == formatJSONL {
		return writeJSONL(p.w, []taskio.EventJSON{taskio.NewEventJSON(e)})
	}
	if e.Kind == "stdout" || e.Kind == "stderr" {
		text := eventText(e)
		if text == "" {
			return nil
		}
		if p.tty {
			text = p.terminalOutput(text, e.Kind == "stderr")
		}
		p.midLine = !strings.HasSuffix(text, "\n")
		_, err := io.WriteString(p.w, text)
		return err
	}
	line := fmt.Sprintf("%s%s %s", eventMark, e.At.UTC().Format(time.RFC3339), eventHead(e))
	if body := eventBody(e); body != "" {
		line += "\n" + indentBody(body)
	}
	if p.tty {
		line = sanitizeTerminal(line)
		if p.color {
			line = paint(ansiDim, line)
		}
	}
	line += "\n"
	if p.midLine {
		line = "\n" + line
		p.midLine, p.lineHead = false, ""
	}
	_, err := io.WriteString(p.w, line)
	return err
}

// terminalOutput is output text as a terminal shows it: sanitised, an
// event mark at the start of a line escaped, and stderr in red. A line
// that a chunk ends and the next goes on with is checked as a whole: its
// first byte past the start already printed is escaped instead.
func (p *eventPrinter) terminalOutput(text string, stderr bool) string {
	text = sanitizeTerminal(text)
	lines := strings.SplitAfter(text, "\n")
	head := ""
	if p.midLine {
		head = p.lineHead
	}
	for i, l := range lines {
		if i > 0 {
			head = ""
		}
		if strings.HasPrefix(head+l, eventMark) && len(head) < len(eventMark) {
			lines[i] = fmt.Sprintf(`\x%02x`, l[0]) + l[1:]
		}
		if i == len(lines)-1 {
			p.lineHead = head + l
			if strings.HasSuffix(l, "\n") {
				p.lineHead = ""
			}
			p.lineHead = p.lineHead[:min(len(p.lineHead), len(eventMark))]
		}
		if stderr && p.color {
			body, nl := strings.CutSuffix(lines[i], "\n")
			lines[i] = paint(ansiRed, body)
			if nl {
				lines[i] += "\n"
			}
		}
	}
	return strings.Join(lines, "")
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
