package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
)

// Checkpoints is what a run needs from the runner to pause and resume: the
// Events value a handler is given implements it when the store keeps
// checkpoints. Without it a run cannot wait for an approval (an "ask" call
// is then denied) and a lost run starts over.
type Checkpoints interface {
	// LoadCheckpoint returns the task's newest checkpoint, if it has one.
	LoadCheckpoint(ctx context.Context) (data json.RawMessage, ok bool, err error)
	// SaveCheckpoint replaces it; it fails when the runner no longer holds
	// the task.
	SaveCheckpoint(ctx context.Context, data json.RawMessage) error
	// LastApproval returns the task's newest approval request.
	LastApproval(ctx context.Context) (a db.Approval, ok bool, err error)
}

// checkpointVersion is the shape of the checkpoint below; a checkpoint of
// another version is ignored (the run starts over, with a warning).
const checkpointVersion = 1

// checkpoint is a run's state between steps, stored as JSON after each
// step and before each tool call. It holds the conversation (already
// redacted: tool output is redacted before the model reads it) and never
// the API key.
type checkpoint struct {
	Version  int         `json:"version"`
	Step     int         `json:"step"` // model calls made
	Messages []cpMessage `json:"messages"`
	Result   Result      `json:"result"` // steps, usage and cost so far
	LastCall string      `json:"last_call,omitempty"`
	Repeats  int         `json:"repeats,omitempty"`
	// Turn is the tool calls of the newest model call while they run;
	// nil between turns.
	Turn *pendingTurn `json:"turn,omitempty"`
}

// pendingTurn is the tool calls of one model call and the results so far.
type pendingTurn struct {
	Step    int          `json:"step"`
	Calls   []cpToolCall `json:"calls"`
	Results []llm.Part   `json:"results"` // one per call done, in call order
	// InFlight is the call that was running when the checkpoint was
	// written: if a run resumes from it, the runner was lost mid-call.
	InFlight string `json:"in_flight,omitempty"`
	// Waiting is the call that waits for a decision.
	Waiting string `json:"waiting,omitempty"`
}

// cpToolCall is a tool call with its arguments as a string: a model may
// send arguments that are not JSON, which a json.RawMessage cannot carry.
type cpToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// cpMessage is an llm.Message whose tool calls are cpToolCalls.
type cpMessage struct {
	Role  llm.Role `json:"role"`
	Parts []cpPart `json:"parts"`
}

type cpPart struct {
	Text       string          `json:"text,omitempty"`
	ToolCall   *cpToolCall     `json:"tool_call,omitempty"`
	ToolResult *llm.ToolResult `json:"tool_result,omitempty"`
}

func toCPCall(c llm.ToolCall) cpToolCall {
	return cpToolCall{ID: c.ID, Name: c.Name, Arguments: string(c.Arguments)}
}

func (c cpToolCall) call() llm.ToolCall {
	return llm.ToolCall{ID: c.ID, Name: c.Name, Arguments: json.RawMessage(c.Arguments)}
}

func toCPMessages(msgs []llm.Message) []cpMessage {
	out := make([]cpMessage, len(msgs))
	for i, m := range msgs {
		out[i] = cpMessage{Role: m.Role, Parts: make([]cpPart, len(m.Parts))}
		for j, p := range m.Parts {
			out[i].Parts[j] = cpPart{Text: p.Text, ToolResult: p.ToolResult}
			if p.ToolCall != nil {
				c := toCPCall(*p.ToolCall)
				out[i].Parts[j].ToolCall = &c
			}
		}
	}
	return out
}

func fromCPMessages(msgs []cpMessage) []llm.Message {
	out := make([]llm.Message, len(msgs))
	for i, m := range msgs {
		out[i] = llm.Message{Role: m.Role, Parts: make([]llm.Part, len(m.Parts))}
		for j, p := range m.Parts {
			out[i].Parts[j] = llm.Part{Text: p.Text, ToolResult: p.ToolResult}
			if p.ToolCall != nil {
				c := p.ToolCall.call()
				out[i].Parts[j].ToolCall = &c
			}
		}
	}
	return out
}

// save writes the run's state as a checkpoint. A failed save is a warning,
// not a failure: the run goes on, and only a resume would miss it.
func (r *run) save(ctx context.Context) error {
	if r.cps == nil {
		return nil
	}
	cp := checkpoint{Version: checkpointVersion, Step: r.result.Steps, Messages: toCPMessages(r.msgs),
		Result: r.result, LastCall: r.lastCall, Repeats: r.repeats, Turn: r.turn}
	b, err := json.Marshal(cp)
	if err == nil {
		err = r.cps.SaveCheckpoint(ctx, r.red.JSON(b))
	}
	if err != nil {
		r.em.warn("checkpoint not saved: %v", err)
	}
	return err
}

// restore loads the task's checkpoint into the run. It reports whether
// there was one to continue from.
func (r *run) restore(ctx context.Context) (bool, error) {
	if r.cps == nil {
		return false, nil
	}
	data, ok, err := r.cps.LoadCheckpoint(ctx)
	if err != nil || !ok {
		return false, err
	}
	var cp checkpoint
	if err := json.Unmarshal(data, &cp); err != nil || cp.Version != checkpointVersion || len(cp.Messages) == 0 {
		r.em.warn("checkpoint ignored (unreadable or of another version); the run starts over")
		return false, nil
	}
	r.msgs, r.lastCall, r.repeats, r.turn = fromCPMessages(cp.Messages), cp.LastCall, cp.Repeats, cp.Turn
	// The provider and model of this run are what count; the usage and
	// cost so far carry over.
	r.result.Steps, r.result.Usage, r.result.CostUSD = cp.Result.Steps, cp.Result.Usage, cp.Result.CostUSD
	if cp.Result.Model != "" {
		r.result.Model = cp.Result.Model
	}
	return true, nil
}

// WaitError is how a run that needs a person's decision ends: the runner
// parks the task (waiting) instead of recording an outcome.
type WaitError struct {
	Request db.ApprovalRequest
	Timeout time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("waiting for approval of %s", e.Request.Tool)
}

// Park returns the request and how long it may wait.
func (e *WaitError) Park() (db.ApprovalRequest, time.Duration) { return e.Request, e.Timeout }
