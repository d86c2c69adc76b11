package taskio

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration accepts Go durations plus day and week units ("7d", "2w").
func ParseDuration(flag, s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if !strings.HasSuffix(s, u.suffix) {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
		// The bound keeps the product inside a Duration (about 292 years);
		// it also refuses NaN and the infinities.
		if err == nil && n >= 0 && n <= float64(math.MaxInt64)/float64(u.unit) {
			return time.Duration(n * float64(u.unit)), nil
		}
		if err == nil {
			return 0, fmt.Errorf("%s %q is out of range", flag, s)
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q for %s (examples: 90s, 15m, 2h, 7d)", s, flag)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s must not be negative, got %q", flag, s)
	}
	return d, nil
}

// ParseTimeout reads a task timeout: a duration of at least MinTimeout.
func ParseTimeout(flag, s string) (time.Duration, error) {
	d, err := ParseDuration(flag, s)
	if err != nil {
		return 0, err
	}
	if d != 0 && d < MinTimeout {
		return 0, fmt.Errorf("%s must be at least 1ms (0 means no limit), got %q", flag, s)
	}
	return d, nil
}

// ParseTime accepts RFC 3339 and a few shorter local forms.
func ParseTime(flag, s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q for %s (want RFC 3339, e.g. 2026-01-02T15:04:05Z, or 2026-01-02 15:04)", s, flag)
}
