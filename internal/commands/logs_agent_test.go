package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// logs prints an agent's answer whole, as lines under its event, and a
// tool's result as lines, at most maxBodyLines of them.
func TestLogsAgentBodies(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	answer := strings.Repeat("word ", 1000) + "\nsecond line\n-- not an event"
	model, _ := json.Marshal(map[string]any{"step": 2, "text": answer, "stop_reason": "stop"})
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	result, _ := json.Marshal(map[string]any{"id": "c1", "name": "read_file", "content": strings.Join(lines, "\n")})
	var buf bytes.Buffer
	p := &eventPrinter{w: &buf, format: "text"}
	require.NoError(t, p.print(db.Event{At: at, Kind: "model", Data: model}))
	require.NoError(t, p.print(db.Event{At: at, Kind: "tool_result", Data: result}))
	out := buf.String()
	require.Contains(t, out, "-- 2026-11-28T12:00:00Z model step 2 [stop]\n   "+strings.TrimRight(strings.Repeat("word ", 1000), " ")+" \n   second line\n   -- not an event\n")
	require.Contains(t, out, "-- 2026-11-28T12:00:00Z tool result read_file id=c1\n   line 0\n")
	require.Contains(t, out, "\n   line 39\n   … 60 more line(s): opsctl logs -o jsonl has them all\n")
	require.NotContains(t, out, "line 40")
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		require.True(t, strings.HasPrefix(l, "-- 2026") || strings.HasPrefix(l, "   "), "line %q", l)
	}
}
