package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opsctl/opsctl/internal/db"
)

// Log formats for NewLogger.
const (
	LogText = "text"
	LogJSON = "json"
)

// LogFormats lists the formats NewLogger takes.
func LogFormats() []string { return []string{LogText, LogJSON} }

// NewLogger returns a logger for the runner's lines on w: "text" prints
// each line as a person reads it (notes start with "opsctl: ", task lines
// with "task N"), "json" prints one JSON object per line (time in UTC,
// level, msg, and the task's fields) for journald and log shippers.
func NewLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case LogText, "":
		return slog.New(&textHandler{mu: &sync.Mutex{}, w: w}), nil
	case LogJSON:
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: utcTime})), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want %s)", format, strings.Join(LogFormats(), " or "))
}

func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}

// textHandler prints a record's message as one line. Records about one
// task (those with an "event" attribute) are printed as they are; every
// other note gets the "opsctl: " prefix the rest of opsctl's notes have.
// Attributes other than that are for the JSON format only. The line is
// made safe for a terminal: task errors carry the end of a command's
// stderr, which may hold escape sequences.
type textHandler struct {
	mu      *sync.Mutex
	w       io.Writer
	isEvent bool // an "event" attribute was added with WithAttrs
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	event := h.isEvent
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" {
			event = true
			return false
		}
		return true
	})
	line := printable(r.Message)
	if !event {
		line = "opsctl: " + line
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		if a.Key == "event" {
			c.isEvent = true
		}
	}
	return &c
}

func (h *textHandler) WithGroup(string) slog.Handler { return h }

// printable keeps a log line on one line and free of terminal controls:
// newlines and tabs become spaces, other control characters, C1 controls
// and bytes that are not UTF-8 are shown as escapes.
func printable(s string) string {
	clean := true
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case c == '\n' || c == '\r' || c == '\t':
			b.WriteByte(' ')
		case c < 0x80 && unicode.IsControl(c):
			fmt.Fprintf(&b, `\x%02x`, c)
		case unicode.IsControl(c):
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// taskRun is what the log lines of one attempt need beyond its outcome.
type taskRun struct {
	task    db.Task
	started time.Time
	took    time.Duration // how long the handler ran
	timeout time.Duration // set when the attempt ended by its timeout
	retryIn time.Duration // backoff before the next attempt, for a retry
}

// logf is a note (not about one task's life) at level.
func (r *Runner) logf(level slog.Level, format string, args ...any) {
	r.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

// taskAttrs are the JSON fields of every task line.
func taskAttrs(event string, t db.Task, status db.Status) []slog.Attr {
	as := []slog.Attr{
		slog.String("event", event),
		slog.Int64("task", t.ID),
		slog.String("type", t.Type),
		slog.String("queue", t.Queue),
	}
	if t.Name != "" {
		as = append(as, slog.String("name", t.Name))
	}
	if status != "" {
		as = append(as, slog.String("status", string(status)))
	}
	return append(as, slog.Int("attempt", t.Attempts), slog.Int("max_attempts", t.MaxAttempts))
}

func (r *Runner) taskLine(level slog.Level, msg string, attrs ...slog.Attr) {
	r.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// logStarted says a claimed task started.
func (r *Runner) logStarted(t db.Task) {
	if !r.opts.TaskLog {
		return
	}
	what := describe(t)
	if t.Attempts > 1 {
		what += fmt.Sprintf("; attempt %d of %d", t.Attempts, t.MaxAttempts)
	}
	msg := fmt.Sprintf("task %d started (%s)", t.ID, what)
	if t.Name != "" {
		msg = fmt.Sprintf("task %d started: %s (%s)", t.ID, t.Name, what)
	}
	r.taskLine(slog.LevelInfo, msg, taskAttrs("started", t, db.StatusRunning)...)
}

// logEnded says how an attempt ended, once its outcome is stored.
func (r *Runner) logEnded(tr *taskRun, o db.Outcome) {
	if !r.opts.TaskLog || tr == nil {
		return
	}
	t := tr.task
	id, took := t.ID, fmtDuration(tr.took)
	attrs := taskAttrs(string(o.Status), t, o.Status)
	attrs = append(attrs, slog.Int64("duration_ms", tr.took.Milliseconds()))
	if code, ok := resultInt(o.Result, "exit_code"); ok {
		attrs = append(attrs, slog.Int("exit_code", code))
	}
	if o.Error != "" {
		attrs = append(attrs, slog.String("error", o.Error))
	}
	level := slog.LevelInfo
	var msg string
	switch o.Status {
	case db.StatusCompleted:
		msg = fmt.Sprintf("task %d completed in %s", id, took)
		if code, ok := resultInt(o.Result, "exit_code"); ok {
			msg += fmt.Sprintf(" (exit %d)", code)
		} else if steps, ok := resultInt(o.Result, "steps"); ok {
			msg += fmt.Sprintf(" (%d steps)", steps)
		}
	case db.StatusCancelled:
		msg = fmt.Sprintf("task %d cancelled after %s", id, took)
	case db.StatusPending:
		level = slog.LevelWarn
		attrs[0] = slog.String("event", "retrying")
		attrs = append(attrs, slog.Int64("retry_in_ms", tr.retryIn.Milliseconds()))
		if tr.timeout > 0 {
			attrs[0] = slog.String("event", "timed_out")
			msg = fmt.Sprintf("task %d timed out after %s (attempt %d of %d, retrying in %s)",
				id, tr.timeout, t.Attempts, t.MaxAttempts, fmtDuration(tr.retryIn))
		} else {
			msg = fmt.Sprintf("task %d failed (attempt %d of %d, retrying in %s): %s",
				id, t.Attempts, t.MaxAttempts, fmtDuration(tr.retryIn), o.Error)
		}
	default: // failed
		level = slog.LevelError
		switch {
		case tr.timeout > 0:
			attrs[0] = slog.String("event", "timed_out")
			msg = fmt.Sprintf("task %d timed out after %s", id, tr.timeout)
			if t.Attempts > 1 {
				msg += fmt.Sprintf(" (attempt %d of %d)", t.Attempts, t.MaxAttempts)
			}
		case t.Attempts > 1:
			msg = fmt.Sprintf("task %d failed after %d attempts: %s", id, t.Attempts, o.Error)
		default:
			msg = fmt.Sprintf("task %d failed after %s: %s", id, took, o.Error)
		}
	}
	r.taskLine(level, msg, attrs...)
}

// logParked says a task waits for an approval, once that is stored, or
// that it could not wait (cancelled meanwhile, or no longer held).
func (r *Runner) logParked(tr *taskRun, a db.Approval, parked bool) {
	if !r.opts.TaskLog || tr == nil {
		return
	}
	t := tr.task
	if !parked {
		attrs := append(taskAttrs("not_parked", t, ""), slog.Int64("duration_ms", tr.took.Milliseconds()))
		r.taskLine(slog.LevelWarn, fmt.Sprintf("task %d: not waiting for approval: it was cancelled, or another runner has it", t.ID), attrs...)
		return
	}
	attrs := append(taskAttrs("waiting", t, db.StatusWaiting), slog.Int64("duration_ms", tr.took.Milliseconds()),
		slog.String("tool", a.Tool), slog.Int64("request", a.ID))
	r.taskLine(slog.LevelWarn, fmt.Sprintf("task %d waits for approval of %s (opsctl approve %d, or opsctl deny %d)",
		t.ID, a.Tool, t.ID, t.ID), attrs...)
}

// logReleased says a task went back to pending (attempt not counted)
// because the runner stopped, once the release is stored.
func (r *Runner) logReleased(tr *taskRun) {
	if !r.opts.TaskLog || tr == nil {
		return
	}
	attrs := append(taskAttrs("released", tr.task, db.StatusPending), slog.Int64("duration_ms", tr.took.Milliseconds()))
	r.taskLine(slog.LevelWarn, fmt.Sprintf("task %d stopped after %s: runner stopping; back to pending, attempt not counted",
		tr.task.ID, fmtDuration(tr.took)), attrs...)
}

// logLost says this runner no longer holds a task: its outcome (if any)
// is not stored, another runner has the task.
func (r *Runner) logLost(t db.Task, took time.Duration, when string) {
	attrs := append(taskAttrs("lost", t, ""), slog.Int64("duration_ms", took.Milliseconds()),
		slog.String("error", "lease lost"))
	r.taskLine(slog.LevelWarn, fmt.Sprintf("task %d: lease lost %s; another runner has it", t.ID, when), attrs...)
}

// describe is a short account of what a task runs, for its start line.
func describe(t db.Task) string {
	var detail string
	switch t.Type {
	case "exec":
		var in ExecInput
		if json.Unmarshal(t.Input, &in) == nil {
			if in.Shell != "" {
				detail = in.Shell
			} else {
				args := make([]string, len(in.Command))
				for i, a := range in.Command {
					args[i] = shellWord(a)
				}
				detail = strings.Join(args, " ")
			}
		}
	default:
		var in struct {
			Prompt string `json:"prompt"`
		}
		if json.Unmarshal(t.Input, &in) == nil {
			detail = in.Prompt
		}
	}
	detail = clip(strings.Join(strings.Fields(detail), " "), 80)
	if detail == "" {
		return t.Type
	}
	return t.Type + ": " + detail
}

// shellWord quotes an argument that a shell would split or interpret.
func shellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>(){}*?[]#~!") {
		return s
	}
	return strconv.Quote(s)
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// resultInt reads an integer field of a result object.
func resultInt(result json.RawMessage, field string) (int, bool) {
	if len(result) == 0 {
		return 0, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(result, &m) != nil {
		return 0, false
	}
	var v int
	if raw, ok := m[field]; !ok || json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	return v, true
}

// fmtDuration rounds a duration for a log line: 340ms, 8.1s, 2m5s.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
