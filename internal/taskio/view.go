package taskio

import (
	"encoding/json"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// TaskJSON is the stable JSON shape of a task for -o json and -o jsonl.
// Scripts depend on these names; README.md documents them.
type TaskJSON struct {
	ID              int64           `json:"id"`
	Type            string          `json:"type"`
	Name            string          `json:"name"`
	Queue           string          `json:"queue"`
	Priority        int             `json:"priority"`
	Status          string          `json:"status"`
	Input           json.RawMessage `json:"input"`
	Result          json.RawMessage `json:"result"`
	Error           string          `json:"error"`
	Attempts        int             `json:"attempts"`
	MaxAttempts     int             `json:"max_attempts"`
	RunAfter        time.Time       `json:"run_after"`
	TimeoutSeconds  float64         `json:"timeout_seconds"`
	Key             *string         `json:"key"`
	Worker          *string         `json:"worker"`
	LeaseExpiresAt  *time.Time      `json:"lease_expires_at"`
	CancelRequested bool            `json:"cancel_requested"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	StartedAt       *time.Time      `json:"started_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func NewTaskJSON(t db.Task) TaskJSON {
	result := t.Result
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	return TaskJSON{
		ID: t.ID, Type: t.Type, Name: t.Name, Queue: t.Queue, Priority: t.Priority,
		Status: string(t.Status), Input: t.Input, Result: result, Error: t.Error,
		Attempts: t.Attempts, MaxAttempts: t.MaxAttempts, RunAfter: t.RunAfter,
		TimeoutSeconds: t.Timeout.Seconds(), Key: optString(t.Key), Worker: optString(t.LeaseWorker),
		LeaseExpiresAt: optTime(t.LeaseExpires), CancelRequested: t.CancelRequested,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		StartedAt: optTime(t.StartedAt), FinishedAt: optTime(t.FinishedAt),
	}
}

func TasksJSON(ts []db.Task) []TaskJSON {
	out := make([]TaskJSON, len(ts))
	for i, t := range ts {
		out[i] = NewTaskJSON(t)
	}
	return out
}

// EventJSON is the stable JSON shape of an event for `logs -o jsonl`.
type EventJSON struct {
	ID     int64           `json:"id"`
	TaskID int64           `json:"task_id"`
	At     time.Time       `json:"at"`
	Kind   string          `json:"kind"`
	Data   json.RawMessage `json:"data"`
}

func NewEventJSON(e db.Event) EventJSON {
	return EventJSON{ID: e.ID, TaskID: e.TaskID, At: e.At, Kind: e.Kind, Data: e.Data}
}
