package agent

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/opsctl/opsctl/internal/llm"
)

// Price is what a model costs, in US dollars per million tokens, as the
// config's agent.prices gives it.
type Price struct {
	InputPerMTok  float64 `mapstructure:"input_per_mtok" yaml:"input_per_mtok"`
	OutputPerMTok float64 `mapstructure:"output_per_mtok" yaml:"output_per_mtok"`
	// CachedInputPerMTok is the price of input tokens read from the
	// provider's prompt cache; nil means the input price.
	CachedInputPerMTok *float64 `mapstructure:"cached_input_per_mtok" yaml:"cached_input_per_mtok"`
}

// PriceFields are the keys of one model's entry in agent.prices.
func PriceFields() []string {
	return []string{"input_per_mtok", "output_per_mtok", "cached_input_per_mtok"}
}

// Validate checks a price: no field may be negative.
func (p Price) Validate() error {
	switch {
	case p.InputPerMTok < 0 || math.IsNaN(p.InputPerMTok) || math.IsInf(p.InputPerMTok, 0):
		return fmt.Errorf("input_per_mtok must be a number 0 or more, not %g", p.InputPerMTok)
	case p.OutputPerMTok < 0 || math.IsNaN(p.OutputPerMTok) || math.IsInf(p.OutputPerMTok, 0):
		return fmt.Errorf("output_per_mtok must be a number 0 or more, not %g", p.OutputPerMTok)
	case p.CachedInputPerMTok != nil && (*p.CachedInputPerMTok < 0 || math.IsNaN(*p.CachedInputPerMTok) ||
		math.IsInf(*p.CachedInputPerMTok, 0)):
		return fmt.Errorf("cached_input_per_mtok must be a number 0 or more, not %g", *p.CachedInputPerMTok)
	}
	return nil
}

// cost is what a call with usage u costs at price p, in US dollars. Cached
// input tokens are a part of the input tokens: they are billed at the
// cached price, the rest at the input price.
func (p Price) cost(u llm.Usage) float64 {
	cached := min(max(u.CachedInputTokens, 0), max(u.InputTokens, 0))
	plain := max(u.InputTokens, 0) - cached
	cachedPrice := p.InputPerMTok
	if p.CachedInputPerMTok != nil {
		cachedPrice = *p.CachedInputPerMTok
	}
	return (float64(plain)*p.InputPerMTok + float64(cached)*cachedPrice +
		float64(max(u.OutputTokens, 0))*p.OutputPerMTok) / 1e6
}

// dateSuffix matches the snapshot date providers append to a model's name
// when they report it: OpenAI's "gpt-4o-2024-08-06", Anthropic's
// "claude-3-5-sonnet-20241022", Vertex AI's "claude-3-5-sonnet-v2@20241022".
var dateSuffix = regexp.MustCompile(`(-\d{4}-\d{2}-\d{2}|[-@]\d{8})$`)

// priceOf finds the price of a model. The names are the model as the
// provider reported it and as configured (the task's input or
// agent.model); empty names are skipped. The rule, first match wins:
//
//  1. each name as it is, exactly, then ignoring case (viper lowercases
//     the keys of config maps, and providers treat model names so);
//  2. each name without a snapshot date at its end ("gpt-4o-2024-08-06"
//     is priced as "gpt-4o" when it has no price of its own), exactly,
//     then ignoring case.
//
// The reported name comes first because it is the model that answered and
// is billed, and a price given for a dated snapshot is the more specific.
// Nothing else is stripped or guessed: "gpt-4o-mini" is never priced as
// "gpt-4o".
func (c Config) priceOf(names ...string) (Price, bool) {
	if len(c.Prices) == 0 {
		return Price{}, false
	}
	var tried []string
	for _, pass := range []func(string) string{
		func(n string) string { return n },
		func(n string) string { return dateSuffix.ReplaceAllString(n, "") },
	} {
		for _, n := range names {
			n = pass(strings.TrimSpace(n))
			if n == "" {
				continue
			}
			if p, ok := c.Prices[n]; ok {
				return p, true
			}
			tried = append(tried, n)
		}
		for _, n := range tried {
			if p, ok := c.priceFold(n); ok {
				return p, true
			}
		}
		tried = tried[:0]
	}
	return Price{}, false
}

// priceFold finds the price whose key equals name ignoring case. When
// several keys do (config validation refuses that), the smallest key wins,
// so the answer does not depend on map order.
func (c Config) priceFold(name string) (Price, bool) {
	var best string
	found := false
	for k := range c.Prices {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, found = k, true
		}
	}
	return c.Prices[best], found
}

// costOf is what one model call cost, and whether a price was known:
// configured is the model as configured for the run, reported as the
// provider named it in its reply (either may be empty).
func costOf(c Config, configured, reported string, u llm.Usage) (float64, bool) {
	p, ok := c.priceOf(reported, configured)
	if !ok {
		return 0, false
	}
	return p.cost(u), true
}

// maxCost is a run's cost budget in US dollars: the task's, else the
// config's; 0 means none.
func (c Config) maxCost(in Input) float64 {
	if in.MaxCostUSD > 0 {
		return in.MaxCostUSD
	}
	return max(c.MaxCostUSD, 0)
}

// addCost adds the cost of one model call to the result. Call it only for
// calls whose price is known: a result without any priced call keeps
// CostUSD nil ("unknown"), which is not the same as 0.
func (r *Result) addCost(usd float64) {
	total := usd
	if r.CostUSD != nil {
		total += *r.CostUSD
	}
	r.CostUSD = &total
}

// budgetExceeded reports whether a run with cost budget maxCost (0: none)
// has spent more than it: checked before each model call after the first,
// so a run stops before it spends more. A result with no known cost never
// exceeds a budget (budgetPriceError refuses such a run at its start).
func budgetExceeded(maxCost float64, res Result) bool {
	return maxCost > 0 && res.CostUSD != nil && *res.CostUSD > maxCost
}

// budgetPriceError refuses a cost budget that could never be enforced:
// maxCost is set but agent.prices has no price for the model as
// configured (nor for its undated name). It returns nil when there is no
// budget or the price is known. Call it before the first model call; the
// reason is StopSetupError.
func (c Config) budgetPriceError(red redactor, maxCost float64, model string) *RunError {
	if maxCost <= 0 {
		return nil
	}
	if _, ok := c.priceOf(model); ok {
		return nil
	}
	return newRunError(red, StopSetupError,
		"max_cost_usd is %s but agent.prices has no price for model %q, so the cost cannot be counted", FormatUSD(maxCost), model)
}

// costBudgetError is the error of a run stopped by its cost budget.
func costBudgetError(red redactor, maxCost float64, res Result) *RunError {
	return newRunError(red, StopCostBudget, "%s", costBudgetMessage(maxCost, res))
}

// costBudgetMessage says how much of the budget a run spent, in one line:
// "cost budget exceeded (spent $0.0123 of $0.01)".
func costBudgetMessage(maxCost float64, res Result) string {
	spent := 0.0
	if res.CostUSD != nil {
		spent = *res.CostUSD
	}
	return fmt.Sprintf("cost budget exceeded (spent %s of %s)", FormatUSD(spent), FormatUSD(maxCost))
}

// FormatUSD writes an amount of US dollars for people: "$0.0123",
// "$1.50", "$1,234.57"; amounts of a dollar or more with cents, smaller
// ones with up to 4 significant digits after the zeros (never in
// exponent form), 0 as "$0.00".
func FormatUSD(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	switch {
	case v == 0:
		return "$0.00"
	case v >= 1 || math.Round(v*100) >= 100:
		return sign + "$" + groupThousands(strconv.FormatFloat(v, 'f', 2, 64))
	}
	// Below a dollar: enough decimals for 4 significant digits, at least 2,
	// trailing zeros past the cents dropped.
	decimals := max(2, 4-int(math.Floor(math.Log10(v)))-1)
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.')-1 > 2 {
		s = s[:len(s)-1]
	}
	return sign + "$" + s
}

// groupThousands puts commas into the whole part of a decimal number.
func groupThousands(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole) <= 3 {
		return s
	}
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}
