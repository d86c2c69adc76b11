package serve

import (
	"bytes"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opsctl/opsctl/internal/db"
	opsctlv1 "github.com/opsctl/opsctl/proto/opsctl/v1"
)

// createBody is a CreateTaskRequest as a line of `submit --batch`, with
// only the fields the request set, so that CreateTask validates it exactly
// as REST and the CLI do.
type createBody struct {
	Type        string          `json:"type,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	Name        string          `json:"name,omitempty"`
	Queue       string          `json:"queue,omitempty"`
	Priority    *int32          `json:"priority,omitempty"`
	MaxAttempts *int32          `json:"max_attempts,omitempty"`
	Timeout     string          `json:"timeout,omitempty"`   // a Go duration
	RunAfter    string          `json:"run_after,omitempty"` // RFC 3339
	// Key is the idempotency key, in the body rather than as CreateTask's
	// key argument so that an error names the field, not a header.
	Key string `json:"key,omitempty"`
}

// createLine writes a CreateTaskRequest as CreateTask's body.
func createLine(r *opsctlv1.CreateTaskRequest) ([]byte, error) {
	b := createBody{Type: r.Type, Name: r.Name, Queue: r.Queue, Priority: r.Priority, MaxAttempts: r.MaxAttempts, Key: r.IdempotencyKey}
	if r.Input != nil {
		in, err := marshalPlain(r.Input.AsMap())
		if err != nil {
			return nil, errorf(KindInvalid, `"input" cannot be written as JSON: %v`, err)
		}
		b.Input = in
	}
	if r.Timeout != nil {
		if err := r.Timeout.CheckValid(); err != nil {
			return nil, errorf(KindInvalid, `"timeout" is not a valid duration: %v`, err)
		}
		b.Timeout = r.Timeout.AsDuration().String()
	}
	if r.RunAfter != nil {
		if err := r.RunAfter.CheckValid(); err != nil {
			return nil, errorf(KindInvalid, `"run_after" is not a valid time: %v`, err)
		}
		b.RunAfter = r.RunAfter.AsTime().Format(time.RFC3339Nano)
	}
	return marshalPlain(b)
}

// marshalPlain is json.Marshal without escaping <, > and &, which are
// common in commands and would be stored as \u003c and the like.
func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// taskProto is a task as the TaskService answers it.
func taskProto(t db.Task) *opsctlv1.Task {
	p := &opsctlv1.Task{
		Id: t.ID, Type: t.Type, Name: t.Name, Queue: t.Queue, Priority: int32(t.Priority),
		Status: string(t.Status), Input: structProto(t.Input), Result: structProto(t.Result),
		Error: t.Error, Attempts: int32(t.Attempts), MaxAttempts: int32(t.MaxAttempts),
		RunAfter: timeProto(t.RunAfter), Key: t.Key, Worker: t.LeaseWorker,
		LeaseExpiresAt: timeProto(t.LeaseExpires), CancelRequested: t.CancelRequested,
		CreatedAt: timeProto(t.CreatedAt), UpdatedAt: timeProto(t.UpdatedAt),
		StartedAt: timeProto(t.StartedAt), FinishedAt: timeProto(t.FinishedAt),
	}
	if t.Timeout > 0 {
		p.Timeout = durationpb.New(t.Timeout)
	}
	return p
}

// eventProto is an event as WatchTask streams it.
func eventProto(e db.Event) *opsctlv1.Event {
	p := &opsctlv1.Event{Id: e.ID, TaskId: e.TaskID, At: timeProto(e.At), Kind: e.Kind}
	var v any
	if json.Unmarshal(e.Data, &v) == nil {
		p.Data, _ = structpb.NewValue(v) // nil (unset) if it cannot be
	}
	return p
}

// timeProto is t as a Timestamp; unset when t is zero.
func timeProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// structProto is a JSON object as a Struct; unset for anything else (a
// result not written yet is nil or null).
func structProto(raw json.RawMessage) *structpb.Struct {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil
	}
	return s
}
