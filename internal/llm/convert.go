package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// schemaObject decodes a tool's JSON Schema into the map both SDKs take.
// Numbers decode as float64, which marshals integers back unchanged (the
// SDKs' encoders do not know json.Number). A tool without a schema takes no
// arguments, which both APIs express as an empty object schema (Anthropic
// requires one).
func schemaObject(spec ToolSpec) (map[string]any, error) {
	raw := bytes.TrimSpace(spec.Schema)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]any{"type": "object", "properties": map[string]any{}}, nil
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil || schema == nil {
		return nil, fmt.Errorf("tool %q: schema is not a JSON object", spec.Name)
	}
	return schema, nil
}

// callArguments turns the arguments a model produced into ToolCall.Arguments.
// Models sometimes emit invalid JSON; it is kept as a JSON string so the
// message still marshals (transcripts are stored as JSON) and the tool sees
// an argument error it can report back to the model, instead of the whole
// turn failing here.
func callArguments(s string) json.RawMessage {
	trimmed := bytes.TrimSpace([]byte(s))
	if len(trimmed) == 0 {
		return json.RawMessage("{}")
	}
	if json.Valid(trimmed) {
		return json.RawMessage(trimmed)
	}
	quoted, _ := json.Marshal(s)
	return quoted
}

// argumentsOrEmpty returns a call's arguments for sending back to a provider,
// with an empty object for none, since both APIs reject empty arguments.
func argumentsOrEmpty(args json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(args)) == 0 {
		return json.RawMessage("{}")
	}
	return args
}

// toolResultText is the text a provider without an error flag sees for a
// tool result. OpenAI's tool messages have no is_error field, so a failed
// tool's output is marked in the text to keep the model from taking an error
// message for data.
func toolResultText(r ToolResult) string {
	if r.IsError {
		return "ERROR: " + r.Content
	}
	return r.Content
}
