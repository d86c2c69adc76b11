package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// SubmitOptions are the flags of `opsctl submit`.
type SubmitOptions struct {
	F *Factory

	Type        string
	Input       string
	Prompt      string
	Model       string
	Provider    string
	Command     []string // after --
	Name        string
	Queue       string
	Priority    int
	At          string
	In          string
	MaxAttempts int
	Timeout     string
	Key         string
	Batch       string
	Quiet       bool
	Wait        bool
	WaitTimeout string
}

func newSubmitCmd(f *Factory, runF func(context.Context, *SubmitOptions) error) *cobra.Command {
	opts := &SubmitOptions{F: f}
	cmd := &cobra.Command{
		Use:   "submit [flags] [-- COMMAND ARGS...]",
		Short: "Add a task to the queue",
		Long: fmt.Sprintf(`Add a task and print its id.

An exec task runs a command: give it after --, or as --input with "command"
(an argv list) or "shell" (a line for /bin/sh -c), plus optional "env" and
"dir". An agent task runs an LLM with tools: give --prompt, or --input with
"prompt" and the other agent fields.

--batch reads JSON Lines, one task per line with the fields type, input,
name, queue, priority, max_attempts, timeout, key and run_after. Every line
is checked before any is stored; a batch of up to %[1]d tasks is stored in
one transaction, or none, a longer one %[1]d tasks per transaction.

Limits: an input is at most %[2]s, a --key %[3]s, a batch line %[4]s,
a --timeout at least %[5]s.`, batchTxTasks, exactSize(maxInputBytes), exactSize(maxKeyBytes), exactSize(maxBatchLineBytes), minTimeout),
		Example: `  opsctl submit -- make -C /srv/app backup
  opsctl submit --type exec --input '{"shell":"df -h | tail -n +2"}' --name disk
  opsctl submit --prompt "Summarise today's failed tasks" --model gpt-4.1-mini
  id=$(opsctl submit -q --key nightly-$(date +%F) -- ./nightly.sh)
  opsctl submit --batch tasks.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				opts.Command = args[dash:]
				args = args[:dash]
			}
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q: put a command after --", args[0])
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSubmit(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Type, "type", "t", "", "task type: exec or agent (implied by -- or --prompt)")
	fl.StringVarP(&opts.Input, "input", "i", "", "input JSON object, @FILE, or - for stdin")
	fl.StringVarP(&opts.Prompt, "prompt", "p", "", "agent task: the prompt")
	fl.StringVar(&opts.Model, "model", "", "agent task: the model")
	fl.StringVar(&opts.Provider, "provider", "", "agent task: the provider (openai, anthropic, openrouter, ollama, gemini)")
	fl.StringVarP(&opts.Name, "name", "n", "", "a label for the task")
	fl.StringVar(&opts.Queue, "queue", "default", "queue name")
	fl.IntVar(&opts.Priority, "priority", 0, "higher runs first")
	fl.StringVar(&opts.At, "at", "", "run not before this time (RFC 3339 or 2006-01-02 15:04)")
	fl.StringVar(&opts.In, "in", "", "run not before this long from now (e.g. 10m, 2h, 1d)")
	fl.IntVar(&opts.MaxAttempts, "max-attempts", 1, "tries before the task fails for good")
	fl.StringVar(&opts.Timeout, "timeout", "", "time limit for one attempt (e.g. 30s, 5m)")
	fl.StringVar(&opts.Key, "key", "", "idempotency key: a second submit with this key returns the first task")
	fl.StringVar(&opts.Batch, "batch", "", "read tasks as JSON Lines from FILE or - (stdin)")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the id")
	fl.BoolVarP(&opts.Wait, "wait", "w", false, "wait for the task to finish; exit as 'opsctl wait' does")
	fl.StringVar(&opts.WaitTimeout, "wait-timeout", "", "with --wait: give up after this long (exit 124)")
	cmd.RegisterFlagCompletionFunc("type", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Registry.Types(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// buildTask turns the single-task flags into a NewTask, validated.
func (o *SubmitOptions) buildTask() (db.NewTask, error) {
	t := db.NewTask{Type: o.Type, Name: o.Name, Queue: o.Queue, Priority: o.Priority, MaxAttempts: o.MaxAttempts, Key: o.Key}
	agentFlags := o.Prompt != "" || o.Model != "" || o.Provider != ""
	sources := 0
	for _, set := range []bool{o.Input != "", o.Prompt != "", len(o.Command) > 0} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return t, usageErrorf("nothing to run: give --input, --prompt, or a command after --")
	case sources > 1:
		return t, usageErrorf("give only one of --input, --prompt, or a command after --")
	case (o.Model != "" || o.Provider != "") && o.Prompt == "":
		return t, usageErrorf("--model and --provider go with --prompt")
	}
	switch {
	case len(o.Command) > 0:
		if t.Type == "" {
			t.Type = "exec"
		}
		if t.Type != "exec" {
			return t, usageErrorf("a command after -- makes an exec task, not %s", t.Type)
		}
		t.Input, _ = json.Marshal(map[string]any{"command": o.Command})
	case agentFlags:
		if t.Type == "" {
			t.Type = "agent"
		}
		if t.Type != "agent" {
			return t, usageErrorf("--prompt makes an agent task, not %s", t.Type)
		}
		in := map[string]string{"prompt": o.Prompt}
		if o.Model != "" {
			in["model"] = o.Model
		}
		if o.Provider != "" {
			in["provider"] = o.Provider
		}
		t.Input, _ = json.Marshal(in)
	default:
		b, err := readArgLimit("--input", o.Input, o.F.IO.In, maxInputBytes)
		if err != nil {
			return t, err
		}
		if t.Input, err = parseObject("--input", b); err != nil {
			return t, usageErr(err)
		}
		if t.Type == "" {
			return t, usageErrorf("--type is required with --input (one of %v)", o.F.Registry.Types())
		}
	}
	if t.MaxAttempts < 1 {
		return t, usageErrorf("--max-attempts must be at least 1, got %d", t.MaxAttempts)
	}
	if err := checkKey("--key", t.Key); err != nil {
		return t, usageErr(err)
	}
	if o.At != "" && o.In != "" {
		return t, usageErrorf("give --at or --in, not both")
	}
	now := o.F.Now()
	if o.At != "" {
		at, err := parseTime("--at", o.At, time.Local)
		if err != nil {
			return t, err
		}
		t.RunAfter = at
	}
	if o.In != "" {
		d, err := parseDuration("--in", o.In)
		if err != nil {
			return t, err
		}
		t.RunAfter = now.Add(d)
	}
	if o.Timeout != "" {
		d, err := parseTimeout("--timeout", o.Timeout)
		if err != nil {
			return t, err
		}
		t.Timeout = d
	}
	if err := o.F.Registry.Validate(t.Type, t.Input); err != nil {
		return t, usageErr(err)
	}
	// --input was measured as read; an input made from --prompt or a
	// command is held to the same limit (a command is usually refused by
	// the exec checks first).
	if err := checkInputSize("the task's input", int64(len(t.Input))); err != nil {
		return t, usageErr(err)
	}
	return t, nil
}

func runSubmit(ctx context.Context, o *SubmitOptions) error {
	if o.Batch != "" {
		return runSubmitBatch(ctx, o)
	}
	t, err := o.buildTask()
	if err != nil {
		return err
	}
	var waitTimeout time.Duration
	if o.WaitTimeout != "" {
		if !o.Wait {
			return usageErrorf("--wait-timeout goes with --wait")
		}
		if waitTimeout, err = parseDuration("--wait-timeout", o.WaitTimeout); err != nil {
			return err
		}
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	r, err := s.Submit(ctx, t)
	if err != nil {
		return err
	}
	io := o.F.IO
	if r.Existed {
		fmt.Fprintf(io.ErrOut, "note: task %d already has key %q; nothing new was submitted\n", r.ID, t.Key)
	}
	if o.Quiet {
		fmt.Fprintln(io.Out, r.ID)
	} else if !r.Existed {
		fmt.Fprintf(io.Out, "task %d submitted (%s, queue %s)\n", r.ID, t.Type, defaultStr(t.Queue, "default"))
	} else {
		fmt.Fprintf(io.Out, "task %d\n", r.ID)
	}
	if o.Wait {
		return waitForTasks(ctx, o.F, s, []int64{r.ID}, waitTimeout, o.Quiet)
	}
	return nil
}

func defaultStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
