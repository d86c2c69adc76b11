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

Output text is printed as is; other events are printed on lines starting
with "-- ". -o jsonl prints every event as a JSON object.`,
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
				if err := printEvent(w, o.Output, e); err != nil {
					return err
				}
				after = e.ID
			}
			if len(evs) < 1000 {
				break
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if !o.Follow || t.Status.Finished() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

func printEvent(w io.Writer, format string, e db.Event) error {
	if format == formatJSONL {
		return writeJSONL(w, []eventJSON{newEventJSON(e)})
	}
	if e.Kind == "stdout" || e.Kind == "stderr" {
		text := eventText(e)
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, err := io.WriteString(w, text)
		return err
	}
	_, err := fmt.Fprintf(w, "-- %s %s\n", e.At.UTC().Format(time.RFC3339), eventLine(e))
	return err
}
