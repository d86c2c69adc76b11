package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
	"github.com/opsctl/opsctl/internal/taskio"
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
		Use:   "show ID",
		Short: "Show one task: every field, input, result, error and recent events",
		Example: `  opsctl show 42
  opsctl show 42 -o json | jq -r .result.stdout
  opsctl show $(opsctl list -q --status failed | head -1)`,
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
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	cmd.Flags().IntVar(&opts.Events, "events", 10, "how many recent events to show")
	return cmd
}

func runShow(ctx context.Context, o *ShowOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	t, err := s.Get(ctx, o.ID)
	if err != nil {
		return err
	}
	deps, blocked, err := taskDependencies(ctx, s, t)
	if err != nil {
		return err
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, newShowTaskJSON(t, deps, blocked))
	}
	evs, total, err := s.LastEvents(ctx, t.ID, max(o.Events, 0))
	if err != nil {
		return err
	}
	var wait *db.Approval
	if t.Status == db.StatusWaiting {
		a, ok, err := s.LastApproval(ctx, t.ID)
		if err != nil {
			return err
		}
		if ok && a.Open() {
			wait = &a
		}
	}
	return printTask(o.F, t, evs, total, deps, blocked, wait)
}

func printTask(f *Factory, t db.Task, evs []db.Event, total int64, deps db.Dependencies, blocked []int64, wait *db.Approval) error {
	io := f.IO
	now := f.Now()
	p := &showPrinter{io: io, width: io.Width()}
	p.field("ID", fmt.Sprint(t.ID))
	p.field("Type", t.Type)
	if t.Name != "" {
		p.field("Name", t.Name)
	}
	p.status(string(t.Status))
	p.field("Queue", fmt.Sprintf("%s (priority %d)", t.Queue, t.Priority))
	if t.Type == "exec" {
		// Where the command runs: the submitter's directory unless -C said
		// otherwise; without one (tasks of older versions), the runner's.
		dir := "the runner's working directory"
		if in, err := runner.ParseExecInput(t.Input); err == nil && in.Dir != "" {
			dir = in.Dir
		}
		p.field("Runs in", dir)
	}
	p.field("Attempts", fmt.Sprintf("%d of %d", t.Attempts, t.MaxAttempts))
	if t.Timeout > 0 {
		p.field("Timeout", t.Timeout.String())
	}
	if t.Key != "" {
		p.field("Key", t.Key)
	}
	p.field("Created", formatTimeLong(t.CreatedAt, now, io.OutTTY))
	if t.Status == db.StatusPending && t.RunAfter.After(now) {
		p.field("Run after", formatTimeLong(t.RunAfter, now, io.OutTTY))
	}
	printDependencies(p, deps, blocked)
	if !t.StartedAt.IsZero() {
		p.field("Started", formatTimeLong(t.StartedAt, now, io.OutTTY))
	}
	if !t.FinishedAt.IsZero() {
		p.field("Finished", formatTimeLong(t.FinishedAt, now, io.OutTTY))
		if !t.StartedAt.IsZero() {
			p.field("Duration", t.FinishedAt.Sub(t.StartedAt).String())
		}
	}
	if t.Status == db.StatusRunning {
		p.field("Worker", fmt.Sprintf("%s (lease until %s)", t.LeaseWorker, formatTimeLong(t.LeaseExpires, now, io.OutTTY)))
		if t.CancelRequested {
			p.field("Cancel", "requested")
		}
	}
	if wait != nil {
		p.wrapped("Waits for", fmt.Sprintf("approval of %s(%s) since %s, until %s; opsctl approve %d, or opsctl deny %d",
			wait.Tool, truncate(string(wait.Arguments), 200), formatTimeLong(wait.RequestedAt, now, io.OutTTY),
			formatTimeLong(wait.ExpiresAt, now, io.OutTTY), t.ID, t.ID))
	}
	if t.Error != "" {
		p.wrapped("Error", t.Error)
	}
	if sum := summary(t); sum != "" {
		p.field("Summary", sum)
	}
	if cost, ok := taskCost(t); ok {
		p.field("Cost", agent.FormatUSD(cost))
	}
	p.block("Input", t.Input)
	if len(t.Result) > 0 {
		p.block("Result", t.Result)
	}
	if len(evs) > 0 {
		p.line(fmt.Sprintf("Events (%d of %d):", len(evs), total))
		for _, e := range evs {
			p.line(fmt.Sprintf("  %s  %s", formatTime(e.At, now, io.OutTTY), showEventLine(e)))
		}
	}
	_, err := io.Out.Write(p.buf.Bytes())
	return err
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

// showPrinter prints show's lines. Every value can hold text from a user,
// a command or a model: on a terminal it is made unable to act on the
// terminal (sanitizeTerminal), its tabs are expanded, and each line is cut
// to the window's width with "…" (the error is wrapped instead). Piped,
// lines are printed whole and as they are.
type showPrinter struct {
	io    *IOStreams
	width int
	buf   bytes.Buffer
}

// labelWidth is the width of a field's label with the space after it.
const labelWidth = 14

func (p *showPrinter) line(s string) {
	if p.io.OutTTY {
		s = cutToWidth(expandTabs(sanitizeTerminal(s)), p.width)
	}
	p.buf.WriteString(s)
	p.buf.WriteByte('\n')
}

func (p *showPrinter) field(k, v string) {
	p.line(fmt.Sprintf("%-*s%s", labelWidth, k+":", v))
}

// status is the status field, in its colour when colour is on; the
// colour's reset comes before the newline.
func (p *showPrinter) status(s string) {
	if !p.io.Color {
		p.field("Status", s)
		return
	}
	v := cutToWidth(sanitizeTerminal(s), p.width-labelWidth)
	fmt.Fprintf(&p.buf, "%-*s%s\n", labelWidth, "Status:", paint(statusColor(s), v))
}

// maxWrapped is how many lines a wrapped field takes at most.
const maxWrapped = 20

// wrapped is a field whose every word matters (the error): on a terminal
// it is wrapped under its label rather than cut.
func (p *showPrinter) wrapped(k, v string) {
	if !p.io.OutTTY {
		p.field(k, v)
		return
	}
	lines := wrapToWidth(expandTabs(sanitizeTerminal(v)), p.width-labelWidth)
	if len(lines) > maxWrapped {
		lines = append(lines[:maxWrapped-1], ellipsis)
	}
	for i, l := range lines {
		label := ""
		if i == 0 {
			label = k + ":"
		}
		p.line(fmt.Sprintf("%-*s%s", labelWidth, label, l))
	}
}

// block prints a JSON value under a heading, indented (see showJSON).
// Text that is not JSON is printed as it is.
func (p *showPrinter) block(name string, raw json.RawMessage) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		p.line(name + ": " + string(raw))
		return
	}
	var b strings.Builder
	taskio.WriteJSONText(&b, v, "")
	p.line(name + ":")
	for _, l := range strings.Split(b.String(), "\n") {
		p.line("  " + l)
	}
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
