package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// tasksData is the data of the task list.
type tasksData struct {
	Tabs   []tabView
	Status string // the current tab: a status, or "" for all
	Queue  string
	Type   string
	Search string
	Queues []string // known queues, for the filter's suggestions
	Types  []string // known types

	Rows  []taskRow
	Total string // of the current tab, "10,000+" when capped
	Error string // a filter the server refused
	// First says this is the newest page; Newest and Older link to the
	// newest page and the next older one ("" when there is none).
	First         bool
	Newest, Older string
}

// tabView is one status tab: a link with the count of its tasks.
type tabView struct {
	Key     string // the status, "" for all
	Label   string
	Count   string
	URL     string
	Current bool
}

// taskRow is one row of the task list.
type taskRow struct {
	ID       int64
	URL      string
	Name     string
	Type     string
	Queue    string
	Status   string
	Created  timeView
	Duration string
	// DurationNote says what Duration measures: "ran" or "running for".
	DurationNote string
	Attempts     string
	Tokens       string // agent tasks: the tokens their result records
	TokensTitle  string
	Error        string
	Cancelling   bool
}

// tasksPage is the task list: status tabs with counts, filters in the URL
// query, and a page of tasks newest first.
func (d *dashboard) tasksPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	qv := r.URL.Query()
	data := tasksData{Status: qv.Get("status"), Queue: qv.Get("queue"), Type: qv.Get("type"), Search: qv.Get("q")}
	q := ListQuery{Search: data.Search, Cursor: qv.Get("cursor")}
	if data.Queue != "" {
		q.Queues = []string{data.Queue}
	}
	if data.Type != "" {
		q.Types = []string{data.Type}
	}
	if data.Status != "" {
		q.Statuses = []string{data.Status}
	}
	data.First = q.Cursor == ""
	// The tabs keep the filters and drop the cursor and the status.
	base := url.Values{}
	for k, val := range map[string]string{"queue": data.Queue, "type": data.Type, "q": data.Search} {
		if val != "" {
			base.Set(k, val)
		}
	}
	listURL := func(status, cursor string) string {
		u := url.Values{}
		for k, vs := range base {
			u[k] = vs
		}
		if status != "" {
			u.Set("status", status)
		}
		if cursor != "" {
			u.Set("cursor", cursor)
		}
		if len(u) == 0 {
			return "/tasks"
		}
		return "/tasks?" + u.Encode()
	}
	data.Newest = listURL(data.Status, "")

	status := http.StatusOK
	p, err := d.s.ListTasks(ctx, q)
	if err != nil {
		e := asError(err)
		if e.Kind != KindInvalid {
			d.failed(w, r, v, err)
			return
		}
		status, data.Error = http.StatusBadRequest, e.Detail
	}
	now := d.s.now()
	for _, t := range p.Tasks {
		data.Rows = append(data.Rows, newTaskRow(t, now))
	}
	data.Total = countLabel(p.Total, p.Capped)
	if p.NextCursor != "" {
		data.Older = listURL(data.Status, p.NextCursor)
	}

	// The tabs: every task the filters match, then each status.
	if data.Error == "" {
		f, _ := q.filter()
		f.Statuses, f.BeforeID, f.Limit = nil, 0, 0
		tabs := []tabView{{Key: "", Label: "All"}}
		for _, st := range db.Statuses() {
			tabs = append(tabs, tabView{Key: string(st), Label: statusLabel(st)})
		}
		for i := range tabs {
			t := &tabs[i]
			t.URL, t.Current = listURL(t.Key, ""), t.Key == data.Status
			if t.Current {
				t.Count = data.Total
				continue
			}
			f.Statuses = nil
			if t.Key != "" {
				f.Statuses = []db.Status{db.Status(t.Key)}
			}
			n, capped, err := d.s.counts.count(ctx, d.s.store, f)
			if err != nil {
				d.failed(w, r, v, err)
				return
			}
			t.Count = countLabel(n, capped)
		}
		data.Tabs = tabs
	}
	data.Queues, data.Types = d.knownLabels(r)

	title := "Tasks"
	if data.Status != "" {
		title = statusLabel(db.Status(data.Status)) + " tasks"
	}
	d.render(w, r, status, "tasks", pageData{Title: title, Nav: "tasks", Viewer: v, Data: data})
}

// knownLabels lists the queues and the task types that the filters
// suggest: the types from the validator when it can say, the queues from
// the queue counts, read at most once a queuesEvery (they cost a scan of
// every task, and the list refreshes often).
func (d *dashboard) knownLabels(r *http.Request) (queues, types []string) {
	if tl, ok := d.s.validator.(interface{ Types() []string }); ok {
		types = tl.Types()
	} else {
		types = []string{"agent", "exec"}
	}
	return d.queues.get(r.Context(), d.s.store), types
}

// queuesEvery is how long the list's queue suggestions are kept.
const queuesEvery = time.Minute

// queueCache keeps the names of the queues that hold tasks.
type queueCache struct {
	mu     sync.Mutex
	read   time.Time
	queues []string
}

// get returns the queue names, reading them when they are older than
// queuesEvery; a failure to read leaves the last ones.
func (c *queueCache) get(ctx context.Context, s db.Store) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.read) < queuesEvery {
		return c.queues
	}
	qc, err := s.CountByQueue(ctx)
	if err != nil {
		return c.queues
	}
	c.read, c.queues = time.Now(), nil
	for _, q := range qc {
		if n := len(c.queues); n == 0 || c.queues[n-1] != q.Queue {
			c.queues = append(c.queues, q.Queue)
		}
	}
	return c.queues
}

// statusLabel is a status as a heading: "Pending".
func statusLabel(s db.Status) string {
	if s == "" {
		return "All"
	}
	return string(s[0]-'a'+'A') + string(s[1:])
}

// newTaskRow describes a task for the list.
func newTaskRow(t db.Task, now time.Time) taskRow {
	row := taskRow{
		ID: t.ID, URL: "/tasks/" + strconv.FormatInt(t.ID, 10),
		Name: displayText(clip(t.Name, 80)), Type: t.Type, Queue: t.Queue, Status: string(t.Status),
		Created:    newTimeView(t.CreatedAt, now),
		Attempts:   strconv.Itoa(t.Attempts) + "/" + strconv.Itoa(t.MaxAttempts),
		Error:      displayText(clip(t.Error, 200)),
		Cancelling: t.Status == db.StatusRunning && t.CancelRequested,
	}
	switch {
	case !t.StartedAt.IsZero() && !t.FinishedAt.IsZero():
		row.Duration, row.DurationNote = fmtDuration(t.FinishedAt.Sub(t.StartedAt)), "ran for"
	case !t.StartedAt.IsZero() && t.Status == db.StatusRunning:
		row.Duration, row.DurationNote = fmtDuration(now.Sub(t.StartedAt)), "running for"
	}
	if u, ok := agentUsage(t); ok {
		row.Tokens = thousands(u.Total)
		row.TokensTitle = thousands(u.In) + " in, " + thousands(u.Out) + " out"
	}
	return row
}

// usage is what an agent run's result records of the tokens it used.
type usage struct {
	In    int64 `json:"input_tokens"`
	Out   int64 `json:"output_tokens"`
	Total int64 `json:"total_tokens"`
}

// agentUsage reads the tokens an agent task's result records (summed over
// its model calls; written on success and beside a failure). The agent
// records no prices, so there is no cost to show.
func agentUsage(t db.Task) (usage, bool) {
	if t.Type != "agent" || len(t.Result) == 0 {
		return usage{}, false
	}
	var r struct {
		Usage *usage `json:"usage"`
	}
	if json.Unmarshal(t.Result, &r) != nil || r.Usage == nil {
		return usage{}, false
	}
	u := *r.Usage
	if u.Total == 0 {
		u.Total = u.In + u.Out
	}
	return u, true
}
