package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// ApprovalJSON is an approval request in the API. Field names are stable.
type ApprovalJSON struct {
	Request     int64           `json:"request"`
	Task        int64           `json:"task"`
	Tool        string          `json:"tool"`
	Arguments   json.RawMessage `json:"arguments"`
	CallID      string          `json:"call_id"`
	Step        int             `json:"step"`
	RequestedAt time.Time       `json:"requested_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Decision    *string         `json:"decision"` // null while open
	Reason      string          `json:"reason,omitempty"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at"`
}

// NewApprovalJSON is a request in the API's shape.
func NewApprovalJSON(a db.Approval) ApprovalJSON {
	v := ApprovalJSON{Request: a.ID, Task: a.TaskID, Tool: a.Tool, Arguments: a.Arguments, CallID: a.CallID,
		Step: a.Step, RequestedAt: a.RequestedAt.UTC(), ExpiresAt: a.ExpiresAt.UTC(), Reason: a.Reason, DecidedBy: a.DecidedBy}
	if len(v.Arguments) == 0 {
		v.Arguments = json.RawMessage(`{}`)
	}
	if !a.Open() {
		d, at := string(a.Decision), a.DecidedAt.UTC()
		v.Decision, v.DecidedAt = &d, &at
	}
	return v
}

// Approvals lists the open approval requests, oldest first.
func (s *Server) Approvals(ctx context.Context) ([]db.Approval, error) { return s.store.Approvals(ctx) }

// DecideTask approves or denies what a waiting task waits for, recording
// the token that decided.
func (s *Server) DecideTask(ctx context.Context, id int64, d db.Decision, reason string, by db.Token) (db.Approval, error) {
	if err := taskio.CheckLabel("reason", reason); err != nil {
		return db.Approval{}, errorf(KindInvalid, "%v", err)
	}
	return s.store.Decide(ctx, db.Decide{TaskID: id, Decision: d, Reason: reason, By: "token " + by.Name})
}

func (s *Server) restApprovals(w http.ResponseWriter, r *http.Request) {
	as, err := s.Approvals(r.Context())
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	out := make([]ApprovalJSON, len(as))
	for i, a := range as {
		out[i] = NewApprovalJSON(a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
}

func (s *Server) restApprove(w http.ResponseWriter, r *http.Request) {
	s.restDecide(w, r, db.DecisionApproved)
}

func (s *Server) restDeny(w http.ResponseWriter, r *http.Request) {
	s.restDecide(w, r, db.DecisionDenied)
}

// decideBody is the optional body of approve and deny.
type decideBody struct {
	Reason string `json:"reason"`
}

func (s *Server) restDecide(w http.ResponseWriter, r *http.Request, d db.Decision) {
	id, err := pathID(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var body decideBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		s.writeProblem(w, r, errorf(KindTooLarge, "the body is over the limit of %d bytes", 64<<10))
		return
	}
	if strings.TrimSpace(string(raw)) != "" {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			s.writeProblem(w, r, errorf(KindInvalid, "the body must be a JSON object like {\"reason\": \"...\"}: %v", err))
			return
		}
	}
	t, _ := TokenFrom(r.Context())
	a, err := s.DecideTask(r.Context(), id, d, body.Reason, t)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewApprovalJSON(a))
}
