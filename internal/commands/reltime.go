package commands

import (
	"time"

	"github.com/opsctl/opsctl/internal/taskio"
)

// formatTime shows a time relative to now on a terminal ("5m ago",
// "in 2h") and as RFC 3339 UTC otherwise; the zero time is "-".
func formatTime(t, now time.Time, tty bool) string {
	if t.IsZero() {
		return "-"
	}
	if !tty {
		return t.UTC().Format(time.RFC3339)
	}
	return taskio.Relative(now.Sub(t))
}

// formatTimeLong shows a time in full: on a terminal in local time with
// the relative form after it ("2026-11-28 14:03:11 (5m ago)"), otherwise as
// RFC 3339 UTC. The zero time is "-".
func formatTimeLong(t, now time.Time, tty bool) string {
	if t.IsZero() {
		return "-"
	}
	if !tty {
		return t.UTC().Format(time.RFC3339)
	}
	return t.Local().Format(time.DateTime) + " (" + taskio.Relative(now.Sub(t)) + ")"
}
