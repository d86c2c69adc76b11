package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake listens for submits on one connection of its own, outside the pool
// (a LISTEN holds its connection), and signals the returned channel for
// each notification; several that arrive together make one signal. A lost
// connection is made again after a pause, with a signal then, since a
// notification may have been missed. With PollOnly (PgBouncer in
// transaction mode) it returns a nil channel: the runner polls.
func (s *Postgres) Wake(ctx context.Context) (<-chan struct{}, error) {
	if s.pollOnly {
		return nil, nil
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return nil, s.classify(err)
	}
	ch := make(chan struct{}, 1)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(ch)
		for {
			for conn != nil {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					conn.Close(context.WithoutCancel(ctx))
					conn = nil
					break
				}
				signal()
			}
			if ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			if c, err := s.listen(ctx); err == nil {
				conn = c
				signal()
			}
		}
	}()
	return ch, nil
}

// listen opens a connection and listens on readyChannel.
func (s *Postgres) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+readyChannel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}
