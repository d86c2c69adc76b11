package runner

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/notify"
)

// Notification delivery timing.
const (
	// NotifyPoll is how often a runner with notify rules asks the store
	// for due notifications; while none is due the ask is one indexed
	// read without the write lock.
	NotifyPoll = time.Second
	// NotifyRegisterEvery is how often the runner registers its rules
	// again (see db.NotifyRuleForgetAfter).
	NotifyRegisterEvery = 10 * time.Minute
	// notifyBatch is how many notifications one claim takes at most;
	// they are sent at once, each in its own goroutine.
	notifyBatch = 16
	// notifyDrain bounds the last pass of `run --once`.
	notifyDrain = time.Minute
)

// notifier delivers the notifications of Options.Notify's rules.
type notifier struct {
	r        *Runner
	n        *notify.Notifier
	keys     []string
	lease    time.Duration
	register time.Time // when the rules were last registered

	mu      sync.Mutex // deliveries log from their own goroutines
	lastErr string
	errAt   time.Time
}

// startNotify starts delivering notifications until stop is called; stop
// returns once it has stopped. It runs beside the claim loop (a webhook
// that takes its whole timeout must not hold up claims), registers the
// rules first, and renews that every NotifyRegisterEvery. A delivery in
// flight when stop is called gets the runner's grace to end; one still
// running then is abandoned, and its lease makes it due again for any
// runner with the rule. In Once mode it delivers while the loop runs,
// and stop makes one last pass (bounded by notifyDrain) so that what the
// run's own tasks set off is sent before `run --once` exits; a try that
// fails then is retried by the next runner.
func (r *Runner) startNotify(ctx context.Context) (stop func()) {
	if r.opts.Notify == nil || len(r.opts.Notify.Rules) == 0 {
		return func() {}
	}
	n := &notifier{r: r, n: r.opts.Notify, keys: r.opts.Notify.Keys(), lease: r.opts.Notify.Lease()}
	n.registerRules(ctx)
	loopCtx, cancel := context.WithCancel(ctx)
	// Deliveries outlive ctx (a signal) by the grace.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-timer.C:
			}
			if time.Since(n.register) >= NotifyRegisterEvery {
				n.registerRules(loopCtx)
			}
			for n.pass(loopCtx, sendCtx) == notifyBatch && loopCtx.Err() == nil {
			}
			timer.Reset(NotifyPoll)
		}
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(r.opts.Grace):
			cancelSends()
			<-done
		}
		if r.opts.Once && ctx.Err() == nil {
			drainCtx, cancelDrain := context.WithTimeout(sendCtx, notifyDrain)
			for n.pass(drainCtx, drainCtx) == notifyBatch {
			}
			cancelDrain()
		}
		cancelSends()
	}
}

// registerRules writes the rules to the store: the trigger then records
// what they listen for.
func (n *notifier) registerRules(ctx context.Context) {
	if err := n.r.opts.Store.RegisterNotifyRules(ctx, n.n.StoreRules()); err != nil {
		if ctx.Err() == nil {
			n.logErr("could not register notify rules", err)
		}
		return
	}
	n.register = time.Now()
}

// pass claims due notifications, sends them at once, and stores each
// outcome. It returns how many it claimed.
func (n *notifier) pass(ctx, sendCtx context.Context) int {
	s := n.r.opts.Store
	claimed, err := s.ClaimNotifications(ctx, db.NotifyClaim{Worker: n.r.opts.Worker, Rules: n.keys, Limit: notifyBatch, Lease: n.lease})
	if err != nil {
		if ctx.Err() == nil {
			n.logErr("could not claim notifications", err)
		}
		return 0
	}
	var wg sync.WaitGroup
	for _, no := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.deliver(sendCtx, no)
		}()
	}
	wg.Wait()
	return len(claimed)
}

// deliver sends one notification and stores its outcome.
func (n *notifier) deliver(ctx context.Context, no db.Notification) {
	s := n.r.opts.Store
	task, err := s.Get(ctx, no.TaskID)
	found := err == nil
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		if ctx.Err() == nil {
			n.logErr("notification of task "+strconv.FormatInt(no.TaskID, 10), err)
		}
		return // due again when its lease ends
	}
	out := n.n.Deliver(ctx, no, task, found)
	if ctx.Err() != nil && out.Result != db.NotifyDelivered {
		return // stopped mid-try: left to its lease
	}
	// The outcome is stored even as the runner stops: a sent message
	// whose outcome is lost is sent again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ok, err := s.SettleNotification(wctx, out)
	label := n.n.Label(no.Rule)
	switch {
	case err != nil:
		n.logErr("could not store the notification of task "+strconv.FormatInt(no.TaskID, 10), err)
	case !ok:
		// Its lease ended and another runner took it, or the task is gone.
	case out.Result == db.NotifyDelivered:
		n.r.log.Info("task "+strconv.FormatInt(no.TaskID, 10)+" "+string(no.Status)+": notified by rule "+label+" ("+out.Detail+")",
			"event", "notified", "task", no.TaskID, "rule", label, "attempt", no.Attempt)
	case out.Result == db.NotifyRetry:
		n.r.log.Warn("task "+strconv.FormatInt(no.TaskID, 10)+" "+string(no.Status)+": notify rule "+label+" failed (try "+strconv.Itoa(no.Attempt)+
			", again in "+out.RetryIn.Round(time.Second).String()+"): "+out.Error,
			"event", "notify_retry", "task", no.TaskID, "rule", label, "attempt", no.Attempt, "error", out.Error)
	case out.Result == db.NotifyGaveUp:
		n.r.log.Error("task "+strconv.FormatInt(no.TaskID, 10)+" "+string(no.Status)+": notify rule "+label+" gave up after "+strconv.Itoa(no.Attempt)+
			" tries: "+out.Error, "event", "notify_failed", "task", no.TaskID, "rule", label, "attempt", no.Attempt, "error", out.Error)
	}
}

// logErr logs trouble with the store, the same message at most once per
// scheduleErrorEvery.
func (n *notifier) logErr(what string, err error) {
	msg := what + ": " + err.Error()
	n.mu.Lock()
	defer n.mu.Unlock()
	if msg == n.lastErr && time.Since(n.errAt) < scheduleErrorEvery {
		return
	}
	n.lastErr, n.errAt = msg, time.Now()
	n.r.logf(slog.LevelWarn, "%s", msg)
}
