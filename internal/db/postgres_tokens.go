package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func scanPGToken(r rowScanner) (Token, error) {
	var t Token
	var expires, used *time.Time
	if err := r.Scan(&t.Name, &t.Hash, &t.Scope, &t.CreatedAt, &expires, &used); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt = pgTime(t.CreatedAt), pgNullTime(expires), pgNullTime(used)
	return t, nil
}

// CreateToken stores t; ErrTokenExists when its name is taken. A zero
// CreatedAt means now.
func (s *Postgres) CreateToken(ctx context.Context, t Token) error {
	if err := checkToken(t); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, pgSQL(`INSERT INTO tokens (`+tokenColumns+`)
		VALUES ($2, $3, $4, coalesce($5, NOW), $6, $7) ON CONFLICT (name) DO NOTHING`),
		s.clock(), pgText(t.Name), t.Hash, string(t.Scope),
		pgTimeOrNull(t.CreatedAt), pgTimeOrNull(t.ExpiresAt), pgTimeOrNull(t.LastUsedAt))
	if err != nil {
		return s.classify(fmt.Errorf("create token %q: %w", t.Name, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("create token %q: %w", t.Name, ErrTokenExists)
	}
	return nil
}

// Tokens lists the tokens, oldest first.
func (s *Postgres) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, name`)
	if err != nil {
		return nil, s.classify(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) { return scanPGToken(r) })
	return ts, s.classify(err)
}

// RevokeToken deletes the named token; a *TokenNotFoundError when there is
// none.
func (s *Postgres) RevokeToken(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE name = $1`, pgText(name))
	if err != nil {
		return s.classify(err)
	}
	if tag.RowsAffected() == 0 {
		return &TokenNotFoundError{Name: name}
	}
	return nil
}

// TokenByHash finds the token whose hash is hash; an error wrapping
// ErrNotFound when there is none.
func (s *Postgres) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanPGToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, errNoTokenHash
	}
	return t, s.classify(err)
}

// TokenUsed sets the named token's last use to now; a *TokenNotFoundError
// when it is gone (revoked meanwhile).
func (s *Postgres) TokenUsed(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, pgSQL(`UPDATE tokens SET last_used_at = NOW WHERE name = $2`), s.clock(), pgText(name))
	if err != nil {
		return s.classify(err)
	}
	if tag.RowsAffected() == 0 {
		return &TokenNotFoundError{Name: name}
	}
	return nil
}
