package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// update rewrites the golden transcripts: go test ./internal/agent -update
var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata")

// TestGoldenTranscripts runs the main scenarios and compares what they emit
// and return with testdata/*.txtar. Each archive holds the input, the events
// (one "kind json" line each, durations zeroed), the result and the error.
func TestGoldenTranscripts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		setup func(f *fixture)
		steps []step
	}{
		{
			name:  "tool_call_answer",
			input: `{"prompt":"What time is it?"}`,
			steps: []step{callTools(call("call_1", ToolCurrentTime, `{}`)), answer("It is 15:09 UTC.")},
		},
		{
			name:  "max_steps",
			input: `{"prompt":"Keep checking the time.","max_steps":2}`,
			steps: []step{
				callTools(call("call_1", ToolCurrentTime, `{}`)),
				callTools(call("call_2", ToolCurrentTime, `{}`)),
			},
		},
		{
			name:  "tool_error",
			input: `{"prompt":"Show me loop.go.","tools":["read_file"]}`,
			setup: func(f *fixture) { f.h.Config.ReadFileDirs = []string{"testdata"} },
			steps: []step{
				callTools(call("call_1", ToolReadFile, `{"path":"../loop.go"}`)),
				answer("I may not read loop.go: it is outside the allowed directories."),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil, tt.steps...)
			if tt.setup != nil {
				tt.setup(f)
			}
			raw, err := f.h.Run(context.Background(), json.RawMessage(tt.input), f.events)
			got := transcript(t, tt.input, f.events.all(), raw, err)

			path := filepath.Join("testdata", tt.name+".txtar")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, rerr := os.ReadFile(path)
			require.NoError(t, rerr, "run with -update to create %s", path)
			require.Equal(t, string(want), string(got), "transcript differs; run with -update if the change is intended")
		})
	}
}

// transcript formats a run as a txtar archive.
func transcript(t *testing.T, input string, events []event, result json.RawMessage, err error) []byte {
	t.Helper()
	var evs bytes.Buffer
	for _, e := range events {
		data := e.Data
		if e.Kind == EventToolResult {
			// Durations differ from run to run; everything else must not.
			var tr ToolResultEvent
			require.NoError(t, json.Unmarshal(data, &tr))
			tr.DurationMS = 0
			var merr error
			data, merr = json.Marshal(tr)
			require.NoError(t, merr)
		}
		evs.WriteString(e.Kind + " " + string(data) + "\n")
	}
	var res bytes.Buffer
	require.NoError(t, json.Indent(&res, result, "", "  "))
	res.WriteString("\n")
	errText := "<nil>\n"
	if err != nil {
		errText = err.Error() + "\n"
	}
	return formatArchive(
		"Golden transcript of an agent run; rewrite with go test ./internal/agent -update.\n",
		[][2]string{{"input", input + "\n"}, {"events", evs.String()}, {"result", res.String()}, {"error", errText}},
	)
}

// formatArchive writes a txtar archive: a comment, then each file as a
// "-- name --" line followed by its data. golang.org/x/tools/txtar is not a
// dependency of this module, and writing the format takes a few lines.
func formatArchive(comment string, files [][2]string) []byte {
	var b bytes.Buffer
	b.WriteString(comment)
	for _, f := range files {
		b.WriteString("-- " + f[0] + " --\n")
		b.WriteString(f[1])
	}
	return b.Bytes()
}
