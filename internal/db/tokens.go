package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
)

// checkToken refuses a token the tokens table would refuse, saying why in
// words rather than as a constraint's name.
func checkToken(t Token) error {
	switch {
	case t.Name == "":
		return errors.New("create token: no name")
	case len(t.Hash) != sha256.Size:
		return fmt.Errorf("create token %q: the hash is %d bytes, not a SHA-256 (%d)", t.Name, len(t.Hash), sha256.Size)
	case !t.Scope.Valid():
		return fmt.Errorf("create token %q: unknown scope %q (read, write or admin)", t.Name, t.Scope)
	}
	return nil
}

// errNoTokenHash is TokenByHash's answer when no token has the hash.
var errNoTokenHash = fmt.Errorf("no token has that hash: %w", ErrNotFound)

const tokenColumns = `name, hash, scope, created_at, expires_at, last_used_at`

func scanToken(r rowScanner) (Token, error) {
	var t Token
	var created int64
	var expires, used sql.NullInt64
	if err := r.Scan(&t.Name, &t.Hash, &t.Scope, &created, &expires, &used); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt = fromMS(created), fromNullMS(expires), fromNullMS(used)
	return t, nil
}

// CreateToken stores t; ErrTokenExists when its name is taken. A zero
// CreatedAt means now.
func (s *SQLite) CreateToken(ctx context.Context, t Token) error {
	if err := checkToken(t); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		created := t.CreatedAt
		if created.IsZero() {
			created = s.now()
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`,
			t.Name, t.Hash, string(t.Scope), ms(created), nullMS(t.ExpiresAt), nullMS(t.LastUsedAt))
		if err != nil {
			return fmt.Errorf("create token %q: %w", t.Name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("create token %q: %w", t.Name, ErrTokenExists)
		}
		return nil
	})
}

// Tokens lists the tokens, oldest first.
func (s *SQLite) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, name`)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	ts := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.classify(err)
		}
		ts = append(ts, t)
	}
	return ts, s.classify(rows.Err())
}

// RevokeToken deletes the named token; a *TokenNotFoundError when there is
// none.
func (s *SQLite) RevokeToken(ctx context.Context, name string) error {
	return s.tokenWrite(ctx, name, `DELETE FROM tokens WHERE name = ?`, name)
}

// TokenByHash finds the token whose hash is hash; an error wrapping
// ErrNotFound when there is none.
func (s *SQLite) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	// Every API request asks this: the statement is prepared once.
	st, done, err := s.stmts.get(ctx, s.r, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`)
	if err != nil {
		return Token{}, s.classify(err)
	}
	defer done()
	t, err := scanToken(st.QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, errNoTokenHash
	}
	return t, s.classify(err)
}

// TokenUsed sets the named token's last use to now; a *TokenNotFoundError
// when it is gone (revoked meanwhile).
func (s *SQLite) TokenUsed(ctx context.Context, name string) error {
	return s.tokenWrite(ctx, name, `UPDATE tokens SET last_used_at = ? WHERE name = ?`, ms(s.now()), name)
}

// tokenWrite runs one statement that changes the named token's row, and
// says so when there is no such row.
func (s *SQLite) tokenWrite(ctx context.Context, name, q string, args ...any) error {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		err = &TokenNotFoundError{Name: name}
	}
	return err
}
