package serve

import (
	"context"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// usedEvery is how often a token's last use is written: at most once a
// minute per token, so that reads stay reads.
const usedEvery = time.Minute

// lastUse remembers when each token's last use was written.
type lastUse struct {
	mu      sync.Mutex
	written map[string]time.Time
}

// mark writes a token's last use unless it was written within usedEvery.
// A failure to write it does not fail the request.
func (l *lastUse) mark(ctx context.Context, s db.Store, name string, now time.Time) {
	l.mu.Lock()
	if l.written == nil {
		l.written = map[string]time.Time{}
	}
	if at, ok := l.written[name]; ok && now.Sub(at) < usedEvery {
		l.mu.Unlock()
		return
	}
	l.written[name] = now
	l.mu.Unlock()
	_ = s.TokenUsed(ctx, name)
}
