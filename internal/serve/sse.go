package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// sseKeepAlive is how often an idle stream sends a comment, so that
// proxies and load balancers keep it open.
const sseKeepAlive = 15 * time.Second

// sseWriteTimeout bounds each write to a stream: a client that stops
// reading is dropped instead of holding the handler.
const sseWriteTimeout = 30 * time.Second

// sseStream writes Server-Sent Events.
type sseStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE answers with the event-stream headers.
func startSSE(w http.ResponseWriter) *sseStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	st := &sseStream{w: w, rc: http.NewResponseController(w)}
	st.write("retry: 2000\n\n")
	return st
}

func (st *sseStream) write(s string) error {
	st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprint(st.w, s); err != nil {
		return err
	}
	return st.rc.Flush()
}

// event sends one task event: its id as the SSE id, so that a client's
// Last-Event-ID resumes after it, and the event as `logs -o jsonl` prints
// it as the data.
func (st *sseStream) event(e db.Event) error {
	b, err := json.Marshal(taskio.NewEventJSON(e))
	if err != nil {
		return err
	}
	return st.write("id: " + strconv.FormatInt(e.ID, 10) + "\ndata: " + string(b) + "\n\n")
}

// resumeAfter is where a stream starts: after the Last-Event-ID header's
// event (a reconnecting EventSource sends it), else the "after" parameter.
func resumeAfter(r *http.Request) (int64, error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, errorf(KindInvalid, "Last-Event-ID %q is not an event id", v)
		}
		return n, nil
	}
	return queryInt(r, "after", 0)
}

// restStream is GET /api/v1/tasks/{id}/events/stream: the task's events
// from the start (or after Last-Event-ID), then live ones, until the task
// has finished; then an "end" event, and the stream closes.
func (s *Server) restStream(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	after, err := resumeAfter(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if _, err := s.GetTask(r.Context(), id); err != nil {
		s.writeProblem(w, r, err)
		return
	}
	st := startSSE(w)
	ctx := r.Context()
	err = s.Watch(ctx, id, after, st.event, func() error { return st.write(": keep-alive\n\n") })
	if err == nil && ctx.Err() == nil {
		st.write("event: end\ndata: {}\n\n")
		return
	}
	if e, ok := err.(*Error); ok && e.Kind == KindUnavailable {
		st.write("event: error\ndata: " + strconv.Quote(e.Detail) + "\n\n")
	}
}

// restStreamAll is GET /api/v1/events/stream: every task's new events
// (only one kind with ?kind=status), live, without end. It starts at the
// newest event, or after Last-Event-ID.
func (s *Server) restStreamAll(w http.ResponseWriter, r *http.Request) {
	after, err := resumeAfter(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	kind := r.URL.Query().Get("kind")
	ctx := r.Context()
	sub, live, err := s.hub.subscribe(ctx, 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	defer s.hub.unsubscribe(sub)
	st := startSSE(w)
	send := func(e db.Event) error {
		if kind != "" && e.Kind != kind {
			return nil
		}
		return st.event(e)
	}
	// Replay what a resuming client missed, up to where the hub's events
	// take over.
	if after > 0 {
		if after, err = s.replay(ctx, 0, after, live, send); err != nil {
			return
		}
	}
	idle := time.NewTicker(sseKeepAlive)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.hub.closing:
			return
		case <-sub.dropped:
			st.write("event: error\ndata: \"the stream fell behind; reconnect\"\n\n")
			return
		case <-idle.C:
			if st.write(": keep-alive\n\n") != nil {
				return
			}
		case e := <-sub.ch:
			if e.ID <= after {
				continue
			}
			if send(e) != nil {
				return
			}
		}
	}
}
