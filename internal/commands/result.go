package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// ResultOptions are the flags of `opsctl result`.
type ResultOptions struct {
	F      *Factory
	ID     int64
	Stderr bool
}

func newResultCmd(f *Factory) *cobra.Command {
	opts := &ResultOptions{F: f}
	cmd := &cobra.Command{
		Use:   "result ID",
		Short: "Print a finished task's result for scripts: a command's output, an agent's answer",
		Long: `Print what a finished task produced, raw, for scripts:

  exec   the command's stdout, byte for byte, nothing added (the last
         runner.output_tail bytes, 64 KiB by default); --stderr: its stderr
  agent  the model's final answer, whole, ending with a newline

A finished task's result is printed whether it completed or failed ('opsctl
wait' tells which). Exit 1 when the task is not finished yet or left no
result (an agent task that failed has no answer), 3 when there is no such
task. On a terminal, control characters are shown as escapes, as 'opsctl
logs' does.`,
		Example: `  opsctl result 42 > backup.log
  answer=$(opsctl wait -q 43 && opsctl result 43)`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTaskIDs(f, db.StatusCompleted, db.StatusFailed, db.StatusCancelled),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			opts.ID = id
			return runResult(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Stderr, "stderr", false, "exec task: print its stderr instead of its stdout")
	return cmd
}

func runResult(ctx context.Context, o *ResultOptions) error {
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	t, err := s.Get(ctx, o.ID)
	if err != nil {
		return err
	}
	if o.Stderr && t.Type != "exec" {
		return usageErrorf("--stderr goes with exec tasks; task %d is an %s task", t.ID, t.Type)
	}
	if !t.Status.Finished() {
		return fmt.Errorf("task %d is %s: no result yet (opsctl wait %d)", t.ID, t.Status, t.ID)
	}
	noResult := func(what string) error {
		msg := fmt.Sprintf("task %d (%s) has no %s", t.ID, t.Status, what)
		if t.Error != "" {
			msg += ": " + oneLine(t.Error)
		}
		return fmt.Errorf("%s", msg)
	}
	raw := bytes.TrimSpace(t.Result)
	if len(raw) == 0 || string(raw) == "null" {
		return noResult("result")
	}
	var text string
	switch t.Type {
	case "exec":
		var r struct {
			Stdout *string `json:"stdout"`
			Stderr *string `json:"stderr"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("task %d: result is not an exec result: %w", t.ID, err)
		}
		p, what := r.Stdout, "stdout"
		if o.Stderr {
			p, what = r.Stderr, "stderr"
		}
		if p == nil {
			return noResult(what)
		}
		text = *p
	case "agent":
		var r struct {
			Answer string `json:"answer"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("task %d: result is not an agent result: %w", t.ID, err)
		}
		if r.Answer == "" {
			return noResult("answer")
		}
		text = r.Answer
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
	default:
		// A type this command does not know: its result as JSON.
		text = string(raw) + "\n"
	}
	if o.F.IO.OutTTY {
		text = sanitizeTerminal(text)
	}
	_, err = io.WriteString(o.F.IO.Out, text)
	return err
}
