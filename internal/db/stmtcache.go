package db

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements for the small queries a runner
// repeats: the idle poll, claims, outcomes, status events. Parsing such a
// statement costs more than running it, and an idle runner's poll is
// mostly its parse. Only statements whose text does not depend on data
// belong here (it may vary with the number of queues or types), and the
// cache is bounded so a caller that breaks that rule cannot grow it
// without end.
type stmtCache struct {
	mu sync.Mutex
	m  map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	pool *sql.DB
	q    string
}

// maxCachedStmts bounds the cache; past it statements are prepared for one
// use.
const maxCachedStmts = 64

// get returns q prepared on pool p and a func to call when done with it.
// It must not be called inside a transaction on p's only connection:
// preparing on the pool would wait for that connection.
func (c *stmtCache) get(ctx context.Context, p *sql.DB, q string) (*sql.Stmt, func(), error) {
	k := stmtKey{p, q}
	c.mu.Lock()
	st, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return st, func() {}, nil
	}
	st, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		st.Close()
		return old, func() {}, nil
	}
	if len(c.m) >= maxCachedStmts {
		return st, func() { st.Close() }, nil
	}
	if c.m == nil {
		c.m = map[stmtKey]*sql.Stmt{}
	}
	c.m[k] = st
	return st, func() {}, nil
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.m {
		st.Close()
		delete(c.m, k)
	}
}
