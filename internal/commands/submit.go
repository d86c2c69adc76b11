package commands

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/runner"
	"github.com/opsctl/opsctl/internal/taskio"
)

// SubmitOptions are the flags of `opsctl submit`.
type SubmitOptions struct {
	F *Factory

	Type        string
	Input       string
	Prompt      string
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
	After       []string // --after ID[,ID...]: runs once these tasks completed
	Quiet       bool
	Wait        bool
	WaitTimeout string
	Follow      bool

	// Exec tasks: the working directory and variables added to "env".
	Dir string
	Env []string

	// Agent tasks: each sets its field of the input.
	Model     string
	Provider  string
	System    string
	BaseURL   string
	Tools     []string
	MCP       []string
	MaxSteps  int
	MaxTokens int

	// Changed reports whether a flag was given; set by the command (nil
	// means every flag with a non-zero value counts as given).
	Changed func(name string) bool

	// now is the time buildTask took --in from.
	now time.Time
}

// agentFlags are the flags that fill an agent task's input, besides
// --prompt, with the input field each sets.
func agentFlags() []struct{ flag, field string } {
	return []struct{ flag, field string }{
		{"model", "model"}, {"provider", "provider"}, {"system", "system"}, {"base-url", "base_url"},
		{"tool", "tools"}, {"mcp", "mcp_servers"}, {"max-steps", "max_steps"}, {"max-tokens", "max_tokens"},
	}
}

func newSubmitCmd(f *Factory, runF func(context.Context, *SubmitOptions) error) *cobra.Command {
	opts := &SubmitOptions{F: f}
	cmd := &cobra.Command{
		Use:   "submit [flags] [-- COMMAND ARGS...]",
		Short: "Add a task to the queue",
		Long: fmt.Sprintf(`Add a task and print its id.

An exec task runs a command: give it after --, or as --input with "command"
(an argv list) or "shell" (a line for /bin/sh -c), plus optional "env" and
"dir". It runs in the directory submit was run from, unless -C or the
input's "dir" names another (a relative "dir" is taken from there too);
-e NAME=VALUE adds to its environment.

An agent task runs an LLM with tools: give --prompt, or --input with
"prompt" and the other agent fields; the agent flags (-m, --provider, -T,
--mcp, -s, --base-url, --max-steps, --max-tokens) set the input's fields
('opsctl help agent' lists them, 'opsctl tools' the tools).

Without --type, the type follows from what is given: a command or an input
with "command" or "shell" is exec, --prompt or an input with "prompt" is
agent.

--batch reads JSON Lines, one task per line with the fields type, input,
name, queue, priority, max_attempts, timeout, key, run_after and after
(task ids, or "#N" for the task on line N of the same file). Every line
is checked before any is stored; a batch of up to %[1]d tasks is stored in
one transaction, or none, a longer one %[1]d tasks per transaction. Exec
lines without a "dir" run in the directory submit was run from.

--key K: a second submit with the same key and the same type and input
prints the first task's id and stores nothing; with another input it is
refused (exit 2).

Limits: an input is at most %[2]s, a --key %[3]s, a batch line %[4]s,
a --timeout at least %[5]s.`, batchTxTasks, taskio.ExactSize(taskio.MaxInputBytes), taskio.ExactSize(taskio.MaxKeyBytes), taskio.ExactSize(taskio.MaxLineBytes), taskio.MinTimeout),
		Example: `  opsctl submit -- make -C /srv/app backup
  cd /srv/app && opsctl submit -e STAGE=prod -- ./sync.sh
  opsctl submit --input '{"shell":"df -h | tail -n +2"}' --name disk
  opsctl submit --prompt "Summarise today's failed tasks" -m gpt-4.1-mini -T current_time
  opsctl submit --at 'tomorrow 02:00' -- ./nightly.sh
  opsctl submit -f -- ./deploy.sh
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
			opts.Changed = cmd.Flags().Changed
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSubmit(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Type, "type", "t", "", "task type: exec or agent (implied by a command, --prompt or the input's fields)")
	fl.StringVarP(&opts.Input, "input", "i", "", "input JSON object, @FILE, or - for stdin")
	fl.StringVarP(&opts.Name, "name", "n", "", "a label for the task")
	fl.StringVar(&opts.Queue, "queue", "default", "queue name")
	fl.IntVar(&opts.Priority, "priority", 0, "higher runs first")
	fl.StringVar(&opts.At, "at", "", "run not before this time (RFC 3339, 2006-01-02 15:04, 15:04 or 'tomorrow 09:00')")
	fl.StringVar(&opts.In, "in", "", "run not before this long from now (e.g. 10m, 2h, 1d, 2w)")
	fl.IntVar(&opts.MaxAttempts, "max-attempts", 1, "tries before the task fails for good")
	fl.StringVar(&opts.Timeout, "timeout", "", "time limit for one attempt (e.g. 30s, 5m)")
	fl.StringVar(&opts.Key, "key", "", "idempotency key: a second submit with this key returns the first task")
	fl.StringVar(&opts.Batch, "batch", "", "read tasks as JSON Lines from FILE or - (stdin)")
	fl.StringArrayVar(&opts.After, "after", nil, "run only once these tasks completed (IDs, comma-separated or repeated); cancelled if one fails")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print only the id")
	fl.BoolVarP(&opts.Wait, "wait", "w", false, "wait for the task to finish; exit as 'opsctl wait' does")
	fl.StringVar(&opts.WaitTimeout, "wait-timeout", "", "with --wait: give up after this long (exit 124)")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "follow the task's log as 'opsctl logs -f' does; exit as 'opsctl wait' does")

	addTaskKindFlags(fl, opts)

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

// changed reports whether the flag name was given.
func (o *SubmitOptions) changed(name string) bool {
	if o.Changed != nil {
		return o.Changed(name)
	}
	switch name {
	case "model":
		return o.Model != ""
	case "provider":
		return o.Provider != ""
	case "system":
		return o.System != ""
	case "base-url":
		return o.BaseURL != ""
	case "tool":
		return len(o.Tools) > 0
	case "mcp":
		return len(o.MCP) > 0
	case "max-steps":
		return o.MaxSteps != 0
	case "max-tokens":
		return o.MaxTokens != 0
	case "dir":
		return o.Dir != ""
	case "env":
		return len(o.Env) > 0
	}
	return false
}

// agentFlagGiven names the first agent flag given (besides --prompt), or "".
func (o *SubmitOptions) agentFlagGiven() string {
	for _, a := range agentFlags() {
		if o.changed(a.flag) {
			return "--" + a.flag
		}
	}
	return ""
}

// execFlagGiven names the first exec flag given, or "".
func (o *SubmitOptions) execFlagGiven() string {
	for _, name := range []string{"dir", "env"} {
		if o.changed(name) {
			return "--" + name
		}
	}
	return ""
}

// buildTask turns the single-task flags into a NewTask, validated.
func (o *SubmitOptions) buildTask() (db.NewTask, error) {
	t := db.NewTask{Type: o.Type, Name: o.Name, Queue: o.Queue, Priority: o.Priority, MaxAttempts: o.MaxAttempts, Key: o.Key}
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
	}
	var in taskio.Object
	switch {
	case len(o.Command) > 0:
		if t.Type == "" {
			t.Type = "exec"
		}
		if t.Type != "exec" {
			return t, usageErrorf("a command after -- makes an exec task, not %s", t.Type)
		}
		in.Set("command", o.Command)
	case o.Prompt != "":
		if t.Type == "" {
			t.Type = "agent"
		}
		if t.Type != "agent" {
			return t, usageErrorf("--prompt makes an agent task, not %s", t.Type)
		}
		in.Set("prompt", o.Prompt)
	default:
		b, err := readArgLimit("--input", o.Input, o.F.IO.In, taskio.MaxInputBytes)
		if err != nil {
			return t, err
		}
		raw, err := taskio.ParseObject("--input", b)
		if err != nil {
			return t, usageErr(err)
		}
		if in, err = taskio.DecodeObject(raw); err != nil {
			return t, usageErr(fmt.Errorf("--input: %w", err))
		}
		if t.Type == "" {
			if t.Type = taskio.InferType(in); t.Type == "" {
				return t, usageErrorf("--type is required with --input (one of %v)", o.F.Registry.Types())
			}
		}
	}
	if flag := o.agentFlagGiven(); flag != "" && t.Type != "agent" {
		return t, usageErrorf("%s goes with agent tasks, not %s", flag, t.Type)
	}
	if flag := o.execFlagGiven(); flag != "" && t.Type != "exec" {
		return t, usageErrorf("%s goes with exec tasks, not %s", flag, t.Type)
	}
	var cwd string
	switch t.Type {
	case "exec":
		var err error
		if cwd, err = submitDir(); err != nil {
			return t, err
		}
		if err := o.applyExecFlags(&in, cwd); err != nil {
			return t, err
		}
	case "agent":
		o.applyAgentFlags(&in)
	}
	t.Input = in.Encode()
	if t.MaxAttempts < 1 {
		return t, usageErrorf("--max-attempts must be at least 1, got %d", t.MaxAttempts)
	}
	if err := taskio.CheckKey("--key", t.Key); err != nil {
		return t, usageErr(err)
	}
	for _, l := range []struct{ what, s string }{{"--name", t.Name}, {"--queue", t.Queue}} {
		if err := taskio.CheckLabel(l.what, l.s); err != nil {
			return t, usageErr(err)
		}
	}
	if o.At != "" && o.In != "" {
		return t, usageErrorf("give --at or --in, not both")
	}
	now := o.F.Now()
	o.now = now
	if o.At != "" {
		at, err := parseAt("--at", o.At, now, time.Local)
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
	after, err := parseAfterFlag(o.After)
	if err != nil {
		return t, err
	}
	t.After = after
	given := len(t.Input)
	if t.Type == "exec" {
		t.Input = taskio.ExecInputDir(in, cwd).Encode()
	}
	if err := o.F.Registry.Validate(t.Type, t.Input); err != nil {
		return t, usageErr(err)
	}
	// --input was measured as read; an input made from --prompt, a
	// command or the flags is held to the same limit (a command is
	// usually refused by the exec checks first). The working directory
	// submit adds is not counted: the limit is on what the user gave.
	if err := taskio.CheckInputSize("the task's input", int64(given)); err != nil {
		return t, usageErr(err)
	}
	return t, nil
}

// applyExecFlags puts --dir and --env into an exec input: --dir made
// absolute (it must be a directory now), --env merged into "env" (a
// variable given there too is replaced).
func (o *SubmitOptions) applyExecFlags(in *taskio.Object, cwd string) error {
	if o.Dir != "" {
		dir := o.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
		fi, err := os.Stat(dir)
		var pe *fs.PathError
		switch {
		case errors.As(err, &pe):
			return usageErrorf("--dir %s: %v", o.Dir, pe.Err)
		case err != nil:
			return usageErrorf("--dir %s: %v", o.Dir, err)
		case !fi.IsDir():
			return usageErrorf("--dir %s: not a directory", o.Dir)
		}
		in.Set("dir", dir)
	}
	if len(o.Env) == 0 {
		return nil
	}
	var env taskio.Object
	if raw, ok := in.Get("env"); ok {
		var err error
		if env, err = taskio.DecodeObject(raw); err != nil {
			return usageErrorf(`exec input: field "env" must be an object of strings (%v)`, err)
		}
	}
	for _, kv := range o.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return usageErrorf("--env %q: want NAME=VALUE", kv)
		}
		if err := runner.CheckEnvName(k); err != nil {
			return usageErrorf("--env %q: %v", kv, err)
		}
		env.Set(k, v)
	}
	in.SetRaw("env", env.Encode())
	return nil
}

// applyAgentFlags sets the agent input fields the flags give.
func (o *SubmitOptions) applyAgentFlags(in *taskio.Object) {
	vals := map[string]any{
		"model": o.Model, "provider": o.Provider, "system": o.System, "base-url": o.BaseURL,
		"tool": nonNil(o.Tools), "mcp": nonNil(o.MCP), "max-steps": o.MaxSteps, "max-tokens": o.MaxTokens,
	}
	for _, a := range agentFlags() {
		if o.changed(a.flag) {
			in.Set(a.field, vals[a.flag])
		}
	}
}

// nonNil keeps an empty list a list in JSON (`--tool ""` means no tools).
func nonNil(s []string) []string {
	out := []string{}
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// submitDir is the directory submit runs in, where exec tasks run unless
// they say otherwise.
func submitDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", usageErrorf("cannot tell the current directory (%v); give --dir", err)
	}
	return dir, nil
}

func runSubmit(ctx context.Context, o *SubmitOptions) error {
	if o.Batch != "" {
		return runSubmitBatch(ctx, o)
	}
	if o.Follow && o.Wait {
		return usageErrorf("give --follow or --wait, not both")
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
		return dependencyError(err)
	}
	io := o.F.IO
	if r.Existed {
		// Nothing was written: the key is an earlier task's. It is the
		// same task only if it runs the same thing.
		status := ""
		if prev, err := s.Get(ctx, r.ID); err == nil {
			status = fmt.Sprintf(" (%s)", prev.Status)
			switch {
			case prev.Type != t.Type:
				return usageErrorf("key %q is task %d%s, an %s task, not %s; use another key", t.Key, r.ID, status, prev.Type, t.Type)
			case !taskio.SameJSON(prev.Input, t.Input):
				return usageErrorf("key %q is task %d%s with another input; use another key", t.Key, r.ID, status)
			}
		}
		fmt.Fprintf(io.ErrOut, "note: key %q is task %d%s; nothing new was submitted\n", t.Key, r.ID, status)
	}
	// With --follow, stdout is the task's log, and the note that it was
	// submitted goes to stderr.
	out := io.Out
	if o.Follow {
		out = io.ErrOut
	}
	switch {
	case o.Quiet && o.Follow:
	case o.Quiet:
		fmt.Fprintln(out, r.ID)
	case r.Existed:
		fmt.Fprintf(out, "task %d\n", r.ID)
	default:
		what := fmt.Sprintf("%s, queue %s", t.Type, defaultStr(t.Queue, "default"))
		if len(t.After) > 0 {
			what += ", " + afterText(t.After)
		}
		if !t.RunAfter.IsZero() {
			if when := whenRuns(t.RunAfter, o.now, time.Local); when != "" {
				what += ", " + when
			}
		}
		fmt.Fprintf(out, "task %d submitted (%s)\n", r.ID, what)
	}
	// A dependency that already failed or was cancelled cancels the task
	// as it is stored: say so, or a script would take it for queued.
	if len(t.After) > 0 && !r.Existed {
		if got, err := s.Get(ctx, r.ID); err == nil && got.Status == db.StatusCancelled {
			fmt.Fprintf(io.ErrOut, "note: task %d is cancelled already: %s\n", r.ID, got.Error)
		}
	}
	switch {
	case o.Follow:
		return followTask(ctx, o.F, s, r.ID)
	case o.Wait:
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

// addTaskKindFlags adds the flags that fill an exec or an agent task's
// input: submit and schedule add share them.
func addTaskKindFlags(fl *pflag.FlagSet, opts *SubmitOptions) {
	fl.StringVarP(&opts.Dir, "dir", "C", "", "exec task: run in DIR (default: the current directory)")
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "exec task: add NAME=VALUE to its environment (repeatable)")

	fl.StringVarP(&opts.Prompt, "prompt", "p", "", "agent task: the prompt")
	fl.StringVarP(&opts.Model, "model", "m", "", "agent task: the model")
	fl.StringVar(&opts.Provider, "provider", "", "agent task: the provider (openai, anthropic, openrouter, ollama, gemini)")
	fl.StringVarP(&opts.System, "system", "s", "", "agent task: the system prompt")
	fl.StringVar(&opts.BaseURL, "base-url", "", "agent task: another endpoint for the provider (gets no API key)")
	fl.StringSliceVarP(&opts.Tools, "tool", "T", nil, "agent task: a tool it may use, built-in or SERVER__TOOL (repeatable)")
	fl.StringSliceVar(&opts.MCP, "mcp", nil, "agent task: an MCP server whose tools it may use (repeatable)")
	fl.IntVar(&opts.MaxSteps, "max-steps", 0, "agent task: at most this many model calls")
	fl.IntVar(&opts.MaxTokens, "max-tokens", 0, "agent task: token budget for the whole run")
}
