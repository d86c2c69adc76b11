package runner

import (
	"bytes"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"
)

// How a command's output becomes events: bytes are gathered into chunks of
// up to outputChunk bytes, and a chunk is written as one event when it is
// full, when outputFlushDelay has passed since its first byte (so `logs -f`
// sees a slow trickle promptly), and when the stream is closed.
const (
	outputChunk      = 16 << 10
	outputFlushDelay = 150 * time.Millisecond
)

// outputStream is the io.Writer behind one of an exec task's streams
// (exec.Cmd.Stdout or Stderr). Every byte goes to the tail kept for the
// result; up to a budget, bytes also go to events of the stream's kind with
// data {"text": chunk}. The concatenated texts of a stream's events are
// exactly its output (up to the budget): a chunk may hold many lines or end
// inside one. A chunk that is cut before it is full ends at its last
// newline when it has one, and never inside a UTF-8 sequence (events are
// JSON strings, which would turn half a character into U+FFFD). Past the
// budget one "warning" event says so, and output is kept only in the tail.
//
// Write, Close and Tail may be called from different goroutines; events are
// emitted in order, from Write, Close or the flush timer, never after Close
// has returned.
type outputStream struct {
	kind   string
	ev     Events
	budget int
	chunk  int
	delay  time.Duration
	tail   *tailBuffer

	mu     sync.Mutex
	buf    []byte // accepted for events, not yet emitted; never over chunk
	taken  int    // bytes accepted for events so far
	over   bool   // past the budget: events are done
	closed bool
	timer  *time.Timer
	armed  bool // the timer will fire (or is firing) for buf's bytes
}

// newOutputStream returns the stream of the given kind ("stdout" or
// "stderr"), keeping the last tailSize bytes and writing up to eventBudget
// bytes as events; an eventBudget <= 0 writes no events at all.
func newOutputStream(kind string, ev Events, tailSize, eventBudget int) *outputStream {
	return &outputStream{
		kind:   kind,
		ev:     ev,
		budget: eventBudget,
		chunk:  outputChunk,
		delay:  outputFlushDelay,
		tail:   newTail(tailSize),
		over:   eventBudget <= 0,
	}
}

func (o *outputStream) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tail.Write(p)
	n := len(p)
	if o.closed || o.over || n == 0 {
		return n, nil
	}
	past := false
	if rem := o.budget - o.taken; len(p) > rem {
		p, past = p[:rem], true
	}
	o.taken += len(p)
	for len(p) > 0 {
		if o.buf == nil {
			o.buf = make([]byte, 0, o.chunk)
		}
		k := min(len(p), o.chunk-len(o.buf))
		o.buf = append(o.buf, p[:k]...)
		p = p[k:]
		if len(o.buf) >= o.chunk {
			o.flushFull()
		}
	}
	if past {
		// A character cut by the budget is past it too.
		o.buf = o.buf[:len(o.buf)-partialRune(o.buf)]
		o.flush(false)
		o.over = true
		o.stopTimer()
		o.ev.Emit("warning", map[string]string{"message": fmt.Sprintf("%s is over %d bytes: further output is kept only as the tail in the result", o.kind, o.budget)})
		return n, nil
	}
	if len(o.buf) > 0 && !o.armed {
		o.armed = true
		if o.timer == nil {
			o.timer = time.AfterFunc(o.delay, o.onTimer)
		} else {
			o.timer.Reset(o.delay)
		}
	}
	return n, nil
}

// onTimer writes what is buffered, up to a character cut in two by the
// last write (the next write or Close completes it).
func (o *outputStream) onTimer() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = false
	if o.closed || o.over {
		return
	}
	o.flush(true)
}

// Close writes what is buffered as a last event and stops the timer. Later
// writes go to the tail only. Close may be called more than once.
func (o *outputStream) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.stopTimer()
	if !o.over {
		o.flush(false)
	}
}

// Tail is the last tailSize bytes written, marked with a leading "…" when
// earlier output was dropped.
func (o *outputStream) Tail() string { return o.tail.String() }

func (o *outputStream) stopTimer() {
	if o.timer != nil {
		o.timer.Stop()
	}
	o.armed = false
}

// flushFull emits a full buffer: up to its last newline when it has one,
// else all of it but a trailing partial character.
func (o *outputStream) flushFull() {
	cut := bytes.LastIndexByte(o.buf, '\n') + 1
	if cut == 0 {
		cut = len(o.buf) - partialRune(o.buf)
		if cut == 0 {
			cut = len(o.buf)
		}
	}
	o.emit(cut)
}

// flush emits everything buffered; keepPartial holds back a trailing
// partial character.
func (o *outputStream) flush(keepPartial bool) {
	cut := len(o.buf)
	if keepPartial {
		cut -= partialRune(o.buf)
	}
	o.emit(cut)
}

// emit writes buf[:cut] as an event and keeps the rest.
func (o *outputStream) emit(cut int) {
	if cut <= 0 {
		return
	}
	o.ev.Emit(o.kind, map[string]string{"text": string(o.buf[:cut])})
	o.buf = o.buf[:copy(o.buf, o.buf[cut:])]
}

// partialRune is how many bytes at the end of b are the start of a UTF-8
// sequence that is not complete yet (0 to 3).
func partialRune(b []byte) int {
	for i := 1; i <= min(len(b), utf8.UTFMax-1); i++ {
		if c := b[len(b)-i]; utf8.RuneStart(c) {
			if c >= utf8.RuneSelf && !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}
