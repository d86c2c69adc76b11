package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opsctl/opsctl/internal/llm"
)

// Tool is something the model can call. Spec describes it to the model; its
// Schema is a JSON Schema object that the run validates the arguments against
// before Call is reached, so Call only sees arguments that fit it.
//
// Call returns the text the model reads. To tell the model that the call did
// not work (a missing file, a refused host), return a *ToolError: its message
// becomes an error result the model can act on. Any other error is also
// turned into an error result, never a crashed run, but is additionally
// reported as a warning event, because it points at a broken tool rather
// than at a mistake of the model.
type Tool interface {
	Spec() llm.ToolSpec
	Call(ctx context.Context, args json.RawMessage) (string, error)
}

// ToolError is a failure a tool reports to the model: the call was
// understood but could not be done. The run sends "error: " + Message back as
// an error result and carries on.
type ToolError struct {
	Message string
}

// Error returns the message the model will read.
func (e *ToolError) Error() string { return e.Message }

// ToolErrorf returns a *ToolError with a formatted message.
func ToolErrorf(format string, args ...any) error {
	return &ToolError{Message: fmt.Sprintf(format, args...)}
}

// ToolSource contributes tools to a run, for example the tools of the MCP
// servers a task names. Tools is called once per run, before the first model
// call, with the task's input after defaults were applied (so MCPServers and
// Tools hold the effective lists). The returned cleanup func, which may be
// nil, is called when the run ends for any reason, including when a later
// source fails. A returned error ends the run before any model call.
//
// ev is the run's event log, with secrets redacted. A source may emit to it
// from any goroutine (a server's stderr, say) until its cleanup returns,
// and never after.
//
// Tools from a source are offered under the names their specs give. MCP
// tools are named SERVER__TOOL; see Handler for how the task's tools list
// narrows them.
type ToolSource interface {
	Tools(ctx context.Context, in Input, ev Events) ([]Tool, func(), error)
}

// funcTool adapts a spec and a function into a Tool; the built-in tools use
// it so that each can be one function with its settings in a closure.
type funcTool struct {
	spec llm.ToolSpec
	call func(ctx context.Context, args json.RawMessage) (string, error)
}

// Spec returns the tool's description.
func (t funcTool) Spec() llm.ToolSpec { return t.spec }

// Call runs the tool.
func (t funcTool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	return t.call(ctx, args)
}
