package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
)

// maxRepeats is how many identical tool calls in a row end a run: a model
// that asks for the same thing a fourth time is not making progress.
const maxRepeats = 4

// run is the state of one run of the loop.
type run struct {
	s        settings
	provider llm.Provider
	tools    *toolset
	em       emitter
	red      redactor
	budget   int // Config.MemoryBudget
	result   Result
	cfg      Config
	policy   approvalPolicy
	cps      Checkpoints // nil: no checkpoints, no waiting

	msgs []llm.Message
	// lastCall and repeats track the newest tool call and how many times in
	// a row it was asked for, across turns.
	lastCall string
	repeats  int
	// turn is the tool calls of the newest model call while they run.
	turn *pendingTurn
}

// loop calls the model, runs the tools it asks for and feeds the results
// back, until the model answers without tool calls or a limit stops it.
//
// Tool calls of one turn run one after another, in the order the model gave
// them. That keeps results and events in a deterministic order and keeps
// tools that touch the same thing from racing; the cost is latency when a
// model asks for several slow calls at once.
//
// The state is checkpointed after each turn and before each tool call, so
// that a run continues where it stopped: after a decision on a call that
// waited for approval, or when its runner was lost.
func (r *run) loop(ctx context.Context) (json.RawMessage, error) {
	resumed, err := r.restore(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return r.fail(contextRunError(r.red, ctx))
		}
		return r.fail(newRunError(r.red, StopSetupError, "read the checkpoint: %v", err))
	}
	if !resumed {
		r.msgs = []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Text: r.s.in.Prompt}}}}
	} else if r.turn == nil || r.turn.Waiting == "" {
		r.em.warn("resumed from the checkpoint after step %d: an earlier attempt of this task stopped there", r.result.Steps)
	}
	if r.turn != nil {
		if out, err, done := r.finishTurn(ctx); done {
			return out, err
		}
	}
	maxCost := r.cfg.maxCost(r.s.in)
	if err := r.cfg.budgetPriceError(r.red, maxCost, r.s.model); err != nil {
		return r.fail(err)
	}
	specs := r.tools.specs()
	// The loop ends inside: with an answer, or at the latest when the step
	// that equals maxSteps asks for tools.
	for step := r.result.Steps + 1; ; step++ {
		if ctx.Err() != nil {
			return r.fail(contextRunError(r.red, ctx))
		}
		if budgetExceeded(maxCost, r.result) {
			return r.fail(costBudgetError(r.red, maxCost, r.result))
		}
		r.trimMemory()
		resp, err := r.provider.Complete(ctx, llm.Request{
			Model:       r.s.model,
			System:      r.s.in.System,
			Messages:    r.msgs,
			Tools:       specs,
			Temperature: r.s.temperature,
		})
		if err != nil {
			// A provider call cut short by cancellation fails with some
			// network error; the context says what really happened.
			if ctx.Err() != nil {
				return r.fail(contextRunError(r.red, ctx))
			}
			return r.fail(providerRunError(r.red, err))
		}
		usage := resp.Usage
		if usage.TotalTokens == 0 {
			usage.TotalTokens = usage.InputTokens + usage.OutputTokens
		}
		r.result.Steps = step
		r.result.Usage = r.result.Usage.Add(usage)
		if resp.Model != "" {
			r.result.Model = resp.Model
		}
		callCost := r.addCost(resp.Model, usage)
		calls := withCallIDs(&resp.Message, step)
		r.emitModel(step, resp, usage, callCost, calls)

		overBudget := r.s.maxTokens > 0 && r.result.Usage.TotalTokens > int64(r.s.maxTokens)
		if len(calls) == 0 {
			// The answer is already paid for, so a budget overrun on the
			// final call is reported but does not throw the answer away.
			if overBudget {
				r.em.warn("token budget exceeded by the final answer (used %d of %d)", r.result.Usage.TotalTokens, r.s.maxTokens)
			}
			if cutOff(resp.StopReason) {
				r.em.warn("the answer was cut off by the model's output limit (stop reason %q)", resp.StopReason)
			}
			r.result.Answer = r.red.String(resp.Message.Text())
			r.result.StopReason = StopAnswer
			return r.result.encode(r.red), nil
		}
		if overBudget {
			return r.fail(newRunError(r.red, StopTokenBudget, "token budget exceeded (used %d of %d)",
				r.result.Usage.TotalTokens, r.s.maxTokens))
		}
		if step == r.s.maxSteps {
			// No model call would read the results, so the tools are not
			// run: their side effects would serve nobody.
			return r.fail(newRunError(r.red, StopMaxSteps, "max_steps reached (%d)", r.s.maxSteps))
		}
		r.msgs = append(r.msgs, resp.Message)
		r.turn = &pendingTurn{Step: step}
		for _, c := range calls {
			r.turn.Calls = append(r.turn.Calls, toCPCall(c))
		}
		if out, err, done := r.finishTurn(ctx); done {
			return out, err
		}
	}
}

// finishTurn runs the calls of r.turn not run yet and appends their results
// to the conversation. done says the run ends here, with out and err.
func (r *run) finishTurn(ctx context.Context) (out json.RawMessage, err error, done bool) {
	results, stop := r.runCalls(ctx)
	if stop != nil {
		if w, ok := stop.(*WaitError); ok {
			return nil, w, true
		}
		out, err = r.fail(stop.(*RunError))
		return out, err, true
	}
	r.msgs = append(r.msgs, llm.Message{Role: llm.RoleTool, Parts: results})
	r.turn = nil
	r.save(ctx)
	return nil, nil, false
}

// runCalls runs the calls of r.turn not run yet and returns one result part
// per call of the turn, in call order. It returns a *RunError instead when
// the model repeats itself or the context ends, and a *WaitError when a
// call needs a person's decision first.
func (r *run) runCalls(ctx context.Context) ([]llm.Part, error) {
	t := r.turn
	for i := len(t.Results); i < len(t.Calls); i++ {
		c := t.Calls[i].call()
		out, err := r.decideCall(ctx, c)
		if err != nil {
			return nil, err
		}
		r.em.emit(EventToolCall, ToolCallEvent{Step: t.Step, ID: c.ID, Name: c.Name, Arguments: loggableArguments(c.Arguments)})
		if out == nil {
			t.InFlight = c.ID
			r.save(ctx)
			start := time.Now()
			o := r.callTool(ctx, c)
			o.took = time.Since(start)
			out = &o
		}
		part := r.recordResult(t.Step, c, *out)
		if ctx.Err() != nil {
			return nil, contextRunError(r.red, ctx)
		}
		t.Results = append(t.Results, part)
		t.InFlight, t.Waiting = "", ""
	}
	return t.Results, nil
}

// decideCall applies the repeat limit and the approval policy to a call
// about to run. It returns the call's outcome when the call must not run
// (denied, or interrupted by a lost runner), nil to run it, or an error
// that ends the run: a *RunError, or a *WaitError after the state was
// saved for the decision.
func (r *run) decideCall(ctx context.Context, c llm.ToolCall) (*callOutcome, error) {
	t := r.turn
	switch {
	case t.InFlight == c.ID:
		// The checkpoint was written just before this call ran, and the
		// run did not get to record its result: its runner was lost. It
		// may have done its work; running it again could do it twice.
		r.em.warn("tool call %s (%s) was interrupted when its runner was lost; the model is told so", c.ID, c.Name)
		o := errorOutcome(fmt.Sprintf("the call of %s was interrupted (the runner running it stopped); it may or may not have taken effect", c.Name))
		return &o, nil
	case t.Waiting == c.ID:
		a, ok, err := r.lastApproval(ctx)
		if err != nil {
			return nil, err
		}
		if ok && a.CallID == c.ID && !a.Open() {
			if a.Decision == db.DecisionApproved {
				return nil, nil
			}
			msg := fmt.Sprintf("a person denied the call of %s", c.Name)
			if a.DecidedBy == db.ExpiredBy {
				msg = fmt.Sprintf("the call of %s was denied: nobody approved it in time", c.Name)
			}
			if a.Reason != "" {
				msg += ": " + a.Reason
			}
			o := errorOutcome(msg)
			return &o, nil
		}
		// No decision on record (the runner was lost before the request
		// was stored): ask again below, without counting a repeat.
	default:
		if stop := r.countRepeat(c); stop != nil {
			return nil, stop
		}
	}
	switch r.policy.decide(c.Name) {
	case PolicyDeny:
		o := errorOutcome(fmt.Sprintf("the tool %s is not allowed by the approval policy", c.Name))
		return &o, nil
	case PolicyAsk:
		if r.cps == nil {
			o := errorOutcome(fmt.Sprintf("the tool %s needs a person's approval, and this run cannot wait for one", c.Name))
			return &o, nil
		}
		t.Waiting = c.ID
		if err := r.save(ctx); err != nil {
			return nil, newRunError(r.red, StopSetupError, "cannot wait for approval of %s: %v", c.Name, err)
		}
		return nil, &WaitError{
			Request: db.ApprovalRequest{CallID: c.ID, Tool: c.Name, Arguments: r.red.JSON(loggableArguments(c.Arguments)), Step: t.Step},
			Timeout: r.cfg.approvalTimeout(),
		}
	}
	return nil, nil
}

// lastApproval reads the task's newest approval request.
func (r *run) lastApproval(ctx context.Context) (db.Approval, bool, error) {
	a, ok, err := r.cps.LastApproval(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return a, false, contextRunError(r.red, ctx)
		}
		return a, false, newRunError(r.red, StopSetupError, "read the approval: %v", err)
	}
	return a, ok, nil
}

// recordResult emits the result event of a call and returns its part for
// the model.
func (r *run) recordResult(step int, c llm.ToolCall, out callOutcome) llm.Part {
	// The model reads tool output too; a secret it never sees is one it
	// cannot repeat.
	content := r.red.String(out.content)
	logged, cut := truncateUTF8(content, maxLoggedContent)
	r.em.emit(EventToolResult, ToolResultEvent{
		Step: step, ID: c.ID, Name: c.Name,
		Content: logged, Truncated: cut, Size: len(content),
		IsError: out.isError, DurationMS: out.took.Milliseconds(),
	})
	if out.unexpected != nil {
		r.em.warn("tool %s failed: %v", c.Name, out.unexpected)
	}
	return llm.Part{ToolResult: &llm.ToolResult{CallID: c.ID, Name: c.Name, Content: content, IsError: out.isError}}
}

// callTool runs one call and turns a panicking tool into an error result, so
// a bug in one tool (an MCP adapter, say) cannot take the runner down.
func (r *run) callTool(ctx context.Context, c llm.ToolCall) (out callOutcome) {
	defer func() {
		if p := recover(); p != nil {
			out = errorOutcome(fmt.Sprintf("tool %s crashed", c.Name))
			out.unexpected = fmt.Errorf("panic: %v", p)
		}
	}()
	return r.tools.call(ctx, c)
}

// countRepeat records a call and returns a RunError when it is the
// maxRepeats-th identical call in a row. The call itself is then not run.
func (r *run) countRepeat(c llm.ToolCall) *RunError {
	key := c.Name + "\x00" + canonicalArguments(c.Arguments)
	if key == r.lastCall {
		r.repeats++
	} else {
		r.lastCall, r.repeats = key, 1
	}
	if r.repeats >= maxRepeats {
		return newRunError(r.red, StopRepeatedToolCall,
			"repeated tool call: %s called %d times in a row with the same arguments", c.Name, r.repeats)
	}
	return nil
}

// trimMemory trims the conversation to the memory budget, for good: the
// dropped turns are not sent again, so the warning is emitted once per trim.
func (r *run) trimMemory() {
	kept, dropped := trimConversation(r.s.in.System, r.msgs, r.budget)
	if dropped == 0 {
		return
	}
	r.msgs = kept
	r.em.warn("conversation trimmed to the memory budget of about %d tokens: dropped the %d oldest messages, now about %d tokens",
		r.budget, dropped, estimateTokens(r.s.in.System, kept))
}

// addCost adds what one model call cost to the result and returns it; nil
// when the model's price is not known.
func (r *run) addCost(reported string, u llm.Usage) *float64 {
	usd, ok := costOf(r.cfg, r.s.model, reported, u)
	if !ok {
		return nil
	}
	r.result.addCost(usd)
	return &usd
}

// emitModel emits the model event of one step.
func (r *run) emitModel(step int, resp llm.Response, usage llm.Usage, cost *float64, calls []llm.ToolCall) {
	ev := ModelEvent{
		Step: step, Text: resp.Message.Text(), StopReason: resp.StopReason, Usage: usage, CostUSD: cost,
		ToolCalls: make([]RequestedToolCall, 0, len(calls)),
	}
	for _, c := range calls {
		ev.ToolCalls = append(ev.ToolCalls, RequestedToolCall{ID: c.ID, Name: c.Name, Arguments: loggableArguments(c.Arguments)})
	}
	r.em.emit(EventModel, ev)
}

// fail records why the run stopped and returns the partial result with err.
func (r *run) fail(err *RunError) (json.RawMessage, error) {
	r.result.StopReason = err.Reason
	r.result.Answer = ""
	return r.result.encode(r.red), err
}

// withCallIDs gives every tool call of msg an id, in place, and returns the
// calls. Some providers leave ids empty; the results must still be matched
// to their calls, so the missing ones are made up from the step and index.
func withCallIDs(msg *llm.Message, step int) []llm.ToolCall {
	var calls []llm.ToolCall
	for i := range msg.Parts {
		c := msg.Parts[i].ToolCall
		if c == nil {
			continue
		}
		if c.ID == "" {
			cp := *c
			cp.ID = fmt.Sprintf("call_%d_%d", step, len(calls)+1)
			msg.Parts[i].ToolCall = &cp
			c = &cp
		}
		calls = append(calls, *c)
	}
	return calls
}

// cutOff reports whether a provider's stop reason means the output limit
// ended the answer, in the words of the OpenAI and Anthropic wire formats.
func cutOff(stopReason string) bool {
	return stopReason == "length" || stopReason == "max_tokens"
}
