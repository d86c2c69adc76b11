package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// StatusWaiting is the status of an agent task paused until a person
// approves or denies a tool call. It holds no lease: a decision puts it back
// to pending and any runner continues it from its checkpoint.
const StatusWaiting Status = "waiting"

// Event kinds written by the store for approvals.
const (
	EventApprovalRequested = "approval_requested"
	EventApprovalDecided   = "approval_decided"
)

// Decision is what a person (or the timeout) decided about a tool call.
type Decision string

// The decisions.
const (
	DecisionApproved Decision = "approved"
	DecisionDenied   Decision = "denied"
)

// ApprovalRequest is a tool call waiting for a decision.
type ApprovalRequest struct {
	CallID    string
	Tool      string
	Arguments json.RawMessage // redacted as events are
	Step      int
}

// Park asks to move a running task to waiting for req.
type Park struct {
	TaskID  int64
	Worker  string
	Attempt int // the attempt the worker claimed; the move is fenced by it
	Request ApprovalRequest
	// Timeout is how long the request may wait for a decision, by the
	// database's clock, before ExpireApprovals denies it.
	Timeout time.Duration
}

// Approval is one approval request and, once made, its decision.
type Approval struct {
	ID     int64
	TaskID int64
	ApprovalRequest
	RequestedAt time.Time
	ExpiresAt   time.Time
	Decision    Decision // "" while the request is open
	Reason      string
	DecidedBy   string
	DecidedAt   time.Time // zero while open
}

// Open reports whether the request still waits for a decision.
func (a Approval) Open() bool { return a.Decision == "" }

// Decide asks to approve or deny what a waiting task waits for.
type Decide struct {
	TaskID   int64
	Decision Decision
	Reason   string // why, for a denial; shown to the model
	By       string // who decided, for the record
}

// NotWaitingError says a decision was asked for a task that waits for
// nothing.
type NotWaitingError struct {
	ID     int64
	Status Status
}

func (e *NotWaitingError) Error() string {
	return fmt.Sprintf("task %d is %s: it waits for no approval", e.ID, e.Status)
}

// ExpiredError says a decision came after the request's time ran out: the
// request is denied by the next ExpireApprovals, whatever was asked.
type ExpiredError struct {
	ID        int64
	ExpiresAt time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("task %d: its approval request expired at %s and is denied (agent.approval_timeout)",
		e.ID, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// Checkpoint is the saved state of a task's run. The store keeps the
// newest one per task, as the handler wrote it, until the task finishes.
type Checkpoint struct {
	TaskID int64
	// Worker and Attempt fence a save: it is written only while the task
	// runs under them.
	Worker    string
	Attempt   int
	Data      json.RawMessage
	UpdatedAt time.Time
}

// ApprovalStore is the part of the Store for approvals, checkpoints and
// the waiting status (migration 7).
type ApprovalStore interface {
	// Park moves a running task to waiting and opens an approval request,
	// with a status event and an approval_requested event, fenced by the
	// lease like an outcome; parked is false when the worker no longer
	// holds it. The attempt is not counted (a decision continues the same
	// run). A task whose cancel was requested meanwhile is cancelled
	// instead (parked false).
	Park(ctx context.Context, p Park) (a Approval, parked bool, err error)
	// Approvals lists the open requests of waiting tasks, oldest first.
	Approvals(ctx context.Context) ([]Approval, error)
	// Decide records a decision on the open request of a waiting task and
	// puts the task back to pending, with its events. A missing task is a
	// *NotFoundError; a task that waits for nothing a *NotWaitingError; a
	// request past its time an *ExpiredError (nothing is written: it is
	// denied by ExpireApprovals, as if nobody had answered).
	Decide(ctx context.Context, d Decide) (Approval, error)
	// ExpireApprovals denies the open requests whose time has passed, as
	// Decide does, and returns how many.
	ExpireApprovals(ctx context.Context) (int, error)
	// LastApproval returns the newest request of a task, decided or not.
	LastApproval(ctx context.Context, taskID int64) (a Approval, ok bool, err error)
	// SaveCheckpoint replaces a task's checkpoint, only while the task runs
	// under c.Worker and c.Attempt; saved is false otherwise.
	SaveCheckpoint(ctx context.Context, c Checkpoint) (saved bool, err error)
	// LoadCheckpoint returns a task's checkpoint, if it has one.
	LoadCheckpoint(ctx context.Context, taskID int64) (c Checkpoint, ok bool, err error)
}

// ExpiredBy is who decided a request denied because it waited too long.
const ExpiredBy = "approval timeout"

// expiredReason is the reason of a request denied by its timeout.
func expiredReason(timeout time.Duration) string {
	return fmt.Sprintf("no decision within %s", timeout.Round(time.Millisecond))
}

// approvalRequestedData is the data of an approval_requested event.
func approvalRequestedData(a Approval) string {
	b, _ := json.Marshal(struct {
		Request   int64           `json:"request"`
		CallID    string          `json:"call_id"`
		Tool      string          `json:"tool"`
		Arguments json.RawMessage `json:"arguments"`
		Step      int             `json:"step"`
		ExpiresAt time.Time       `json:"expires_at"`
	}{a.ID, a.CallID, a.Tool, argumentsJSON(a.Arguments), a.Step, a.ExpiresAt.UTC()})
	return string(b)
}

// approvalDecidedData is the data of an approval_decided event.
func approvalDecidedData(a Approval) string {
	b, _ := json.Marshal(struct {
		Request  int64    `json:"request"`
		Tool     string   `json:"tool"`
		Decision Decision `json:"decision"`
		Reason   string   `json:"reason,omitempty"`
		By       string   `json:"by,omitempty"`
	}{a.ID, a.Tool, a.Decision, a.Reason, a.DecidedBy})
	return string(b)
}

// argumentsJSON is stored arguments: valid JSON, else an empty object.
func argumentsJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage(`{}`)
	}
	return b
}

// checkDecide refuses a decision no caller may ask for.
func checkDecide(d Decide) error {
	if d.Decision != DecisionApproved && d.Decision != DecisionDenied {
		return fmt.Errorf("decision must be approved or denied, got %q", d.Decision)
	}
	return nil
}

// decidedStatusReason is the reason of the waiting -> pending status event.
func decidedStatusReason(d Decision, tool string) string {
	return fmt.Sprintf("%s %s", tool, d)
}
