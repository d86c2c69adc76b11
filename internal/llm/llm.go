// Package llm holds the provider-neutral types the agent loop speaks: messages
// made of text, tool-call and tool-result parts, tool specifications with a JSON
// Schema, token usage, and typed provider errors. Each provider SDK gets one
// adapter that translates these types to and from its own wire format.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Role says who wrote a message.
type Role string

// The roles of a conversation. The system prompt is not a message; it travels
// in Request.System.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool marks a message that carries only tool results. Adapters map
	// it to the provider's own shape (OpenAI: one "tool" message per result;
	// Anthropic: tool_result blocks in a user message).
	RoleTool Role = "tool"
)

// Message is one turn of the conversation.
type Message struct {
	Role  Role   `json:"role"`
	Parts []Part `json:"parts"`
}

// Part is one piece of a message. Exactly one of its fields is set.
type Part struct {
	Text       string      `json:"text,omitempty"`
	ToolCall   *ToolCall   `json:"tool_call,omitempty"`
	ToolResult *ToolResult `json:"tool_result,omitempty"`
}

// ToolCall is the model asking for a tool to run.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolResult answers exactly one ToolCall, matched by CallID.
type ToolResult struct {
	CallID  string `json:"call_id"`
	Name    string `json:"name"`
	Content string `json:"content"`
	IsError bool   `json:"is_error,omitempty"`
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"` // a JSON Schema object for the arguments
}

// Request is one model call.
type Request struct {
	Model       string
	System      string
	Messages    []Message
	Tools       []ToolSpec
	MaxTokens   int64    // output tokens for this call; 0 means the adapter's default
	Temperature *float64 // nil means the provider's default
}

// Usage counts tokens for one call or, summed, for a run.
type Usage struct {
	// InputTokens counts every input token the model read, those it read
	// from the provider's prompt cache included (on Anthropic, whose
	// input_tokens leaves cache reads and writes out, the adapter adds
	// them back).
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	TotalTokens  int64 `json:"total_tokens"`
	// CachedInputTokens is the part of InputTokens read from the prompt
	// cache, which providers bill at a lower price.
	CachedInputTokens int64 `json:"cached_input_tokens,omitempty"`
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		InputTokens:       u.InputTokens + o.InputTokens,
		OutputTokens:      u.OutputTokens + o.OutputTokens,
		TotalTokens:       u.TotalTokens + o.TotalTokens,
		CachedInputTokens: u.CachedInputTokens + o.CachedInputTokens,
	}
}

// Response is the model's answer to one Request. Message has RoleAssistant and
// holds text and/or tool-call parts.
type Response struct {
	Message    Message
	StopReason string // the provider's own word: "stop", "tool_calls", "end_turn", "tool_use", "max_tokens", ...
	Usage      Usage
	Model      string // the model that answered, as the provider reports it
}

// ToolCalls returns the tool-call parts of a message, in order.
func (m Message) ToolCalls() []ToolCall {
	var calls []ToolCall
	for _, p := range m.Parts {
		if p.ToolCall != nil {
			calls = append(calls, *p.ToolCall)
		}
	}
	return calls
}

// Text returns the text parts of a message joined by newlines.
func (m Message) Text() string {
	var s string
	for _, p := range m.Parts {
		if p.Text == "" {
			continue
		}
		if s != "" {
			s += "\n"
		}
		s += p.Text
	}
	return s
}

// Provider is one configured model endpoint.
type Provider interface {
	// Name is the provider's configured name ("openai", "anthropic", "ollama", ...).
	Name() string
	// Complete makes one model call. The SDK's own retries (429, 5xx) happen
	// inside it; the error it returns, if any, is an *Error, except when ctx
	// ends first: then it is an error wrapping ctx.Err(), so that
	// errors.Is(err, context.Canceled) tells a cancelled run from a failed one.
	Complete(ctx context.Context, req Request) (Response, error)
}

// Error is a provider failure after the SDK's retries ran out.
type Error struct {
	Provider  string
	Status    int    // HTTP status; 0 when there was no response
	Message   string // the provider's own message, e.g. "Incorrect API key"
	Retryable bool   // 408, 409, 429, 5xx, network errors: worth a later attempt
}

// Error formats the failure as one line: provider, status (when there was a
// response) and the provider's message. Adapters never put the API key in it.
func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s", e.Provider, e.Message)
	}
	return fmt.Sprintf("%s: %d %s", e.Provider, e.Status, e.Message)
}

// IsRetryable reports whether err is an *Error worth a later attempt. A
// cancelled or expired context is not: the caller decided to stop.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}
