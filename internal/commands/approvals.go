package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// ApprovalOptions are the flags of approvals, approve and deny.
type ApprovalOptions struct {
	F      *Factory
	IDs    []int64
	All    bool
	Reason string
	Output string
}

func newApprovalsCmd(f *Factory) *cobra.Command {
	opts := &ApprovalOptions{F: f}
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List the tool calls that wait for a person's approval",
		Long: `List the tool calls of agent tasks that wait for a decision: the task, the
tool, its arguments (redacted as events are), since when it waits and when
the request expires (agent.approval_timeout; then it is denied).

A call waits when the approval policy (agent.approval in the config, or the
task's "approval" input) says ask for its tool. The task is then 'waiting':
it holds no runner. Decide with 'opsctl approve ID' or 'opsctl deny ID'.`,
		Example: `  opsctl approvals
  opsctl approvals -o json | jq -r '.[].task'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runApprovals(cmd.Context(), opts) },
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

// approvalView is one request in `approvals -o json`. Field names are
// stable.
type approvalView struct {
	Request     int64           `json:"request"`
	Task        int64           `json:"task"`
	Name        string          `json:"name"`
	Queue       string          `json:"queue"`
	Tool        string          `json:"tool"`
	Arguments   json.RawMessage `json:"arguments"`
	CallID      string          `json:"call_id"`
	Step        int             `json:"step"`
	RequestedAt time.Time       `json:"requested_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
}

func runApprovals(ctx context.Context, o *ApprovalOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	as, err := s.Approvals(ctx)
	if err != nil {
		return err
	}
	vs := make([]approvalView, 0, len(as))
	for _, a := range as {
		v := approvalView{Request: a.ID, Task: a.TaskID, Tool: a.Tool, Arguments: a.Arguments, CallID: a.CallID,
			Step: a.Step, RequestedAt: a.RequestedAt.UTC(), ExpiresAt: a.ExpiresAt.UTC()}
		if t, err := s.Get(ctx, a.TaskID); err == nil {
			v.Name, v.Queue = t.Name, t.Queue
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		vs = append(vs, v)
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, vs)
	}
	if len(vs) == 0 {
		fmt.Fprintln(o.F.IO.ErrOut, "nothing waits for approval")
		return nil
	}
	now, tty := o.F.Now(), o.F.IO.OutTTY
	tp := newTablePrinter(o.F.IO, "task", "name", "tool", "arguments", "waiting since", "expires")
	for _, v := range vs {
		tp.Row(fmt.Sprint(v.Task), v.Name, v.Tool, string(v.Arguments),
			formatTime(v.RequestedAt, now, tty), formatTime(v.ExpiresAt, now, tty))
	}
	return tp.Flex(1, 3).Render()
}

func newApproveCmd(f *Factory) *cobra.Command {
	return newDecideCmd(f, db.DecisionApproved, &cobra.Command{
		Use:   "approve (ID... | --all)",
		Short: "Approve the tool call a waiting task waits for; the run goes on",
		Long: `Approve the tool call each task waits for. The task goes back to pending and
a runner (any process, on any host) continues the run where it stopped: the
approved call runs and the model reads its result. The model is not asked
again for the turn it already answered.

--all approves every call that waits.`,
		Example: `  opsctl approve 42
  opsctl approve --all`,
	})
}

func newDenyCmd(f *Factory) *cobra.Command {
	return newDecideCmd(f, db.DecisionDenied, &cobra.Command{
		Use:   "deny (ID... | --all) [--reason TEXT]",
		Short: "Deny the tool call a waiting task waits for; the model is told",
		Long: `Deny the tool call each task waits for. The task goes back to pending and
a runner continues the run: the call does not run, and the model gets an
error result saying a person denied it, with --reason if given.

--all denies every call that waits.`,
		Example: `  opsctl deny 42 --reason "not on a Friday"
  opsctl deny --all`,
	})
}

func newDecideCmd(f *Factory, d db.Decision, cmd *cobra.Command) *cobra.Command {
	opts := &ApprovalOptions{F: f}
	cmd.ValidArgsFunction = completeTaskIDs(f, db.StatusWaiting)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) > 0 && opts.All:
			return usageErrorf("give task ids or --all, not both")
		case len(args) == 0 && !opts.All:
			return usageErrorf("%s needs task ids or --all", cmd.Name())
		case len(args) > 0:
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			opts.IDs = ids
		}
		if err := taskio.CheckLabel("--reason", opts.Reason); err != nil {
			return usageErr(err)
		}
		return runDecide(cmd.Context(), opts, d)
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "decide every call that waits")
	if d == db.DecisionDenied {
		cmd.Flags().StringVar(&opts.Reason, "reason", "", "why, for the model and the record")
	}
	return cmd
}

func runDecide(ctx context.Context, o *ApprovalOptions, d db.Decision) error {
	// A decision changes tasks that must be there: no database is exit 6,
	// and none is created.
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	if o.All {
		as, err := s.Approvals(ctx)
		if err != nil {
			return err
		}
		if len(as) == 0 {
			fmt.Fprintln(o.F.IO.ErrOut, "nothing waits for approval")
			return nil
		}
		for _, a := range as {
			o.IDs = append(o.IDs, a.TaskID)
		}
	}
	by := decider()
	return eachTask(ctx, &TaskActionOptions{F: o.F, IDs: o.IDs}, func(s db.Store, id int64) (string, error) {
		a, err := s.Decide(ctx, db.Decide{TaskID: id, Decision: d, Reason: o.Reason, By: by})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("task %d: %s %s; pending again", id, a.Decision, a.Tool), nil
	})
}

// decider names who decided, for the record: the user and the host.
func decider() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		return name + "@" + host
	}
	return name
}
