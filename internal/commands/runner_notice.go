package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// runnerNotice tells a person waiting for tasks (wait, submit --wait) that
// no runner is there to run them: a wait without a runner never ends, and
// nothing else says why. It says so once, on stderr, and never changes
// stdout or the exit code.
//
// It is driven by the wait loop (check), not a goroutine of its own, so
// its line never interleaves with the progress line. waitForTasks uses
// it, so `submit --wait`, which calls waitForTasks, has it too.
type runnerNotice struct {
	s   db.Store
	now func() time.Time
	// after is how far into the wait the first look is; every is how
	// often it looks again.
	after, every time.Duration

	next time.Time
	said bool
}

// The defaults of runnerNotice: ten seconds into a wait, then every ten
// seconds. A runner counts as there as `status` says (db.RunnerInfo.Live).
const (
	runnerNoticeAfter = 10 * time.Second
	runnerNoticeEvery = 10 * time.Second
)

// newRunnerNotice starts the clock of a wait's runner notice.
func newRunnerNotice(f *Factory, s db.Store) *runnerNotice {
	now := f.Now
	if now == nil {
		now = time.Now
	}
	return &runnerNotice{s: s, now: now, after: runnerNoticeAfter, every: runnerNoticeEvery,
		next: now().Add(runnerNoticeAfter)}
}

// check returns the notice the first time it is due: some waited task is
// pending (waiting), it is time to look, and no runner is live (as status
// counts them: db.RunnerInfo.Live). Otherwise, and ever after the notice was given, it returns "".
// Looking costs one read of the small runners table, at most every
// n.every; a failed read says nothing.
func (n *runnerNotice) check(ctx context.Context, waiting bool) string {
	if n.said || !waiting {
		return ""
	}
	now := n.now()
	if now.Before(n.next) {
		return ""
	}
	n.next = now.Add(n.every)
	rs, err := n.s.Runners(ctx)
	if err != nil {
		return ""
	}
	var last time.Time
	for _, r := range rs {
		if r.Live(now) {
			return ""
		}
		if r.HeartbeatAt.After(last) {
			last = r.HeartbeatAt
		}
	}
	n.said = true
	if len(rs) == 0 {
		return "opsctl: no runner is registered (start one with 'opsctl run')"
	}
	return fmt.Sprintf("opsctl: no runner has been seen for %s (start one with 'opsctl run')", roughAge(now.Sub(last)))
}

// roughAge is a duration in its largest whole unit: 45s, 10m, 3h, 2d.
func roughAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(max(d, 0)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
