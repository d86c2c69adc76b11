package agent

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
)

// testKey is the API key the fixtures put in the environment. Tests assert
// that it never leaves a run.
const testKey = "sk-test-0123456789abcdef"

// fixedNow is the time current_time reports in tests.
var fixedNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// step is one scripted model call: it sees the request and answers it.
type step func(ctx context.Context, req llm.Request) (llm.Response, error)

// scriptedProvider is an in-memory llm.Provider that answers with a fixed
// script of steps and records every request it received.
type scriptedProvider struct {
	mu       sync.Mutex
	steps    []step
	requests []llm.Request
}

// Name returns the provider name used by the fixtures.
func (p *scriptedProvider) Name() string { return "openai" }

// Complete records a deep copy of the request and runs the next step.
func (p *scriptedProvider) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	p.mu.Lock()
	p.requests = append(p.requests, copyRequest(req))
	n := len(p.requests)
	var s step
	if n <= len(p.steps) {
		s = p.steps[n-1]
	}
	p.mu.Unlock()
	if s == nil {
		return llm.Response{}, errors.New("scripted provider: no step left")
	}
	return s(ctx, req)
}

// received returns the requests so far.
func (p *scriptedProvider) received() []llm.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]llm.Request(nil), p.requests...)
}

// copyRequest copies a request deeply, so later changes the loop makes to
// its own slices cannot alter what the test looks at.
func copyRequest(req llm.Request) llm.Request {
	out := req
	out.Tools = append([]llm.ToolSpec(nil), req.Tools...)
	out.Messages = make([]llm.Message, len(req.Messages))
	for i, m := range req.Messages {
		cm := llm.Message{Role: m.Role}
		for _, p := range m.Parts {
			cp := llm.Part{Text: p.Text}
			if p.ToolCall != nil {
				c := *p.ToolCall
				c.Arguments = append(json.RawMessage(nil), c.Arguments...)
				cp.ToolCall = &c
			}
			if p.ToolResult != nil {
				r := *p.ToolResult
				cp.ToolResult = &r
			}
			cm.Parts = append(cm.Parts, cp)
		}
		out.Messages[i] = cm
	}
	return out
}

// stepUsage is the usage every scripted step reports.
var stepUsage = llm.Usage{InputTokens: 10, OutputTokens: 5, TotalTokens: 15}

// answer returns a step that answers with text and no tool calls.
func answer(text string) step {
	return func(context.Context, llm.Request) (llm.Response, error) {
		return llm.Response{
			Message:    llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Text: text}}},
			StopReason: "stop", Usage: stepUsage, Model: "gpt-test-2025",
		}, nil
	}
}

// callTools returns a step that asks for the given tool calls.
func callTools(calls ...llm.ToolCall) step {
	return func(context.Context, llm.Request) (llm.Response, error) {
		msg := llm.Message{Role: llm.RoleAssistant}
		for i := range calls {
			msg.Parts = append(msg.Parts, llm.Part{ToolCall: &calls[i]})
		}
		return llm.Response{Message: msg, StopReason: "tool_calls", Usage: stepUsage, Model: "gpt-test-2025"}, nil
	}
}

// call builds a tool call.
func call(id, name, args string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

// failWith returns a step that fails with err.
func failWith(err error) step {
	return func(context.Context, llm.Request) (llm.Response, error) { return llm.Response{}, err }
}

// blockUntilDone returns a step that closes started, then waits for the
// context to end and fails the way an SDK does when its request is cut off.
func blockUntilDone(started chan<- struct{}) step {
	return func(ctx context.Context, _ llm.Request) (llm.Response, error) {
		close(started)
		<-ctx.Done()
		return llm.Response{}, &llm.Error{Provider: "openai", Message: "request cancelled", Retryable: true}
	}
}

// event is one recorded event.
type event struct {
	Kind string
	Data json.RawMessage
}

// recorder is an Events that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []event
}

// Emit records an event; the data must be the JSON the emitter passes.
func (r *recorder) Emit(kind string, data any) {
	raw, ok := data.(json.RawMessage)
	if !ok {
		panic("event data is not json.RawMessage")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{Kind: kind, Data: append(json.RawMessage(nil), raw...)})
}

// all returns the recorded events.
func (r *recorder) all() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// ofKind returns the data of the events of one kind.
func (r *recorder) ofKind(kind string) []json.RawMessage {
	var out []json.RawMessage
	for _, e := range r.all() {
		if e.Kind == kind {
			out = append(out, e.Data)
		}
	}
	return out
}

// testTool is a tool whose behaviour a test supplies.
type testTool struct {
	name   string
	schema string
	fn     func(ctx context.Context, args json.RawMessage) (string, error)
}

// Spec describes the test tool.
func (t testTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: t.name, Description: "a test tool", Schema: json.RawMessage(t.schema)}
}

// Call runs the supplied function.
func (t testTool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	return t.fn(ctx, args)
}

// echoTool returns its "text" argument.
func echoTool() testTool {
	return testTool{
		name:   "util__echo",
		schema: `{"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false}`,
		fn: func(_ context.Context, args json.RawMessage) (string, error) {
			var a struct{ Text string }
			if err := json.Unmarshal(args, &a); err != nil {
				return "", err
			}
			return a.Text, nil
		},
	}
}

// staticSource is a ToolSource handing out fixed tools and counting
// cleanups.
type staticSource struct {
	tools    []Tool
	err      error
	mu       sync.Mutex
	cleanups int
	got      []Input
}

// Tools returns the fixed tools.
func (s *staticSource) Tools(_ context.Context, in Input, _ Events) ([]Tool, func(), error) {
	s.mu.Lock()
	s.got = append(s.got, in)
	s.mu.Unlock()
	return s.tools, func() {
		s.mu.Lock()
		s.cleanups++
		s.mu.Unlock()
	}, s.err
}

// cleanupCount returns how many times the cleanup ran.
func (s *staticSource) cleanupCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cleanups
}

// fixture is what most loop tests need.
type fixture struct {
	h       *Handler
	prov    *scriptedProvider
	events  *recorder
	source  *staticSource
	env     map[string]string
	configs []llm.Config
	mu      sync.Mutex
}

// newFixture returns a handler with the scripted provider, a fixed clock,
// an API key in a fake environment, current_time allowed by default and a
// source offering the given tools.
func newFixture(t *testing.T, tools []Tool, steps ...step) *fixture {
	t.Helper()
	f := &fixture{
		prov:   &scriptedProvider{steps: steps},
		events: &recorder{},
		source: &staticSource{tools: tools},
		env:    map[string]string{"OPENAI_API_KEY": testKey},
	}
	f.h = &Handler{
		Config: Config{Model: "gpt-test", Tools: []string{ToolCurrentTime}},
		Getenv: func(name string) string { return f.env[name] },
		NewProvider: func(cfg llm.Config) (llm.Provider, error) {
			f.mu.Lock()
			f.configs = append(f.configs, cfg)
			f.mu.Unlock()
			return f.prov, nil
		},
		ToolSources: []ToolSource{f.source},
		Now:         func() time.Time { return fixedNow },
	}
	return f
}

// run runs the handler with input and decodes the result.
func (f *fixture) run(t *testing.T, ctx context.Context, input string) (Result, error) {
	t.Helper()
	raw, err := f.h.Run(ctx, json.RawMessage(input), f.events)
	require.NotNil(t, raw, "a result is returned on every path")
	var res Result
	require.NoError(t, json.Unmarshal(raw, &res))
	return res, err
}

// toolResults returns the tool results in a request's last message.
func toolResults(t *testing.T, req llm.Request) []llm.ToolResult {
	t.Helper()
	require.NotEmpty(t, req.Messages)
	last := req.Messages[len(req.Messages)-1]
	require.Equal(t, llm.RoleTool, last.Role)
	var out []llm.ToolResult
	for _, p := range last.Parts {
		require.NotNil(t, p.ToolResult)
		out = append(out, *p.ToolResult)
	}
	return out
}
