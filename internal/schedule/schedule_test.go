package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/schedule"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestEvery(t *testing.T) {
	t.Parallel()
	for _, bad := range []time.Duration{0, -time.Second, 999 * time.Millisecond, 1500 * time.Millisecond} {
		_, err := schedule.Every(bad)
		require.Error(t, err, bad)
	}
	sp, err := schedule.Every(15 * time.Minute)
	require.NoError(t, err)
	require.Equal(t, "every 15m", sp.String())
	// Slots on multiples since the epoch: :00, :15, :30, :45 UTC.
	require.Equal(t, utc("2026-01-02T03:15:00Z"), sp.Next(utc("2026-01-02T03:04:05Z")))
	require.Equal(t, utc("2026-01-02T03:30:00Z"), sp.Next(utc("2026-01-02T03:15:00Z")), "strictly after")
	require.Equal(t, utc("2026-01-02T03:15:00Z"), sp.Next(utc("2026-01-02T03:14:59.999Z")))
	require.Equal(t, utc("2026-01-02T03:30:00Z"), sp.Next(utc("2026-01-02T03:15:00.001Z")))
	// The latest slot in [from, now].
	from := utc("2026-01-02T03:15:00Z")
	require.Equal(t, from, sp.Latest(from, from))
	require.Equal(t, from, sp.Latest(from, utc("2026-01-02T03:29:59Z")))
	require.Equal(t, utc("2026-01-09T03:00:00Z"), sp.Latest(from, utc("2026-01-09T03:07:00Z")), "a week down: one slot")

	for d, s := range map[time.Duration]string{time.Second: "1s", 90 * time.Second: "1m30s", 2 * time.Hour: "2h",
		26 * time.Hour: "26h", 24 * time.Hour: "1d", 14 * 24 * time.Hour: "2w"} {
		require.Equal(t, s, schedule.FormatEvery(d), d)
	}
}

func TestCron(t *testing.T) {
	t.Parallel()
	for expr, msg := range map[string]string{
		"":                      "empty cron expression",
		"bad cron":              "expected 5 to 6 fields",
		"61 * * * *":            "above maximum",
		"@every 1h":             "use --every",
		"@sometimes":            "unrecognized descriptor",
		"TZ=UTC 0 * * * *":      "--tz",
		"CRON_TZ=UTC 0 * * * *": "--tz",
	} {
		_, err := schedule.Cron(expr, "UTC")
		require.ErrorContains(t, err, msg, expr)
	}
	for _, tz := range []string{"Mars/Olympus", "Local", "", "/etc/localtime"} {
		_, err := schedule.Cron("0 * * * *", tz)
		require.ErrorContains(t, err, "unknown time zone", tz)
	}

	// Five fields, minute first, in the zone given.
	sp, err := schedule.Cron("0  2 * * *", "Europe/Paris")
	require.NoError(t, err)
	require.Equal(t, "cron 0 2 * * * (Europe/Paris)", sp.String())
	require.Equal(t, utc("2026-01-03T01:00:00Z"), sp.Next(utc("2026-01-02T03:04:05Z")), "02:00 Paris is 01:00 UTC in winter")
	require.Equal(t, utc("2026-07-03T00:00:00Z"), sp.Next(utc("2026-07-02T03:04:05Z")), "and 00:00 UTC in summer")
	// Six fields, seconds first; descriptors.
	sp, err = schedule.Cron("*/10 * * * * *", "UTC")
	require.NoError(t, err)
	require.Equal(t, utc("2026-01-02T03:04:10Z"), sp.Next(utc("2026-01-02T03:04:05Z")))
	sp, err = schedule.Cron("@hourly", "UTC")
	require.NoError(t, err)
	require.Equal(t, utc("2026-01-02T04:00:00Z"), sp.Next(utc("2026-01-02T03:04:05Z")))

	// No date matches: no next slot.
	sp, err = schedule.Cron("0 0 30 2 *", "UTC")
	require.NoError(t, err)
	require.True(t, sp.Next(utc("2026-01-02T03:04:05Z")).IsZero())
}

func TestCronLatest(t *testing.T) {
	t.Parallel()
	sp, err := schedule.Cron("* * * * * *", "UTC") // every second
	require.NoError(t, err)
	from := utc("2025-01-02T03:04:05Z")
	now := utc("2026-01-02T03:04:05.5Z")
	// A year down, 31M slots: found without walking them.
	start := time.Now()
	require.Equal(t, utc("2026-01-02T03:04:05Z"), sp.Latest(from, now))
	require.Less(t, time.Since(start), 5*time.Second)

	sp, err = schedule.Cron("30 2 * * 1", "Europe/Paris") // Mondays 02:30 Paris
	require.NoError(t, err)
	from = utc("2026-01-05T01:30:00Z")
	require.Equal(t, from, sp.Latest(from, utc("2026-01-12T01:29:59Z")))
	require.Equal(t, utc("2026-03-02T01:30:00Z"), sp.Latest(from, utc("2026-03-05T00:00:00Z")))
	// The window reaching back past from: from itself.
	require.Equal(t, from, sp.Latest(from, from.Add(time.Hour)))
}

func TestPlan(t *testing.T) {
	t.Parallel()
	sc := db.Schedule{Name: "x", Every: 10 * time.Second, NextRunAt: utc("2026-01-02T03:04:10Z")}
	slot, next, err := schedule.Plan(sc, utc("2026-01-02T03:04:10Z"))
	require.NoError(t, err)
	require.Equal(t, utc("2026-01-02T03:04:10Z"), slot)
	require.Equal(t, utc("2026-01-02T03:04:20Z"), next)
	slot, next, err = schedule.Plan(sc, utc("2026-01-02T03:06:15Z"))
	require.NoError(t, err)
	require.Equal(t, utc("2026-01-02T03:06:10Z"), slot, "the latest missed slot only")
	require.Equal(t, utc("2026-01-02T03:06:20Z"), next)

	sc = db.Schedule{Name: "c", Cron: "0 0 30 2 *", TZ: "UTC", NextRunAt: utc("2026-01-02T03:04:10Z")}
	_, _, err = schedule.Plan(sc, utc("2026-01-02T03:04:10Z"))
	require.ErrorContains(t, err, "no time within five years")
	sc = db.Schedule{Name: "c", Cron: "0 * * * *", TZ: "Nowhere/Else", NextRunAt: utc("2026-01-02T03:04:10Z")}
	_, _, err = schedule.Plan(sc, utc("2026-01-02T03:04:10Z"))
	require.ErrorContains(t, err, "unknown time zone")
}

func TestLocalZone(t *testing.T) {
	t.Setenv("TZ", "America/New_York")
	tz, ok := schedule.LocalZone()
	require.True(t, ok)
	require.Equal(t, "America/New_York", tz)
	t.Setenv("TZ", ":/usr/share/zoneinfo/Asia/Tokyo")
	tz, ok = schedule.LocalZone()
	require.True(t, ok)
	require.Equal(t, "Asia/Tokyo", tz)
	t.Setenv("TZ", "")
	tz, ok = schedule.LocalZone()
	require.True(t, ok)
	require.Equal(t, "UTC", tz)
	t.Setenv("TZ", "Not/AZone")
	tz, ok = schedule.LocalZone()
	require.False(t, ok)
	require.Equal(t, "UTC", tz)
}
