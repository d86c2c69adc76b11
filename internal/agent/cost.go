package agent

// Price is what a model costs, in US dollars per million tokens, as the
// config's agent.prices gives it.
type Price struct {
	InputPerMTok  float64 `mapstructure:"input_per_mtok"`
	OutputPerMTok float64 `mapstructure:"output_per_mtok"`
	// CachedInputPerMTok is the price of input tokens read from the
	// provider's prompt cache; nil means the input price.
	CachedInputPerMTok *float64 `mapstructure:"cached_input_per_mtok"`
}
