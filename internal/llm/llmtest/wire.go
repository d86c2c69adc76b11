package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The token counts a reply reports unless the turn or SetUsage says otherwise.
const (
	DefaultInputTokens  = 10
	DefaultOutputTokens = 5
)

// Usage is the token counts a reply reports. OpenAI replies also report
// their sum as total_tokens.
type Usage struct {
	// InputTokens counts every input token, cached ones included: OpenAI's
	// prompt_tokens. Anthropic replies report what is left of it after
	// the cache reads and writes as input_tokens, as Anthropic does.
	InputTokens  int64
	OutputTokens int64
	// CachedInputTokens is the part of InputTokens read from the prompt
	// cache: OpenAI's prompt_tokens_details.cached_tokens, Anthropic's
	// cache_read_input_tokens.
	CachedInputTokens int64
	// CacheWriteInputTokens is the part of InputTokens written to the
	// cache: Anthropic's cache_creation_input_tokens (OpenAI replies do
	// not report it).
	CacheWriteInputTokens int64
}

// ToolCall is one tool call in a scripted turn. Arguments is the JSON text
// the model "wrote"; OpenAI replies carry it as a string, Anthropic replies
// as the tool_use input object.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
}

// Call returns a tool call for ToolCalls.
func Call(id, name, arguments string) ToolCall {
	return ToolCall{ID: id, Name: name, Arguments: arguments}
}

// Turn is one scripted model reply.
type Turn struct {
	Text  string
	Calls []ToolCall
	// StopReason overrides the wire's natural one: "stop" or "tool_calls"
	// for OpenAI, "end_turn" or "tool_use" for Anthropic.
	StopReason string
	// Usage overrides the server's usage for this reply.
	Usage *Usage
	// Model overrides the reported model, which otherwise echoes the request's.
	Model string
}

// Text returns a turn that answers with text only.
func Text(text string) Turn { return Turn{Text: text} }

// ToolCalls returns a turn that asks for these tool calls.
func ToolCalls(calls ...ToolCall) Turn { return Turn{Calls: calls} }

// WithText returns the turn with text added, e.g. a model that explains
// before calling a tool.
func (t Turn) WithText(text string) Turn { t.Text = text; return t }

// WithUsage returns the turn with its own token counts.
func (t Turn) WithUsage(input, output int64) Turn {
	t.Usage = &Usage{InputTokens: input, OutputTokens: output}
	return t
}

// WithCachedUsage returns the turn with its own token counts, cached of
// the input tokens read from the prompt cache.
func (t Turn) WithCachedUsage(input, cached, output int64) Turn {
	t.Usage = &Usage{InputTokens: input, CachedInputTokens: cached, OutputTokens: output}
	return t
}

// WithUsageOf returns the turn with the token counts u.
func (t Turn) WithUsageOf(u Usage) Turn { t.Usage = &u; return t }

// WithStopReason returns the turn with the stop reason replaced, e.g.
// "length" (OpenAI) or "max_tokens" (Anthropic).
func (t Turn) WithStopReason(reason string) Turn { t.StopReason = reason; return t }

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Body is the decoded JSON body; nil when it was not a JSON object.
	Body map[string]any
	// Raw is the body exactly as sent.
	Raw []byte
}

// Model returns the request's "model" field.
func (r Request) Model() string {
	m, _ := r.Body["model"].(string)
	return m
}

// Messages returns the request's "messages" array.
func (r Request) Messages() []map[string]any { return objects(r.Body["messages"]) }

// Tools returns the request's "tools" array.
func (r Request) Tools() []map[string]any { return objects(r.Body["tools"]) }

// objects returns the JSON objects in v, if v is an array.
func objects(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, item := range list {
		if obj, ok := item.(map[string]any); ok {
			out = append(out, obj)
		}
	}
	return out
}

// writeTurn answers with a scripted turn in the server's wire format.
func (s *Server) writeTurn(w http.ResponseWriter, rec Request, t Turn) {
	usage := s.defaultUsage()
	if t.Usage != nil {
		usage = *t.Usage
	}
	model := t.Model
	if model == "" {
		model = rec.Model()
	}
	if model == "" {
		model = "llmtest-model"
	}
	id := s.nextID()
	if s.wire == OpenAI {
		writeJSON(w, http.StatusOK, openaiTurn(id, model, usage, t))
	} else {
		writeJSON(w, http.StatusOK, anthropicTurn(id, model, usage, t))
	}
}

func openaiTurn(id int, model string, usage Usage, t Turn) map[string]any {
	msg := map[string]any{"role": "assistant", "content": t.Text, "refusal": nil}
	reason := "stop"
	if len(t.Calls) > 0 {
		reason = "tool_calls"
		if t.Text == "" {
			msg["content"] = nil
		}
		var calls []any
		for _, c := range t.Calls {
			calls = append(calls, map[string]any{
				"id":       c.ID,
				"type":     "function",
				"function": map[string]any{"name": c.Name, "arguments": c.Arguments},
			})
		}
		msg["tool_calls"] = calls
	}
	if t.StopReason != "" {
		reason = t.StopReason
	}
	return map[string]any{
		"id":      fmt.Sprintf("chatcmpl-llmtest-%d", id),
		"object":  "chat.completion",
		"created": 1700000000 + id,
		"model":   model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       msg,
			"logprobs":      nil,
			"finish_reason": reason,
		}},
		"usage": map[string]any{
			"prompt_tokens":     usage.InputTokens,
			"completion_tokens": usage.OutputTokens,
			"total_tokens":      usage.InputTokens + usage.OutputTokens,
			"prompt_tokens_details": map[string]any{
				"audio_tokens":  0,
				"cached_tokens": usage.CachedInputTokens,
			},
		},
	}
}

func anthropicTurn(id int, model string, usage Usage, t Turn) map[string]any {
	content := []any{}
	if t.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": t.Text})
	}
	reason := "end_turn"
	for _, c := range t.Calls {
		reason = "tool_use"
		content = append(content, map[string]any{
			"type":  "tool_use",
			"id":    c.ID,
			"name":  c.Name,
			"input": toolInput(c.Arguments),
		})
	}
	if t.StopReason != "" {
		reason = t.StopReason
	}
	return map[string]any{
		"id":            fmt.Sprintf("msg_llmtest_%d", id),
		"type":          "message",
		"role":          "assistant",
		"model":         model,
		"content":       content,
		"stop_reason":   reason,
		"stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens":                usage.InputTokens - usage.CachedInputTokens - usage.CacheWriteInputTokens,
			"cache_read_input_tokens":     usage.CachedInputTokens,
			"cache_creation_input_tokens": usage.CacheWriteInputTokens,
			"output_tokens":               usage.OutputTokens,
		},
	}
}

// toolInput turns scripted arguments into an Anthropic tool_use input. Text
// that is not JSON is sent as a JSON string, so a test can still script a
// model that produced garbage.
func toolInput(args string) json.RawMessage {
	args = strings.TrimSpace(args)
	if args == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(args)) {
		return json.RawMessage(args)
	}
	quoted, _ := json.Marshal(args)
	return quoted
}

// writeError answers with status and the wire format's error body.
func (s *Server) writeError(w http.ResponseWriter, status int, message string) {
	id := s.nextID()
	if s.wire == OpenAI {
		typ, code := openaiErrorKind(status)
		writeJSON(w, status, map[string]any{"error": map[string]any{
			"message": message, "type": typ, "param": nil, "code": code,
		}})
		return
	}
	reqID := fmt.Sprintf("req_llmtest_%d", id)
	w.Header().Set("request-id", reqID)
	writeJSON(w, status, map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": anthropicErrorType(status), "message": message},
		"request_id": reqID,
	})
}

// openaiErrorKind returns the error type and code OpenAI uses for a status.
func openaiErrorKind(status int) (typ string, code any) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusNotFound:
		return "invalid_request_error", "model_not_found"
	case status == http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", nil
	default:
		return "invalid_request_error", nil
	}
}

// anthropicErrorType returns the error type Anthropic uses for a status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}
