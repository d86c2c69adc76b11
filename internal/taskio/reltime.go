package taskio

import (
	"fmt"
	"math"
	"time"
)

// Relative says how long ago (d > 0) or how far ahead (d < 0) a time is, in
// one unit: seconds under a minute, minutes under an hour, hours under two
// days, then days. The count is rounded to the nearest unit, not down: a
// task submitted with --in 2h is "in 2h" a moment later, not "in 1h"; and
// 59.6s is "1m", not "60s".
func Relative(d time.Duration) string {
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
