package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// QueueConfig is one queue's entry under `queues:`.
type QueueConfig struct {
	// Concurrency is the most tasks of the queue running at once across
	// every runner on the database; 0 (or leaving it out) means no limit.
	Concurrency int `mapstructure:"concurrency" yaml:"concurrency"`
	// Paused keeps the runners that use this config away from the queue;
	// `opsctl queue pause` pauses it for every runner instead.
	Paused bool `mapstructure:"paused" yaml:"paused"`

	file string // the file that set it
}

// queueFields are the keys a queue's entry may have.
var queueFields = []string{"concurrency", "paused"}

// readQueues reads the queues section straight from the YAML files,
// lowest precedence first; a queue set in several files takes the entry of
// the last. Viper folds keys to lower case and splits them at dots, and a
// queue's name is matched exactly against the tasks' queue, so names keep
// both here. An unknown field or a negative limit is an error: a typo
// (`concurency: 1`) must not leave a queue without its limit unnoticed.
func readQueues(files []string) (map[string]QueueConfig, error) {
	var out map[string]QueueConfig
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
		var doc struct {
			Queues map[string]yaml.Node `yaml:"queues"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("config %s: queues: %w", file, err)
		}
		for _, name := range slices.Sorted(maps.Keys(doc.Queues)) {
			node := doc.Queues[name]
			q, err := decodeQueue(name, &node)
			if err != nil {
				return nil, fmt.Errorf("config %s: queues.%s: %w", file, name, err)
			}
			q.file = file
			if out == nil {
				out = map[string]QueueConfig{}
			}
			out[name] = q
		}
	}
	return out, nil
}

// decodeQueue decodes and checks one queue's entry.
func decodeQueue(name string, node *yaml.Node) (QueueConfig, error) {
	var q QueueConfig
	if name == "" {
		return q, errors.New("a queue name must not be empty")
	}
	if err := taskio.CheckLabel("the queue name", name); err != nil {
		return q, err
	}
	var fields map[string]yaml.Node
	if err := node.Decode(&fields); err != nil {
		return q, fmt.Errorf("want a mapping of %s", strings.Join(queueFields, " and "))
	}
	for k := range fields {
		if !slices.Contains(queueFields, k) {
			return q, fmt.Errorf("unknown field %q (want %s)", k, strings.Join(queueFields, " or "))
		}
	}
	if err := node.Decode(&q); err != nil {
		return q, fmt.Errorf("concurrency must be a whole number and paused true or false: %w", err)
	}
	if q.Concurrency < 0 {
		return q, fmt.Errorf("concurrency must be 0 (no limit) or more, not %d", q.Concurrency)
	}
	return q, nil
}

// QueueLimits is the queues section as the runner's claims carry it.
func (c *Config) QueueLimits() map[string]db.QueueLimit {
	if len(c.Queues) == 0 {
		return nil
	}
	out := make(map[string]db.QueueLimit, len(c.Queues))
	for name, q := range c.Queues {
		out[name] = db.QueueLimit{Concurrency: q.Concurrency, Paused: q.Paused}
	}
	return out
}

// QueueFile is the config file that set queue name's entry ("" if none).
func (c *Config) QueueFile(name string) string { return c.Queues[name].file }

// queueSettings lists the queues for `opsctl config`, one setting per
// queue in name order: "concurrency 1, paused".
func (c *Config) queueSettings() []Setting {
	var out []Setting
	for _, name := range slices.Sorted(maps.Keys(c.Queues)) {
		q := c.Queues[name]
		v := "no limit"
		if q.Concurrency > 0 {
			v = fmt.Sprintf("concurrency %d", q.Concurrency)
		}
		if q.Paused {
			v += ", paused"
		}
		out = append(out, Setting{Key: "queues." + name, Value: v, Source: "file " + q.file})
	}
	return out
}
