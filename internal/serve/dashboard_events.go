package serve

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// eventView is one event as a task page shows it: a head line (what
// happened), facts beside it, and a body shown as preformatted text (a
// chunk of output, a model's text, a tool's arguments or result). Every
// string has been through displayText; the templates escape the HTML.
type eventView struct {
	ID    int64
	At    timeView
	Kind  string // the event's kind, as stored
	Class string // the CSS class of its kind: output, model, tool, status, ...
	Label string // the kind in words: "stdout", "model turn", "tool call"
	Head  string
	Facts []string // "1,234 in / 56 out tokens", "12 ms", "truncated"
	Body  string
	// Stream is "stdout" or "stderr" for output chunks, which are shown
	// as one running text rather than as separate events.
	Stream string
	Error  bool // a failed tool call, a warning
}

// newEventView describes an event. Unknown kinds show their data as JSON.
func newEventView(e db.Event, now time.Time) eventView {
	v := eventView{ID: e.ID, At: newTimeView(e.At, now), Kind: displayText(e.Kind), Class: "other", Label: displayText(e.Kind)}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(e.Data, &m)
	str := func(k string) string {
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			return s
		}
		return strings.TrimSpace(string(m[k]))
	}
	switch e.Kind {
	case db.EventStatus:
		v.Class, v.Label = "status", "status"
		v.Head = displayText(str("from") + " → " + str("to"))
		if r := str("reason"); r != "" {
			v.Facts = append(v.Facts, displayText(r))
		}
		v.Error = str("to") == string(db.StatusFailed)
	case "stdout", "stderr":
		v.Class, v.Stream, v.Label = "output", e.Kind, e.Kind
		v.Body = displayText(str("text"))
	case "model":
		var d struct {
			Step       int    `json:"step"`
			Text       string `json:"text"`
			StopReason string `json:"stop_reason"`
			ToolCalls  []struct {
				Name string `json:"name"`
			} `json:"tool_calls"`
			Usage usage `json:"usage"`
		}
		_ = json.Unmarshal(e.Data, &d)
		v.Class, v.Label = "model", "model turn"
		v.Head = "Turn " + strconv.Itoa(d.Step)
		if d.Usage.Total == 0 {
			d.Usage.Total = d.Usage.In + d.Usage.Out
		}
		if d.Usage.Total > 0 {
			v.Facts = append(v.Facts, thousands(d.Usage.In)+" in / "+thousands(d.Usage.Out)+" out tokens")
		}
		if d.StopReason != "" {
			v.Facts = append(v.Facts, "stop: "+displayText(d.StopReason))
		}
		if n := len(d.ToolCalls); n > 0 {
			names := make([]string, n)
			for i, c := range d.ToolCalls {
				names[i] = c.Name
			}
			v.Facts = append(v.Facts, "asks for "+displayText(strings.Join(names, ", ")))
		}
		v.Body = displayText(d.Text)
	case "tool_call":
		v.Class, v.Label = "tool", "tool call"
		v.Head = displayText(str("name"))
		if id := str("id"); id != "" {
			v.Facts = append(v.Facts, "id "+displayText(id))
		}
		v.Body = prettyJSON(m["arguments"])
	case "tool_result":
		var d struct {
			ID         string `json:"id"`
			Name       string `json:"name"`
			Content    string `json:"content"`
			Truncated  bool   `json:"truncated"`
			Size       int64  `json:"size"`
			IsError    bool   `json:"is_error"`
			DurationMS *int64 `json:"duration_ms"`
		}
		_ = json.Unmarshal(e.Data, &d)
		v.Class, v.Label, v.Error = "tool", "tool result", d.IsError
		if d.IsError {
			v.Label = "tool error"
		}
		v.Head = displayText(d.Name)
		if d.ID != "" {
			v.Facts = append(v.Facts, "id "+displayText(d.ID))
		}
		if d.DurationMS != nil {
			v.Facts = append(v.Facts, fmtDuration(time.Duration(*d.DurationMS)*time.Millisecond))
		}
		if d.Size > 0 {
			v.Facts = append(v.Facts, byteSize(d.Size))
		}
		if d.Truncated {
			v.Facts = append(v.Facts, "first "+byteSize(int64(len(d.Content)))+" logged")
		}
		v.Body = displayText(d.Content)
	case "warning":
		v.Class, v.Label, v.Error = "warning", "warning", true
		v.Head = displayText(str("message"))
	case "mcp_stderr":
		v.Class, v.Label = "output", "mcp stderr"
		v.Stream = "stderr"
		v.Head = displayText(str("server"))
		v.Body = displayText(str("line"))
	default:
		v.Body = prettyJSON(e.Data)
	}
	return v
}
