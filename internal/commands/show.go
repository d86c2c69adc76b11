package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// ShowOptions are the flags of `opsctl show`.
type ShowOptions struct {
	F      *Factory
	ID     int64
	Output string
	Events int
}

func newShowCmd(f *Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	cmd := &cobra.Command{
		Use:               "show ID",
		Short:             "Show one task: every field, input, result, error and recent events",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTaskIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			opts.ID = id
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table or json")
	cmd.Flags().IntVar(&opts.Events, "events", 10, "how many recent events to show")
	return cmd
}

func runShow(ctx context.Context, o *ShowOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	t, err := s.Get(ctx, o.ID)
	if err != nil {
		return err
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, newTaskJSON(t))
	}
	evs, total, err := s.LastEvents(ctx, t.ID, max(o.Events, 0))
	if err != nil {
		return err
	}
	return printTask(o.F, t, evs, total)
}

func printTask(f *Factory, t db.Task, evs []db.Event, total int64) error {
	w, io := f.IO.Out, f.IO
	now := f.Now()
	// Every value can hold text from a user, a command or a model; on a
	// terminal it is made unable to act on it (see sanitizeTerminal).
	rawField := func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k+":", v) }
	field := func(k, v string) { rawField(k, terminalText(io, v)) }
	field("ID", fmt.Sprint(t.ID))
	field("Type", t.Type)
	if t.Name != "" {
		field("Name", t.Name)
	}
	rawField("Status", colorStatus(terminalText(io, string(t.Status)), io.Color))
	field("Queue", fmt.Sprintf("%s (priority %d)", t.Queue, t.Priority))
	field("Attempts", fmt.Sprintf("%d of %d", t.Attempts, t.MaxAttempts))
	if t.Timeout > 0 {
		field("Timeout", t.Timeout.String())
	}
	if t.Key != "" {
		field("Key", t.Key)
	}
	field("Created", formatTime(t.CreatedAt, now, io.OutTTY))
	if t.Status == db.StatusPending && t.RunAfter.After(now) {
		field("Run after", formatTime(t.RunAfter, now, io.OutTTY))
	}
	if !t.StartedAt.IsZero() {
		field("Started", formatTime(t.StartedAt, now, io.OutTTY))
	}
	if !t.FinishedAt.IsZero() {
		field("Finished", formatTime(t.FinishedAt, now, io.OutTTY))
		if !t.StartedAt.IsZero() {
			field("Duration", t.FinishedAt.Sub(t.StartedAt).String())
		}
	}
	if t.Status == db.StatusRunning {
		field("Worker", fmt.Sprintf("%s (lease until %s)", t.LeaseWorker, formatTime(t.LeaseExpires, now, io.OutTTY)))
		if t.CancelRequested {
			field("Cancel", "requested")
		}
	}
	if t.Error != "" {
		field("Error", t.Error)
	}
	if sum := summary(t); sum != "" {
		field("Summary", sum)
	}
	block(io, "Input", t.Input)
	if len(t.Result) > 0 {
		block(io, "Result", t.Result)
	}
	if len(evs) > 0 {
		fmt.Fprintf(w, "Events (%d of %d):\n", len(evs), total)
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %s\n", formatTime(e.At, now, io.OutTTY), terminalText(io, showEventLine(e)))
		}
	}
	return nil
}

// showEventLine is an event as one line of show's list. An output event
// holds a chunk of output, often many lines: it is shown as its line count
// and its last line (the whole output's tail is in the result).
func showEventLine(e db.Event) string {
	if e.Kind != "stdout" && e.Kind != "stderr" {
		return eventLine(e)
	}
	text := strings.TrimSuffix(eventText(e), "\n")
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		return fmt.Sprintf("%s: %d lines, last: %s", e.Kind, strings.Count(text, "\n")+1, truncate(text[i+1:], 200))
	}
	return e.Kind + ": " + truncate(text, 200)
}

// block prints indented JSON under a heading. JSON escapes C0 controls but
// not DEL or C1 ones, and text that is not JSON is printed as it is, so on
// a terminal it goes through sanitizeTerminal too.
func block(ios *IOStreams, name string, raw json.RawMessage) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		fmt.Fprintf(ios.Out, "%s: %s\n", name, terminalText(ios, string(raw)))
		return
	}
	b, _ := json.MarshalIndent(v, "  ", "  ")
	fmt.Fprintf(ios.Out, "%s:\n  %s\n", name, terminalText(ios, string(b)))
}

// summary is a one-line account of an agent run from its result.
func summary(t db.Task) string {
	if len(t.Result) == 0 {
		return ""
	}
	var r struct {
		Steps      *int   `json:"steps"`
		StopReason string `json:"stop_reason"`
		Provider   string `json:"provider"`
		Model      string `json:"model"`
		Usage      *struct {
			In    int64 `json:"input_tokens"`
			Out   int64 `json:"output_tokens"`
			Total int64 `json:"total_tokens"`
		} `json:"usage"`
		ExitCode *int `json:"exit_code"`
	}
	if json.Unmarshal(t.Result, &r) != nil {
		return ""
	}
	var parts []string
	if r.Steps != nil {
		parts = append(parts, fmt.Sprintf("%d steps", *r.Steps))
	}
	if r.StopReason != "" {
		parts = append(parts, "stop: "+r.StopReason)
	}
	if r.Usage != nil {
		parts = append(parts, fmt.Sprintf("tokens %d in + %d out = %d", r.Usage.In, r.Usage.Out, r.Usage.Total))
	}
	if r.Model != "" {
		parts = append(parts, r.Provider+"/"+r.Model)
	}
	if r.ExitCode != nil {
		parts = append(parts, fmt.Sprintf("exit code %d", *r.ExitCode))
	}
	return strings.Join(parts, ", ")
}

// inputSummary is a short human form of a task's input.
func inputSummary(t db.Task) string {
	var in struct {
		Command []string `json:"command"`
		Shell   string   `json:"shell"`
		Prompt  string   `json:"prompt"`
	}
	json.Unmarshal(t.Input, &in)
	switch {
	case len(in.Command) > 0:
		return strings.Join(in.Command, " ")
	case in.Shell != "":
		return in.Shell
	case in.Prompt != "":
		return in.Prompt
	}
	return string(t.Input)
}
