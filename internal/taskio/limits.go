package taskio

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The limits of what submit accepts, the same for a single task and for
// every line of a batch. README "Limits" lists them with the exec task's
// own (runner.MaxArgBytes and the rest, which the kernel sets).
const (
	// MaxInputBytes caps a task's input JSON as given (whitespace
	// included): --input text, @file or stdin, or a batch line's "input".
	// Inputs are stored in the task row and read with every show and claim.
	MaxInputBytes = 1 << 20
	// MaxKeyBytes caps an idempotency key; keys are indexed and printed.
	MaxKeyBytes = 256
	// MaxLineBytes caps one line of --batch (without its newline): a
	// full-size input and room for the other fields.
	MaxLineBytes = MaxInputBytes + 64<<10
	// MinTimeout is the shortest task timeout: timeouts are stored in
	// whole milliseconds, and a shorter one would be stored as 0, which
	// means no limit.
	MinTimeout = time.Millisecond
)

// CheckKey checks an idempotency key: at most MaxKeyBytes of UTF-8 text
// without control characters (it is printed in notes and tables).
func CheckKey(what, key string) error { return CheckLabel(what, key) }

// CheckLabel checks a short text a person reads in tables and notes (a
// key, a name, a queue): at most MaxKeyBytes of UTF-8 without control
// characters, so that it can neither repaint a terminal nor break a row.
func CheckLabel(what, s string) error {
	if len(s) > MaxKeyBytes {
		return fmt.Errorf("%s is %d bytes; the limit is %d bytes", what, len(s), MaxKeyBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains a control character (%U)", what, r)
		}
		// Direction overrides make a text read as another (a name that
		// shows as "cleanup" but is not).
		if unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("%s contains a text-direction control (%U)", what, r)
		}
	}
	return nil
}

// CheckInputSize refuses an input over MaxInputBytes.
func CheckInputSize(what string, n int64) error {
	if n > MaxInputBytes {
		return fmt.Errorf("%s is %s", what, SizeOver(n, MaxInputBytes))
	}
	return nil
}

// SizeOver says how n compares with limit: "1.3 MiB; the limit is 1 MiB",
// or in bytes when rounding would hide the difference.
func SizeOver(n, limit int64) string {
	if s := roughSize(n); s != roughSize(limit) {
		return fmt.Sprintf("%s; the limit is %s", s, ExactSize(limit))
	}
	return fmt.Sprintf("%d bytes; the limit is %s (%d bytes)", n, ExactSize(limit), limit)
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

// ExactSize writes a limit exactly: "1 MiB", "1 MiB + 64 KiB", "256 bytes".
func ExactSize(n int64) string {
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
