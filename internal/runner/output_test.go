package runner

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// recEvents records what a stream emits.
type recEvents struct {
	mu  sync.Mutex
	evs []recEvent
}

type recEvent struct {
	kind string
	data map[string]string
}

func (r *recEvents) Emit(kind string, data any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, recEvent{kind, data.(map[string]string)})
}

func (r *recEvents) all() []recEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recEvent(nil), r.evs...)
}

// text concatenates the texts of the events of kind.
func (r *recEvents) text(kind string) string {
	var b strings.Builder
	for _, e := range r.all() {
		if e.kind == kind {
			b.WriteString(e.data["text"])
		}
	}
	return b.String()
}

func (r *recEvents) count(kind string) int {
	n := 0
	for _, e := range r.all() {
		if e.kind == kind {
			n++
		}
	}
	return n
}

func overWarning(kind string, budget int) string {
	return fmt.Sprintf("%s is over %d bytes: further output is kept only as the tail in the result", kind, budget)
}

// 1 MiB of 2-byte lines was 524288 events when every line was one; now it is
// about 1 MiB / chunk, each ending at a line end, and nothing is lost.
func TestOutputCoalescesShortLines(t *testing.T) {
	t.Parallel()
	for _, size := range []int{2, 4096} {
		t.Run(fmt.Sprintf("write=%dB", size), func(t *testing.T) {
			t.Parallel()
			ev := &recEvents{}
			o := newOutputStream("stdout", ev, 64<<10, 2<<20)
			input := bytes.Repeat([]byte("y\n"), 1<<19)
			for p := input; len(p) > 0; p = p[min(size, len(p)):] {
				o.Write(p[:min(size, len(p))])
			}
			o.Close()
			require.Equal(t, string(input), ev.text("stdout"))
			n := ev.count("stdout")
			// 64 full chunks, plus whatever the timer flushed early if
			// this machine is slow.
			require.GreaterOrEqual(t, n, len(input)/outputChunk)
			require.LessOrEqual(t, n, 2*len(input)/outputChunk+20, "events for 1 MiB of 2-byte lines")
			for _, e := range ev.all() {
				require.Equal(t, "stdout", e.kind)
				require.LessOrEqual(t, len(e.data["text"]), outputChunk)
			}
			require.Equal(t, "…"+string(input[len(input)-64<<10:]), o.Tail())
		})
	}
}

// randomOutput is n bytes of lines of random lengths, with multi-byte
// characters, so chunk cuts land everywhere.
func randomOutput(rng *rand.Rand, n int) []byte {
	pieces := []string{"a", "bc", "é", "€", "😀", "\n", "\n", "\t", "xyz "}
	var b bytes.Buffer
	for b.Len() < n {
		if rng.IntN(50) == 0 {
			b.WriteString(strings.Repeat("L", rng.IntN(3*outputChunk))) // a long line
		}
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.Bytes()[:n]
}

// The events' texts concatenate to the input exactly, up to the budget;
// past it there is one warning and the tail still has every byte.
func TestOutputConcatenatesToInput(t *testing.T) {
	t.Parallel()
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 7))
			input := randomOutput(rng, rng.IntN(200<<10))
			budget := 1 + rng.IntN(len(input)+len(input)/2+1)
			ev := &recEvents{}
			o := newOutputStream("stderr", ev, 1<<20, budget)
			if seed%2 == 0 {
				o.delay = time.Millisecond // the timer flushes often
			}
			for p := input; len(p) > 0; {
				k := min(len(p), rng.IntN(3*outputChunk)+1)
				if rng.IntN(3) == 0 {
					k = min(len(p), rng.IntN(4)+1)
				}
				w, err := o.Write(p[:k])
				require.NoError(t, err)
				require.Equal(t, k, w)
				p = p[k:]
			}
			o.Close()
			got := ev.text("stderr")
			require.LessOrEqual(t, len(got), budget)
			require.Equal(t, string(input[:len(got)]), got, "the events are a prefix of the input")
			var warnings []string
			for _, e := range ev.all() {
				if e.kind == "warning" {
					warnings = append(warnings, e.data["message"])
					continue
				}
				require.LessOrEqual(t, len(e.data["text"]), outputChunk)
				require.True(t, utf8.ValidString(e.data["text"]), "a chunk cut a character in two")
			}
			if len(input) > budget {
				require.Equal(t, []string{overWarning("stderr", budget)}, warnings)
				require.GreaterOrEqual(t, len(got), budget-(utf8.UTFMax-1), "all of the budget is used")
				require.Equal(t, "warning", ev.all()[len(ev.all())-1].kind, "no output events after the warning")
			} else {
				require.Empty(t, warnings)
				require.Equal(t, string(input), got)
			}
			require.Equal(t, string(input), o.Tail())
		})
	}
}

// A command that prints a little now and then is seen by `logs -f` without
// waiting for a full chunk or the end.
func TestOutputFlushesSlowTrickle(t *testing.T) {
	t.Parallel()
	ev := &recEvents{}
	o := newOutputStream("stdout", ev, 1024, 1<<20)
	defer o.Close()
	waitText := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for ev.text("stdout") != want {
			if time.Now().After(deadline) {
				t.Fatalf("stdout events %q, want %q, without Close", ev.text("stdout"), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	o.Write([]byte("step 1 ..."))
	waitText("step 1 ...")
	o.Write([]byte(" done\n"))
	waitText("step 1 ... done\n")
	// Half a character waits for the rest of it.
	o.Write([]byte("€"[:1]))
	time.Sleep(2 * o.delay)
	o.Write([]byte("€"[1:]))
	waitText("step 1 ... done\n€")
	for _, e := range ev.all() {
		require.True(t, utf8.ValidString(e.data["text"]))
	}
}

func TestOutputCloseFlushesPartialLine(t *testing.T) {
	t.Parallel()
	ev := &recEvents{}
	o := newOutputStream("stdout", ev, 1024, 1<<20)
	o.delay = time.Hour
	o.Write([]byte("a\nb\n"))
	o.Write([]byte("c"))
	require.Empty(t, ev.all(), "a small chunk waits for the timer or Close")
	o.Close()
	require.Equal(t, []recEvent{{"stdout", map[string]string{"text": "a\nb\nc"}}}, ev.all())
	o.Close()
	o.Write([]byte("late"))
	require.Len(t, ev.all(), 1, "Close is idempotent; later writes are not events")
	require.Equal(t, "a\nb\nclate", o.Tail())
}

// After Close returns, the timer emits nothing: the task's outcome is stored
// after its output.
func TestOutputNoEventsAfterClose(t *testing.T) {
	t.Parallel()
	for range 50 {
		ev := &recEvents{}
		o := newOutputStream("stdout", ev, 1024, 1<<20)
		o.delay = time.Microsecond
		o.Write([]byte("x"))
		o.Close()
		n := len(ev.all())
		time.Sleep(time.Millisecond)
		require.Len(t, ev.all(), n)
		require.Equal(t, "x", ev.text("stdout"))
	}
}

func TestOutputBudget(t *testing.T) {
	t.Parallel()
	ev := &recEvents{}
	o := newOutputStream("stdout", ev, 8, 10)
	o.delay = time.Hour
	o.Write([]byte("0123456789")) // exactly the budget: not over it
	o.Write(nil)
	require.Empty(t, ev.all())
	o.Write([]byte("abc"))
	o.Write([]byte("def"))
	o.Close()
	require.Equal(t, []recEvent{
		{"stdout", map[string]string{"text": "0123456789"}},
		{"warning", map[string]string{"message": overWarning("stdout", 10)}},
	}, ev.all())
	require.Equal(t, "…89abcdef", o.Tail())

	// Exactly the budget and no more: no warning.
	ev = &recEvents{}
	o = newOutputStream("stdout", ev, 8, 4)
	o.Write([]byte("ab\n"))
	o.Write([]byte("c"))
	o.Close()
	require.Equal(t, []recEvent{{"stdout", map[string]string{"text": "ab\nc"}}}, ev.all())

	// No budget: no events.
	ev = &recEvents{}
	o = newOutputStream("stdout", ev, 8, 0)
	o.Write([]byte("abc"))
	o.Close()
	require.Empty(t, ev.all())
	require.Equal(t, "abc", o.Tail())
}

// A full chunk is cut after its last newline; a line longer than a chunk is
// split, but never inside a character.
func TestOutputChunkCuts(t *testing.T) {
	t.Parallel()
	ev := &recEvents{}
	o := newOutputStream("stdout", ev, 1024, 1<<20)
	o.chunk, o.delay = 8, time.Hour
	o.Write([]byte("abc\ndefgh\nij"))
	o.Write([]byte("x€€€"))
	o.Close()
	var texts []string
	for _, e := range ev.all() {
		texts = append(texts, e.data["text"])
	}
	require.Equal(t, []string{"abc\n", "defgh\n", "ijx€", "€€"}, texts)
}

// Writes, Tail and the timer at once (run with -race).
func TestOutputConcurrent(t *testing.T) {
	t.Parallel()
	ev := &recEvents{}
	o := newOutputStream("stdout", ev, 4096, 1<<30)
	o.delay = 50 * time.Microsecond
	var want bytes.Buffer
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = o.Tail()
			}
		}
	})
	for i := range 3000 {
		p := fmt.Appendf(nil, "line %d\n", i)
		if i%7 == 0 {
			p = p[:len(p)-1]
		}
		want.Write(p)
		o.Write(p)
		if i%100 == 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	o.Close()
	close(stop)
	wg.Wait()
	require.Equal(t, want.String(), ev.text("stdout"))
}
