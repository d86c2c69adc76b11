package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
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

// parseDuration accepts Go durations plus a day unit ("7d").
func parseDuration(flag, s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		// The bound keeps the product inside a Duration (about 292 years);
		// it also refuses NaN and the infinities.
		if err == nil && n >= 0 && n <= float64(math.MaxInt64)/float64(24*time.Hour) {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
		if err == nil {
			return 0, usageErrorf("%s %q is out of range", flag, s)
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usageErrorf("invalid duration %q for %s (examples: 90s, 15m, 2h, 7d)", s, flag)
	}
	if d < 0 {
		return 0, usageErrorf("%s must not be negative, got %q", flag, s)
	}
	return d, nil
}

// parseTime accepts RFC 3339 and a few shorter local forms.
func parseTime(flag, s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErrorf("invalid time %q for %s (want RFC 3339, e.g. 2026-01-02T15:04:05Z, or 2026-01-02 15:04)", s, flag)
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
	switch {
	case v == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, usageErrorf("read %s from stdin: %v", flag, err)
		}
		return b, nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, usageErrorf("read %s: %v", flag, err)
		}
		return b, nil
	}
	return []byte(v), nil
}

// parseObject checks that b is one JSON object and returns it compacted.
func parseObject(what string, b []byte) (json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty: want a JSON object", what)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s has data after the JSON object", what)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s must be a JSON object, not %s", what, jsonKind(v))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "something else"
}
