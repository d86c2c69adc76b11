package runner

import (
	"strings"
	"sync"
)

// tailBuffer keeps the last n bytes written to it: a ring buffer, so a
// Write costs O(len(p)) however much was written before. It grows to n
// bytes as output arrives, so a task that prints little costs little. It is
// safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	n   int
	buf []byte // the kept bytes; once len(buf) == n, a ring starting at start
	// start is the index of the oldest byte when the ring is full.
	start   int
	dropped bool
}

func newTail(n int) *tailBuffer { return &tailBuffer{n: max(n, 0)} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	written := len(p)
	if written == 0 {
		return 0, nil
	}
	if len(t.buf) < t.n {
		// Filling: append what fits, growing the backing array by
		// doubling but never past n.
		k := min(t.n-len(t.buf), len(p))
		if need := len(t.buf) + k; need > cap(t.buf) {
			grown := make([]byte, len(t.buf), min(t.n, max(need, 2*cap(t.buf), 512)))
			copy(grown, t.buf)
			t.buf = grown
		}
		t.buf = append(t.buf, p[:k]...)
		p = p[k:]
		if len(p) == 0 {
			return written, nil
		}
	}
	// Full (or n == 0): everything from here on pushes older bytes out.
	t.dropped = true
	if t.n == 0 {
		return written, nil
	}
	if len(p) >= t.n {
		copy(t.buf, p[len(p)-t.n:])
		t.start = 0
		return written, nil
	}
	c := copy(t.buf[t.start:], p)
	copy(t.buf, p[c:])
	t.start = (t.start + len(p)) % t.n
	return written, nil
}

// String returns the tail, marked when earlier output was dropped.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	b.Grow(len("…") + len(t.buf))
	if t.dropped {
		b.WriteString("…")
	}
	b.Write(t.buf[t.start:])
	b.Write(t.buf[:t.start])
	return b.String()
}
