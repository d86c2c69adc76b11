package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// restRoutes adds the REST API under /api/v1.
func (s *Server) restRoutes(mux *http.ServeMux) {
	read, write := db.ScopeRead, db.ScopeWrite
	mux.HandleFunc("POST /api/v1/tasks", s.requireScope(write, s.restCreate))
	mux.HandleFunc("POST /api/v1/tasks/{$}", s.requireScope(write, s.restCreate))
	mux.HandleFunc("GET /api/v1/tasks", s.requireScope(read, s.restList))
	mux.HandleFunc("GET /api/v1/tasks/{$}", s.requireScope(read, s.restList))
	mux.HandleFunc("GET /api/v1/tasks/{id}", s.requireScope(read, s.restGet))
	mux.HandleFunc("POST /api/v1/tasks/{id}/cancel", s.requireScope(write, s.restCancel))
	mux.HandleFunc("POST /api/v1/tasks/{id}/retry", s.requireScope(write, s.restRetry))
	mux.HandleFunc("POST /api/v1/tasks/{id}/approve", s.requireScope(write, s.restApprove))
	mux.HandleFunc("POST /api/v1/tasks/{id}/deny", s.requireScope(write, s.restDeny))
	mux.HandleFunc("GET /api/v1/approvals", s.requireScope(read, s.restApprovals))
	mux.HandleFunc("GET /api/v1/tasks/{id}/events", s.requireScope(read, s.restEvents))
	mux.HandleFunc("GET /api/v1/tasks/{id}/events/stream", s.requireScope(read, s.restStream))
	mux.HandleFunc("GET /api/v1/events/stream", s.requireScope(read, s.restStreamAll))
	mux.HandleFunc("GET /api/v1/openapi.json", s.openAPIJSON)
	mux.HandleFunc("GET /api/v1/openapi.yaml", s.openAPIYAML)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeProblem(w, r, errorf(KindNotFound, "no endpoint %s %s; GET /api/v1/openapi.json lists them", r.Method, r.URL.Path))
	})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func (s *Server) restCreate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		s.writeProblem(w, r, errorf(KindTooLarge, "the body is over the limit of %d bytes", MaxBody))
		return
	case err != nil:
		s.writeProblem(w, r, errorf(KindMalformed, "cannot read the body: %v", err))
		return
	}
	c, err := s.CreateTask(r.Context(), body, r.Header.Get("Idempotency-Key"))
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tasks/"+strconv.FormatInt(c.Task.ID, 10))
	status := http.StatusCreated
	if c.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	writeJSON(w, status, taskio.NewTaskJSON(c.Task))
}

// listJSON is the body of GET /api/v1/tasks.
type listJSON struct {
	Tasks       []taskio.TaskJSON `json:"tasks"`
	Total       int64             `json:"total"`
	TotalCapped bool              `json:"total_capped"`
	NextCursor  *string           `json:"next_cursor"`
}

func (s *Server) restList(w http.ResponseWriter, r *http.Request) {
	q, err := listQuery(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	p, err := s.ListTasks(r.Context(), q)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := listJSON{Tasks: taskio.TasksJSON(p.Tasks), Total: p.Total, TotalCapped: p.Capped}
	if p.NextCursor != "" {
		out.NextCursor = &p.NextCursor
	}
	writeJSON(w, http.StatusOK, out)
}

// listQuery reads a listing's query parameters.
func listQuery(r *http.Request) (ListQuery, error) {
	v := r.URL.Query()
	q := ListQuery{Statuses: v["status"], Queues: v["queue"], Types: v["type"], Search: v.Get("q"), Cursor: v.Get("cursor")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return q, errorf(KindInvalid, "limit %q is not a whole number", l)
		}
		if n == 0 {
			return q, errorf(KindInvalid, "limit must be between 1 and %d, got 0", MaxListLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// pathID reads the {id} of a request's path.
func pathID(r *http.Request) (int64, error) { return ParseID(r.PathValue("id")) }

func (s *Server) restGet(w http.ResponseWriter, r *http.Request) {
	s.taskAction(w, r, s.GetTask)
}

func (s *Server) restCancel(w http.ResponseWriter, r *http.Request) {
	s.taskAction(w, r, s.CancelTask)
}

func (s *Server) restRetry(w http.ResponseWriter, r *http.Request) {
	s.taskAction(w, r, s.RetryTask)
}

// taskAction answers with the task op returns for the path's id.
func (s *Server) taskAction(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, id int64) (db.Task, error)) {
	id, err := pathID(r)
	if err == nil {
		var t db.Task
		if t, err = op(r.Context(), id); err == nil {
			writeJSON(w, http.StatusOK, taskio.NewTaskJSON(t))
			return
		}
	}
	s.writeProblem(w, r, err)
}

// eventsJSON is the body of GET /api/v1/tasks/{id}/events.
type eventsJSON struct {
	Events    []taskio.EventJSON `json:"events"`
	NextAfter int64              `json:"next_after"`
}

// maxEventsPage caps one page of events.
const maxEventsPage = 1000

func (s *Server) restEvents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", maxEventsPage)
	if err == nil && (limit < 1 || limit > maxEventsPage) {
		err = errorf(KindInvalid, "limit must be between 1 and %d, got %d", maxEventsPage, limit)
	}
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	evs, err := s.Events(r.Context(), id, after, int(limit))
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := eventsJSON{Events: make([]taskio.EventJSON, len(evs)), NextAfter: after}
	for i, e := range evs {
		out.Events[i] = taskio.NewEventJSON(e)
		out.NextAfter = e.ID
	}
	writeJSON(w, http.StatusOK, out)
}

// queryInt reads a whole-number query parameter, def when absent.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(KindInvalid, "%s %q is not a whole number of at least 0", name, v)
	}
	return n, nil
}
