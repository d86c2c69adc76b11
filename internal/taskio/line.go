package taskio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
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
	After       json.RawMessage `json:"after"` // see parseAfter
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
	t, lines, err := ParseBatchLine(line, v, cwd)
	if err == nil && len(lines) > 0 {
		err = fmt.Errorf(`"after": "#%d" names a line of a batch; give task ids`, lines[0])
	}
	return t, err
}

// ParseBatchLine is ParseLine for a line of `submit --batch`, whose
// "after" may also name earlier lines of the same batch: it returns their
// line numbers (from "#N") apart from the task, whose After holds the ids.
func ParseBatchLine(line []byte, v Validator, cwd string) (db.NewTask, []int, error) {
	var b Line
	t, err := parseLine(line, v, cwd, &b, true)
	if err != nil {
		return t, nil, err
	}
	lines, err := parseAfter(b.After, &t)
	return t, lines, err
}

// parseLine is ParseLine's work. Lines the usual way (see
// decodeLinePlain, parseObject and execInputDirPlain) take fast paths that
// end where encoding/json would; with fast unset every line takes the
// general path, as the tests that compare the two do.
func parseLine(line []byte, v Validator, cwd string, b *Line, fast bool) (db.NewTask, error) {
	var t db.NewTask
	if !fast || !decodeLinePlain(line, b) {
		*b = Line{}
		if _, err := parseObject("line", line, false); err != nil {
			return t, err
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(b); err != nil {
			return t, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
		}
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
	input, err := parseObject(`"input"`, b.Input, fast)
	if err != nil {
		return t, err
	}
	if b.Type == "exec" {
		if input, err = execInput(input, cwd, fast); err != nil {
			return t, err
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

// execInput is an exec task's input, compacted, with its working
// directory as ParseLine says.
func execInput(input json.RawMessage, cwd string, fast bool) (json.RawMessage, error) {
	if fast && cwd != "" {
		if out, ok := execInputDirPlain(input, cwd); ok {
			return out, nil
		}
	}
	in, err := DecodeObject(input)
	if err != nil {
		return nil, fmt.Errorf(`"input": %w`, err)
	}
	if cwd == "" {
		return input, checkAbsDir(in)
	}
	return ExecInputDir(in, cwd).Encode(), nil
}

// execInputDirPlain is ExecInputDir(DecodeObject(input), cwd).Encode() for
// the usual input, a compact object without a "dir" whose keys are plain
// (which Encode writes back as they are): the input with "dir" added
// last. ok is false for any other input.
func execInputDirPlain(input json.RawMessage, cwd string) (json.RawMessage, bool) {
	if len(input) < 2 || input[0] != '{' {
		return nil, false
	}
	m := newMembers(input)
	n := 0
	for {
		key, _, ok := m.next()
		if !ok {
			break
		}
		if !plainKey(key) || string(key) == "dir" {
			return nil, false
		}
		n++
	}
	dir := marshalPlain(cwd)
	out := make([]byte, 0, len(input)+len(dir)+8)
	out = append(out, input[:len(input)-1]...)
	if n > 0 {
		out = append(out, ',')
	}
	out = append(out, `"dir":`...)
	out = append(out, dir...)
	return append(out, '}'), true
}

// decodeLinePlain decodes line into b, a zero Line, as a json.Decoder
// with DisallowUnknownFields would, when line is one JSON object whose
// members are the fields of a Line, each once, named exactly, with values
// that need no more than taking their bytes (strings without escapes,
// whole numbers). It returns false for any other line (b is then partly
// written), whose errors and oddities encoding/json is left to handle.
func decodeLinePlain(line []byte, b *Line) bool {
	if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
		return false
	}
	var seen uint16
	m := newMembers(line)
	for {
		key, v, ok := m.next()
		if !ok {
			return true
		}
		var bit uint16
		var s *string
		switch string(key) {
		case "type":
			bit, s = 1<<0, &b.Type
		case "name":
			bit, s = 1<<1, &b.Name
		case "queue":
			bit, s = 1<<2, &b.Queue
		case "timeout":
			bit, s = 1<<3, &b.Timeout
		case "key":
			bit, s = 1<<4, &b.Key
		case "run_after":
			bit, s = 1<<5, &b.RunAfter
		case "input":
			bit, b.Input = 1<<6, append(json.RawMessage(nil), v...)
		case "after":
			bit, b.After = 1<<7, append(json.RawMessage(nil), v...)
		case "priority":
			bit = 1 << 8
			if b.Priority, ok = plainInt(v); !ok {
				return false
			}
		case "max_attempts":
			bit = 1 << 9
			n, ok := plainInt(v)
			if !ok {
				return false
			}
			b.MaxAttempts = &n
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if s != nil {
			if *s, ok = plainString(v); !ok {
				return false
			}
		}
	}
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

// parseAfter reads "after": a task id, a "#N" naming the task on line N of
// the batch, or a list of them. Ids go into t.After; line numbers are
// returned, in order.
func parseAfter(raw json.RawMessage, t *db.NewTask) ([]int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf(`"after": %s`, strings.TrimPrefix(err.Error(), "json: "))
		}
	} else {
		items = []json.RawMessage{raw}
	}
	var lines []int
	for _, it := range items {
		var id int64
		var s string
		switch {
		case json.Unmarshal(it, &id) == nil && id > 0:
			t.After = append(t.After, id)
		case json.Unmarshal(it, &s) == nil && strings.HasPrefix(s, "#"):
			n, err := strconv.Atoi(s[1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf(`"after": %q is not a line: want "#N", N from 1`, s)
			}
			lines = append(lines, n)
		default:
			return nil, fmt.Errorf(`"after": want task ids (positive integers) or "#LINE", got %s`, it)
		}
	}
	return lines, nil
}
