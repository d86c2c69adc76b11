// Package notify delivers notifications of task transitions: the rules of
// the config's `notify:` section (which transitions, filtered by queue,
// type, name and schedule) and their targets, a command or a webhook
// signed as Standard Webhooks specifies. The outbox they are delivered
// from is the store's (db.NotifyStore); the loop that drains it is the
// runner's (internal/runner, notify.go).
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// Default limits of a rule.
const (
	// DefaultWebhookTimeout bounds one POST, DefaultCommandTimeout one run
	// of a command.
	DefaultWebhookTimeout = 10 * time.Second
	DefaultCommandTimeout = 30 * time.Second
	// DefaultAttempts is how many tries a notification gets before it is
	// given up (about 10 minutes of backoff, see Backoff).
	DefaultAttempts = 8
	// MaxAttempts is the most tries a rule may ask for.
	MaxAttempts = 100
)

// Rule is one entry of the config's `notify:` section.
type Rule struct {
	// ID names the rule (optional): `opsctl notify test ID`, and its key
	// across runners (see Key).
	ID string `json:"id,omitempty"`
	// Index is the rule's 1-based position in the section.
	Index int `json:"index"`
	// On lists the statuses it fires for.
	On []db.Status `json:"on"`
	// Filters; "" matches every task. Name is a glob (path.Match) on the
	// task's name; Schedule is the name of the schedule that enqueued it.
	Queue    string `json:"queue,omitempty"`
	Type     string `json:"type,omitempty"`
	Name     string `json:"name,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	// Exactly one target: Command (argv, run without a shell) or Webhook.
	Command []string `json:"command,omitempty"`
	Webhook *Webhook `json:"webhook,omitempty"`
	// Timeout bounds one try; 0 means the target's default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Attempts is how many tries a notification gets; 0 means
	// DefaultAttempts.
	Attempts int `json:"attempts,omitempty"`
}

// Webhook is a rule's webhook target.
type Webhook struct {
	URL string `json:"url"`
	// SecretEnv names the environment variable holding the signing secret
	// (whsec_ and base64, as Standard Webhooks has it); "" sends unsigned.
	SecretEnv string `json:"secret_env,omitempty"`
}

// Label is how messages name the rule: its id, else "#N".
func (r Rule) Label() string {
	if r.ID != "" {
		return r.ID
	}
	return fmt.Sprintf("#%d", r.Index)
}

// Key identifies the rule in the store: its id, else a hash of what it
// does (its statuses, filters and target; never a secret's value), so
// runners with the same config agree on it, and editing an unnamed rule
// makes it a new rule.
func (r Rule) Key() string {
	if r.ID != "" {
		return r.ID
	}
	c := r
	c.Index, c.ID = 0, ""
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return "rule-" + hex.EncodeToString(sum[:6])
}

// Target says where the rule sends, without secrets or a URL's path and
// query (which may carry a token): "command page-me" or "webhook
// hooks.example.com".
func (r Rule) Target() string {
	if r.Webhook != nil {
		host := r.Webhook.URL
		if i := strings.Index(host, "://"); i >= 0 {
			host = host[i+3:]
		}
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		return "webhook " + host
	}
	if len(r.Command) > 0 {
		return "command " + path.Base(r.Command[0])
	}
	return "nothing"
}

// TimeoutOrDefault is the rule's limit on one try.
func (r Rule) TimeoutOrDefault() time.Duration {
	switch {
	case r.Timeout > 0:
		return r.Timeout
	case r.Webhook != nil:
		return DefaultWebhookTimeout
	}
	return DefaultCommandTimeout
}

// AttemptsOrDefault is how many tries a notification of the rule gets.
func (r Rule) AttemptsOrDefault() int {
	if r.Attempts > 0 {
		return r.Attempts
	}
	return DefaultAttempts
}

// Listens reports whether the rule fires for status.
func (r Rule) Listens(st db.Status) bool { return slices.Contains(r.On, st) }

// Matches reports whether the rule fires for task t moving to status st.
// The store applied the queue and type filters already; they are checked
// again here because the rows may have been recorded under an older
// version of the rule.
func (r Rule) Matches(t db.Task, st db.Status) bool {
	if !r.Listens(st) || (r.Queue != "" && r.Queue != t.Queue) || (r.Type != "" && r.Type != t.Type) {
		return false
	}
	if r.Name != "" {
		if ok, _ := path.Match(r.Name, t.Name); !ok {
			return false
		}
	}
	if r.Schedule != "" && !strings.HasPrefix(t.Key, "schedule:"+r.Schedule+":") {
		return false
	}
	return true
}

// StoreRule is the rule as the store registers it.
func (r Rule) StoreRule() db.NotifyRule {
	return db.NotifyRule{Key: r.Key(), On: r.On, Queue: r.Queue, Type: r.Type}
}

// Find returns the rule whose id is ref, or whose 1-based index it is.
func Find(rules []Rule, ref string) (Rule, bool) {
	for _, r := range rules {
		if r.ID != "" && r.ID == ref {
			return r, true
		}
	}
	for _, r := range rules {
		if fmt.Sprint(r.Index) == ref {
			return r, true
		}
	}
	return Rule{}, false
}
