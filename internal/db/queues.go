package db

import (
	"context"
	"slices"
	"strings"
	"time"
)

// QueueStore is the part of the Store for queue limits and pause
// (migration 11).
type QueueStore interface {
	// PauseQueue marks a queue paused for every runner on the database:
	// claims leave its pending tasks alone until ResumeQueue. changed is
	// false when it was paused already. The queue need not have tasks.
	PauseQueue(ctx context.Context, name string) (changed bool, err error)
	// ResumeQueue clears a queue's pause; changed is false when it was not
	// paused.
	ResumeQueue(ctx context.Context, name string) (changed bool, err error)
	// Queues lists every queue that has tasks or has been paused, by name,
	// with its task counts by status, without writing.
	Queues(ctx context.Context) ([]QueueInfo, error)
	// ReadyLimited is Ready for a claim with queue limits: it reports,
	// without writing, whether Claim(r) could find a task, leaving out
	// paused queues and queues at their limit. The counts it reads are not
	// locked, so it is a hint for the idle poll; the claim is exact.
	ReadyLimited(ctx context.Context, r ClaimRequest) (bool, error)
}

// QueueLimit is what a runner's config says of one queue (see
// ClaimRequest.QueueLimits).
type QueueLimit struct {
	// Concurrency is the most tasks of the queue running at once, counted
	// across every runner on the database; 0 means no limit.
	Concurrency int
	// Paused keeps the claims of runners with this config away from the
	// queue (a pause in the database keeps every runner away).
	Paused bool
}

// QueueInfo is one queue: its pause, as the database holds it, and how
// many of its tasks are in each status.
type QueueInfo struct {
	Name     string
	Paused   bool
	PausedAt time.Time // when it was paused; zero when it is not
	Counts   map[Status]int64
}

// limited reports whether a claim with these limits must take the limited
// path: some queue is limited or paused by the config.
func limited(ls map[string]QueueLimit) bool {
	for _, l := range ls {
		if l.Concurrency > 0 || l.Paused {
			return true
		}
	}
	return false
}

// ReadyFor reports whether s.Claim(r) could find a task: Ready when r
// carries no limits (the common case, one read), ReadyLimited otherwise.
func ReadyFor(ctx context.Context, s Store, r ClaimRequest) (bool, error) {
	if !limited(r.QueueLimits) {
		return s.Ready(ctx, r.Queues, r.Types)
	}
	return s.ReadyLimited(ctx, r)
}

// queuePlan is what a limited claim may take, worked out inside its
// transaction: the queues it must leave alone and, per limited queue, how
// many more of its tasks may start.
type queuePlan struct {
	excluded []string
	room     map[string]int
}

// limitedQueues lists, sorted, the queues of r whose limit applies: a
// concurrency above 0, not paused (paused ones are excluded anyway), and
// among r.Queues when it names queues.
func limitedQueues(r ClaimRequest, paused map[string]bool) []string {
	var qs []string
	for q, l := range r.QueueLimits {
		if l.Concurrency > 0 && !l.Paused && !paused[q] && (len(r.Queues) == 0 || slices.Contains(r.Queues, q)) {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	return qs
}

// newQueuePlan builds the plan from the queues the database says are
// paused and the running counts of the limited queues.
func newQueuePlan(r ClaimRequest, dbPaused []string, limitedQs []string, running map[string]int64) queuePlan {
	p := queuePlan{room: map[string]int{}}
	p.excluded = append(p.excluded, dbPaused...)
	for q, l := range r.QueueLimits {
		if l.Paused && !slices.Contains(p.excluded, q) {
			p.excluded = append(p.excluded, q)
		}
	}
	for _, q := range limitedQs {
		if room := r.QueueLimits[q].Concurrency - int(running[q]); room > 0 {
			p.room[q] = room
		} else {
			p.excluded = append(p.excluded, q)
		}
	}
	slices.Sort(p.excluded)
	return p
}

// nothing reports whether the plan leaves no queue of r to claim from.
func (p queuePlan) nothing(r ClaimRequest) bool {
	if len(r.Queues) == 0 {
		return false
	}
	for _, q := range r.Queues {
		if !slices.Contains(p.excluded, q) {
			return false
		}
	}
	return true
}

// candidate is a ready task a limited claim looked at.
type candidate struct {
	id    int64
	queue string
}

// pick takes candidates in order while their queue has room, and reports
// whether it passed one over (its queue became full; the plan now excludes
// it, so the next round finds what lies behind it).
func (p *queuePlan) pick(cs []candidate) (ids []int64, skipped bool) {
	for _, c := range cs {
		room, isLimited := p.room[c.queue]
		if !isLimited {
			ids = append(ids, c.id)
			continue
		}
		if room == 0 {
			skipped = true
			continue
		}
		ids = append(ids, c.id)
		p.room[c.queue] = room - 1
		if room == 1 {
			p.excluded = append(p.excluded, c.queue)
		}
	}
	return ids, skipped
}

// mergeQueues joins the task counts (ordered by queue) and the queues'
// rows into one list by name.
func mergeQueues(counts []QueueCount, states []QueueInfo) []QueueInfo {
	byName := map[string]*QueueInfo{}
	for _, c := range counts {
		if _, ok := byName[c.Queue]; !ok {
			byName[c.Queue] = &QueueInfo{Name: c.Queue, Counts: map[Status]int64{}}
		}
		byName[c.Queue].Counts[c.Status] += c.Count
	}
	for _, st := range states {
		q, ok := byName[st.Name]
		if !ok {
			q = &QueueInfo{Name: st.Name, Counts: map[Status]int64{}}
			byName[st.Name] = q
		}
		q.Paused, q.PausedAt = st.Paused, st.PausedAt
	}
	out := make([]QueueInfo, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// queueProbe answers the two questions readyOutside asks of a backend:
// the first queue after a name that has pending tasks, and whether a
// queue has a task ready now.
type queueProbe struct {
	next  func(after string) (string, bool, error)
	ready func(queue string) (bool, error)
}

// readyOutside reports whether a task is ready in a queue of r (any
// queue, when r names none) that the plan does not exclude. A claim or
// poll that excludes full or paused queues walks the claim index past
// their pending tasks; when nothing else is ready, that walk would read
// every one of them (50,000 for a full queue's backlog, on every claim
// and every poll), so it is skipped. It steps through the queues that
// have pending tasks in name order, one index seek each, and stops at the
// first queue not excluded that has a ready task: at most one step per
// excluded queue, plus the queues whose tasks are all scheduled later.
func (p queuePlan) readyOutside(r ClaimRequest, probe queueProbe) (bool, error) {
	if len(p.excluded) == 0 {
		return true, nil
	}
	try := func(q string) (bool, error) {
		if slices.Contains(p.excluded, q) {
			return false, nil
		}
		return probe.ready(q)
	}
	if len(r.Queues) > 0 {
		for _, q := range r.Queues {
			if ok, err := try(q); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}
	for after := ""; ; {
		q, ok, err := probe.next(after)
		if !ok || err != nil {
			return false, err
		}
		if ok, err := try(q); ok || err != nil {
			return ok, err
		}
		after = q
	}
}
