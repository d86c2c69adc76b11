package agent

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/opsctl/opsctl/internal/llm"
)

// Events receives what happens during a run, as it happens. The runner
// appends each event to the task's event log as JSON. Emit is called mostly
// from the run's goroutine, but MCP servers' stderr lines arrive from
// others, so it must be safe for concurrent use; it must be cheap and never
// block for long. No event is emitted after Run returns.
type Events interface {
	Emit(kind string, data any)
}

// The event kinds a run emits. The data passed with each is the JSON
// encoding of the struct named beside it, already redacted, as a
// json.RawMessage.
const (
	EventModel      = "model"       // ModelEvent
	EventToolCall   = "tool_call"   // ToolCallEvent
	EventToolResult = "tool_result" // ToolResultEvent
	EventWarning    = "warning"     // WarningEvent
	EventMCPStderr  = "mcp_stderr"  // MCPStderrEvent
)

// maxLoggedContent bounds the tool output copied into a tool_result event.
// The model still receives the whole output; the event log only needs enough
// to show what happened.
const maxLoggedContent = 4 << 10

// ModelEvent records one model call.
type ModelEvent struct {
	Step       int                 `json:"step"` // 1 for the first model call
	Text       string              `json:"text"`
	ToolCalls  []RequestedToolCall `json:"tool_calls"`
	StopReason string              `json:"stop_reason"`        // the provider's own word
	Usage      llm.Usage           `json:"usage"`              // of this call only
	CostUSD    *float64            `json:"cost_usd,omitempty"` // of this call, when its price is known
}

// RequestedToolCall is a tool call the model asked for, in a ModelEvent.
type RequestedToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"` // a JSON string when the model sent invalid JSON
}

// ToolCallEvent records a tool call about to run.
type ToolCallEvent struct {
	Step      int             `json:"step"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"` // a JSON string when the model sent invalid JSON
}

// ToolResultEvent records the result of one tool call.
type ToolResultEvent struct {
	Step       int    `json:"step"`
	ID         string `json:"id"`
	Name       string `json:"name"`
	Content    string `json:"content"`   // at most 4 KiB of it
	Truncated  bool   `json:"truncated"` // whether Content was cut for the log
	Size       int    `json:"size"`      // the full content's length in bytes
	IsError    bool   `json:"is_error"`
	DurationMS int64  `json:"duration_ms"`
}

// WarningEvent records something a user should know that did not stop the
// run, such as a trimmed conversation or a tool that failed unexpectedly.
type WarningEvent struct {
	Message string `json:"message"`
}

// MCPStderrEvent records one line a stdio MCP server wrote to its stderr.
type MCPStderrEvent struct {
	Server string `json:"server"`
	Line   string `json:"line"`
}

// emitter redacts every event before it reaches Events. Redacting the
// encoded JSON, rather than chosen fields, means a field added later cannot
// leak a secret by being forgotten.
type emitter struct {
	events Events
	redact redactor
}

// emit encodes data, redacts it and passes it on.
func (e emitter) emit(kind string, data any) {
	if e.events == nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		// Every event type here encodes; this keeps a bug from going silent.
		b, _ = json.Marshal(WarningEvent{Message: fmt.Sprintf("cannot encode %s event: %v", kind, err)})
		kind = EventWarning
	}
	e.events.Emit(kind, e.redact.JSON(b))
}

// emitterEvents lets a ToolSource emit through the run's emitter, so that
// what it logs is redacted like everything else.
type emitterEvents struct{ em emitter }

// Emit encodes, redacts and passes on one event.
func (e emitterEvents) Emit(kind string, data any) { e.em.emit(kind, data) }

// warn emits a warning event.
func (e emitter) warn(format string, args ...any) {
	e.emit(EventWarning, WarningEvent{Message: fmt.Sprintf(format, args...)})
}

// loggableArguments returns tool-call arguments in a form that always
// encodes: valid JSON as it is, anything else as a JSON string.
func loggableArguments(args json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return json.RawMessage(`{}`)
	}
	if json.Valid(args) {
		return args
	}
	enc, _ := json.Marshal(string(args))
	return enc
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}
