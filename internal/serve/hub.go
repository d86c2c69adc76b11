package serve

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// hubBatch is how many events the hub reads per query; a tick that finds a
// full batch reads again at once.
const hubBatch = 1000

// subBuffer is how many events a subscriber may fall behind before it is
// dropped; a dropped stream ends and its client resumes with
// Last-Event-ID, replaying from the database. Each slot is an event header
// (about 80 bytes; the data is shared), reserved when the stream opens.
const subBuffer = 512

// maxStreams bounds the open streams of one server: each holds a
// connection, a goroutine and its buffer.
const maxStreams = 10_000

// hub reads new events once per tick, for every open stream at once, and
// hands each to the subscribers that want it: 1,000 streams cost the
// database one query per tick, not one each.
type hub struct {
	store db.Store
	tick  time.Duration
	log   *slog.Logger

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	last   int64 // the newest event id read
	primed bool  // last has been read from the database
	// gaps are ids skipped by the reads so far, with when each was first
	// missed (see gapWait).
	gaps map[int64]time.Time
	wake chan struct{}
	// closing is closed when the server shuts down: live streams end.
	closing   chan struct{}
	closeOnce sync.Once
	// observers see every event read, in order (the metrics' task
	// durations), under mu.
	observers []func(db.Event)
}

// subscription is one live stream: events of one task, or of all tasks
// when taskID is 0.
type subscription struct {
	taskID  int64
	from    int64 // events up to this id are replayed, not delivered
	ch      chan db.Event
	dropped chan struct{} // closed when the hub dropped it for falling behind
}

func newHub(s db.Store, tick time.Duration, log *slog.Logger) *hub {
	return &hub{store: s, tick: tick, log: log, subs: map[*subscription]struct{}{}, gaps: map[int64]time.Time{}, wake: make(chan struct{}, 1), closing: make(chan struct{})}
}

// subscribe opens a stream. Events with ids above the returned id reach
// the subscription; those up to it are in the database for a replay.
func (h *hub) subscribe(ctx context.Context, taskID int64) (*subscription, int64, error) {
	if err := h.prime(ctx); err != nil {
		return nil, 0, err
	}
	// The stream replays from the database up to the newest event written,
	// which may be ahead of the hub's reads: the hub skips those for it,
	// so that a backlog the hub has yet to read cannot fill its buffer.
	newest, err := h.store.LastEventID(ctx)
	if err != nil {
		return nil, 0, err
	}
	sub := &subscription{taskID: taskID, ch: make(chan db.Event, subBuffer), dropped: make(chan struct{})}
	h.mu.Lock()
	sub.from = max(newest, h.last)
	if len(h.subs) >= maxStreams {
		h.mu.Unlock()
		return nil, 0, errorf(KindUnavailable, "this server has %d streams open, its limit; try again later", maxStreams)
	}
	h.subs[sub] = struct{}{}
	last := sub.from
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return sub, last, nil
}

func (h *hub) unsubscribe(sub *subscription) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
}

// prime reads the newest event id once, so that a stream opened before
// the first tick neither misses nor repeats events.
func (h *hub) prime(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.primed {
		return nil
	}
	last, err := h.store.LastEventID(ctx)
	if err != nil {
		return err
	}
	h.last, h.primed = last, true
	return nil
}

// observe adds a function that sees every event the hub reads.
func (h *hub) observe(f func(db.Event)) {
	h.mu.Lock()
	h.observers = append(h.observers, f)
	h.mu.Unlock()
}

// run polls until ctx ends. It reads only while someone listens (a
// subscriber or an observer).
func (h *hub) run(ctx context.Context) {
	// Events written from now on reach the observers.
	if err := h.prime(ctx); err != nil && ctx.Err() == nil {
		h.log.Warn("event hub: cannot read events", "err", err)
	}
	t := time.NewTicker(h.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
		for h.poll(ctx) {
		}
	}
}

// gapWait is how long the hub keeps looking for an event whose id it
// skipped. On PostgreSQL ids are taken when rows are inserted, and
// transactions commit in another order: event 100 may become visible after
// 101. Such an event still reaches the streams when it appears within
// gapWait; after that it is in the database only (a replay finds it).
const gapWait = 10 * time.Second

// maxGapChecks bounds the gap lookups per tick.
const maxGapChecks = 8

// poll reads one batch of new events and delivers it. It reports whether
// the batch was full (there may be more).
func (h *hub) poll(ctx context.Context) bool {
	h.mu.Lock()
	idle := len(h.subs) == 0 && len(h.observers) == 0
	h.mu.Unlock()
	if idle {
		return false
	}
	if err := h.prime(ctx); err != nil {
		h.log.Warn("event hub: cannot read events", "err", err)
		return false
	}
	h.fillGaps(ctx)
	h.mu.Lock()
	after := h.last
	h.mu.Unlock()
	evs, err := h.store.EventsSince(ctx, after, hubBatch)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("event hub: cannot read events", "err", err)
		}
		return false
	}
	if len(evs) == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for _, e := range evs {
		for id := h.last + 1; id < e.ID; id++ {
			if len(h.gaps) < hubBatch {
				h.gaps[id] = now
			}
		}
		h.deliver(e)
		h.last = e.ID
	}
	return len(evs) == hubBatch
}

// fillGaps looks for events whose ids were skipped, and delivers those
// that have appeared since.
func (h *hub) fillGaps(ctx context.Context) {
	h.mu.Lock()
	var ids []int64
	now := time.Now()
	for id, since := range h.gaps {
		if now.Sub(since) > gapWait {
			delete(h.gaps, id)
			continue
		}
		if len(ids) < maxGapChecks {
			ids = append(ids, id)
		}
	}
	h.mu.Unlock()
	for _, id := range ids {
		evs, err := h.store.EventsSince(ctx, id-1, 1)
		if err != nil || len(evs) == 0 || evs[0].ID != id {
			continue
		}
		h.mu.Lock()
		if _, ok := h.gaps[id]; ok {
			delete(h.gaps, id)
			h.deliver(evs[0])
		}
		h.mu.Unlock()
	}
}

// deliver hands e to the observers and to the subscribers that want it,
// under mu. A subscriber whose buffer is full is dropped.
func (h *hub) deliver(e db.Event) {
	for _, f := range h.observers {
		f(e)
	}
	for sub := range h.subs {
		if (sub.taskID != 0 && sub.taskID != e.TaskID) || e.ID <= sub.from {
			continue
		}
		select {
		case sub.ch <- e:
		default:
			close(sub.dropped)
			delete(h.subs, sub)
		}
	}
}

// streams counts the open subscriptions.
func (h *hub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// close ends every live stream (a graceful shutdown).
func (h *hub) close() { h.closeOnce.Do(func() { close(h.closing) }) }
