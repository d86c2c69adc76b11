package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// benchSteps is the model calls of one benchmarked run: three turns that
// call current_time, then the answer (a fourth identical call in a row
// would end the run as a repeat).
const benchSteps = 4

// BenchmarkLoopStep measures the agent loop's own cost per model call: one
// op is one run of benchSteps calls, and ns/step is the figure to read.
// "in-memory" answers from a Go function, so it is the loop alone (tools,
// events, memory trimming, redaction); "openai" and "anthropic" go through
// llm.New, the official SDK and HTTP to a local fake server that answers
// at once, so they add the request encoding and the loopback round trip a
// real provider call pays on top of the model's own time. It is quick with
// -benchtime 1x.
func BenchmarkLoopStep(b *testing.B) {
	b.Run("in-memory", func(b *testing.B) {
		h := benchHandler("openai", "http://unused.invalid/")
		h.NewProvider = func(llm.Config) (llm.Provider, error) { return toolTurns{}, nil }
		benchRuns(b, h, func() {})
	})
	for _, wire := range []llmtest.Wire{llmtest.OpenAI, llmtest.Anthropic} {
		b.Run(string(wire), func(b *testing.B) {
			srv := llmtest.Start(wire)
			b.Cleanup(srv.Close)
			h := benchHandler(string(wire), srv.URL())
			benchRuns(b, h, func() {
				for i := 1; i < benchSteps; i++ {
					srv.Reply(llmtest.ToolCalls(llmtest.Call(fmt.Sprintf("call_%d", i), ToolCurrentTime, `{}`)))
				}
				srv.Reply(llmtest.Text("It is 15:09 UTC."))
			})
		})
	}
}

// benchRuns runs h b.N times, calling script before each run.
func benchRuns(b *testing.B, h *Handler, script func()) {
	ctx := context.Background()
	input := json.RawMessage(`{"prompt":"What time is it? Ask three times."}`)
	for b.Loop() {
		script()
		raw, err := h.Run(ctx, input, discardEvents{})
		if err != nil {
			b.Fatalf("run: %v: %s", err, raw)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchSteps), "ns/step")
}

func benchHandler(provider, baseURL string) *Handler {
	return &Handler{
		Config: Config{Provider: provider, Model: "model-bench", BaseURL: baseURL, Tools: []string{ToolCurrentTime}},
		Getenv: func(name string) string {
			if name == "OPENAI_API_KEY" || name == "ANTHROPIC_API_KEY" {
				return testKey
			}
			return ""
		},
		Now: func() time.Time { return fixedNow },
	}
}

// toolTurns is an in-memory provider that calls current_time until the
// conversation holds benchSteps-1 tool results, then answers.
type toolTurns struct{}

func (toolTurns) Name() string { return "openai" }

func (toolTurns) Complete(_ context.Context, req llm.Request) (llm.Response, error) {
	results := 0
	for _, m := range req.Messages {
		if m.Role == llm.RoleTool {
			results++
		}
	}
	msg := llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Text: "It is 15:09 UTC."}}}
	if results < benchSteps-1 {
		msg.Parts = []llm.Part{{ToolCall: &llm.ToolCall{ID: fmt.Sprintf("call_%d", results+1), Name: ToolCurrentTime, Arguments: json.RawMessage(`{}`)}}}
	}
	return llm.Response{Message: msg, StopReason: "stop", Usage: stepUsage, Model: "model-bench"}, nil
}

// discardEvents drops events; the runner's cost of storing them is
// measured by the store's benchmarks.
type discardEvents struct{}

func (discardEvents) Emit(string, any) {}
