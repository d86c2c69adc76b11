// Package runner claims tasks from the store and runs them in this process
// under leases renewed by heartbeats, with timeouts, retries and cancel.
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// Events receives a running task's log entries: output, model turns, tool
// calls, warnings. Emit must not block for long.
type Events interface {
	Emit(kind string, data any)
}

// Handler runs one type of task.
type Handler interface {
	// Validate checks a task's input at submit time, so a task that could
	// never run is refused instead of stored.
	Validate(input json.RawMessage) error
	// Run does the work. It returns the result, or an error; with an error,
	// a non-nil result is kept as partial data. An error whose Retryable()
	// method reports true is retried while attempts are left.
	Run(ctx context.Context, input json.RawMessage, ev Events) (json.RawMessage, error)
}

// Registry maps task types to handlers. It is built once at start-up.
type Registry map[string]Handler

// Types lists the registered types, sorted.
func (r Registry) Types() []string {
	ts := make([]string, 0, len(r))
	for t := range r {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Validate checks that typ has a handler and that input suits it.
func (r Registry) Validate(typ string, input json.RawMessage) error {
	h, ok := r[typ]
	if !ok {
		return fmt.Errorf("unknown task type %q (known: %v)", typ, r.Types())
	}
	if err := h.Validate(input); err != nil {
		return fmt.Errorf("%s input: %w", typ, err)
	}
	return nil
}
