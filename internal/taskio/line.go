package taskio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// Line is one line of `submit --batch`.
type Line struct {
	Type        string          `json:"type"`
	Input       json.RawMessage `json:"input"`
	Name        string          `json:"name"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	MaxAttempts *int            `json:"max_attempts"` // nil: the default, 1
	Timeout     string          `json:"timeout"`
	Key         string          `json:"key"`
	RunAfter    string          `json:"run_after"`
}

// Validator checks a task's input for its type (runner.Registry is one).
type Validator interface {
	Validate(typ string, input json.RawMessage) error
}

// ParseLine reads one task as `submit --batch` and the HTTP API take it,
// and validates it as submit does, so a task that cannot run is refused
// before anything is written. Errors name the field at fault.
//
// An exec task without a "dir" runs in cwd, and a relative "dir" is taken
// from it. With cwd "" (a request from another machine, whose directory
// means nothing here) a "dir" must be absolute, and a task without one
// runs where its runner runs.
func ParseLine(line []byte, v Validator, cwd string) (db.NewTask, error) {
	var b Line
	var t db.NewTask
	if _, err := ParseObject("line", line); err != nil {
		return t, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return t, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if b.Type == "" {
		return t, fmt.Errorf(`"type" is required`)
	}
	if err := CheckInputSize(`"input"`, int64(len(b.Input))); err != nil {
		return t, err
	}
	if err := CheckKey(`"key"`, b.Key); err != nil {
		return t, err
	}
	for _, l := range []struct{ what, s string }{{`"name"`, b.Name}, {`"queue"`, b.Queue}} {
		if err := CheckLabel(l.what, l.s); err != nil {
			return t, err
		}
	}
	input, err := ParseObject(`"input"`, b.Input)
	if err != nil {
		return t, err
	}
	if b.Type == "exec" {
		in, err := DecodeObject(input)
		if err != nil {
			return t, fmt.Errorf(`"input": %w`, err)
		}
		if cwd == "" {
			if err := checkAbsDir(in); err != nil {
				return t, err
			}
		} else {
			input = ExecInputDir(in, cwd).Encode()
		}
	}
	if err := v.Validate(b.Type, input); err != nil {
		return t, err
	}
	maxAttempts := 1
	if b.MaxAttempts != nil {
		if maxAttempts = *b.MaxAttempts; maxAttempts < 1 {
			return t, fmt.Errorf(`"max_attempts" must be at least 1, got %d`, maxAttempts)
		}
	}
	t = db.NewTask{Type: b.Type, Input: input, Name: b.Name, Queue: b.Queue, Priority: b.Priority, MaxAttempts: maxAttempts, Key: b.Key}
	if b.Timeout != "" {
		if t.Timeout, err = ParseTimeout(`"timeout"`, b.Timeout); err != nil {
			return t, err
		}
	}
	if b.RunAfter != "" {
		if t.RunAfter, err = ParseTime(`"run_after"`, b.RunAfter, time.Local); err != nil {
			return t, err
		}
	}
	return t, nil
}

// checkAbsDir refuses an exec input whose "dir" is a relative path.
func checkAbsDir(in Object) error {
	raw, ok := in.Get("dir")
	var dir string
	if !ok || json.Unmarshal(raw, &dir) != nil || dir == "" || filepath.IsAbs(dir) {
		return nil // absent, or not a string: validation says what is wrong
	}
	return fmt.Errorf(`"input": "dir" must be an absolute path here, got %q`, dir)
}
