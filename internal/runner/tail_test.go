package runner

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// naiveTail is the obvious tail: keep everything, cut when asked.
type naiveTail struct {
	n   int
	all []byte
}

func (t *naiveTail) Write(p []byte) { t.all = append(t.all, p...) }

func (t *naiveTail) String() string {
	if len(t.all) > t.n {
		return "…" + string(t.all[len(t.all)-t.n:])
	}
	return string(t.all)
}

// The ring buffer must agree with the naive tail after every write, for
// random write sizes from empty to several times n.
func TestTailMatchesNaive(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 7, 64, 1000, 4096} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, uint64(n)))
				got, want := newTail(n), &naiveTail{n: n}
				var next byte
				for i := range 200 {
					var size int
					switch rng.IntN(4) {
					case 0:
						size = rng.IntN(3) // empty and tiny writes
					case 1:
						size = rng.IntN(n + 1)
					case 2:
						size = n + rng.IntN(n+2) // larger than n
					default:
						size = rng.IntN(3*n + 3)
					}
					p := make([]byte, size)
					for j := range p {
						p[j] = 'a' + next%26
						next++
					}
					w, err := got.Write(p)
					require.NoError(t, err)
					require.Equal(t, size, w)
					want.Write(p)
					require.Equal(t, want.String(), got.String(), "seed %d, write %d (size %d)", seed, i, size)
				}
			}
		})
	}
}

func TestTailBasics(t *testing.T) {
	t.Parallel()
	tb := newTail(5)
	require.Equal(t, "", tb.String())
	tb.Write([]byte("abc"))
	require.Equal(t, "abc", tb.String())
	tb.Write([]byte("de"))
	require.Equal(t, "abcde", tb.String(), "exactly n bytes: nothing dropped")
	tb.Write(nil)
	require.Equal(t, "abcde", tb.String())
	tb.Write([]byte("f"))
	require.Equal(t, "…bcdef", tb.String())
	tb.Write([]byte("0123456789"))
	require.Equal(t, "…56789", tb.String())

	zero := newTail(0)
	zero.Write(nil)
	require.Equal(t, "", zero.String())
	zero.Write([]byte("x"))
	require.Equal(t, "…", zero.String())
}

// Concurrent writers and readers (run under -race): every write is kept
// whole and in some order, and the tail never exceeds n bytes.
func TestTailConcurrent(t *testing.T) {
	t.Parallel()
	const n = 100
	tb := newTail(n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			p := bytes.Repeat([]byte{byte('a' + g)}, 10)
			for range 1000 {
				tb.Write(p)
			}
		})
	}
	wg.Go(func() {
		for range 1000 {
			if s := tb.String(); len(s) > n+len("…") {
				t.Errorf("tail of %d bytes, want at most %d", len(s), n+len("…"))
			}
		}
	})
	wg.Wait()
	s := tb.String()
	require.Equal(t, "…", s[:len("…")])
	s = s[len("…"):]
	require.Len(t, s, n)
	for i := 0; i < n; i += 10 {
		require.Equal(t, bytes.Repeat([]byte{s[i]}, 10), []byte(s[i:i+10]), "writes are not interleaved")
	}
}

// BenchmarkTail writes through a 64 KiB tail: 2-byte writes (what the
// line-by-line pump did with `yes`) and 4 KiB writes (what os/exec's copy
// does with a pipe).
func BenchmarkTail(b *testing.B) {
	for _, size := range []int{2, 4096} {
		p := bytes.Repeat([]byte("y\n"), size/2)
		b.Run(fmt.Sprintf("write=%dB", size), func(b *testing.B) {
			tb := newTail(64 * 1024)
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				tb.Write(p)
			}
		})
	}
}
