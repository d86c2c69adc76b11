package notify

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// LeaseMargin is how much longer than its rule's timeout a claimed
// notification stays with the runner that claimed it: time to store the
// outcome after the last moment of the try.
const LeaseMargin = 5 * time.Second

// Backoff is the wait after failed try n (1-based): 5s, 10s, 20s, ...
// at most 10 minutes, each between half and all of that.
func Backoff(n int) time.Duration {
	d := 5 * time.Second << min(max(n-1, 0), 20)
	d = min(d, 10*time.Minute)
	return d/2 + rand.N(d/2+1)
}

// Notifier delivers the notifications of a set of rules: the policy the
// runner's loop applies (which rule, whether it matches, retry or give up).
type Notifier struct {
	Rules  []Rule
	Sender *Sender
	// Backoff is the wait after failed try n; nil means Backoff.
	Backoff func(n int) time.Duration
}

// byKey returns the rule whose key is key.
func (n *Notifier) byKey(key string) (Rule, bool) {
	for _, r := range n.Rules {
		if r.Key() == key {
			return r, true
		}
	}
	return Rule{}, false
}

// StoreRules are the rules to register, one per key.
func (n *Notifier) StoreRules() []db.NotifyRule {
	var out []db.NotifyRule
	seen := map[string]bool{}
	for _, r := range n.Rules {
		if k := r.Key(); !seen[k] {
			seen[k] = true
			out = append(out, r.StoreRule())
		}
	}
	return out
}

// Keys are the rules' keys, each once.
func (n *Notifier) Keys() []string {
	var out []string
	for _, r := range n.StoreRules() {
		out = append(out, r.Key)
	}
	return out
}

// Lease is how long a claimed notification stays with its runner: the
// longest timeout of the rules, and LeaseMargin.
func (n *Notifier) Lease() time.Duration {
	var d time.Duration
	for _, r := range n.Rules {
		d = max(d, r.TimeoutOrDefault())
	}
	return d + LeaseMargin
}

// Deliver sends claimed notification no of task t (found is false when
// the task is gone) once and says what to store.
func (n *Notifier) Deliver(ctx context.Context, no db.Notification, t db.Task, found bool) db.NotifyOutcome {
	out := db.NotifyOutcome{Notification: no, Result: db.NotifySkipped}
	r, ok := n.byKey(no.Rule)
	if !ok || !found || !r.Matches(t, no.Status) {
		return out
	}
	detail, err := n.Sender.Send(ctx, r, Message{ID: MessageID(no.ID), Status: no.Status, Task: t, At: no.CreatedAt})
	switch {
	case err == nil:
		out.Result, out.Detail = db.NotifyDelivered, r.Target()+": "+detail
	case no.Attempt >= r.AttemptsOrDefault():
		out.Result, out.Error = db.NotifyGaveUp, r.Target()+": "+err.Error()
	default:
		backoff := n.Backoff
		if backoff == nil {
			backoff = Backoff
		}
		out.Result, out.Error, out.RetryIn = db.NotifyRetry, r.Target()+": "+err.Error(), backoff(no.Attempt)
	}
	return out
}

// Label is how the runner's notes name the rule of key ("" when this
// notifier has no such rule).
func (n *Notifier) Label(key string) string {
	r, ok := n.byKey(key)
	if !ok {
		return key
	}
	return r.Label()
}
