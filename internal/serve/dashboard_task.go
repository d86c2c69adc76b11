package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// pageEvents is how many events a task page shows at once; a task with
// more shows its newest ones and links to pages of the rest.
const pageEvents = 1000

// attemptScan bounds how many events a task page reads to gather its
// attempts from the status events.
const attemptScan = 10_000

// taskData is the data of a task page.
type taskData struct {
	Task    taskSummary
	Notice  string // what the last action did
	Problem string // why the last action was refused

	Attempts      []attemptView
	AttemptsShort bool // only the first attemptScan events were read

	Events []eventView
	// EventsNote says which events are shown when not all are; Earlier
	// and Later link to the pages before and after.
	EventsNote     string
	Earlier, Later string
	EarlierLabel   string
	// Stream is the address of the live stream, "" when the page should
	// not follow (the task is finished, or this is not the newest page);
	// After is the id of the last event shown.
	Stream string
	After  int64
}

// taskSummary is a task's fields as the page shows them.
type taskSummary struct {
	ID          int64
	URL         string
	Name        string
	Type        string
	Queue       string
	Priority    int
	Status      string
	Error       string
	Attempts    string
	Key         string
	Worker      string
	LeaseUntil  timeView
	Cancelling  bool
	Timeout     string
	Created     timeView
	RunAfter    timeView // only when later than now
	Started     timeView
	FinishedAt  timeView
	Duration    string
	Input       string
	Result      string
	Tokens      string // agent tasks: "1,234 in + 56 out = 1,290"
	Summary     string // agent tasks: steps, stop reason, model
	CanCancel   bool   // the state machine allows it
	CanRetry    bool
	Writable    bool   // the viewer's token may cancel and retry
	ActionsNote string // why the viewer's buttons are disabled
	// Waiting is the tool call a waiting task waits for; nil otherwise.
	Waiting *waitingView
}

// waitingView is the approval request a waiting task waits for.
type waitingView struct {
	Tool      string
	Arguments string
	Since     timeView
	Expires   timeView
}

// attemptView is one run of a task: from a claim to how it ended.
type attemptView struct {
	N       int
	Worker  string
	Started timeView
	Ended   timeView
	Took    string
	Outcome string // the status it moved to; "running" while it runs
	Reason  string

	start time.Time
}

func (d *dashboard) taskPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := pathID(r)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	data, err := d.taskData(r.Context(), id, v, r.URL.Query().Get("after"))
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	switch r.URL.Query().Get("done") {
	case "cancelled":
		data.Notice = "The task was cancelled."
		if data.Task.Status == string(db.StatusRunning) {
			data.Notice = "Cancel requested: the runner stops the task at its next heartbeat."
		}
	case "retried":
		data.Notice = "The task was put back to pending; a runner will pick it up."
	case "approved":
		data.Notice = "The call was approved; a runner continues the run where it stopped."
	case "denied":
		data.Notice = "The call was denied; a runner continues the run and the model is told."
	}
	d.renderTask(w, r, v, http.StatusOK, data)
}

func (d *dashboard) renderTask(w http.ResponseWriter, r *http.Request, v *viewer, status int, data taskData) {
	title := "Task " + strconv.FormatInt(data.Task.ID, 10)
	if data.Task.Name != "" {
		title += ": " + clip(data.Task.Name, 60)
	}
	d.render(w, r, status, "task", pageData{Title: title, Nav: "tasks", Viewer: v, Data: data})
}

// taskData reads a task, its attempts and a page of its events: the newest
// ones, or those after the event id after (a page of the older ones).
func (d *dashboard) taskData(ctx context.Context, id int64, v *viewer, after string) (taskData, error) {
	t, err := d.s.GetTask(ctx, id)
	if err != nil {
		return taskData{}, err
	}
	now := d.s.now()
	data := taskData{Task: newTaskSummary(t, now, v)}
	if t.Status == db.StatusWaiting {
		if a, ok, err := d.s.store.LastApproval(ctx, id); err != nil {
			return taskData{}, err
		} else if ok && a.Open() {
			data.Task.Waiting = &waitingView{Tool: displayText(a.Tool), Arguments: prettyJSON(a.Arguments),
				Since: newTimeView(a.RequestedAt, now), Expires: newTimeView(a.ExpiresAt, now)}
		}
	}
	var evs []db.Event
	base := data.Task.URL
	if after == "" {
		var total int64
		if evs, total, err = d.s.store.LastEvents(ctx, id, pageEvents); err != nil {
			return data, err
		}
		if total > int64(len(evs)) {
			data.EventsNote = "Showing the newest " + thousands(int64(len(evs))) + " of " + thousands(total) + " events."
			data.Earlier, data.EarlierLabel = base+"?after=0#events", "From the start"
		}
	} else {
		a, err := strconv.ParseInt(after, 10, 64)
		if err != nil || a < 0 {
			return data, errorf(KindInvalid, "after %q is not an event id", after)
		}
		if evs, err = d.s.store.Events(ctx, id, a, pageEvents+1); err != nil {
			return data, err
		}
		data.EventsNote = "Showing the events after event " + strconv.FormatInt(a, 10) + "."
		data.Earlier, data.EarlierLabel = base+"#events", "The newest events"
		if len(evs) > pageEvents {
			evs = evs[:pageEvents]
			data.Later = base + "?after=" + strconv.FormatInt(evs[len(evs)-1].ID, 10) + "#events"
		}
		data.After = a
	}
	for _, e := range evs {
		data.Events = append(data.Events, newEventView(e, now))
		data.After = e.ID
	}
	if !t.Status.Finished() && data.Later == "" {
		data.Stream = "/api/v1/tasks/" + strconv.FormatInt(id, 10) + "/events/stream"
	}
	data.Attempts, data.AttemptsShort, err = d.attempts(ctx, id, now)
	return data, err
}

// attempts gathers a task's runs from its status events: each move to
// running starts one (the reason names the worker), and the next move
// from running ends it, with the reason (the error, "lease expired").
func (d *dashboard) attempts(ctx context.Context, id int64, now time.Time) ([]attemptView, bool, error) {
	var out []attemptView
	var after int64
	read := 0
	for read < attemptScan {
		evs, err := d.s.store.Events(ctx, id, after, pageEvents)
		if err != nil {
			return nil, false, err
		}
		for _, e := range evs {
			after = e.ID
			if e.Kind != db.EventStatus {
				continue
			}
			var sd struct {
				From, To, Reason string
			}
			if json.Unmarshal(e.Data, &sd) != nil {
				continue
			}
			switch {
			case sd.To == string(db.StatusRunning):
				worker := sd.Reason
				if w, ok := strings.CutPrefix(worker, "claimed by "); ok {
					worker = w
				}
				out = append(out, attemptView{N: len(out) + 1, Worker: displayText(worker), Started: newTimeView(e.At, now), Outcome: "running", start: e.At})
			case sd.From == string(db.StatusRunning) && len(out) > 0 && out[len(out)-1].Outcome == "running":
				a := &out[len(out)-1]
				a.Ended, a.Outcome, a.Reason = newTimeView(e.At, now), sd.To, displayText(sd.Reason)
				a.Took = fmtDuration(e.At.Sub(a.start))
			}
		}
		read += len(evs)
		if len(evs) < pageEvents {
			return out, false, nil
		}
	}
	return out, true, nil
}

// newTaskSummary describes a task for its page, as `opsctl show` does.
func newTaskSummary(t db.Task, now time.Time, v *viewer) taskSummary {
	s := taskSummary{
		ID: t.ID, URL: "/tasks/" + strconv.FormatInt(t.ID, 10),
		Name: displayText(t.Name), Type: t.Type, Queue: t.Queue, Priority: t.Priority,
		Status: string(t.Status), Error: displayText(t.Error),
		Attempts:   strconv.Itoa(t.Attempts) + " of " + strconv.Itoa(t.MaxAttempts),
		Key:        displayText(t.Key),
		Cancelling: t.CancelRequested && t.Status == db.StatusRunning,
		Created:    newTimeView(t.CreatedAt, now),
		Started:    newTimeView(t.StartedAt, now),
		FinishedAt: newTimeView(t.FinishedAt, now),
		Input:      prettyJSON(t.Input),
		Result:     prettyJSON(t.Result),
		CanCancel:  t.Status == db.StatusPending || t.Status == db.StatusWaiting || (t.Status == db.StatusRunning && !t.CancelRequested),
		CanRetry:   t.Status == db.StatusFailed || t.Status == db.StatusCancelled,
		Writable:   v.CanWrite(),
	}
	if t.Timeout > 0 {
		s.Timeout = t.Timeout.String()
	}
	if t.Status == db.StatusRunning {
		s.Worker = displayText(t.LeaseWorker)
		s.LeaseUntil = newTimeView(t.LeaseExpires, now)
	}
	if t.Status == db.StatusPending && t.RunAfter.After(now) {
		s.RunAfter = newTimeView(t.RunAfter, now)
	}
	switch {
	case !t.StartedAt.IsZero() && !t.FinishedAt.IsZero():
		s.Duration = fmtDuration(t.FinishedAt.Sub(t.StartedAt))
	case !t.StartedAt.IsZero() && t.Status == db.StatusRunning:
		s.Duration = fmtDuration(now.Sub(t.StartedAt)) + " so far"
	}
	if u, ok := agentUsage(t); ok {
		s.Tokens = thousands(u.In) + " in + " + thousands(u.Out) + " out = " + thousands(u.Total)
	}
	if t.Type == "agent" && len(t.Result) > 0 {
		var r struct {
			Steps      int    `json:"steps"`
			StopReason string `json:"stop_reason"`
			Provider   string `json:"provider"`
			Model      string `json:"model"`
		}
		if json.Unmarshal(t.Result, &r) == nil && r.StopReason != "" {
			s.Summary = strconv.Itoa(r.Steps) + " model turns, stop: " + r.StopReason
			if r.Model != "" {
				s.Summary += ", " + r.Provider + "/" + r.Model
			}
			s.Summary = displayText(s.Summary)
		}
	}
	if (s.CanCancel || s.CanRetry) && !v.CanWrite() {
		s.ActionsNote = "Your token “" + v.Token.Name + "” has scope " + string(v.Token.Scope) +
			": cancelling, retrying and approving need a write token. Log out and log in with one."
	}
	return s
}

// liveData is the data of a task page's live fragment.
type liveData struct {
	taskData
	Full bool // with the summary, actions, result and attempts
}

// taskLive is what the script of a task page fetches as events arrive: the
// task's summary, actions and attempts as they are now, and the events
// after the one the page shows last (at most pageEvents of them), as HTML
// made by the same templates.
func (d *dashboard) taskLive(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, err := pathID(r)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	ctx := r.Context()
	t, err := d.s.GetTask(ctx, id)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	now := d.s.now()
	data := liveData{taskData: taskData{Task: newTaskSummary(t, now, v), After: after}}
	evs, err := d.s.store.Events(ctx, id, after, pageEvents)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	for _, e := range evs {
		data.Events = append(data.Events, newEventView(e, now))
		data.After = e.ID
	}
	// The summary, the buttons and the attempts change with the status
	// only: the script asks for them (full=1) after a status event, so
	// that a task's output does not cost an attempts scan per fetch.
	if data.Full = r.URL.Query().Get("full") != ""; data.Full {
		if data.Attempts, data.AttemptsShort, err = d.attempts(ctx, id, now); err != nil {
			d.failed(w, r, v, err)
			return
		}
	}
	d.write(w, r, http.StatusOK, "task_live", "live", pageData{Viewer: v, Data: data})
}

func (d *dashboard) taskCancel(w http.ResponseWriter, r *http.Request, v *viewer) {
	d.taskAction(w, r, v, d.s.CancelTask, "cancelled")
}

func (d *dashboard) taskRetry(w http.ResponseWriter, r *http.Request, v *viewer) {
	d.taskAction(w, r, v, d.s.RetryTask, "retried")
}

func (d *dashboard) taskApprove(w http.ResponseWriter, r *http.Request, v *viewer) {
	d.taskAction(w, r, v, d.decide(db.DecisionApproved, "", v), "approved")
}

func (d *dashboard) taskDeny(w http.ResponseWriter, r *http.Request, v *viewer) {
	d.taskAction(w, r, v, d.decide(db.DecisionDenied, r.PostFormValue("reason"), v), "denied")
}

// decide is a decision as a task action.
func (d *dashboard) decide(dec db.Decision, reason string, v *viewer) func(context.Context, int64) (db.Task, error) {
	return func(ctx context.Context, id int64) (db.Task, error) {
		_, err := d.s.DecideTask(ctx, id, dec, reason, v.Token)
		return db.Task{}, err
	}
}

// taskAction runs a cancel or a retry from a task page's form and sends
// the browser back to the page; when the token's scope or the state
// machine refuses, the page says why.
func (d *dashboard) taskAction(w http.ResponseWriter, r *http.Request, v *viewer, op func(context.Context, int64) (db.Task, error), done string) {
	id, err := pathID(r)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	err = Authorize(v.Token, db.ScopeWrite)
	if err == nil {
		if _, err = op(r.Context(), id); err == nil {
			http.Redirect(w, r, "/tasks/"+strconv.FormatInt(id, 10)+"?done="+done, http.StatusSeeOther)
			return
		}
	}
	var te *db.TransitionError
	var nf *db.NotFoundError
	e := asError(err)
	if errors.As(err, &nf) || (e.Kind != KindForbidden && e.Kind != KindConflict) {
		d.failed(w, r, v, err)
		return
	}
	data, derr := d.taskData(r.Context(), id, v, "")
	if derr != nil {
		d.failed(w, r, v, derr)
		return
	}
	switch {
	case errors.As(err, &te) && done == "cancelled":
		data.Problem = "Task " + strconv.FormatInt(id, 10) + " is " + string(te.From) + ": only a pending, running or waiting task can be cancelled."
	case errors.As(err, &te):
		data.Problem = "Task " + strconv.FormatInt(id, 10) + " is " + string(te.From) + ": only a failed or cancelled task can be retried."
	default:
		data.Problem = e.Detail + "."
	}
	d.renderTask(w, r, v, e.Kind.HTTPStatus(), data)
}
