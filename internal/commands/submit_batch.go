package commands

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// batchLine is one line of `submit --batch`.
type batchLine struct {
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

// readBatch parses and validates every line before anything is written, so
// a bad line 9,000 stops the batch with nothing stored.
func readBatch(r io.Reader, f *Factory) ([]db.NewTask, []int, error) {
	var ts []db.NewTask
	var lines []int // the line number of each task, for errors from the store
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		t, err := parseBatchLine(line, f)
		if err != nil {
			return nil, nil, usageErrorf("batch line %d: %v", n, err)
		}
		ts = append(ts, t)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, usageErrorf("batch line %d: %v", n+1, err)
	}
	if len(ts) == 0 {
		return nil, nil, usageErrorf("batch is empty")
	}
	return ts, lines, nil
}

func parseBatchLine(line []byte, f *Factory) (db.NewTask, error) {
	var b batchLine
	var t db.NewTask
	if _, err := parseObject("line", line); err != nil {
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
	input, err := parseObject(`"input"`, b.Input)
	if err != nil {
		return t, err
	}
	if err := f.Registry.Validate(b.Type, input); err != nil {
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
		if t.Timeout, err = parseDuration(`"timeout"`, b.Timeout); err != nil {
			return t, err
		}
	}
	if b.RunAfter != "" {
		if t.RunAfter, err = parseTime(`"run_after"`, b.RunAfter, time.Local); err != nil {
			return t, err
		}
	}
	return t, nil
}

func runSubmitBatch(ctx context.Context, o *SubmitOptions) error {
	if o.Input != "" || o.Prompt != "" || len(o.Command) > 0 || o.Wait {
		return usageErrorf("--batch takes its tasks from the file; drop --input, --prompt, --wait and the command")
	}
	var r io.Reader = o.F.IO.In
	if o.Batch != "-" {
		file, err := os.Open(o.Batch)
		if err != nil {
			return usageErrorf("read --batch: %v", err)
		}
		defer file.Close()
		r = file
	}
	ts, lines, err := readBatch(r, o.F)
	if err != nil {
		return err
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	rs, err := s.SubmitBatch(ctx, ts)
	var be *db.BatchError
	if errors.As(err, &be) && be.Index < len(lines) {
		return fmt.Errorf("batch line %d: %w; nothing was submitted", lines[be.Index], be.Err)
	}
	if err != nil {
		return err
	}
	w := bufio.NewWriter(o.F.IO.Out)
	existed := 0
	for _, r := range rs {
		fmt.Fprintln(w, r.ID)
		if r.Existed {
			existed++
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !o.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "submitted %d tasks", len(rs)-existed)
		if existed > 0 {
			fmt.Fprintf(o.F.IO.ErrOut, " (%d keys matched earlier tasks)", existed)
		}
		fmt.Fprintln(o.F.IO.ErrOut)
	}
	return nil
}
