package commands

import (
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/taskio"
	"github.com/stretchr/testify/require"
)

func TestParseAt(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2030, 3, 10, 14, 30, 0, 0, loc)
	day := func(d, h, m, s int) time.Time { return time.Date(2030, 3, d, h, m, s, 0, loc) }
	tests := []struct {
		in   string
		want time.Time
	}{
		{"15:04", day(10, 15, 4, 0)},
		{"14:30", day(11, 14, 30, 0)}, // now is not ahead: tomorrow
		{"09:00", day(11, 9, 0, 0)},
		{"23:59:59", day(10, 23, 59, 59)},
		{"tomorrow 09:00", day(11, 9, 0, 0)},
		{"Tomorrow  09:00:30", day(11, 9, 0, 30)},
		{"today 09:00", day(10, 9, 0, 0)},
		{"2030-04-01 08:00", time.Date(2030, 4, 1, 8, 0, 0, 0, loc)},
		{"2030-04-01T08:00:00Z", time.Date(2030, 4, 1, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseAt("--at", tt.in, now, loc)
		require.NoError(t, err, tt.in)
		require.True(t, tt.want.Equal(got), "%s: got %s, want %s", tt.in, got, tt.want)
	}
	// The last day of a month rolls over.
	got, err := parseAt("--at", "tomorrow 01:00", time.Date(2030, 3, 31, 12, 0, 0, 0, loc), loc)
	require.NoError(t, err)
	require.True(t, time.Date(2030, 4, 1, 1, 0, 0, 0, loc).Equal(got))
	for _, bad := range []string{"tomorrow", "25:00", "yesterday 09:00", "9", "tomorrow 9am", ""} {
		_, err := parseAt("--at", bad, now, loc)
		require.EqualError(t, err, `invalid time "`+bad+`" for --at (want RFC 3339, 2026-01-02 15:04, 15:04 or tomorrow 09:00)`)
		require.Equal(t, ExitUsage, exitCode(err))
	}
}

func TestParseDurationWeeks(t *testing.T) {
	t.Parallel()
	d, err := parseDuration("--in", "2w")
	require.NoError(t, err)
	require.Equal(t, 14*24*time.Hour, d)
	d, err = parseDuration("--in", "0.5w")
	require.NoError(t, err)
	require.Equal(t, 84*time.Hour, d)
	_, err = parseDuration("--in", "1e6w")
	require.EqualError(t, err, `--in "1e6w" is out of range`)
	_, err = parseDuration("--in", "-1w")
	require.Error(t, err)
}

func TestWhenRuns(t *testing.T) {
	t.Parallel()
	loc := time.UTC
	now := time.Date(2030, 3, 10, 14, 4, 30, 0, loc)
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, ""},
		{-time.Hour, ""},
		{500 * time.Millisecond, ""},
		{30 * time.Second, "runs in 30s, at 14:05:00"},
		{90 * time.Second, "runs in 2m, at 14:06"},
		{2 * time.Hour, "runs in 2h, at 16:04"},
		{90 * time.Minute, "runs in 1h30m, at 15:34"},
		{10 * time.Hour, "runs in 10h, tomorrow at 00:04"},
		{14 * 24 * time.Hour, "runs in 14d, at 2030-03-24 14:04"},
		{50 * time.Hour, "runs in 2d2h, at 2030-03-12 16:04"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, whenRuns(now.Add(tt.in), now, loc), tt.in)
	}
}

func TestJSONObjectKeepsOrder(t *testing.T) {
	t.Parallel()
	in, err := taskio.DecodeObject([]byte(`{"shell":"a && b < c","env":{"B":"1","A":"2"},"n":1.50}`))
	require.NoError(t, err)
	in.Set("dir", "/x&y")
	env, err := taskio.DecodeObject(mustGet(t, in, "env"))
	require.NoError(t, err)
	env.Set("A", "3")
	env.Set("C", "4")
	in.SetRaw("env", env.Encode())
	require.Equal(t, `{"shell":"a && b < c","env":{"B":"1","A":"3","C":"4"},"n":1.50,"dir":"/x&y"}`, string(in.Encode()))
	require.Equal(t, "exec", taskio.InferType(in))
	require.True(t, taskio.SameJSON([]byte(`{"a":[1,2],"b":{"c":"d"}}`), []byte(` {"b":{"c":"d"}, "a":[1, 2]}`)))
	require.False(t, taskio.SameJSON([]byte(`{"a":1}`), []byte(`{"a":1.0}`)))
}

func mustGet(t *testing.T, o taskio.Object, key string) []byte {
	t.Helper()
	v, ok := o.Get(key)
	require.True(t, ok, key)
	return v
}
