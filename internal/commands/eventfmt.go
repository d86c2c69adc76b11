package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// eventJSON is the stable JSON shape of an event for `logs -o jsonl`.
type eventJSON struct {
	ID     int64           `json:"id"`
	TaskID int64           `json:"task_id"`
	At     time.Time       `json:"at"`
	Kind   string          `json:"kind"`
	Data   json.RawMessage `json:"data"`
}

func newEventJSON(e db.Event) eventJSON {
	return eventJSON{ID: e.ID, TaskID: e.TaskID, At: e.At, Kind: e.Kind, Data: e.Data}
}

// eventLine renders one event as one human line.
func eventLine(e db.Event) string {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	str := func(k string) string {
		if v, ok := d[k]; ok && v != nil {
			if s, ok := v.(string); ok {
				return s
			}
			return marshalJSON(v)
		}
		return ""
	}
	switch e.Kind {
	case db.EventStatus:
		s := fmt.Sprintf("status %s -> %s", str("from"), str("to"))
		if r := str("reason"); r != "" {
			s += ": " + oneLine(r)
		}
		return s
	case "stdout", "stderr":
		return e.Kind + ": " + strings.TrimRight(str("text"), "\n")
	case "model":
		s := fmt.Sprintf("model step %s", str("step"))
		if t := str("text"); t != "" {
			s += ": " + truncate(t, 200)
		}
		if r := str("stop_reason"); r != "" {
			s += " [" + r + "]"
		}
		return s
	case "tool_call":
		return fmt.Sprintf("tool call %s(%s) id=%s", str("name"), truncate(str("arguments"), 200), str("id"))
	case "tool_result":
		tag := "tool result"
		if b, _ := d["is_error"].(bool); b {
			tag = "tool error"
		}
		return fmt.Sprintf("%s %s id=%s: %s", tag, str("name"), str("id"), truncate(str("content"), 200))
	case "warning":
		return "warning: " + oneLine(str("message"))
	case "mcp_stderr":
		return fmt.Sprintf("mcp %s stderr: %s", str("server"), strings.TrimRight(str("line"), "\n"))
	}
	return e.Kind + " " + truncate(string(unescapeHTML(e.Data)), 200)
}

// eventText is the "text" field of an output event.
func eventText(e db.Event) string {
	var d struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Text
}
