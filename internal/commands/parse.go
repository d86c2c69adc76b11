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
	"unicode"
	"unicode/utf8"

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

// parseDuration accepts Go durations plus day and week units ("7d", "2w").
func parseDuration(flag, s string) (time.Duration, error) {
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

// The limits of what submit accepts, the same for a single task and for
// every line of a batch. README "Limits" lists them with the exec task's
// own (runner.MaxArgBytes and the rest, which the kernel sets).
const (
	// maxInputBytes caps a task's input JSON as given (whitespace
	// included): --input text, @file or stdin, or a batch line's "input".
	// Inputs are stored in the task row and read with every show and claim.
	maxInputBytes = 1 << 20
	// maxKeyBytes caps an idempotency key; keys are indexed and printed.
	maxKeyBytes = 256
	// maxBatchLineBytes caps one line of --batch (without its newline): a
	// full-size input and room for the other fields.
	maxBatchLineBytes = maxInputBytes + 64<<10
	// batchTxTasks is how many tasks of a batch are stored per
	// transaction: a transaction holds the SQLite write lock, and one
	// that holds it for seconds lets other runners' leases expire.
	// Batches up to this size are all or nothing.
	batchTxTasks = 10_000
	// minTimeout is the shortest task timeout: timeouts are stored in
	// whole milliseconds, and a shorter one would be stored as 0, which
	// means no limit.
	minTimeout = time.Millisecond
)

// parseTimeout reads a task timeout: a duration of at least minTimeout.
func parseTimeout(flag, s string) (time.Duration, error) {
	d, err := parseDuration(flag, s)
	if err != nil {
		return 0, err
	}
	if d != 0 && d < minTimeout {
		return 0, usageErrorf("%s must be at least 1ms (0 means no limit), got %q", flag, s)
	}
	return d, nil
}

// checkKey checks an idempotency key: at most maxKeyBytes of UTF-8 text
// without control characters (it is printed in notes and tables).
func checkKey(what, key string) error { return checkLabel(what, key) }

// checkLabel checks a short text a person reads in tables and notes (a
// key, a name, a queue): at most maxKeyBytes of UTF-8 without control
// characters, so that it can neither repaint a terminal nor break a row.
func checkLabel(what, s string) error {
	if len(s) > maxKeyBytes {
		return fmt.Errorf("%s is %d bytes; the limit is %d bytes", what, len(s), maxKeyBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains a control character (%U)", what, r)
		}
	}
	return nil
}

// checkInputSize refuses an input over maxInputBytes.
func checkInputSize(what string, n int64) error {
	if n > maxInputBytes {
		return fmt.Errorf("%s is %s", what, sizeOver(n, maxInputBytes))
	}
	return nil
}

// sizeOver says how n compares with limit: "1.3 MiB; the limit is 1 MiB",
// or in bytes when rounding would hide the difference.
func sizeOver(n, limit int64) string {
	if s := roughSize(n); s != roughSize(limit) {
		return fmt.Sprintf("%s; the limit is %s", s, exactSize(limit))
	}
	return fmt.Sprintf("%d bytes; the limit is %s (%d bytes)", n, exactSize(limit), limit)
}

// roughSize is n in the largest binary unit it fills, to one decimal.
func roughSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// exactSize writes a limit exactly: "1 MiB", "1 MiB + 64 KiB", "256 bytes".
func exactSize(n int64) string {
	var parts []string
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size {
			parts = append(parts, fmt.Sprintf("%d %s", n/u.size, u.name))
			n %= u.size
		}
	}
	if n > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d bytes", n))
	}
	return strings.Join(parts, " + ")
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
			return nil, usageErrorf("%s is %s", flag, sizeOver(int64(len(b))+rest, limit))
		}
	}
	if err != nil {
		return nil, usageErrorf("read %s%s: %v", flag, from, err)
	}
	return b, nil
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

// jsonObject is a JSON object's members in the order written, so that
// submit can add to an input without reordering what the user wrote.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value json.RawMessage
}

// decodeObject splits a JSON object into its members.
func decodeObject(raw json.RawMessage) (jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out jsonObject
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, jsonMember{key, v})
	}
	return out, nil
}

// get returns the value of key (the last, if it is given twice, as
// encoding/json reads it).
func (o jsonObject) get(key string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].key == key {
			return o[i].value, true
		}
	}
	return nil, false
}

// set gives key the value v, in place of every earlier value, or as a new
// last member.
func (o *jsonObject) set(key string, v any) {
	o.setRaw(key, marshalPlain(v))
}

func (o *jsonObject) setRaw(key string, v json.RawMessage) {
	found := false
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value, found = v, true
		}
	}
	if !found {
		*o = append(*o, jsonMember{key, v})
	}
}

// encode writes the object compactly, members in order.
func (o jsonObject) encode() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshalPlain(m.key))
		b.WriteByte(':')
		if err := json.Compact(&b, m.value); err != nil {
			b.Write(m.value)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// marshalPlain is json.Marshal without escaping <, > and &, which are
// common in commands and would be stored as \u003c and the like.
func marshalPlain(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage("null")
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
