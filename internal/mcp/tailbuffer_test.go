package mcp

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// lineRecorder collects the lines a TailBuffer delivers.
type lineRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *lineRecorder) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}

func (r *lineRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func TestTailBufferKeepsTail(t *testing.T) {
	t.Parallel()
	b := NewTailBuffer(5)
	_, _ = b.Write([]byte("abc"))
	require.Equal(t, "abc", b.String())
	n, err := b.Write([]byte("defgh"))
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.Equal(t, "defgh", b.String())
	_, _ = b.Write([]byte(strings.Repeat("x", 100) + "yz"))
	require.Equal(t, "xxxyz", b.String())
}

func TestTailBufferLines(t *testing.T) {
	t.Parallel()
	var rec lineRecorder
	b := NewTailBuffer(8).OnLine(rec.add)
	_, _ = b.Write([]byte("one\ntw"))
	require.Equal(t, []string{"one"}, rec.get())
	_, _ = b.Write([]byte("o\r\n\nthree"))
	require.Equal(t, []string{"one", "two", ""}, rec.get())
	// A line longer than the buffer arrives in pieces rather than being
	// held in memory whole.
	_, _ = b.Write([]byte("-and-more-text"))
	require.Equal(t, []string{"one", "two", "", "three-an", "d-more-t"}, rec.get())
	b.Flush()
	require.Equal(t, []string{"one", "two", "", "three-an", "d-more-t", "ext"}, rec.get())
	b.Flush() // nothing left to deliver
	require.Len(t, rec.get(), 6)
}

func TestTailBufferCallbackMayReadBuffer(t *testing.T) {
	t.Parallel()
	var seen []string
	var b *TailBuffer
	b = NewTailBuffer(64).OnLine(func(string) { seen = append(seen, b.String()) })
	_, _ = b.Write([]byte("a\nb\n"))
	require.Equal(t, []string{"a\nb\n", "a\nb\n"}, seen)
}

func TestTailBufferConcurrentWrites(t *testing.T) {
	t.Parallel()
	var rec lineRecorder
	b := NewTailBuffer(1 << 10).OnLine(rec.add)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				_, _ = fmt.Fprintf(b, "writer %d line %d\n", i, j)
			}
		})
	}
	wg.Wait()
	require.Len(t, rec.get(), 400)
	require.LessOrEqual(t, len(b.Bytes()), 1<<10)
}

func TestTailBufferLastLine(t *testing.T) {
	t.Parallel()
	b := NewTailBuffer(100)
	require.Empty(t, b.lastLine(10))
	_, _ = b.Write([]byte("first\nError: something went wrong\n\n"))
	require.Equal(t, "Error: something went wrong", b.lastLine(100))
	require.Equal(t, "Error: som...", b.lastLine(10))
}
