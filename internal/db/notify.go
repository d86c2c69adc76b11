package db

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// NotifyStore is the part of the Store for the notification outbox
// (migration 12).
//
// A trigger on tasks records, in the transaction that changes a task's
// status, one outbox row for each registered rule that listens for the new
// status (and whose queue and type filters match). Runners register the
// rules of their config (RegisterNotifyRules), claim the due rows of their
// own rules under a lease (ClaimNotifications), deliver them, and settle
// each (SettleNotification), which writes the task's notified or
// notify_failed event in the transaction that deletes the row. A claim is
// exact (SQLite's single writer, PostgreSQL's SKIP LOCKED), so two runners
// never hold the same row; a runner that dies holding one leaves it due
// again when its lease ends.
type NotifyStore interface {
	// RegisterNotifyRules writes the rules' rows, their seen time set to
	// now, and removes rows of these rules for statuses they no longer
	// listen for. It also forgets rules no runner has registered for
	// NotifyRuleForgetAfter, giving up their undelivered rows with a
	// notify_failed event each.
	RegisterNotifyRules(ctx context.Context, rules []NotifyRule) error
	// ClaimNotifications claims up to Limit due outbox rows of the rules
	// named in r.Rules, oldest first, under a lease of r.Lease: each row's
	// attempt is counted, and it is due again when the lease ends unless
	// it is settled first. When nothing is due it only reads.
	ClaimNotifications(ctx context.Context, r NotifyClaim) ([]Notification, error)
	// SettleNotification stores what became of a claimed row, fenced by
	// its worker and attempt: ok is false, and nothing is written, when
	// the row is no longer held so (its lease ended and another runner
	// claimed it, or its task was pruned).
	SettleNotification(ctx context.Context, o NotifyOutcome) (ok bool, err error)
}

// NotifyRuleForgetAfter is how long a rule stays registered after a runner
// last registered it: while a runner with the rule runs, it registers it
// again every few minutes.
const NotifyRuleForgetAfter = 7 * 24 * time.Hour

// Event kinds of notifications, written on the task.
const (
	EventNotified     = "notified"
	EventNotifyFailed = "notify_failed"
)

// NotifyStatuses are the statuses a notification can be for.
func NotifyStatuses() []Status {
	return []Status{StatusCompleted, StatusFailed, StatusCancelled, StatusWaiting}
}

// NotifyRule is a rule as the store sees it.
type NotifyRule struct {
	// Key names the rule across runners (its name, or a hash of its
	// content): one outbox row is recorded per key and transition.
	Key string
	// On lists the statuses it listens for (see NotifyStatuses).
	On []Status
	// Queue and Type narrow it in the trigger; "" is any. Other filters
	// are the delivering runner's.
	Queue, Type string
}

// NotifyClaim asks for due notifications.
type NotifyClaim struct {
	Worker string
	Rules  []string // rule keys; none claims nothing
	Limit  int
	Lease  time.Duration
}

// Notification is one claimed outbox row.
type Notification struct {
	ID        int64
	TaskID    int64
	Status    Status // the status the task moved to
	Rule      string
	CreatedAt time.Time // when the transition was stored
	// Attempt counts this claim: 1 on the first try.
	Attempt int
	Worker  string
	// LastError is why the previous try failed ("" on the first).
	LastError string
}

// NotifyResult is what became of a delivery.
type NotifyResult string

// The results of a delivery.
const (
	// NotifyDelivered deletes the row and writes a notified event.
	NotifyDelivered NotifyResult = "delivered"
	// NotifyRetry makes the row due again after RetryIn, keeping Error.
	NotifyRetry NotifyResult = "retry"
	// NotifyGaveUp deletes the row and writes a notify_failed event.
	NotifyGaveUp NotifyResult = "gave_up"
	// NotifySkipped deletes the row without an event: the rule's own
	// filters (name, schedule) do not match the task.
	NotifySkipped NotifyResult = "skipped"
)

// NotifyOutcome settles a claimed Notification.
type NotifyOutcome struct {
	Notification
	Result NotifyResult
	// Detail says where it went (for notified), Error why it failed.
	Detail  string
	Error   string
	RetryIn time.Duration
}

// notifyEventData is the data of a notified or notify_failed event.
type notifyEventData struct {
	Rule     string `json:"rule"`
	Status   Status `json:"status"`
	Attempts int    `json:"attempts"`
	Detail   string `json:"detail,omitempty"`
	Error    string `json:"error,omitempty"`
}

// event returns the event kind and data the outcome writes ("" for none).
func (o NotifyOutcome) event() (string, []byte) {
	kind := ""
	switch o.Result {
	case NotifyDelivered:
		kind = EventNotified
	case NotifyGaveUp:
		kind = EventNotifyFailed
	default:
		return "", nil
	}
	d := notifyEventData{Rule: o.Rule, Status: o.Status, Attempts: o.Attempt, Detail: o.Detail, Error: o.Error}
	b, _ := json.Marshal(d)
	return kind, b
}

// checkNotifyRules refuses rules the trigger could not use.
func checkNotifyRules(rules []NotifyRule) error {
	for _, r := range rules {
		if r.Key == "" {
			return errors.New("register notify rules: a rule has no key")
		}
		if len(r.On) == 0 {
			return fmt.Errorf("register notify rules: rule %q listens for no status", r.Key)
		}
		for _, st := range r.On {
			if !st.notifiable() {
				return fmt.Errorf("register notify rules: rule %q: no notification is sent for status %q", r.Key, st)
			}
		}
	}
	return nil
}

func (s Status) notifiable() bool {
	for _, v := range NotifyStatuses() {
		if s == v {
			return true
		}
	}
	return false
}

// checkNotifyOutcome refuses an outcome that says nothing.
func checkNotifyOutcome(o NotifyOutcome) error {
	switch o.Result {
	case NotifyDelivered, NotifyRetry, NotifyGaveUp, NotifySkipped:
		return nil
	}
	return fmt.Errorf("settle notification %d: unknown result %q", o.ID, o.Result)
}

// notifyForgetText is NotifyRuleForgetAfter in words, for the reason a
// forgotten rule's rows are given up.
const notifyForgetText = "7 days"

// sortNotifications puts claimed rows in id order (RETURNING has none).
func sortNotifications(ns []Notification) {
	slices.SortFunc(ns, func(a, b Notification) int { return cmp.Compare(a.ID, b.ID) })
}
