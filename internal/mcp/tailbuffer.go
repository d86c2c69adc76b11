package mcp

import (
	"bytes"
	"strings"
	"sync"
)

// TailBuffer is an io.Writer that keeps only the last n bytes written to it,
// so that a chatty server's stderr costs bounded memory, and that can also
// hand each complete line to a callback as it arrives (the agent turns a
// server's stderr lines into task events this way).
//
// It is safe for concurrent use. Lines are delivered in order, one call at
// a time, from the goroutine that writes; a slow callback therefore slows
// the writer (for a stdio server: the copy of its stderr), never loses lines.
type TailBuffer struct {
	mu      sync.Mutex
	max     int
	buf     []byte       // the last max bytes
	partial []byte       // the current line, not yet ended by "\n"
	onLine  func(string) // nil when nobody listens

	// deliver serialises callbacks, so that lines from two concurrent
	// writes arrive in order; it is taken before mu is released, and the
	// callback itself runs without mu, so it may read the buffer.
	deliver sync.Mutex
}

// NewTailBuffer returns a TailBuffer that keeps the last n bytes (at least 1).
// A line longer than n is delivered to the callback in pieces of n bytes.
func NewTailBuffer(n int) *TailBuffer {
	return &TailBuffer{max: max(n, 1)}
}

// OnLine sets the function that receives each complete line, without its
// line ending, and returns b so that it can be chained after NewTailBuffer.
func (b *TailBuffer) OnLine(f func(line string)) *TailBuffer {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onLine = f
	return b
}

// Write keeps the tail of p and delivers the lines it completes. It never
// fails.
func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		// Shift down instead of reslicing, so the backing array does not
		// grow without bound over a long-lived server's lifetime.
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	var lines []string
	onLine := b.onLine
	if onLine != nil {
		lines = b.splitLines(p)
	}
	b.deliver.Lock()
	b.mu.Unlock()
	defer b.deliver.Unlock()
	for _, l := range lines {
		onLine(l)
	}
	return len(p), nil
}

// splitLines appends p to the partial line and returns the lines that are
// now complete. The caller holds mu.
func (b *TailBuffer) splitLines(p []byte) []string {
	var lines []string
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.partial = append(b.partial, p...)
			p = nil
		} else {
			b.partial = append(b.partial, p[:i]...)
			lines = append(lines, strings.TrimSuffix(string(b.partial), "\r"))
			b.partial = b.partial[:0]
			p = p[i+1:]
		}
		for len(b.partial) >= b.max {
			lines = append(lines, string(b.partial[:b.max]))
			b.partial = append(b.partial[:0], b.partial[b.max:]...)
		}
	}
	return lines
}

// Flush delivers the last line if it was not ended by a newline, as when a
// server dies in the middle of a message. Call it once the writer is done.
func (b *TailBuffer) Flush() {
	b.mu.Lock()
	onLine := b.onLine
	var line string
	if onLine != nil && len(b.partial) > 0 {
		line = strings.TrimSuffix(string(b.partial), "\r")
		b.partial = b.partial[:0]
	}
	b.deliver.Lock()
	b.mu.Unlock()
	defer b.deliver.Unlock()
	if line != "" {
		onLine(line)
	}
}

// Bytes returns a copy of the kept tail.
func (b *TailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// String returns the kept tail as text.
func (b *TailBuffer) String() string {
	return string(b.Bytes())
}

// lastLine returns the last non-empty line of the tail, shortened to limit
// bytes, for use in an error message.
func (b *TailBuffer) lastLine(limit int) string {
	text := strings.TrimRight(b.String(), "\r\n\t ")
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	text = strings.TrimSpace(text)
	if len(text) > limit {
		text = strings.ToValidUTF8(text[:limit], "") + "..."
	}
	return text
}
