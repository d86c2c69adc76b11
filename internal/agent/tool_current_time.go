package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
)

// newCurrentTimeTool returns current_time, which tells the model the time:
// models do not know it, and tasks such as "what ran in the last hour" need it.
func newCurrentTimeTool(now func() time.Time) Tool {
	if now == nil {
		now = time.Now
	}
	return funcTool{
		spec: llm.ToolSpec{
			Name:        ToolCurrentTime,
			Description: "Returns the current date and time (RFC 3339) and the local time zone name.",
			Schema:      json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
		},
		call: func(context.Context, json.RawMessage) (string, error) {
			t := now()
			zone, _ := t.Zone()
			return t.Format(time.RFC3339) + " " + zone, nil
		},
	}
}
