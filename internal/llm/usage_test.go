package llm_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// Cached input tokens are read from each wire's own field (OpenAI's
// prompt_tokens_details.cached_tokens, Anthropic's cache_read_input_tokens)
// and are a part of InputTokens on both: Anthropic's input_tokens leaves
// cache reads and writes out, and the adapter adds them back.
func TestCachedInputTokens(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Reply(llmtest.Text("one").WithCachedUsage(1000, 800, 20))
			srv.Reply(llmtest.Text("two").WithUsageOf(llmtest.Usage{InputTokens: 500, CacheWriteInputTokens: 300, OutputTokens: 5}))
			srv.Reply(llmtest.Text("three").WithUsage(12, 7))

			want := []llm.Usage{
				{InputTokens: 1000, CachedInputTokens: 800, OutputTokens: 20, TotalTokens: 1020},
				{InputTokens: 500, OutputTokens: 5, TotalTokens: 505},
				{InputTokens: 12, OutputTokens: 7, TotalTokens: 19},
			}
			var sum llm.Usage
			for i, w := range want {
				resp, err := p.Complete(context.Background(), llm.Request{Messages: []llm.Message{userText("hi")}})
				require.NoError(t, err, "call %d", i+1)
				require.Equal(t, w, resp.Usage, "call %d", i+1)
				sum = sum.Add(resp.Usage)
			}
			require.Equal(t, llm.Usage{InputTokens: 1512, CachedInputTokens: 800, OutputTokens: 32, TotalTokens: 1544}, sum)
		})
	}
}

// The cached count is left out of the JSON when there is none, so results
// and events of runs without a prompt cache read as before.
func TestUsageJSONOmitsZeroCached(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(llm.Usage{InputTokens: 1, OutputTokens: 2, TotalTokens: 3})
	require.NoError(t, err)
	require.JSONEq(t, `{"input_tokens":1,"output_tokens":2,"total_tokens":3}`, string(b))
	b, err = json.Marshal(llm.Usage{InputTokens: 10, OutputTokens: 2, TotalTokens: 12, CachedInputTokens: 8})
	require.NoError(t, err)
	require.JSONEq(t, `{"input_tokens":10,"output_tokens":2,"total_tokens":12,"cached_input_tokens":8}`, string(b))
}
