package serve

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// countMaxAge is how long a listing's total is reused for the same
// filters. Counting up to CountCap costs more than the page itself, and
// a dashboard's tabs and a script's polling ask the same counts again and
// again; a total a second old is as good as a fresh one.
const countMaxAge = time.Second

// maxCachedCounts bounds the cache; it is emptied when full.
const maxCachedCounts = 1024

// countCache remembers recent capped counts by filter.
type countCache struct {
	mu sync.Mutex
	m  map[string]cachedCount
}

type cachedCount struct {
	at     time.Time
	n      int64
	capped bool
}

// count returns the capped count of f's tasks, from the cache when it is
// fresh.
func (c *countCache) count(ctx context.Context, s db.Store, f db.Filter) (int64, bool, error) {
	key := countKey(f)
	now := time.Now()
	c.mu.Lock()
	if v, ok := c.m[key]; ok && now.Sub(v.at) < countMaxAge {
		c.mu.Unlock()
		return v.n, v.capped, nil
	}
	c.mu.Unlock()
	n, capped, err := s.CountMatching(ctx, f, CountCap)
	if err != nil {
		return 0, false, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedCounts {
		c.m = map[string]cachedCount{}
	}
	c.m[key] = cachedCount{at: now, n: n, capped: capped}
	c.mu.Unlock()
	return n, capped, nil
}

// countKey names what a count depends on: the filters, not the page.
func countKey(f db.Filter) string {
	var b strings.Builder
	for _, st := range f.Statuses {
		b.WriteString(string(st) + "\x00")
	}
	b.WriteByte(1)
	for _, l := range [][]string{f.Queues, f.Types, {f.Search}} {
		for _, v := range l {
			b.WriteString(v + "\x00")
		}
		b.WriteByte(1)
	}
	if !f.Since.IsZero() {
		b.WriteString(f.Since.String())
	}
	return b.String()
}
