package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/notify"
)

// notifyFields are the keys a notify rule may have.
var notifyFields = []string{"id", "on", "queue", "type", "name", "schedule", "command", "webhook", "timeout", "attempts"}

// notifyRule is a rule as written in the file.
type notifyRule struct {
	ID       string    `yaml:"id"`
	On       yaml.Node `yaml:"on"`
	Queue    string    `yaml:"queue"`
	Type     string    `yaml:"type"`
	Name     string    `yaml:"name"`
	Schedule string    `yaml:"schedule"`
	Command  yaml.Node `yaml:"command"`
	Webhook  *struct {
		URL       string `yaml:"url"`
		SecretEnv string `yaml:"secret_env"`
	} `yaml:"webhook"`
	Timeout  string `yaml:"timeout"`
	Attempts int    `yaml:"attempts"`
}

// readNotify reads the notify section straight from the YAML files: a
// list of maps, which viper's view (keys folded to lower case, split at
// dots) does not keep. The section of the file with the highest
// precedence that has one is the rules, whole: lists are not merged.
// Every rule is checked here, so a typo stops every command with one line
// (exit 2) instead of leaving a failure unreported at 3 a.m.; a webhook
// secret's variable is checked by the commands that send (run, notify
// test), not here, where it would stop `opsctl list` in a shell without it.
func readNotify(files []string) ([]notify.Rule, error) {
	var out []notify.Rule
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
		var doc struct {
			Notify yaml.Node `yaml:"notify"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("config %s: notify: %w", file, err)
		}
		if doc.Notify.Kind == 0 {
			continue
		}
		var nodes []yaml.Node
		if err := doc.Notify.Decode(&nodes); err != nil {
			return nil, fmt.Errorf("config %s: notify: want a list of rules", file)
		}
		out = nil
		ids := map[string]int{}
		for i := range nodes {
			r, err := decodeNotifyRule(&nodes[i], i+1)
			if err != nil {
				return nil, fmt.Errorf("config %s: notify #%d: %w", file, i+1, err)
			}
			if first, dup := ids[r.ID]; dup && r.ID != "" {
				return nil, fmt.Errorf("config %s: notify #%d: id %q is rule #%d's already", file, i+1, r.ID, first)
			}
			ids[r.ID] = i + 1
			out = append(out, r)
		}
	}
	return out, nil
}

// decodeNotifyRule decodes and checks the rule at index (1-based).
func decodeNotifyRule(node *yaml.Node, index int) (notify.Rule, error) {
	r := notify.Rule{Index: index}
	var fields map[string]yaml.Node
	if err := node.Decode(&fields); err != nil {
		return r, fmt.Errorf("want a mapping of %s", strings.Join(notifyFields, ", "))
	}
	for k := range fields {
		if !slices.Contains(notifyFields, k) {
			return r, fmt.Errorf("unknown field %q (want %s)", k, strings.Join(notifyFields, ", "))
		}
	}
	var raw notifyRule
	if err := node.Decode(&raw); err != nil {
		return r, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
	}
	on, err := stringList(&raw.On)
	if err != nil {
		return r, fmt.Errorf("on: %w", err)
	}
	for _, s := range on {
		r.On = append(r.On, db.Status(s))
	}
	if r.Command, err = stringList(&raw.Command); err != nil {
		return r, fmt.Errorf("command: %w (a list: program and arguments, run without a shell)", err)
	}
	if _, ok := fields["command"]; ok && len(r.Command) == 0 {
		return r, fmt.Errorf("command: the list is empty")
	}
	r.ID, r.Queue, r.Type, r.Name, r.Schedule, r.Attempts = raw.ID, raw.Queue, raw.Type, raw.Name, raw.Schedule, raw.Attempts
	if raw.Webhook != nil {
		r.Webhook = &notify.Webhook{URL: raw.Webhook.URL, SecretEnv: raw.Webhook.SecretEnv}
	}
	if raw.Timeout != "" {
		if r.Timeout, err = time.ParseDuration(raw.Timeout); err != nil || r.Timeout <= 0 {
			return r, fmt.Errorf("timeout %q is not a positive duration (10s, 1m)", raw.Timeout)
		}
	}
	return r, r.Validate()
}

// stringList decodes a list of strings, or one string as a list of one.
func stringList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("want a list of words")
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of words")
}

// NotifyRules are the notify section's rules, in order (nil when none).
func (c *Config) NotifyRules() []notify.Rule { return c.Notify }

// NotifySecretEnvs are the variables the webhook rules take secrets from:
// the environment of what the runner starts goes without them.
func (c *Config) NotifySecretEnvs() []string {
	var out []string
	for _, r := range c.Notify {
		if r.Webhook != nil && r.Webhook.SecretEnv != "" {
			out = append(out, r.Webhook.SecretEnv)
		}
	}
	return out
}
