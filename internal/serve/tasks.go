package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// The operations every protocol offers, with their validation; REST, gRPC
// and the dashboard call these and only translate.

// MaxBody caps a submitted task's request body.
const MaxBody = 1 << 20

// ListLimit is the default and MaxListLimit the largest page of a listing.
const (
	ListLimit    = 50
	MaxListLimit = 200
	// CountCap bounds the total a listing counts, so that a count never
	// makes a page slow; a total at the cap says "at least".
	CountCap = 10_000
)

// Created says what CreateTask did.
type Created struct {
	Task db.Task
	// Replayed says the idempotency key was an earlier task's: nothing was
	// written, and Task is that task.
	Replayed bool
}

// CreateTask validates a task as `submit --batch` reads a line (body is
// one such JSON object) and stores it. key, when not empty, is the
// idempotency key (the body's own "key" field, if any, must agree).
func (s *Server) CreateTask(ctx context.Context, body []byte, key string) (Created, error) {
	if len(body) > MaxBody {
		return Created{}, errorf(KindTooLarge, "the body is %d bytes; the limit is %d bytes", len(body), MaxBody)
	}
	if err := checkObject(body); err != nil {
		return Created{}, err
	}
	t, err := taskio.ParseLine(body, s.validator, "")
	if err != nil {
		return Created{}, errorf(KindInvalid, "%v", err)
	}
	if key != "" {
		if err := taskio.CheckKey("the Idempotency-Key header", key); err != nil {
			return Created{}, errorf(KindInvalid, "%v", err)
		}
		if t.Key != "" && t.Key != key {
			return Created{}, errorf(KindInvalid, "the Idempotency-Key header and the body's \"key\" differ")
		}
		t.Key = key
	}
	r, err := s.submits.submit(ctx, t)
	if err != nil {
		return Created{}, err
	}
	got, err := s.store.Get(ctx, r.ID)
	if err != nil {
		return Created{}, err
	}
	if r.Existed {
		// The key is an earlier task's: it is the same task only if it
		// runs the same thing.
		switch {
		case got.Type != t.Type:
			return Created{}, errorf(KindInvalid, "idempotency key %q is task %d, an %s task, not %s; use another key", t.Key, got.ID, got.Type, t.Type)
		case !taskio.SameJSON(got.Input, t.Input):
			return Created{}, errorf(KindInvalid, "idempotency key %q is task %d with another input; use another key", t.Key, got.ID)
		}
	}
	return Created{Task: got, Replayed: r.Existed}, nil
}

// checkObject tells a body that is not a JSON object (400) from one that
// validation refuses (422).
func checkObject(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v map[string]json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return errorf(KindMalformed, "the body is not a JSON object: %v", err)
	}
	if dec.More() {
		return errorf(KindMalformed, "the body has data after the JSON object")
	}
	return nil
}

// GetTask returns one task.
func (s *Server) GetTask(ctx context.Context, id int64) (db.Task, error) {
	return s.store.Get(ctx, id)
}

// CancelTask cancels a pending task or asks a running one's runner to stop.
func (s *Server) CancelTask(ctx context.Context, id int64) (db.Task, error) {
	return s.store.Cancel(ctx, id)
}

// RetryTask puts a failed or cancelled task back to pending.
func (s *Server) RetryTask(ctx context.Context, id int64) (db.Task, error) {
	return s.store.Retry(ctx, id)
}

// ListQuery selects a page of tasks.
type ListQuery struct {
	Statuses []string
	Queues   []string
	Types    []string
	Search   string // name contains, or the id
	Limit    int    // 0: ListLimit
	Cursor   string // from a previous page's NextCursor
}

// Page is one page of tasks, newest first.
type Page struct {
	Tasks []db.Task
	// Total counts every task the query matches, up to CountCap; Capped
	// says there are at least that many.
	Total      int64
	Capped     bool
	NextCursor string // "" on the last page
}

// ListTasks returns a page of tasks, newest first. The cursor is the last
// id of the page before, so pages stay put while tasks are added.
func (s *Server) ListTasks(ctx context.Context, q ListQuery) (Page, error) {
	f, err := q.filter()
	if err != nil {
		return Page{}, err
	}
	ts, err := s.store.List(ctx, f)
	if err != nil {
		return Page{}, err
	}
	p := Page{Tasks: ts}
	if len(ts) > f.Limit-1 {
		p.Tasks = ts[:f.Limit-1]
		p.NextCursor = strconv.FormatInt(p.Tasks[len(p.Tasks)-1].ID, 10)
	}
	if p.Total, p.Capped, err = s.counts.count(ctx, s.store, f); err != nil {
		return Page{}, err
	}
	return p, nil
}

// filter checks a query and makes the store's filter; its Limit is one
// more than the page, to tell whether there is a next page.
func (q ListQuery) filter() (db.Filter, error) {
	f := db.Filter{Queues: q.Queues, Types: q.Types, Search: q.Search}
	for _, st := range q.Statuses {
		if !db.Status(st).Valid() {
			return f, errorf(KindInvalid, "unknown status %q (want one of pending, running, completed, failed, cancelled)", st)
		}
		f.Statuses = append(f.Statuses, db.Status(st))
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = ListLimit
	case limit < 0 || limit > MaxListLimit:
		return f, errorf(KindInvalid, "limit must be between 1 and %d, got %d", MaxListLimit, limit)
	}
	f.Limit = limit + 1
	if q.Cursor != "" {
		id, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil || id < 1 {
			return f, errorf(KindInvalid, "cursor %q is not one this server gave", q.Cursor)
		}
		f.BeforeID = id
	}
	for _, l := range append(append([]string{q.Search}, q.Queues...), q.Types...) {
		if err := taskio.CheckLabel("a filter", l); err != nil {
			return f, errorf(KindInvalid, "%v", err)
		}
	}
	return f, nil
}

// ParseID reads a task id from a path.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		if strings.Trim(s, "0123456789") == "" && s != "" && strings.Trim(s, "0") != "" {
			return 0, errorf(KindNotFound, "task %s not found", s) // too big for an id
		}
		return 0, errorf(KindNotFound, "task %q not found: ids are positive whole numbers", s)
	}
	return id, nil
}

// Events returns a task's events with ids above after, at most limit.
func (s *Server) Events(ctx context.Context, taskID, after int64, limit int) ([]db.Event, error) {
	if _, err := s.store.Get(ctx, taskID); err != nil {
		return nil, err
	}
	return s.store.Events(ctx, taskID, after, limit)
}

// finalStatus reports whether e is a status event into a final state.
func finalStatus(e db.Event) bool {
	if e.Kind != db.EventStatus {
		return false
	}
	var d struct {
		To db.Status `json:"to"`
	}
	return json.Unmarshal(e.Data, &d) == nil && d.To.Finished()
}

// Watch sends a task's events with ids above after, then its new events as
// they are written, until the task's final status event has been sent
// (or, for a task already finished, its last event). send errors end it.
// idle, when not nil, is called every sseKeepAlive (keep-alives).
func (s *Server) Watch(ctx context.Context, taskID, after int64, send func(db.Event) error, idle func() error) error {
	if _, err := s.store.Get(ctx, taskID); err != nil {
		return err
	}
	sub, live, err := s.hub.subscribe(ctx, taskID)
	if err != nil {
		return err
	}
	defer s.hub.unsubscribe(sub)
	// Replay what was written up to the moment of subscribing.
	if after, err = s.replay(ctx, taskID, after, live, send); err != nil {
		return err
	}
	t, err := s.store.Get(ctx, taskID)
	if err != nil {
		return err
	}
	if t.Status.Finished() {
		// It finished: every event it will have is written.
		_, err := s.replay(ctx, taskID, after, math.MaxInt64, send)
		return err
	}
	var tick <-chan time.Time
	if idle != nil {
		t := time.NewTicker(sseKeepAlive)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.hub.closing:
			return errorf(KindUnavailable, "the server is shutting down; resume after event %d", after)
		case <-tick:
			if err := idle(); err != nil {
				return err
			}
		case <-sub.dropped:
			return errorf(KindUnavailable, "the stream fell behind; resume it after event %d", after)
		case e := <-sub.ch:
			if e.ID <= after {
				continue
			}
			if err := send(e); err != nil {
				return err
			}
			after = e.ID
			if finalStatus(e) {
				return nil
			}
		}
	}
}

// replay sends a task's events (every task's when taskID is 0) with ids
// above after and up to upTo from the database, page by page, and returns
// the last id sent (after if none).
func (s *Server) replay(ctx context.Context, taskID, after, upTo int64, send func(db.Event) error) (int64, error) {
	const page = 500
	for after < upTo {
		var evs []db.Event
		var err error
		if taskID == 0 {
			evs, err = s.store.EventsSince(ctx, after, page)
		} else {
			evs, err = s.store.Events(ctx, taskID, after, page)
		}
		if err != nil {
			return after, err
		}
		for _, e := range evs {
			if e.ID > upTo {
				return after, nil
			}
			if err := send(e); err != nil {
				return after, err
			}
			after = e.ID
		}
		if len(evs) < page {
			break
		}
	}
	return after, nil
}
