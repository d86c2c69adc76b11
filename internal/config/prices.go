package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsctl/opsctl/internal/agent"
)

// readPrices reads agent.prices straight from the YAML files, lowest
// precedence first; a model priced in several files takes the price of the
// last. Viper splits keys at dots and folds them to lower case, which
// turned `gpt-4.1:` into a model "gpt-4" with no price; model names keep
// both here. Each entry must give input_per_mtok and output_per_mtok
// (cached_input_per_mtok is optional) and nothing else, so that a typo
// cannot leave a price at 0 without a word. It returns the prices (nil
// when there are none) and the file each came from.
func readPrices(files []string) (map[string]agent.Price, map[string]string, error) {
	var prices map[string]agent.Price
	var from map[string]string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("config %s: %w", file, err)
		}
		var doc struct {
			Agent struct {
				Prices map[string]yaml.Node `yaml:"prices"`
			} `yaml:"agent"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, nil, fmt.Errorf("config %s: agent.prices: %w", file, err)
		}
		for model, node := range doc.Agent.Prices {
			p, err := decodePrice(&node)
			if err != nil {
				return nil, nil, fmt.Errorf("config %s: agent.prices.%s: %w", file, model, err)
			}
			if prices == nil {
				prices, from = map[string]agent.Price{}, map[string]string{}
			}
			prices[model], from[model] = p, file
		}
	}
	return prices, from, nil
}

// decodePrice decodes one model's entry of agent.prices.
func decodePrice(node *yaml.Node) (agent.Price, error) {
	var p agent.Price
	var fields map[string]yaml.Node
	if err := node.Decode(&fields); err != nil {
		return p, errors.New("want a mapping of input_per_mtok, output_per_mtok and cached_input_per_mtok")
	}
	for k := range fields {
		if !slices.Contains(agent.PriceFields(), k) {
			return p, fmt.Errorf("unknown field %q (want %s)", k, strings.Join(agent.PriceFields(), ", "))
		}
	}
	for _, k := range []string{"input_per_mtok", "output_per_mtok"} {
		if _, ok := fields[k]; !ok {
			return p, fmt.Errorf("%s is missing (US dollars per million tokens)", k)
		}
	}
	if err := node.Decode(&p); err != nil {
		return p, fmt.Errorf("prices must be numbers: %w", err)
	}
	return p, p.Validate()
}

// validateCost checks the cost settings: the default budget and every
// price 0 or more, and no two models whose names differ only in case
// (prices are looked up ignoring case, so one of them would never apply).
func (c *Config) validateCost() error {
	if c.Agent.MaxCostUSD < 0 || math.IsNaN(c.Agent.MaxCostUSD) || math.IsInf(c.Agent.MaxCostUSD, 0) {
		return fmt.Errorf("config: agent.max_cost_usd must be a number 0 or more, not %g", c.Agent.MaxCostUSD)
	}
	lower := map[string]string{}
	for _, model := range slices.Sorted(maps.Keys(c.Agent.Prices)) {
		if err := c.Agent.Prices[model].Validate(); err != nil {
			return fmt.Errorf("config: agent.prices.%s: %w", model, err)
		}
		if other, ok := lower[strings.ToLower(model)]; ok {
			return fmt.Errorf("config: agent.prices has both %q and %q: model names are matched ignoring case", other, model)
		}
		lower[strings.ToLower(model)] = model
	}
	return nil
}

// priceSettings lists the prices for `opsctl config`, one setting per
// model in name order: "in 2.5, out 10, cached 1.25 (USD per million
// tokens)".
func (c *Config) priceSettings() []Setting {
	var out []Setting
	for _, model := range slices.Sorted(maps.Keys(c.Agent.Prices)) {
		p := c.Agent.Prices[model]
		v := "in " + num(p.InputPerMTok) + ", out " + num(p.OutputPerMTok)
		if p.CachedInputPerMTok != nil {
			v += ", cached " + num(*p.CachedInputPerMTok)
		}
		src := "default"
		if f := c.priceFiles[model]; f != "" {
			src = "file " + f
		}
		out = append(out, Setting{Key: "agent.prices." + model, Value: v + " (USD per million tokens)", Source: src})
	}
	return out
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// underMapKey reports whether a flattened file key lies inside a setting
// that is a map (agent.prices.gpt-4o.input_per_mtok): its keys are names
// the user chooses, checked where the map is read, not unknown settings.
func underMapKey(k string) bool {
	var found bool
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Struct:
				walk(prefix+tag+".", f.Type)
			case reflect.Map:
				if strings.HasPrefix(k, prefix+tag+".") {
					found = true
				}
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	return found
}
