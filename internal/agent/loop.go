package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

	msgs []llm.Message
	// lastCall and repeats track the newest tool call and how many times in
	// a row it was asked for, across turns.
	lastCall string
	repeats  int
}

// loop calls the model, runs the tools it asks for and feeds the results
// back, until the model answers without tool calls or a limit stops it.
//
// Tool calls of one turn run one after another, in the order the model gave
// them. That keeps results and events in a deterministic order and keeps
// tools that touch the same thing from racing; the cost is latency when a
// model asks for several slow calls at once.
func (r *run) loop(ctx context.Context) (json.RawMessage, error) {
	r.msgs = []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Text: r.s.in.Prompt}}}}
	specs := r.tools.specs()
	// The loop ends inside: with an answer, or at the latest when the step
	// that equals maxSteps asks for tools.
	for step := 1; ; step++ {
		if ctx.Err() != nil {
			return r.fail(contextRunError(r.red, ctx))
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
		calls := withCallIDs(&resp.Message, step)
		r.emitModel(step, resp, usage, calls)

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
		results, stop := r.runCalls(ctx, step, calls)
		if stop != nil {
			return r.fail(stop)
		}
		r.msgs = append(r.msgs, llm.Message{Role: llm.RoleTool, Parts: results})
	}
}

// runCalls runs the calls of one turn and returns one result part per call,
// in call order. It returns a RunError instead when the model repeats itself
// or the context ends.
func (r *run) runCalls(ctx context.Context, step int, calls []llm.ToolCall) ([]llm.Part, *RunError) {
	parts := make([]llm.Part, 0, len(calls))
	for _, c := range calls {
		if stop := r.countRepeat(c); stop != nil {
			return nil, stop
		}
		r.em.emit(EventToolCall, ToolCallEvent{Step: step, ID: c.ID, Name: c.Name, Arguments: loggableArguments(c.Arguments)})
		start := time.Now()
		out := r.callTool(ctx, c)
		elapsed := time.Since(start)
		// The model reads tool output too; a secret it never sees is one it
		// cannot repeat.
		content := r.red.String(out.content)
		logged, cut := truncateUTF8(content, maxLoggedContent)
		r.em.emit(EventToolResult, ToolResultEvent{
			Step: step, ID: c.ID, Name: c.Name,
			Content: logged, Truncated: cut, Size: len(content),
			IsError: out.isError, DurationMS: elapsed.Milliseconds(),
		})
		if out.unexpected != nil {
			r.em.warn("tool %s failed: %v", c.Name, out.unexpected)
		}
		if ctx.Err() != nil {
			return nil, contextRunError(r.red, ctx)
		}
		parts = append(parts, llm.Part{ToolResult: &llm.ToolResult{
			CallID: c.ID, Name: c.Name, Content: content, IsError: out.isError,
		}})
	}
	return parts, nil
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

// emitModel emits the model event of one step.
func (r *run) emitModel(step int, resp llm.Response, usage llm.Usage, calls []llm.ToolCall) {
	ev := ModelEvent{
		Step: step, Text: resp.Message.Text(), StopReason: resp.StopReason, Usage: usage,
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
