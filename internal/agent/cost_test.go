package agent

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
)

func costPtr[T any](v T) *T { return &v }

// A call's cost: plain input, cached input and output each at their price
// per million tokens; cached input at the input price when no cached price
// is given.
func TestPriceCost(t *testing.T) {
	t.Parallel()
	gpt4o := Price{InputPerMTok: 2.5, OutputPerMTok: 10, CachedInputPerMTok: costPtr(1.25)}
	noCache := Price{InputPerMTok: 3, OutputPerMTok: 15}
	cases := []struct {
		name  string
		price Price
		usage llm.Usage
		want  float64
	}{
		{"nothing", gpt4o, llm.Usage{}, 0},
		{"a million in", gpt4o, llm.Usage{InputTokens: 1_000_000}, 2.5},
		{"a million out", gpt4o, llm.Usage{OutputTokens: 1_000_000}, 10},
		// 200 plain at 2.5, 800 cached at 1.25, 50 out at 10.
		{"cached", gpt4o, llm.Usage{InputTokens: 1000, CachedInputTokens: 800, OutputTokens: 50},
			(200*2.5 + 800*1.25 + 50*10) / 1e6},
		{"cached at the input price", noCache, llm.Usage{InputTokens: 1000, CachedInputTokens: 800, OutputTokens: 50},
			(1000*3 + 50*15) / 1e6},
		// A provider that reports more cached than input tokens is not
		// allowed to make the plain part negative.
		{"cached over input", gpt4o, llm.Usage{InputTokens: 100, CachedInputTokens: 500}, 100 * 1.25 / 1e6},
		{"free model", Price{}, llm.Usage{InputTokens: 5000, OutputTokens: 5000}, 0},
	}
	for _, tc := range cases {
		require.InDelta(t, tc.want, tc.price.cost(tc.usage), 1e-12, tc.name)
	}
}

// The lookup rule of priceOf: the reported name before the configured one,
// exact before ignoring case, and a snapshot date stripped only when the
// dated name has no price of its own. Nothing else is guessed.
func TestPriceOf(t *testing.T) {
	t.Parallel()
	cfg := Config{Prices: map[string]Price{
		"gpt-4o":                     {InputPerMTok: 2.5},
		"gpt-4o-2024-05-13":          {InputPerMTok: 5},
		"gpt-4o-mini":                {InputPerMTok: 0.15},
		"claude-3-5-sonnet":          {InputPerMTok: 3},
		"Llama-3.1-70B":              {InputPerMTok: 0.9},
		"claude-sonnet-4-5-20250929": {InputPerMTok: 3.5},
	}}
	cases := []struct {
		names []string
		want  float64 // input price; -1: none
	}{
		{[]string{"gpt-4o"}, 2.5},
		{[]string{"GPT-4o"}, 2.5},                                   // case is ignored
		{[]string{"gpt-4o-2024-08-06"}, 2.5},                        // a dated snapshot of a priced model
		{[]string{"gpt-4o-2024-05-13"}, 5},                          // a snapshot with its own price
		{[]string{"gpt-4o-mini-2024-07-18"}, 0.15},                  // the date goes, "-mini" stays
		{[]string{"claude-3-5-sonnet-20241022"}, 3},                 // Anthropic's compact date
		{[]string{"claude-3-5-sonnet@20241022"}, 3},                 // Vertex AI's
		{[]string{"claude-sonnet-4-5-20250929"}, 3.5},               // the dated key itself
		{[]string{"llama-3.1-70b"}, 0.9},                            // dots stay, case folds
		{[]string{"gpt-4o-2024-08-06", "gpt-4o-mini"}, 0.15},        // exact configured before undated reported
		{[]string{"gpt-4o-2024-05-13", "gpt-4o"}, 5},                // reported first
		{[]string{"", "gpt-4o"}, 2.5},                               // no reported name
		{[]string{"gpt-4"}, -1},                                     // no prefix matching
		{[]string{"gpt-4o-audio-preview"}, -1},                      // not a date
		{[]string{"gpt-4o-20241"}, -1},                              // not a date either
		{[]string{""}, -1},                                          // nothing to look up
		{[]string{"unknown-2024-08-06", "also-unknown"}, -1},        // neither
		{[]string{"  gpt-4o  "}, 2.5},                               // spaces around a configured name
		{[]string{"openrouter/gpt-4o"}, -1},                         // a prefixed name is another name
		{[]string{"claude-3-5-sonnet-latest", "gpt-4o-mini"}, 0.15}, // -latest is not a date
	}
	for _, tc := range cases {
		p, ok := cfg.priceOf(tc.names...)
		if tc.want < 0 {
			require.False(t, ok, "%q", tc.names)
			continue
		}
		require.True(t, ok, "%q", tc.names)
		require.Equal(t, tc.want, p.InputPerMTok, "%q", tc.names)
	}

	_, ok := Config{}.priceOf("gpt-4o")
	require.False(t, ok, "no prices at all")

	// Keys equal but for case (config validation refuses them) resolve the
	// same way every time.
	twice := Config{Prices: map[string]Price{"M": {InputPerMTok: 1}, "m": {InputPerMTok: 2}, "Mm": {}}}
	for range 20 {
		p, ok := twice.priceOf("M")
		require.True(t, ok)
		require.Equal(t, 1.0, p.InputPerMTok)
		p, ok = twice.priceOf("mM")
		require.True(t, ok)
		require.Equal(t, 0.0, p.InputPerMTok)
	}
}

// Costs add up over a run's calls; a result that had no priced call has no
// cost at all (nil), which is not a cost of 0.
func TestCostOfAndResult(t *testing.T) {
	t.Parallel()
	cfg := Config{Prices: map[string]Price{"gpt-4o": {InputPerMTok: 2.5, OutputPerMTok: 10}}}
	var res Result
	require.Nil(t, res.CostUSD)

	u := llm.Usage{InputTokens: 1000, OutputTokens: 100, TotalTokens: 1100}
	c, ok := costOf(cfg, "gpt-4o", "gpt-4o-2024-08-06", u)
	require.True(t, ok)
	require.InDelta(t, 0.0035, c, 1e-12)
	res.addCost(c)
	c, ok = costOf(cfg, "", "gpt-4o", u)
	require.True(t, ok)
	res.addCost(c)
	require.InDelta(t, 0.007, *res.CostUSD, 1e-12)

	_, ok = costOf(cfg, "my-model", "my-model-v2", u)
	require.False(t, ok)

	b, err := json.Marshal(Result{StopReason: StopAnswer})
	require.NoError(t, err)
	require.NotContains(t, string(b), "cost_usd")
	zero := Result{}
	zero.addCost(0)
	b, err = json.Marshal(zero)
	require.NoError(t, err)
	require.Contains(t, string(b), `"cost_usd":0`)
}

// The budget is exceeded only when it is set, the cost is known, and the
// cost is over it (spending exactly the budget is within it).
func TestBudgetExceeded(t *testing.T) {
	t.Parallel()
	at := func(v float64) Result { return Result{CostUSD: &v} }
	require.False(t, budgetExceeded(0, at(100)), "no budget")
	require.False(t, budgetExceeded(0.5, Result{}), "no known cost")
	require.False(t, budgetExceeded(0.5, at(0.4)))
	require.False(t, budgetExceeded(0.5, at(0.5)))
	require.True(t, budgetExceeded(0.5, at(0.5000001)))

	require.Equal(t, 0.0, Config{}.maxCost(Input{}))
	require.Equal(t, 1.5, Config{MaxCostUSD: 1.5}.maxCost(Input{}))
	require.Equal(t, 0.25, Config{MaxCostUSD: 1.5}.maxCost(Input{MaxCostUSD: 0.25}))
	require.Equal(t, 0.0, Config{MaxCostUSD: -1}.maxCost(Input{}))

	err := costBudgetError(newRedactor(), 0.01, at(0.0123))
	require.Equal(t, StopCostBudget, err.Reason)
	require.False(t, err.Retryable())
	require.Equal(t, "cost budget exceeded (spent $0.0123 of $0.01)", err.Error())

	cfg := Config{Prices: map[string]Price{"gpt-4o": {InputPerMTok: 2.5}}}
	require.Nil(t, cfg.budgetPriceError(newRedactor(), 0, "unpriced"))
	require.Nil(t, cfg.budgetPriceError(newRedactor(), 1, "gpt-4o-2024-08-06"))
	perr := cfg.budgetPriceError(newRedactor(), 1, "unpriced")
	require.NotNil(t, perr)
	require.Equal(t, StopSetupError, perr.Reason)
	require.Equal(t, `max_cost_usd is $1.00 but agent.prices has no price for model "unpriced", so the cost cannot be counted`, perr.Error())
}

// A negative budget is refused at submit with the field named; 0 and a
// positive one are fine.
func TestInputMaxCost(t *testing.T) {
	t.Parallel()
	require.EqualError(t, ValidateInput(json.RawMessage(`{"prompt":"p","max_cost_usd":-0.5}`)),
		`"max_cost_usd" must not be negative, got -0.5`)
	require.EqualError(t, ValidateInput(json.RawMessage(`{"prompt":"p","max_cost_usd":"1"}`)),
		`"max_cost_usd" must be a number, got string`)
	require.NoError(t, ValidateInput(json.RawMessage(`{"prompt":"p","max_cost_usd":0}`)))
	in, err := decodeInput(json.RawMessage(`{"prompt":"p","max_cost_usd":0.75}`))
	require.NoError(t, err)
	require.Equal(t, 0.75, in.MaxCostUSD)
}

func TestPriceValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Price{}.Validate())
	require.NoError(t, Price{InputPerMTok: 2.5, OutputPerMTok: 10, CachedInputPerMTok: costPtr(0.0)}.Validate())
	require.EqualError(t, Price{InputPerMTok: -1}.Validate(), "input_per_mtok must be a number 0 or more, not -1")
	require.EqualError(t, Price{OutputPerMTok: -2}.Validate(), "output_per_mtok must be a number 0 or more, not -2")
	require.EqualError(t, Price{CachedInputPerMTok: costPtr(-0.5)}.Validate(), "cached_input_per_mtok must be a number 0 or more, not -0.5")
}

func TestFormatUSD(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{
		0:          "$0.00",
		0.5:        "$0.50",
		0.99:       "$0.99",
		0.0123:     "$0.0123",
		0.012345:   "$0.01235",
		0.00001234: "$0.00001234",
		0.099996:   "$0.10",
		0.999996:   "$1.00",
		1:          "$1.00",
		1.5:        "$1.50",
		12.345:     "$12.35",
		1234.567:   "$1,234.57",
		1234567.8:  "$1,234,567.80",
		-0.25:      "-$0.25",
	} {
		require.Equal(t, want, FormatUSD(v), "%v", v)
	}
}
