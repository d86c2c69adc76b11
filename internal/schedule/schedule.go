// Package schedule computes the slots of recurring schedules: intervals
// (--every) and cron expressions (--cron, parsed by robfig/cron) in an
// IANA time zone. The store keeps schedules and enqueues their slots;
// it asks this package, through Plan, which slot is due and which is next.
package schedule

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	// The zone database is embedded so that every runner computes the
	// same slots for a zone, also on hosts without /usr/share/zoneinfo
	// (minimal containers); the system's database is still read first.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/opsctl/opsctl/internal/db"
)

// MinEvery is the shortest interval.
const MinEvery = time.Second

// Spec is a parsed schedule: an interval or a cron expression in a zone.
type Spec struct {
	every time.Duration
	cron  *cron.SpecSchedule
	expr  string
	loc   *time.Location
}

// parser reads five fields (minute first) or six (second first), and the
// descriptors @yearly, @monthly, @weekly, @daily, @midnight and @hourly.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Every is an interval schedule: slots on multiples of d since the Unix
// epoch (so --every 15m runs at :00, :15, :30 and :45 UTC). d must be
// whole seconds, at least MinEvery.
func Every(d time.Duration) (Spec, error) {
	switch {
	case d < MinEvery:
		return Spec{}, fmt.Errorf("interval %s is under %s", d, MinEvery)
	case d%time.Second != 0:
		return Spec{}, fmt.Errorf("interval %s is not a whole number of seconds", d)
	}
	return Spec{every: d}, nil
}

// Cron parses a cron expression read in the zone tz (an IANA name such as
// Europe/Paris, or UTC).
func Cron(expr, tz string) (Spec, error) {
	loc, err := Zone(tz)
	if err != nil {
		return Spec{}, err
	}
	expr = strings.Join(strings.Fields(expr), " ")
	switch {
	case len(expr) > maxCronBytes:
		return Spec{}, fmt.Errorf("the cron expression is %d bytes; the limit is %d", len(expr), maxCronBytes)
	case expr == "":
		return Spec{}, errors.New("empty cron expression")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return Spec{}, errors.New("give the time zone with --tz, not in the expression")
	case strings.HasPrefix(expr, "@every"):
		return Spec{}, errors.New("use --every for an interval")
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return Spec{}, err
	}
	cs, ok := s.(*cron.SpecSchedule)
	if !ok {
		return Spec{}, fmt.Errorf("unsupported expression %q", expr)
	}
	cs.Location = loc
	sp := Spec{cron: cs, expr: expr, loc: loc}
	return sp, nil
}

// Zone loads an IANA zone. "Local" is refused: it would mean another zone
// on each host that runs the schedule.
func Zone(tz string) (*time.Location, error) {
	if tz == "" || tz == "Local" || strings.HasPrefix(tz, "/") {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Paris, or UTC)", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Paris, or UTC)", tz)
	}
	return loc, nil
}

// LocalZone names this machine's time zone (TZ, else /etc/localtime's
// link into a zoneinfo tree, else /etc/timezone); ok is false when it
// cannot be told, and then the zone is "UTC".
func LocalZone() (name string, ok bool) {
	if tz, set := os.LookupEnv("TZ"); set {
		tz = strings.TrimPrefix(tz, ":")
		if i := strings.Index(tz, "zoneinfo/"); i >= 0 {
			tz = tz[i+len("zoneinfo/"):]
		}
		if tz == "" {
			return "UTC", true
		}
		if _, err := Zone(tz); err == nil {
			return tz, true
		}
		return "UTC", false
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if i := strings.LastIndex(target, "zoneinfo/"); i >= 0 {
			if tz := target[i+len("zoneinfo/"):]; validZone(tz) {
				return tz, true
			}
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(b)); validZone(tz) {
			return tz, true
		}
	}
	return "UTC", false
}

func validZone(tz string) bool {
	_, err := Zone(tz)
	return err == nil
}

// FromSchedule is the spec of a stored schedule.
func FromSchedule(sc db.Schedule) (Spec, error) {
	if sc.Cron != "" {
		return Cron(sc.Cron, sc.TZ)
	}
	return Every(sc.Every)
}

// Next is the first slot strictly after t; zero when there is none (a
// cron expression that matches no date within five years, such as
// February 30th).
func (s Spec) Next(t time.Time) time.Time {
	if s.every > 0 {
		e := int64(s.every / time.Second)
		sec := t.Unix()
		return time.Unix(floorDiv(sec, e)*e+e, 0).UTC()
	}
	n := s.cron.Next(t)
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// floorDiv is a / b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Latest is the latest slot in [from, now], from being a slot at or
// before now.
func (s Spec) Latest(from, now time.Time) time.Time {
	last := from
	if s.every > 0 {
		e := int64(s.every / time.Second)
		if l := time.Unix(floorDiv(now.Unix(), e)*e, 0).UTC(); l.After(last) {
			last = l
		}
		return last
	}
	// Cron cannot be walked backwards: look for a slot in windows ending
	// at now, growing fourfold, and walk forwards from the first slot in
	// the first window that has one. The walk is over that window's
	// slots only, so a long downtime costs no more than a short one.
	for w := time.Minute; ; w *= 4 {
		start := now.Add(-w)
		if !start.After(from) {
			return s.walk(from, now)
		}
		if t := s.Next(start.Add(-time.Second)); !t.IsZero() && !t.After(now) {
			return s.walk(t, now)
		}
	}
}

// walk follows slots from t, a slot at or before now, to the last one at
// or before now.
func (s Spec) walk(t, now time.Time) time.Time {
	for {
		n := s.Next(t)
		if n.IsZero() || n.After(now) {
			return t
		}
		t = n
	}
}

// String says the spec as `schedule list` shows it: "every 1m" or
// "cron 0 2 * * * (Europe/Paris)".
func (s Spec) String() string {
	if s.every > 0 {
		return "every " + FormatEvery(s.every)
	}
	return fmt.Sprintf("cron %s (%s)", s.expr, s.loc)
}

// FormatEvery writes an interval the way it is typed: 90s, 15m, 1h30m, 1d.
func FormatEvery(d time.Duration) string {
	const day = 24 * time.Hour
	out := ""
	if d >= day && d%day == 0 {
		if d%(7*day) == 0 {
			return fmt.Sprintf("%dw", d/(7*day))
		}
		return fmt.Sprintf("%dd", d/day)
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			out += fmt.Sprintf("%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return out
}

// Plan is the db.SlotFunc of every schedule: the slot of sc to enqueue at
// now (the latest due one: missed slots are not made up) and the next.
func Plan(sc db.Schedule, now time.Time) (slot, next time.Time, err error) {
	s, err := FromSchedule(sc)
	if err != nil {
		return slot, next, err
	}
	slot = s.Latest(sc.NextRunAt, now)
	if next = s.Next(now); next.IsZero() {
		return slot, next, errors.New("the cron expression matches no time within five years")
	}
	return slot, next, nil
}

// maxCronBytes bounds a cron expression: six fields fit in far less, and
// an error must not echo megabytes back.
const maxCronBytes = 256
