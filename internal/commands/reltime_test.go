package commands

import (
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/taskio"
	"github.com/stretchr/testify/require"
)

func TestRelative(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{400 * time.Millisecond, "just now"},
		{-400 * time.Millisecond, "now"},
		{700 * time.Millisecond, "1s ago"},
		{45 * time.Second, "45s ago"},
		{59*time.Second + 600*time.Millisecond, "1m ago"}, // not "60s"
		{89 * time.Second, "1m ago"},
		{90 * time.Second, "2m ago"},
		{5*time.Minute + 40*time.Second, "6m ago"}, // nearest, not down
		{59*time.Minute + 40*time.Second, "1h ago"},
		{90 * time.Minute, "2h ago"},
		{47*time.Hour + 40*time.Minute, "2d ago"},
		{36 * time.Hour, "36h ago"},
		{10 * 24 * time.Hour, "10d ago"},
		// --in 2h, a moment after submitting.
		{-(2*time.Hour - 50*time.Millisecond), "in 2h"},
		{-(2*time.Hour - 3*time.Second), "in 2h"},
		{-(90*time.Minute - time.Second), "in 1h"},
		{-90 * time.Minute, "in 2h"},
		{-30 * time.Second, "in 30s"},
		{-3 * 24 * time.Hour, "in 3d"},
	} {
		require.Equal(t, c.want, taskio.Relative(c.d), "taskio.Relative(%s)", c.d)
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 14, 8, 11, 0, time.UTC)
	at := now.Add(-5 * time.Minute)
	require.Equal(t, "2026-11-28T14:03:11Z", formatTime(at, now, false))
	require.Equal(t, "5m ago", formatTime(at, now, true))
	require.Equal(t, "-", formatTime(time.Time{}, now, true))
	require.Equal(t, "2026-11-28T14:03:11Z", formatTimeLong(at, now, false))
	require.Equal(t, at.Local().Format("2006-01-02 15:04:05")+" (5m ago)", formatTimeLong(at, now, true))
	require.Equal(t, at.Local().Format("2006-01-02 15:04:05")+" (in 5m)", formatTimeLong(at, now.Add(-10*time.Minute), true))
}
