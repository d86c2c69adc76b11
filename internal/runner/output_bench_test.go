package runner

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

type discardEvents struct{}

func (discardEvents) Emit(string, any) {}

// marshalEvents costs what the runner's Events costs before the store: the
// JSON encoding of each event.
type marshalEvents struct{}

func (marshalEvents) Emit(_ string, data any) { json.Marshal(data) }

// BenchmarkOutputStream writes 200 MB (`yes | head -c 200000000`) in 4 KiB
// writes, as os/exec's copy does from a pipe, and closes the stream. One op
// is the whole 200 MB.
//
//	go test -run '^$' -bench BenchmarkOutputStream -count 5 ./internal/runner/
func BenchmarkOutputStream(b *testing.B) {
	const total, write = 200_000_000, 4096
	p := bytes.Repeat([]byte("y\n"), write/2)
	for _, bc := range []struct {
		name   string
		ev     Events
		budget int
	}{
		{"budget=1MiB", discardEvents{}, 1 << 20}, // the default: past 1 MiB only the tail
		{"budget=all", discardEvents{}, math.MaxInt},
		{"budget=all/json", marshalEvents{}, math.MaxInt},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				o := newOutputStream("stdout", bc.ev, 64<<10, bc.budget)
				for n := 0; n < total; n += write {
					o.Write(p[:min(write, total-n)])
				}
				o.Close()
			}
		})
	}
}
