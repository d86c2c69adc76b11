package commands

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
)

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
		if c, ok := eventCost(d); ok {
			s += " (cost " + agent.FormatUSD(c) + ")"
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
	case db.EventApprovalRequested:
		return fmt.Sprintf("approval requested #%s: %s(%s) id=%s", str("request"), str("tool"), truncate(str("arguments"), 200), str("call_id"))
	case db.EventApprovalDecided:
		s := fmt.Sprintf("approval #%s %s: %s", str("request"), str("decision"), str("tool"))
		if by := str("by"); by != "" {
			s += " by " + by
		}
		if r := str("reason"); r != "" {
			s += ": " + oneLine(r)
		}
		return s
	case "warning":
		return "warning: " + oneLine(str("message"))
	case "mcp_stderr":
		return fmt.Sprintf("mcp %s stderr: %s", str("server"), strings.TrimRight(str("line"), "\n"))
	}
	return e.Kind + " " + truncate(string(unescapeHTML(e.Data)), 200)
}

// eventHead is the first line of an event in logs: eventLine without the
// text that eventBody prints whole under it.
func eventHead(e db.Event) string {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	switch e.Kind {
	case "model":
		s := fmt.Sprintf("model step %v", d["step"])
		if r, _ := d["stop_reason"].(string); r != "" {
			s += " [" + r + "]"
		}
		if c, ok := eventCost(d); ok {
			s += " (cost " + agent.FormatUSD(c) + ")"
		}
		return s
	case "tool_result":
		tag := "tool result"
		if b, _ := d["is_error"].(bool); b {
			tag = "tool error"
		}
		return fmt.Sprintf("%s %v id=%v", tag, d["name"], d["id"])
	}
	return eventLine(e)
}

// eventBody is what logs prints under an event's head line, indented: the
// model's text whole (an answer is never cut), a tool's result as its
// lines, at most maxBodyLines of them; "" for other events.
func eventBody(e db.Event) string {
	var d struct {
		Text    string `json:"text"`
		Content string `json:"content"`
	}
	_ = json.Unmarshal(e.Data, &d)
	switch e.Kind {
	case "model":
		return strings.TrimRight(d.Text, "\n")
	case "tool_result":
		lines := strings.Split(strings.TrimRight(d.Content, "\n"), "\n")
		if len(lines) > maxBodyLines {
			more := len(lines) - maxBodyLines
			lines = append(lines[:maxBodyLines], fmt.Sprintf("… %d more line(s): opsctl logs -o jsonl has them all", more))
		}
		return strings.Join(lines, "\n")
	}
	return ""
}

// maxBodyLines bounds a tool result in logs.
const maxBodyLines = 40

// indentBody indents every line of a body so that none can pass for an
// event line.
func indentBody(body string) string {
	return "   " + strings.ReplaceAll(body, "\n", "\n   ")
}

// eventText is the "text" field of an output event.
func eventText(e db.Event) string {
	var d struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Text
}
