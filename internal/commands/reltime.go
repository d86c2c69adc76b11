package commands

import (
	"fmt"
	"math"
	"time"
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
	return relative(now.Sub(t))
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
	return t.Local().Format(time.DateTime) + " (" + relative(now.Sub(t)) + ")"
}

// relative says how long ago (d > 0) or how far ahead (d < 0) a time is, in
// one unit: seconds under a minute, minutes under an hour, hours under two
// days, then days. The count is rounded to the nearest unit, not down: a
// task submitted with --in 2h is "in 2h" a moment later, not "in 1h"; and
// 59.6s is "1m", not "60s".
func relative(d time.Duration) string {
	ahead := d < 0
	if ahead {
		d = -d
	}
	var n int64
	var unit string
	switch {
	case round(d, time.Second) < 60:
		n, unit = round(d, time.Second), "s"
	case round(d, time.Minute) < 60:
		n, unit = round(d, time.Minute), "m"
	case round(d, time.Hour) < 48:
		n, unit = round(d, time.Hour), "h"
	default:
		n, unit = round(d, 24*time.Hour), "d"
	}
	switch {
	case n == 0 && ahead:
		return "now"
	case n == 0:
		return "just now"
	case ahead:
		return fmt.Sprintf("in %d%s", n, unit)
	}
	return fmt.Sprintf("%d%s ago", n, unit)
}

// round is d in units, rounded half away from zero.
func round(d, unit time.Duration) int64 {
	return int64(math.Round(float64(d) / float64(unit)))
}
