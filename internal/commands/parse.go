package commands

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// parseID reads a task id argument.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usageErrorf("invalid task id %q: want a positive integer", s)
	}
	return id, nil
}

func parseIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := parseID(a)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// parseStatuses checks --status values.
func parseStatuses(vals []string) ([]db.Status, error) {
	var out []db.Status
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			s := db.Status(strings.TrimSpace(part))
			if !s.Valid() {
				return nil, usageErrorf("unknown status %q (want one of %s)", part, statusNames())
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func statusNames() string {
	var names []string
	for _, s := range db.Statuses() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// parseAt reads --at: what parseTime accepts, plus a clock time today
// ("15:04", "15:04:05"; tomorrow when that time has already passed today)
// and "tomorrow 09:00" (also "today 09:00"), all in loc.
func parseAt(flag, s string, now time.Time, loc *time.Location) (time.Time, error) {
	if t, err := parseTime(flag, s, loc); err == nil {
		return t, nil
	}
	day, clock, rel := "", strings.TrimSpace(s), false
	if d, c, ok := strings.Cut(clock, " "); ok {
		day, clock, rel = strings.ToLower(d), strings.TrimSpace(c), true
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		c, err := time.ParseInLocation(layout, clock, loc)
		if err != nil {
			continue
		}
		n := now.In(loc)
		at := func(days int) time.Time {
			return time.Date(n.Year(), n.Month(), n.Day()+days, c.Hour(), c.Minute(), c.Second(), 0, loc)
		}
		switch {
		case !rel:
			if t := at(0); t.After(n) {
				return t, nil
			}
			return at(1), nil
		case day == "today":
			return at(0), nil
		case day == "tomorrow":
			return at(1), nil
		}
	}
	return time.Time{}, usageErrorf("invalid time %q for %s (want RFC 3339, 2026-01-02 15:04, 15:04 or tomorrow 09:00)", s, flag)
}

// whenRuns says when a task whose run_after is at will run, seen at now:
// "runs in 2h, at 16:04", "runs in 20h, tomorrow at 09:00", "runs in 9d,
// at 2030-01-02 15:04", in loc; "" when it is ready now.
func whenRuns(at, now time.Time, loc *time.Location) string {
	d := at.Sub(now)
	if d < time.Second {
		return ""
	}
	a, n := at.In(loc), now.In(loc)
	// Seconds matter only for a task that runs within the minute.
	clock := a.Format("15:04:05")
	if d >= time.Minute {
		clock = a.Format("15:04")
	}
	ay, am, ad := a.Date()
	ny, nm, nd := n.Date()
	tomorrow := time.Date(ny, nm, nd+1, 0, 0, 0, 0, loc)
	ty, tm, td := tomorrow.Date()
	switch {
	case ay == ny && am == nm && ad == nd:
		clock = "at " + clock
	case ay == ty && am == tm && ad == td:
		clock = "tomorrow at " + clock
	default:
		clock = "at " + a.Format("2006-01-02 ") + clock
	}
	return fmt.Sprintf("runs in %s, %s", roughDuration(d), clock)
}

// roughDuration writes d in at most two units, rounded: "45s", "10m",
// "2h", "1h30m", "3d", "2d4h".
func roughDuration(d time.Duration) string {
	if s := d.Round(time.Second); s < time.Minute {
		return fmt.Sprintf("%ds", int64(s/time.Second))
	}
	if m := d.Round(time.Minute); m < time.Hour {
		return fmt.Sprintf("%dm", int64(m/time.Minute))
	} else if m < 48*time.Hour {
		h, rest := int64(m/time.Hour), int64(m%time.Hour/time.Minute)
		if rest == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, rest)
	}
	h := int64(d.Round(time.Hour) / time.Hour)
	if h%24 == 0 {
		return fmt.Sprintf("%dd", h/24)
	}
	return fmt.Sprintf("%dd%dh", h/24, h%24)
}

// parseSince takes a duration back from now ("1h") or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := parseDuration("--since", s); err == nil {
		return now.Add(-d), nil
	}
	t, err := parseTime("--since", s, time.Local)
	if err != nil {
		return time.Time{}, usageErrorf("invalid --since %q: want a duration (1h, 7d) or a time (RFC 3339)", s)
	}
	return t, nil
}

// readArg resolves a value given as text, @file or - (stdin).
func readArg(flag, v string, stdin io.Reader) ([]byte, error) {
	return readArgLimit(flag, v, stdin, -1)
}

// readArgLimit is readArg refusing a value over limit bytes (-1: none). It
// keeps at most limit+1 bytes; the rest is read only to say how long the
// value was.
func readArgLimit(flag, v string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader
	from := ""
	switch {
	case v == "-":
		r, from = stdin, " from stdin"
	case strings.HasPrefix(v, "@"):
		f, err := os.Open(v[1:])
		if err != nil {
			return nil, usageErrorf("read %s: %v", flag, err)
		}
		defer f.Close()
		r = f
	default:
		r = strings.NewReader(v)
	}
	lr := r
	if limit >= 0 {
		lr = io.LimitReader(r, limit+1)
	}
	b, err := io.ReadAll(lr)
	if err == nil && limit >= 0 && int64(len(b)) > limit {
		var rest int64
		if rest, err = io.Copy(io.Discard, r); err == nil {
			return nil, usageErrorf("%s is %s", flag, taskio.SizeOver(int64(len(b))+rest, limit))
		}
	}
	if err != nil {
		return nil, usageErrorf("read %s%s: %v", flag, from, err)
	}
	return b, nil
}

// parseDuration accepts Go durations plus day and week units ("7d", "2w").
func parseDuration(flag, s string) (time.Duration, error) {
	d, err := taskio.ParseDuration(flag, s)
	if err != nil {
		return 0, usageErr(err)
	}
	return d, nil
}

// parseTimeout reads a task timeout: a duration of at least 1ms, or 0.
func parseTimeout(flag, s string) (time.Duration, error) {
	d, err := taskio.ParseTimeout(flag, s)
	if err != nil {
		return 0, usageErr(err)
	}
	return d, nil
}

// parseTime accepts RFC 3339 and a few shorter local forms.
func parseTime(flag, s string, loc *time.Location) (time.Time, error) {
	t, err := taskio.ParseTime(flag, s, loc)
	if err != nil {
		return time.Time{}, usageErr(err)
	}
	return t, nil
}
