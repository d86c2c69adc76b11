package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/config"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/notify"
)

// NotifyOptions are the flags of `opsctl notify test`.
type NotifyOptions struct {
	F      *Factory
	Rule   string
	Status string
}

func newNotifyCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Check the notification rules of the config",
		Long: `Runners ('opsctl run') deliver notifications of task transitions as the
config's notify: rules say: a command (the task's JSON on stdin, its fields
in OPSCTL_TASK_* variables) or a webhook (a JSON POST signed as Standard
Webhooks specifies). Each transition is sent once per rule, whichever runner
sends it, retried with backoff, and recorded on the task as a 'notified' or
'notify_failed' event.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newNotifyTestCmd(f))
	return cmd
}

func newNotifyTestCmd(f *Factory) *cobra.Command {
	opts := &NotifyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "test RULE",
		Short: "Send a sample notification to one rule's target",
		Long: `Send one sample notification, for a made-up task (id 0, named
"opsctl notify test"), to the target of RULE: the rule's id, or its place
in the notify: list (1 is the first). Nothing is written to the database.

--status picks the status the sample is for (default: the rule's first).
Exit 0 when the target took it, 1 when it did not (the reason on stderr),
2 for a bad config or secret, 3 when there is no such rule.`,
		Example: `  opsctl notify test 1
  opsctl notify test pager --status failed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Rule = args[0]
			return runNotifyTest(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Status, "status", "", "the sample's status: completed, failed, cancelled or waiting")
	cmd.RegisterFlagCompletionFunc("status", fixedCompletion("completed", "failed", "cancelled", "waiting"))
	return cmd
}

func runNotifyTest(ctx context.Context, o *NotifyOptions) error {
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	rules := c.NotifyRules()
	r, ok := notify.Find(rules, o.Rule)
	if !ok {
		return &exitError{code: ExitNotFound, err: fmt.Errorf("no notify rule %q (the config has %d; give an id or a number)", o.Rule, len(rules))}
	}
	st := r.On[0]
	if o.Status != "" {
		st = db.Status(o.Status)
		if !st.Valid() || st == db.StatusPending || st == db.StatusRunning {
			return usageErrorf("--status must be completed, failed, cancelled or waiting, not %q", o.Status)
		}
	}
	sender := newNotifySender(o.F, c)
	if err := r.CheckSecret(sender.Getenv); err != nil {
		return usageErr(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	task := db.Task{Type: "exec", Name: "opsctl notify test", Queue: "default", Status: st, Input: []byte(`{"shell":"true"}`),
		Attempts: 1, MaxAttempts: 1, RunAfter: now, CreatedAt: now, UpdatedAt: now, StartedAt: now}
	if r.Type != "" {
		task.Type = r.Type
	}
	if r.Queue != "" {
		task.Queue = r.Queue
	}
	if st.Finished() {
		task.FinishedAt = now
	}
	if st == db.StatusFailed {
		task.Error = "a test notification from opsctl notify test"
	}
	m := notify.Message{ID: "opsctl_notify_test_" + strconv.FormatInt(now.UnixNano(), 10), Status: st, Task: task, At: now}
	detail, err := sender.Send(ctx, r, m)
	if err != nil {
		return fmt.Errorf("notify rule %s: %s: %w", r.Label(), r.Target(), err)
	}
	fmt.Fprintf(o.F.IO.Out, "rule %s: sent a sample %s notification to %s (%s)\n", r.Label(), st, r.Target(), detail)
	return nil
}

// newNotifier is what `opsctl run` delivers notifications with: nil when
// the config has no rules. A webhook secret that is missing or malformed
// stops the runner at start (exit 2) rather than failing each delivery.
func newNotifier(f *Factory, c *config.Config) (*notify.Notifier, error) {
	if len(c.NotifyRules()) == 0 {
		return nil, nil
	}
	sender := newNotifySender(f, c)
	for _, r := range c.NotifyRules() {
		if err := r.CheckSecret(sender.Getenv); err != nil {
			return nil, usageErr(err)
		}
	}
	return &notify.Notifier{Rules: c.NotifyRules(), Sender: sender}, nil
}

// newNotifySender returns a sender whose commands run without the providers' keys, agent.redact_env and the
// webhook secrets, and with OPSCTL_DB set to the runner's database.
func newNotifySender(f *Factory, c *config.Config) *notify.Sender {
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	hidden := append([]string{c.Agent.APIKeyEnv, "OPSCTL_DB"}, c.Agent.RedactEnv...)
	hidden = append(hidden, c.NotifySecretEnvs()...)
	where := c.DB
	if t, err := db.ParseTarget(where); err == nil && t.Dialect == db.SQLiteDialect {
		if abs, err := filepath.Abs(t.Path); err == nil {
			where = abs
		}
	}
	environ := func() []string { return append(llm.EnvWithoutKeys(os.Environ(), hidden...), "OPSCTL_DB="+where) }
	return &notify.Sender{Getenv: getenv, Environ: environ}
}
